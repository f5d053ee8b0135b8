//! Reading MDF v2 files (2.0.x and 2.1.0) into the in-memory model.

use hdf5::File;
use ndarray::{Array1, Array2, Array3, Array4, ArrayD, Ix2, Ix3, Ix4};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::util::{h5err, H5};
use crate::mdf::{
    validate, validate_structure, Acquisition, Calibration, DataInfo, DriveField, ElementClass, Experiment, IndexBase,
    MdfError, MdfFile, MdfResult, Measurement, MeasurementLayout, NumArray, ParamValue, Receiver, Reconstruction,
    Scanner, SparsityTransform, Study, Tracer,
};

/// Options of the reader.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// How the index arrays of the file are based; `Auto` detects (see [`IndexBase`]).
    pub index_base: IndexBase,
}

/// An open MDF file: all metadata read and validated, `/measurement/data` and `/reconstruction/data` left on
/// disk until asked for (system matrices can be many GB).
pub struct MdfReader {
    pub(crate) h5: H5,
    path: PathBuf,
    /// Every group and dataset except the two big data arrays (their `data` fields hold empty placeholders).
    pub header: MdfFile,
    /// Shape of `/measurement/data` as stored, if present.
    pub measurement_data_shape: Option<Vec<usize>>,
    /// The base the file's index arrays were found to use.
    pub index_base_found: Option<IndexBase>,
}

impl std::fmt::Debug for MdfReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MdfReader").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Reads a whole MDF file (metadata and data) and validates it.
///
/// # Errors
/// [`MdfError`] naming the dataset for any missing, mistyped, misshaped or non-finite content, or
/// [`MdfError::Open`] for a file that is not HDF5 or is damaged.
pub fn read_mdf(path: impl AsRef<Path>) -> MdfResult<MdfFile> {
    read_mdf_with(path, ReadOptions::default())
}

/// [`read_mdf`] with options.
///
/// # Errors
/// As [`read_mdf`].
pub fn read_mdf_with(path: impl AsRef<Path>, opts: ReadOptions) -> MdfResult<MdfFile> {
    let reader = MdfReader::open_with(path, opts)?;
    reader.into_file()
}

impl MdfReader {
    /// Opens a file and reads its metadata (not the big data arrays).
    ///
    /// # Errors
    /// As [`read_mdf`].
    pub fn open(path: impl AsRef<Path>) -> MdfResult<Self> {
        Self::open_with(path, ReadOptions::default())
    }

    /// [`Self::open`] with options.
    ///
    /// # Errors
    /// As [`read_mdf`].
    pub fn open_with(path: impl AsRef<Path>, opts: ReadOptions) -> MdfResult<Self> {
        let path = path.as_ref().to_path_buf();
        let _span = tracing::debug_span!("mdf_open", path = %path.display()).entered();
        if !path.is_file() {
            return Err(MdfError::Open { path: path.clone(), reason: "no such file".into() });
        }
        if crate::breadcrumb::enabled() {
            crate::breadcrumb::note(&format!("{}:/ (opening the file)", path.display()));
        }
        let file = File::open(&path).map_err(|e| MdfError::Open { path: path.clone(), reason: e.to_string() })?;
        let h5 = H5 { file };
        let mut found_base = None;
        let header = read_header(&h5, opts, &mut found_base)?;
        if !header.translations.is_empty() {
            tracing::info!(
                path = %path.display(),
                version = %header.version,
                "read as v2.0 layout: {}",
                header.translations.join(", ")
            );
        }
        let measurement_data_shape =
            if header.measurement.is_some() { Some(h5.dataset("/measurement/data")?.shape()) } else { None };
        let mut r = MdfReader { h5, path, header, measurement_data_shape, index_base_found: found_base };
        // Validate the metadata against the data shape without reading the data: use a zero-cost stand-in.
        r.validate_header()?;
        Ok(r)
    }

    /// The path the reader was opened on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn validate_header(&mut self) -> MdfResult<()> {
        let class = if self.header.measurement.is_some() { Some(element_class(&self.h5)?) } else { None };
        let meas = match (&self.measurement_data_shape, class) {
            (Some(shape), Some(class)) => Some(DataInfo { shape, class }),
            _ => None,
        };
        let reco_shape = match &self.header.reconstruction {
            Some(_) => Some(self.h5.dataset("/reconstruction/data")?.shape()),
            None => None,
        };
        validate_structure(&self.header, meas, reco_shape.as_deref()).map(|_| ())
    }

    /// The element type of `/measurement/data` as numpy names it (`int16`, `complex64`, …).
    ///
    /// # Errors
    /// No measurement data, or a type that is not a Number.
    pub fn measurement_data_type(&self) -> MdfResult<String> {
        let ds = self.h5.dataset("/measurement/data")?;
        let td = self.h5.descriptor(&ds, "/measurement/data")?;
        Ok(numpy_name(&td))
    }

    /// Shape and element type of `/reconstruction/data`.
    ///
    /// # Errors
    /// No reconstruction data.
    pub fn reconstruction_data_info(&self) -> MdfResult<(Vec<usize>, String)> {
        let ds = self.h5.dataset("/reconstruction/data")?;
        let td = self.h5.descriptor(&ds, "/reconstruction/data")?;
        Ok((ds.shape(), numpy_name(&td)))
    }

    /// Reads `/measurement/data` in its stored type and layout.
    ///
    /// # Errors
    /// Missing data, a type that is not a Number, or non-finite values.
    pub fn read_measurement_data(&self) -> MdfResult<NumArray> {
        let a = self.h5.num_array("/measurement/data")?;
        if let Some(i) = a.first_non_finite() {
            return Err(MdfError::NonFinite { dataset: "/measurement/data".into(), index: i });
        }
        Ok(a)
    }

    /// Reads everything and returns the validated model.
    ///
    /// # Errors
    /// As [`read_mdf`].
    pub fn into_file(self) -> MdfResult<MdfFile> {
        let mut f = self.header.clone();
        if let Some(m) = f.measurement.as_mut() {
            m.data = self.read_measurement_data()?;
        }
        if let Some(r) = f.reconstruction.as_mut() {
            r.data = self.h5.num_array("/reconstruction/data")?;
        }
        validate(&f)?;
        Ok(f)
    }
}

/// The element class of `/measurement/data`, from its HDF5 type (no data read).
fn element_class(h5: &H5) -> MdfResult<ElementClass> {
    const P: &str = "/measurement/data";
    let ds = h5.dataset(P)?;
    let td = h5.descriptor(&ds, P)?;
    use hdf5::types::TypeDescriptor as T;
    match td {
        T::Compound(_) if super::util::complex_width(&td).is_some() => Ok(ElementClass::Complex),
        T::Integer(_) | T::Unsigned(_) => Ok(ElementClass::Integer),
        T::Float(_) => Ok(ElementClass::Real),
        other => Err(MdfError::Type {
            dataset: P.into(),
            expected: "a Number (int8–int64, float32/64, or compound {r, i} of float32/64)".into(),
            found: super::util::describe(&other),
        }),
    }
}

fn into_dim<D: ndarray::Dimension>(a: ArrayD<f64>, path: &str, expected: &str) -> MdfResult<ndarray::Array<f64, D>> {
    let shape = a.shape().to_vec();
    a.into_dimensionality::<D>().map_err(|_| MdfError::shape(path, expected, &shape))
}

fn read_header(h5: &H5, opts: ReadOptions, found_base: &mut Option<IndexBase>) -> MdfResult<MdfFile> {
    for g in ["/study", "/experiment", "/scanner", "/acquisition", "/acquisition/drivefield", "/acquisition/receiver"] {
        if !h5.is_group(g) {
            return Err(MdfError::Missing { dataset: g.into(), context: " (mandatory group)".into() });
        }
    }
    let version = h5.string("/version")?;
    // Every place below that accepts a 2.0-era variant (as written by MPIFiles.jl before it followed 2.1)
    // records what it translated, so that the translation is visible rather than silent.
    let mut tr = Vec::new();
    let study = Study {
        description: h5.string("/study/description")?,
        name: h5.string("/study/name")?,
        number: h5.i64("/study/number")?,
        time: h5.opt_string("/study/time")?,
        uuid: h5.string("/study/uuid")?,
    };
    let experiment = Experiment {
        description: h5.string("/experiment/description")?,
        is_simulation: h5.bool("/experiment/isSimulation")?,
        name: h5.string("/experiment/name")?,
        number: h5.i64("/experiment/number")?,
        subject: h5.string("/experiment/subject")?,
        uuid: h5.string("/experiment/uuid")?,
    };
    let tracer = if h5.is_group("/tracer") { Some(read_tracer(h5, &mut tr)?) } else { None };
    let scanner = Scanner {
        bore_size_m: h5.opt_f64("/scanner/boreSize")?,
        facility: h5.string("/scanner/facility")?,
        manufacturer: h5.string("/scanner/manufacturer")?,
        name: h5.string("/scanner/name")?,
        operator: h5.string("/scanner/operator")?,
        topology: h5.string("/scanner/topology")?,
    };
    let acquisition = read_acquisition(h5, &mut tr)?;
    let v = acquisition.receiver.num_sampling_points.max(0) as usize;
    let measurement =
        if h5.is_group("/measurement") { Some(read_layout(h5, v, opts, found_base, &mut tr)?) } else { None };
    let calibration = if h5.is_group("/calibration") { Some(read_calibration(h5, &mut tr)?) } else { None };
    let reconstruction = if h5.is_group("/reconstruction") { Some(read_reconstruction(h5, &mut tr)?) } else { None };
    let mut provenance = BTreeMap::new();
    if h5.is_group("/_magpie") {
        let g = h5.file.group("/_magpie").map_err(|e| h5err("/_magpie", e))?;
        for name in g.member_names().map_err(|e| h5err("/_magpie", e))? {
            if let Ok(v) = h5.string(&format!("/_magpie/{name}")) {
                provenance.insert(name, v);
            }
        }
    }
    Ok(MdfFile {
        version,
        uuid: h5.string("/uuid")?,
        time: h5.string("/time")?,
        study,
        experiment,
        tracer,
        scanner,
        acquisition,
        measurement,
        calibration,
        reconstruction,
        provenance,
        translations: tr,
    })
}

fn read_tracer(h5: &H5, tr: &mut Vec<String>) -> MdfResult<Tracer> {
    // MPIFiles' 2.0 writer stored a single tracer as scalars rather than vectors of length A = 1.
    let fields = ["batch", "concentration", "name", "solute", "vendor", "volume"];
    let mut scalar = false;
    for f in fields {
        let p = format!("/tracer/{f}");
        scalar |= h5.exists(&p) && h5.shape(&p)?.is_empty();
    }
    if scalar {
        tr.push("scalar /tracer fields → [A=1]".into());
    }
    let sv = |p: &str| h5.strings(p).map(|(v, _)| v);
    let fv = |p: &str| h5.f64_array(p).map(|a| a.iter().copied().collect::<Vec<f64>>());
    Ok(Tracer {
        batch: sv("/tracer/batch")?,
        concentration_mol_per_l: fv("/tracer/concentration")?,
        injection_time: if h5.exists("/tracer/injectionTime") { Some(sv("/tracer/injectionTime")?) } else { None },
        name: sv("/tracer/name")?,
        solute: sv("/tracer/solute")?,
        vendor: sv("/tracer/vendor")?,
        volume_l: fv("/tracer/volume")?,
    })
}

fn read_acquisition(h5: &H5, tr: &mut Vec<String>) -> MdfResult<Acquisition> {
    const DF: &str = "/acquisition/drivefield";
    let d = h5.i64(&format!("{DF}/numChannels"))?;
    let divider_raw = h5.i64_array(&format!("{DF}/divider"))?;
    // Writers disagree on whether a single-frequency divider is [D] or [D, F]; accept [D] as F = 1.
    let divider: Array2<i64> = match divider_raw.ndim() {
        1 => {
            let n = divider_raw.len();
            divider_raw
                .into_shape_with_order((n, 1))
                .map_err(|e| MdfError::invalid(format!("{DF}/divider"), e.to_string()))?
        }
        _ => {
            let s = divider_raw.shape().to_vec();
            divider_raw
                .into_dimensionality::<Ix2>()
                .map_err(|_| MdfError::shape(format!("{DF}/divider"), "[D, F]", &s))?
        }
    };
    let f = divider.shape()[1];
    let jdf = |name: &str| -> MdfResult<Array3<f64>> {
        let p = format!("{DF}/{name}");
        let a = h5.f64_array(&p)?;
        into_dim::<Ix3>(a, &p, "[J, D, F]")
    };
    let (wf, wf_shape) = h5.strings(&format!("{DF}/waveform"))?;
    let dd = divider.shape()[0];
    let waveform = if wf.len() == 1 && dd * f != 1 {
        // A scalar waveform (written by some tools) applies to every channel and frequency.
        Array2::from_elem((dd, f), wf[0].clone())
    } else if wf_shape.len() <= 1 && wf.len() == dd * f {
        Array2::from_shape_vec((dd, f), wf).map_err(|e| MdfError::invalid(format!("{DF}/waveform"), e.to_string()))?
    } else if wf_shape.len() == 2 {
        Array2::from_shape_vec((wf_shape[0], wf_shape[1]), wf)
            .map_err(|e| MdfError::invalid(format!("{DF}/waveform"), e.to_string()))?
    } else {
        return Err(MdfError::shape(format!("{DF}/waveform"), format!("[D={dd}, F={f}]"), &wf_shape));
    };
    // Before the 2.0 release the cycle was called `period` (MPIFiles wrote it so until 2018-01).
    let cycle_s = if !h5.exists(&format!("{DF}/cycle")) && h5.exists(&format!("{DF}/period")) {
        tr.push("drivefield/period → cycle".into());
        h5.f64(&format!("{DF}/period"))?
    } else {
        h5.f64(&format!("{DF}/cycle"))?
    };
    let drivefield = DriveField {
        base_frequency_hz: h5.f64(&format!("{DF}/baseFrequency"))?,
        cycle_s,
        divider,
        num_channels: d,
        phase_rad: jdf("phase")?,
        strength_t: jdf("strength")?,
        waveform,
        custom_waveform: h5.opt_string(&format!("{DF}/customWaveform"))?,
    };
    const RX: &str = "/acquisition/receiver";
    let receiver = Receiver {
        bandwidth_hz: h5.f64(&format!("{RX}/bandwidth"))?,
        data_conversion_factor: match h5.opt_dataset(&format!("{RX}/dataConversionFactor"))? {
            Some(_) => {
                let p = format!("{RX}/dataConversionFactor");
                Some(into_dim::<Ix2>(h5.f64_array(&p)?, &p, "[C, 2]")?)
            }
            None => None,
        },
        induction_factor: match h5.opt_dataset(&format!("{RX}/inductionFactor"))? {
            Some(_) => {
                let a = h5.f64_array(&format!("{RX}/inductionFactor"))?;
                Some(Array1::from_iter(a.iter().copied()))
            }
            None => None,
        },
        num_channels: h5.i64(&format!("{RX}/numChannels"))?,
        num_sampling_points: h5.i64(&format!("{RX}/numSamplingPoints"))?,
        transfer_function: match h5.opt_dataset(&format!("{RX}/transferFunction"))? {
            Some(_) => {
                let p = format!("{RX}/transferFunction");
                let a = h5.c64_array(&p)?;
                let s = a.shape().to_vec();
                Some(a.into_dimensionality::<Ix2>().map_err(|_| MdfError::shape(&p, "[C, K]", &s))?)
            }
            None => None,
        },
        unit: h5.string(&format!("{RX}/unit"))?,
        transfer_function_file_name: h5.opt_string(&format!("{RX}/transferFunctionFileName"))?,
    };
    // `numPeriodsPerFrame` has a legacy name `numPeriods` (read by MPIFiles); default 1 when both are missing.
    let num_periods_per_frame = if h5.exists("/acquisition/numPeriodsPerFrame") {
        h5.i64("/acquisition/numPeriodsPerFrame")?
    } else if h5.exists("/acquisition/numPeriods") {
        // MPIFiles wrote this name until 2021 (also into files stamped 2.0.1).
        tr.push("numPeriods → numPeriodsPerFrame".into());
        h5.i64("/acquisition/numPeriods")?
    } else {
        return Err(MdfError::Missing { dataset: "/acquisition/numPeriodsPerFrame".into(), context: String::new() });
    };
    let j = num_periods_per_frame.max(1) as usize;
    let gradient_t_per_m = match h5.opt_dataset("/acquisition/gradient")? {
        Some(_) => Some(read_gradient(h5, j, tr)?),
        None => None,
    };
    let offset_field_t = match h5.opt_dataset("/acquisition/offsetField")? {
        Some(_) => Some(read_offset_field(h5, j, tr)?),
        None => None,
    };
    Ok(Acquisition {
        gradient_t_per_m,
        num_averages: h5.i64("/acquisition/numAverages")?,
        num_frames: h5.i64("/acquisition/numFrames")?,
        num_periods_per_frame,
        offset_field_t,
        start_time: h5.string("/acquisition/startTime")?,
        drivefield,
        receiver,
    })
}

/// `/acquisition/gradient` is [J, Y, 3, 3]. Earlier layouts, all read by MPIFiles.jl at some time, are
/// translated: [J, 3] (pre-release 2.0, until 2018: the three diagonal entries per period, MPIFiles building
/// diag(g_j) from them), [J, 3, 3] (no Y axis), [3, 3] (one tensor for every period) and [3] (one diagonal for
/// every period, the v1 form).
fn read_gradient(h5: &H5, j: usize, tr: &mut Vec<String>) -> MdfResult<Array4<f64>> {
    const P: &str = "/acquisition/gradient";
    let a = h5.f64_array(P)?;
    let s = a.shape().to_vec();
    let bad = || {
        MdfError::shape(
            P,
            format!("[J={j}, Y, 3, 3] (or a 2.0-era [J={j}, 3] diagonal, [J={j}, 3, 3], [3, 3] or [3])"),
            &s,
        )
    };
    let diagonals = |rows: &[[f64; 3]]| {
        let mut g = Array4::zeros((j, 1, 3, 3));
        for jj in 0..j {
            // One row for every period, or a single row that applies to all of them.
            let d = rows[if rows.len() == 1 { 0 } else { jj }];
            for (i, v) in d.iter().enumerate() {
                g[[jj, 0, i, i]] = *v;
            }
        }
        g
    };
    match s.as_slice() {
        [_, _, 3, 3] => into_dim::<Ix4>(a, P, "[J, Y, 3, 3]"),
        [jj, 3, 3] => {
            tr.push("gradient [J,3,3] → [J,1,3,3]".into());
            a.into_shape_with_order((*jj, 1, 3, 3)).map_err(|_| bad())
        }
        // With J = 3 a [3, 3] array could also be three diagonals; MPIFiles reads a 9-element matrix as one
        // tensor, and so does magpie (the translation is reported, so the choice is visible).
        [3, 3] => {
            tr.push("gradient [3,3] → one 3×3 tensor for every period".into());
            let g = a.into_shape_with_order((1, 1, 3, 3)).map_err(|_| bad())?;
            Ok(g.broadcast((j, 1, 3, 3)).ok_or_else(bad)?.to_owned())
        }
        [jj, 3] if *jj == j || *jj == 1 => {
            tr.push("gradient [J,3] → [J,1,3,3] diagonal".into());
            let rows: Vec<[f64; 3]> = (0..*jj).map(|r| [a[[r, 0]], a[[r, 1]], a[[r, 2]]]).collect();
            Ok(diagonals(&rows))
        }
        [3] => {
            tr.push("gradient [3] → [J,1,3,3] diagonal".into());
            Ok(diagonals(&[[a[[0]], a[[1]], a[[2]]]]))
        }
        _ => Err(bad()),
    }
}

/// `/acquisition/offsetField` is [J, Y, 3]; the pre-release 2.0 layout [J, 3] (one vector per period) and a
/// single vector [3] for every period are translated.
fn read_offset_field(h5: &H5, j: usize, tr: &mut Vec<String>) -> MdfResult<Array3<f64>> {
    const P: &str = "/acquisition/offsetField";
    let a = h5.f64_array(P)?;
    let s = a.shape().to_vec();
    let bad = || MdfError::shape(P, format!("[J={j}, Y, 3] (or a 2.0-era [J={j}, 3] or [3])"), &s);
    match s.as_slice() {
        [_, _, 3] => into_dim::<Ix3>(a, P, "[J, Y, 3]"),
        [jj, 3] if *jj == j => {
            tr.push("offsetField [J,3] → [J,1,3]".into());
            a.into_shape_with_order((j, 1, 3)).map_err(|_| bad())
        }
        [3] => {
            tr.push("offsetField [3] → [J,1,3]".into());
            let o = a.into_shape_with_order((1, 1, 3)).map_err(|_| bad())?;
            Ok(o.broadcast((j, 1, 3)).ok_or_else(bad)?.to_owned())
        }
        _ => Err(bad()),
    }
}

fn read_layout(
    h5: &H5,
    v: usize,
    opts: ReadOptions,
    found: &mut Option<IndexBase>,
    tr: &mut Vec<String>,
) -> MdfResult<Measurement> {
    const M: &str = "/measurement";
    let req = |n: &str| h5.bool(&format!("{M}/{n}"));
    // Writers that never measure a background (MPIFiles reads the flag as optional: `missing`) may leave it out:
    // then every one of the numFrames frames is a foreground frame.
    let is_background_frame = if h5.exists(&format!("{M}/isBackgroundFrame")) {
        h5.bool_vec(&format!("{M}/isBackgroundFrame"))?
    } else {
        let frames = h5.i64("/acquisition/numFrames")?;
        let frames = usize::try_from(frames).map_err(|_| {
            MdfError::invalid("/acquisition/numFrames", format!("expected a frame count ≥ 0, found {frames}"))
        })?;
        // The flag vector is one byte per frame; a count beyond any plausible file is refused, not allocated.
        if frames > 1 << 31 {
            return Err(MdfError::invalid(
                "/acquisition/numFrames",
                format!("{frames} frames and no /measurement/isBackgroundFrame: not a plausible frame count"),
            ));
        }
        tr.push("no isBackgroundFrame → all frames foreground".into());
        vec![false; frames]
    };
    let n = is_background_frame.len();
    let is_frame_permutation = req("isFramePermutation")?;
    let is_frequency_selection = req("isFrequencySelection")?;
    // Sparsity compression is new in 2.1; a file without the flag is not compressed (as MPIFiles reads it).
    let is_sparsity_transformed = match h5.opt_bool(&format!("{M}/isSparsityTransformed"))? {
        Some(b) => b,
        None => {
            tr.push("no isSparsityTransformed → 0".into());
            false
        }
    };
    // `isTransposed` is the pre-release 2.0 name of `isFastFrameAxis` (MPIFiles wrote it until 2018-09). A file
    // with neither is read as MPIFiles reads it, without the fast frame axis; the shape check that follows
    // still refuses data laid out otherwise.
    let is_fast_frame_axis = if h5.exists(&format!("{M}/isFastFrameAxis")) {
        req("isFastFrameAxis")?
    } else if h5.exists(&format!("{M}/isTransposed")) {
        tr.push("isTransposed → isFastFrameAxis".into());
        req("isTransposed")?
    } else {
        tr.push("no isFastFrameAxis → 0".into());
        false
    };
    let mut note = |b: IndexBase| {
        if found.is_none() {
            *found = Some(b);
        }
    };
    let frame_permutation = if is_frame_permutation || h5.exists(&format!("{M}/framePermutation")) {
        let p = format!("{M}/framePermutation");
        let raw = h5.i64_array(&p)?;
        let raw: Vec<i64> = raw.iter().copied().collect();
        let (idx, b) = IndexBase::resolve(opts.index_base, &raw, n, &p)?;
        note(b);
        Some(idx)
    } else {
        None
    };
    let k_full = v / 2 + 1;
    let frequency_selection = if is_frequency_selection || h5.exists(&format!("{M}/frequencySelection")) {
        let p = format!("{M}/frequencySelection");
        let raw: Vec<i64> = h5.i64_array(&p)?.iter().copied().collect();
        let (idx, b) = IndexBase::resolve(opts.index_base, &raw, k_full, &p)?;
        note(b);
        Some(idx)
    } else {
        None
    };
    let (sparsity_transformation, subsampling_indices) = if is_sparsity_transformed {
        let p = format!("{M}/sparsityTransformation");
        let t = h5.opt_string(&p)?;
        let t = match t {
            Some(s) => Some(SparsityTransform::parse(&s).ok_or_else(|| {
                MdfError::invalid(&p, format!("expected one of DCT-I, DCT-II, DCT-III, DCT-IV, found {s:?}"))
            })?),
            None => None,
        };
        let p = format!("{M}/subsamplingIndices");
        let idx = if h5.exists(&p) {
            let raw = h5.i64_array(&p)?;
            let shape = raw.shape().to_vec();
            if shape.len() != 4 {
                return Err(MdfError::shape(&p, "[J, C, K, B]", &shape));
            }
            let o = is_background_frame.iter().filter(|b| !**b).count();
            let flat: Vec<i64> = raw.iter().copied().collect();
            let (idx, b) = IndexBase::resolve_indices(opts.index_base, &flat, o, &p)?;
            note(b);
            Some(
                Array4::from_shape_vec((shape[0], shape[1], shape[2], shape[3]), idx)
                    .map_err(|e| MdfError::invalid(&p, e.to_string()))?,
            )
        } else {
            None
        };
        (t, idx)
    } else {
        (None, None)
    };
    let layout = MeasurementLayout {
        is_background_corrected: req("isBackgroundCorrected")?,
        is_background_frame,
        is_fast_frame_axis,
        is_fourier_transformed: req("isFourierTransformed")?,
        is_frame_permutation,
        frame_permutation,
        is_frequency_selection,
        frequency_selection,
        is_sparsity_transformed,
        sparsity_transformation,
        subsampling_indices,
        is_spectral_leakage_corrected: req("isSpectralLeakageCorrected")?,
        is_transfer_function_corrected: req("isTransferFunctionCorrected")?,
    };
    if !h5.exists(&format!("{M}/data")) {
        return Err(MdfError::Missing { dataset: format!("{M}/data"), context: String::new() });
    }
    Ok(Measurement { data: NumArray::F64(ArrayD::zeros(vec![0])), layout })
}

fn read_calibration(h5: &H5, tr: &mut Vec<String>) -> MdfResult<Calibration> {
    const C: &str = "/calibration";
    let o3 = |name: &str| -> MdfResult<Option<Array2<f64>>> {
        let p = format!("{C}/{name}");
        if !h5.exists(&p) {
            return Ok(None);
        }
        Ok(Some(into_dim::<Ix2>(h5.f64_array(&p)?, &p, "[O, 3]")?))
    };
    let size = read_size(h5, &format!("{C}/size"))?;
    let snr = if h5.exists(&format!("{C}/snr")) {
        let p = format!("{C}/snr");
        Some(into_dim::<Ix3>(h5.f64_array(&p)?, &p, "[J, C, K]")?)
    } else {
        None
    };
    // MPIFiles wrote the singular `offsetField` until 2023.
    let offset_fields_t = if !h5.exists(&format!("{C}/offsetFields")) && h5.exists(&format!("{C}/offsetField")) {
        tr.push("calibration/offsetField → offsetFields".into());
        o3("offsetField")?
    } else {
        o3("offsetFields")?
    };
    Ok(Calibration {
        delta_sample_size_m: h5.opt_vec3(&format!("{C}/deltaSampleSize"))?,
        field_of_view_m: h5.opt_vec3(&format!("{C}/fieldOfView"))?,
        field_of_view_center_m: h5.opt_vec3(&format!("{C}/fieldOfViewCenter"))?,
        method: h5.string(&format!("{C}/method"))?,
        offset_fields_t,
        order: h5.opt_string(&format!("{C}/order"))?,
        positions_m: o3("positions")?,
        size,
        snr,
        is_meandering_grid: h5.opt_bool(&format!("{C}/isMeanderingGrid"))?,
    })
}

fn read_reconstruction(h5: &H5, tr: &mut Vec<String>) -> MdfResult<Reconstruction> {
    const R: &str = "/reconstruction";
    if !h5.exists(&format!("{R}/data")) {
        return Err(MdfError::Missing { dataset: format!("{R}/data"), context: String::new() });
    }
    let size = read_size(h5, &format!("{R}/size"))?;
    let positions_m = if h5.exists(&format!("{R}/positions")) {
        let p = format!("{R}/positions");
        Some(into_dim::<Ix2>(h5.f64_array(&p)?, &p, "[P, 3]")?)
    } else {
        None
    };
    let is_overscan_region = if h5.exists(&format!("{R}/isOverscanRegion")) {
        Some(h5.bool_vec(&format!("{R}/isOverscanRegion"))?)
    } else {
        None
    };
    let mut parameters = BTreeMap::new();
    let mut pg = format!("{R}/_parameters");
    // MPIFiles' 2.0 writer used a group without the `_` that marks user-defined content.
    if !h5.is_group(&pg) && h5.is_group(&format!("{R}/parameters")) {
        tr.push("reconstruction/parameters → _parameters".into());
        pg = format!("{R}/parameters");
    }
    if h5.is_group(&pg) {
        let g = h5.file.group(&pg).map_err(|e| h5err(&pg, e))?;
        for name in g.member_names().map_err(|e| h5err(&pg, e))? {
            let p = format!("{pg}/{name}");
            // Provenance is best effort: scalars of known types are kept, anything else is skipped.
            if let Ok(v) = h5.string(&p) {
                parameters.insert(name, ParamValue::Text(v));
            } else if let Ok(v) = h5.i64(&p) {
                parameters.insert(name, ParamValue::Int(v));
            } else if let Ok(v) = h5.f64(&p) {
                parameters.insert(name, ParamValue::Float(v));
            }
        }
    }
    Ok(Reconstruction {
        data: NumArray::F64(ArrayD::zeros(vec![0])),
        field_of_view_m: h5.opt_vec3(&format!("{R}/fieldOfView"))?,
        field_of_view_center_m: h5.opt_vec3(&format!("{R}/fieldOfViewCenter"))?,
        is_overscan_region,
        order: h5.opt_string(&format!("{R}/order"))?,
        positions_m,
        size,
        parameters,
    })
}

fn numpy_name(td: &hdf5::types::TypeDescriptor) -> String {
    match super::util::complex_width(td) {
        Some(4) => "complex64".into(),
        Some(8) => "complex128".into(),
        _ => super::util::describe(td),
    }
}

/// An optional grid size: three positive integers.
fn read_size(h5: &H5, p: &str) -> MdfResult<Option<[usize; 3]>> {
    if !h5.exists(p) {
        return Ok(None);
    }
    let a = h5.i64_array(p)?;
    if a.shape() != [3] || a.iter().any(|v| *v <= 0) {
        return Err(MdfError::invalid(
            p,
            format!("expected 3 positive grid sizes, found {:?}", a.iter().collect::<Vec<_>>()),
        ));
    }
    Ok(Some([a[[0]] as usize, a[[1]] as usize, a[[2]] as usize]))
}
