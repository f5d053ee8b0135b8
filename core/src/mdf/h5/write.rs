//! Writing spec-conformant MDF 2.1.0 files, atomically (temporary file in the target folder, then rename).

use hdf5::types::VarLenUnicode;
use hdf5::{File, Group, H5Type};
use ndarray::{ArrayD, IxDyn};
use std::path::{Path, PathBuf};

use super::util::h5err;
use crate::mdf::{validate, MdfError, MdfFile, MdfResult, NumArray, ParamValue, MDF_VERSION};

/// Options of the writer.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Files the output must never replace (the inputs of the command that produced it).
    pub inputs: Vec<PathBuf>,
}

/// Validates `file` and writes it to `path` atomically. Index arrays are written 1-based (MPIFiles convention),
/// booleans as Int8, strings as variable-length UTF-8, complex data as compounds {r, i}.
///
/// # Errors
/// A model that breaks the spec's rules (nothing is written), `path` being one of `opts.inputs`, or I/O errors.
pub fn write_mdf(path: impl AsRef<Path>, file: &MdfFile, opts: &WriteOptions) -> MdfResult<()> {
    let path = path.as_ref();
    let _span = tracing::debug_span!("mdf_write", path = %path.display()).entered();
    validate(file)?;
    refuse_inputs(path, &opts.inputs)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out.mdf".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let _registered = crate::tempfiles::TempFile::register(&tmp);
    let result = write_to(&tmp, file)
        .map(|_| crate::tempfiles::test_delay())
        .and_then(|_| std::fs::rename(&tmp, path).map_err(|e| MdfError::Io { path: path.to_path_buf(), source: e }));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn refuse_inputs(path: &Path, inputs: &[PathBuf]) -> MdfResult<()> {
    let out = std::fs::canonicalize(path).ok();
    for i in inputs {
        let same = match (&out, std::fs::canonicalize(i).ok()) {
            (Some(a), Some(b)) => *a == b,
            _ => i == path,
        };
        if same {
            return Err(MdfError::WouldOverwriteInput { path: path.to_path_buf() });
        }
    }
    Ok(())
}

struct W<'a> {
    g: &'a Group,
    prefix: String,
}

impl W<'_> {
    fn p(&self, name: &str) -> String {
        format!("{}/{}", self.prefix, name)
    }

    fn err(&self, name: &str) -> impl Fn(hdf5::Error) -> MdfError + '_ {
        let p = self.p(name);
        move |e| h5err(&p, e)
    }

    fn scalar<T: H5Type>(&self, name: &str, v: T) -> MdfResult<()> {
        self.g.new_dataset::<T>().create(name).and_then(|d| d.write_scalar(&v)).map_err(self.err(name))
    }

    fn string(&self, name: &str, v: &str) -> MdfResult<()> {
        let s = to_vlu(v, &self.p(name))?;
        self.scalar(name, s)
    }

    fn strings(&self, name: &str, v: &[String], shape: &[usize]) -> MdfResult<()> {
        let vals: Vec<VarLenUnicode> = v.iter().map(|s| to_vlu(s, &self.p(name))).collect::<MdfResult<_>>()?;
        let a =
            ArrayD::from_shape_vec(IxDyn(shape), vals).map_err(|e| MdfError::invalid(self.p(name), e.to_string()))?;
        self.array(name, &a)
    }

    fn array<T: H5Type>(&self, name: &str, a: &ArrayD<T>) -> MdfResult<()> {
        self.g.new_dataset_builder().with_data(a).create(name).map(|_| ()).map_err(self.err(name))
    }

    fn f64s<D: ndarray::Dimension>(&self, name: &str, a: &ndarray::Array<f64, D>) -> MdfResult<()> {
        self.array(name, &a.view().into_dyn().to_owned())
    }

    fn vec3(&self, name: &str, v: &Option<[f64; 3]>) -> MdfResult<()> {
        match v {
            Some(v) => self.array(name, &ArrayD::from_shape_vec(IxDyn(&[3]), v.to_vec()).expect("3 elements")),
            None => Ok(()),
        }
    }

    fn bool(&self, name: &str, v: bool) -> MdfResult<()> {
        self.scalar(name, v as i8)
    }

    fn bools(&self, name: &str, v: &[bool]) -> MdfResult<()> {
        let a: ArrayD<i8> =
            ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.iter().map(|b| *b as i8).collect()).expect("1-D");
        self.array(name, &a)
    }

    /// Writes 0-based indices as 1-based Int64.
    fn indices(&self, name: &str, v: &[usize], shape: &[usize]) -> MdfResult<()> {
        let a: ArrayD<i64> = ArrayD::from_shape_vec(IxDyn(shape), v.iter().map(|i| *i as i64 + 1).collect())
            .map_err(|e| MdfError::invalid(self.p(name), e.to_string()))?;
        self.array(name, &a)
    }

    fn num(&self, name: &str, a: &NumArray) -> MdfResult<()> {
        match a {
            NumArray::I8(a) => self.array(name, a),
            NumArray::I16(a) => self.array(name, a),
            NumArray::I32(a) => self.array(name, a),
            NumArray::I64(a) => self.array(name, a),
            NumArray::F32(a) => self.array(name, a),
            NumArray::F64(a) => self.array(name, a),
            NumArray::C32(a) => self.array(name, a),
            NumArray::C64(a) => self.array(name, a),
        }
    }
}

fn to_vlu(s: &str, path: &str) -> MdfResult<VarLenUnicode> {
    s.parse::<VarLenUnicode>().map_err(|e| MdfError::invalid(path, format!("string cannot be stored: {e}")))
}

fn group(f: &File, path: &str) -> MdfResult<Group> {
    f.create_group(path).map_err(|e| h5err(path, e))
}

fn write_to(tmp: &Path, m: &MdfFile) -> MdfResult<()> {
    let f = File::create(tmp).map_err(|e| MdfError::Open { path: tmp.to_path_buf(), reason: e.to_string() })?;
    let root_group: Group = (*f).clone();
    let root = W { g: &root_group, prefix: String::new() };
    // The model is the 2.1 layout whatever file it was read from (2.0-era layouts are translated on read), so
    // the version written is always the one this writer implements.
    root.string("version", MDF_VERSION)?;
    root.string("uuid", &m.uuid)?;
    root.string("time", &m.time)?;

    let g = group(&f, "study")?;
    let w = W { g: &g, prefix: "/study".into() };
    w.string("description", &m.study.description)?;
    w.string("name", &m.study.name)?;
    w.scalar("number", m.study.number)?;
    if let Some(t) = &m.study.time {
        w.string("time", t)?;
    }
    w.string("uuid", &m.study.uuid)?;

    let g = group(&f, "experiment")?;
    let w = W { g: &g, prefix: "/experiment".into() };
    w.string("description", &m.experiment.description)?;
    w.bool("isSimulation", m.experiment.is_simulation)?;
    w.string("name", &m.experiment.name)?;
    w.scalar("number", m.experiment.number)?;
    w.string("subject", &m.experiment.subject)?;
    w.string("uuid", &m.experiment.uuid)?;

    if let Some(t) = &m.tracer {
        let g = group(&f, "tracer")?;
        let w = W { g: &g, prefix: "/tracer".into() };
        let a = t.name.len();
        w.strings("batch", &t.batch, &[a])?;
        w.f64s("concentration", &ndarray::Array1::from(t.concentration_mol_per_l.clone()))?;
        if let Some(it) = &t.injection_time {
            w.strings("injectionTime", it, &[a])?;
        }
        w.strings("name", &t.name, &[a])?;
        w.strings("solute", &t.solute, &[a])?;
        w.strings("vendor", &t.vendor, &[a])?;
        w.f64s("volume", &ndarray::Array1::from(t.volume_l.clone()))?;
    }

    let g = group(&f, "scanner")?;
    let w = W { g: &g, prefix: "/scanner".into() };
    if let Some(b) = m.scanner.bore_size_m {
        w.scalar("boreSize", b)?;
    }
    w.string("facility", &m.scanner.facility)?;
    w.string("manufacturer", &m.scanner.manufacturer)?;
    w.string("name", &m.scanner.name)?;
    w.string("operator", &m.scanner.operator)?;
    w.string("topology", &m.scanner.topology)?;

    let acq = &m.acquisition;
    let g = group(&f, "acquisition")?;
    let w = W { g: &g, prefix: "/acquisition".into() };
    if let Some(gr) = &acq.gradient_t_per_m {
        w.f64s("gradient", gr)?;
    }
    w.scalar("numAverages", acq.num_averages)?;
    w.scalar("numFrames", acq.num_frames)?;
    w.scalar("numPeriodsPerFrame", acq.num_periods_per_frame)?;
    if let Some(o) = &acq.offset_field_t {
        w.f64s("offsetField", o)?;
    }
    w.string("startTime", &acq.start_time)?;

    let df = &acq.drivefield;
    let g = group(&f, "acquisition/drivefield")?;
    let w = W { g: &g, prefix: "/acquisition/drivefield".into() };
    w.scalar("baseFrequency", df.base_frequency_hz)?;
    w.scalar("cycle", df.cycle_s)?;
    w.array("divider", &df.divider.view().into_dyn().to_owned())?;
    w.scalar("numChannels", df.num_channels)?;
    w.f64s("phase", &df.phase_rad)?;
    w.f64s("strength", &df.strength_t)?;
    let wf: Vec<String> = df.waveform.iter().cloned().collect();
    w.strings("waveform", &wf, df.waveform.shape())?;
    if let Some(c) = &df.custom_waveform {
        w.string("customWaveform", c)?;
    }

    let rx = &acq.receiver;
    let g = group(&f, "acquisition/receiver")?;
    let w = W { g: &g, prefix: "/acquisition/receiver".into() };
    w.scalar("bandwidth", rx.bandwidth_hz)?;
    if let Some(d) = &rx.data_conversion_factor {
        w.f64s("dataConversionFactor", d)?;
    }
    if let Some(i) = &rx.induction_factor {
        w.f64s("inductionFactor", i)?;
    }
    w.scalar("numChannels", rx.num_channels)?;
    w.scalar("numSamplingPoints", rx.num_sampling_points)?;
    if let Some(tf) = &rx.transfer_function {
        w.array("transferFunction", &tf.view().into_dyn().to_owned())?;
    }
    w.string("unit", &rx.unit)?;
    if let Some(n) = &rx.transfer_function_file_name {
        w.string("transferFunctionFileName", n)?;
    }

    if let Some(meas) = &m.measurement {
        let l = &meas.layout;
        let g = group(&f, "measurement")?;
        let w = W { g: &g, prefix: "/measurement".into() };
        w.num("data", &meas.data)?;
        w.bool("isBackgroundCorrected", l.is_background_corrected)?;
        w.bools("isBackgroundFrame", &l.is_background_frame)?;
        w.bool("isFastFrameAxis", l.is_fast_frame_axis)?;
        w.bool("isFourierTransformed", l.is_fourier_transformed)?;
        w.bool("isFramePermutation", l.is_frame_permutation)?;
        if let Some(p) = &l.frame_permutation {
            w.indices("framePermutation", p, &[p.len()])?;
        }
        w.bool("isFrequencySelection", l.is_frequency_selection)?;
        if let Some(s) = &l.frequency_selection {
            w.indices("frequencySelection", s, &[s.len()])?;
        }
        w.bool("isSparsityTransformed", l.is_sparsity_transformed)?;
        if let Some(t) = l.sparsity_transformation {
            w.string("sparsityTransformation", t.as_str())?;
        }
        if let Some(idx) = &l.subsampling_indices {
            let flat: Vec<usize> = idx.iter().copied().collect();
            w.indices("subsamplingIndices", &flat, idx.shape())?;
        }
        w.bool("isSpectralLeakageCorrected", l.is_spectral_leakage_corrected)?;
        w.bool("isTransferFunctionCorrected", l.is_transfer_function_corrected)?;
    }

    if let Some(c) = &m.calibration {
        let g = group(&f, "calibration")?;
        let w = W { g: &g, prefix: "/calibration".into() };
        w.vec3("deltaSampleSize", &c.delta_sample_size_m)?;
        w.vec3("fieldOfView", &c.field_of_view_m)?;
        w.vec3("fieldOfViewCenter", &c.field_of_view_center_m)?;
        w.string("method", &c.method)?;
        if let Some(o) = &c.offset_fields_t {
            w.f64s("offsetFields", o)?;
        }
        if let Some(o) = &c.order {
            w.string("order", o)?;
        }
        if let Some(p) = &c.positions_m {
            w.f64s("positions", p)?;
        }
        if let Some(s) = c.size {
            w.array("size", &ArrayD::from_shape_vec(IxDyn(&[3]), s.iter().map(|v| *v as i64).collect()).expect("3"))?;
        }
        if let Some(s) = &c.snr {
            w.f64s("snr", s)?;
        }
        if let Some(b) = c.is_meandering_grid {
            w.bool("isMeanderingGrid", b)?;
        }
    }

    if let Some(r) = &m.reconstruction {
        let g = group(&f, "reconstruction")?;
        let w = W { g: &g, prefix: "/reconstruction".into() };
        w.num("data", &r.data)?;
        w.vec3("fieldOfView", &r.field_of_view_m)?;
        w.vec3("fieldOfViewCenter", &r.field_of_view_center_m)?;
        if let Some(o) = &r.is_overscan_region {
            w.bools("isOverscanRegion", o)?;
        }
        if let Some(o) = &r.order {
            w.string("order", o)?;
        }
        if let Some(p) = &r.positions_m {
            w.f64s("positions", p)?;
        }
        if let Some(s) = r.size {
            w.array("size", &ArrayD::from_shape_vec(IxDyn(&[3]), s.iter().map(|v| *v as i64).collect()).expect("3"))?;
        }
        if !r.parameters.is_empty() {
            let g = group(&f, "reconstruction/_parameters")?;
            let w = W { g: &g, prefix: "/reconstruction/_parameters".into() };
            for (k, v) in &r.parameters {
                match v {
                    ParamValue::Int(i) => w.scalar(k, *i)?,
                    ParamValue::Float(x) => w.scalar(k, *x)?,
                    ParamValue::Text(s) => w.string(k, s)?,
                }
            }
        }
    }
    if !m.provenance.is_empty() {
        let g = group(&f, "_magpie")?;
        let w = W { g: &g, prefix: "/_magpie".into() };
        for (k, v) in &m.provenance {
            w.string(k, v)?;
        }
    }
    f.flush().map_err(|e| h5err("/", e))?;
    f.close().map_err(|e| h5err("/", e))?;
    Ok(())
}
