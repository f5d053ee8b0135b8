//! Consistency rules of MDF v2 (mdf-v2.md §5), checked on the in-memory model after reading and before writing.

use super::{MdfError, MdfFile, MdfResult, Measurement, NumArray};

fn dims(pairs: &[(&str, usize)]) -> String {
    let parts: Vec<String> = pairs.iter().map(|(l, v)| format!("{l}={v}")).collect();
    format!("[{}]", parts.join(", "))
}

fn check_shape(dataset: &str, found: &[usize], want: &[(&str, usize)]) -> MdfResult<()> {
    if found.len() != want.len() || found.iter().zip(want).any(|(f, (_, w))| f != w) {
        return Err(MdfError::shape(dataset, dims(want), found));
    }
    Ok(())
}

fn positive(dataset: &str, v: i64) -> MdfResult<usize> {
    if v <= 0 {
        return Err(MdfError::invalid(dataset, format!("expected a positive count, found {v}")));
    }
    Ok(v as usize)
}

/// The derived dimensions of a file (spec letters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    /// J, periods per frame.
    pub j: usize,
    /// C, receive channels.
    pub c: usize,
    /// V, samples per period.
    pub v: usize,
    /// D, drive-field channels.
    pub d: usize,
    /// F, frequencies per drive channel.
    pub f: usize,
}

/// The element class of a `Number` dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementClass {
    /// int8–int64.
    Integer,
    /// float32/64.
    Real,
    /// compound {r, i}.
    Complex,
}

impl ElementClass {
    /// The class of an array.
    pub fn of(a: &NumArray) -> Self {
        match a {
            NumArray::I8(_) | NumArray::I16(_) | NumArray::I32(_) | NumArray::I64(_) => ElementClass::Integer,
            NumArray::F32(_) | NumArray::F64(_) => ElementClass::Real,
            NumArray::C32(_) | NumArray::C64(_) => ElementClass::Complex,
        }
    }
}

/// Shape and element class of a data array, enough to validate a file without reading its data.
#[derive(Debug, Clone, Copy)]
pub struct DataInfo<'a> {
    /// Stored shape.
    pub shape: &'a [usize],
    /// Element class.
    pub class: ElementClass,
}

/// Checks every rule of the spec on a file held in memory, including the data's shapes and finiteness.
///
/// # Errors
/// The first rule broken, as a typed [`MdfError`] naming the dataset.
pub fn validate(file: &MdfFile) -> MdfResult<Dims> {
    let meas = file.measurement.as_ref().map(|m| DataInfo { shape: m.data.shape(), class: ElementClass::of(&m.data) });
    let reco = file.reconstruction.as_ref().map(|r| r.data.shape());
    let dims = validate_structure(file, meas, reco)?;
    if let Some(i) = file.measurement.as_ref().and_then(|m| m.data.first_non_finite()) {
        return Err(MdfError::NonFinite { dataset: "/measurement/data".into(), index: i });
    }
    if let Some(i) = file.reconstruction.as_ref().and_then(|r| r.data.first_non_finite()) {
        return Err(MdfError::NonFinite { dataset: "/reconstruction/data".into(), index: i });
    }
    Ok(dims)
}

/// Checks every rule of the spec given only the shapes and element classes of the two data arrays (the data
/// of `file.measurement` and `file.reconstruction` are ignored): cheap on multi-GB files.
///
/// # Errors
/// The first rule broken, as a typed [`MdfError`] naming the dataset.
pub fn validate_structure(file: &MdfFile, meas: Option<DataInfo>, reco_shape: Option<&[usize]>) -> MdfResult<Dims> {
    if !file.version.trim().starts_with("2.") {
        return Err(MdfError::invalid(
            "/version",
            format!("expected an MDF 2.x version string, found {:?} (MDF v1 is not supported)", file.version),
        ));
    }
    if let Some(m) = &meas {
        // An empty data array is the defect to report, whichever count in the header made it empty.
        if m.shape.contains(&0) {
            return Err(MdfError::shape("/measurement/data", "no empty dimension", m.shape));
        }
    }
    let acq = &file.acquisition;
    let j = positive("/acquisition/numPeriodsPerFrame", acq.num_periods_per_frame)?;
    let c = positive("/acquisition/receiver/numChannels", acq.receiver.num_channels)?;
    let v = positive("/acquisition/receiver/numSamplingPoints", acq.receiver.num_sampling_points)?;
    let d = positive("/acquisition/drivefield/numChannels", acq.drivefield.num_channels)?;
    positive("/acquisition/numAverages", acq.num_averages)?;
    if acq.num_frames < 0 {
        return Err(MdfError::invalid("/acquisition/numFrames", format!("negative frame count {}", acq.num_frames)));
    }
    let df = &acq.drivefield;
    let div = df.divider.shape();
    if div.len() != 2 || div[0] != d {
        return Err(MdfError::shape("/acquisition/drivefield/divider", format!("[D={d}, F]"), div));
    }
    let f = div[1];
    if let Some(bad) = df.divider.iter().find(|v| **v <= 0) {
        return Err(MdfError::invalid(
            "/acquisition/drivefield/divider",
            format!("dividers must be positive, found {bad}"),
        ));
    }
    check_shape("/acquisition/drivefield/waveform", df.waveform.shape(), &[("D", d), ("F", f)])?;
    check_shape("/acquisition/drivefield/phase", df.phase_rad.shape(), &[("J", j), ("D", d), ("F", f)])?;
    check_shape("/acquisition/drivefield/strength", df.strength_t.shape(), &[("J", j), ("D", d), ("F", f)])?;
    if !(df.base_frequency_hz.is_finite() && df.base_frequency_hz > 0.0) {
        return Err(MdfError::invalid(
            "/acquisition/drivefield/baseFrequency",
            format!("expected a positive frequency in Hz, found {}", df.base_frequency_hz),
        ));
    }
    let mut y = None;
    if let Some(g) = &acq.gradient_t_per_m {
        let s = g.shape();
        check_shape("/acquisition/gradient", s, &[("J", j), ("Y", s[1]), ("3", 3), ("3", 3)])?;
        y = Some(s[1]);
    }
    if let Some(o) = &acq.offset_field_t {
        let s = o.shape();
        let yy = y.unwrap_or(s[1]);
        check_shape("/acquisition/offsetField", s, &[("J", j), ("Y", yy), ("3", 3)])?;
    }
    let rx = &acq.receiver;
    if !(rx.bandwidth_hz.is_finite() && rx.bandwidth_hz > 0.0) {
        return Err(MdfError::invalid(
            "/acquisition/receiver/bandwidth",
            format!("expected a positive bandwidth in Hz, found {}", rx.bandwidth_hz),
        ));
    }
    if let Some(a) = &rx.data_conversion_factor {
        check_shape("/acquisition/receiver/dataConversionFactor", a.shape(), &[("C", c), ("2", 2)])?;
    }
    if let Some(a) = &rx.induction_factor {
        check_shape("/acquisition/receiver/inductionFactor", a.shape(), &[("C", c)])?;
    }
    let k_full = v / 2 + 1;
    if let Some(tf) = &rx.transfer_function {
        let k_sel = file
            .measurement
            .as_ref()
            .and_then(|m| m.layout.frequency_selection.as_ref())
            .map(|s| s.len())
            .unwrap_or(k_full);
        let s = tf.shape();
        if !(s.len() == 2 && s[0] == c && (s[1] == k_full || s[1] == k_sel)) {
            return Err(MdfError::shape("/acquisition/receiver/transferFunction", dims(&[("C", c), ("K", k_full)]), s));
        }
        if let Some(i) = tf.iter().position(|z| !(z.re.is_finite() && z.im.is_finite())) {
            return Err(MdfError::NonFinite { dataset: "/acquisition/receiver/transferFunction".into(), index: i });
        }
    }
    if let Some(t) = &file.tracer {
        let a = t.name.len();
        let lens = [
            ("/tracer/batch", t.batch.len()),
            ("/tracer/concentration", t.concentration_mol_per_l.len()),
            ("/tracer/solute", t.solute.len()),
            ("/tracer/vendor", t.vendor.len()),
            ("/tracer/volume", t.volume_l.len()),
            ("/tracer/injectionTime", t.injection_time.as_ref().map_or(a, |v| v.len())),
        ];
        for (path, len) in lens {
            if len != a {
                return Err(MdfError::shape(path, dims(&[("A", a)]), &[len]));
            }
        }
    }
    let dims_out = Dims { j, c, v, d, f };
    let mut num_fg = None;
    if let (Some(m), Some(info)) = (&file.measurement, meas) {
        validate_measurement(m, info, file, &dims_out)?;
        num_fg = Some(m.layout.num_foreground_frames());
    }
    if let Some(cal) = &file.calibration {
        if let Some(size) = cal.size {
            let p: usize = size.iter().product();
            if let Some(o) = num_fg {
                if p != o {
                    return Err(MdfError::invalid(
                        "/calibration/size",
                        format!("grid {size:?} has {p} points but the measurement has O={o} foreground frames"),
                    ));
                }
            }
        }
        let o = num_fg.or(cal.size.map(|s| s.iter().product()));
        for (path, arr) in
            [("/calibration/positions", &cal.positions_m), ("/calibration/offsetFields", &cal.offset_fields_t)]
        {
            if let Some(a) = arr {
                let want_o = o.unwrap_or(a.shape()[0]);
                check_shape(path, a.shape(), &[("O", want_o), ("3", 3)])?;
            }
        }
        if let Some(order) = &cal.order {
            check_order("/calibration/order", order)?;
        }
        if let Some(snr) = &cal.snr {
            let k = file
                .measurement
                .as_ref()
                .map(|m| m.layout.frequency_selection.as_ref().map_or(k_full, |s| s.len()))
                .unwrap_or(snr.shape()[2]);
            check_shape("/calibration/snr", snr.shape(), &[("J", j), ("C", c), ("K", k)])?;
        }
    }
    if let (Some(r), Some(s)) = (&file.reconstruction, reco_shape) {
        if s.len() != 3 {
            return Err(MdfError::shape("/reconstruction/data", "[Q, P, S]", s));
        }
        if s.contains(&0) {
            return Err(MdfError::shape("/reconstruction/data", "[Q>0, P>0, S>0]", s));
        }
        let p = s[1];
        if let Some(size) = r.size {
            let prod: usize = size.iter().product();
            if prod != p {
                return Err(MdfError::invalid(
                    "/reconstruction/size",
                    format!("grid {size:?} has {prod} voxels but /reconstruction/data has P={p}"),
                ));
            }
        }
        if let Some(pos) = &r.positions_m {
            check_shape("/reconstruction/positions", pos.shape(), &[("P", p), ("3", 3)])?;
        }
        if let Some(ov) = &r.is_overscan_region {
            check_shape("/reconstruction/isOverscanRegion", &[ov.len()], &[("P", p)])?;
        }
        if let Some(order) = &r.order {
            check_order("/reconstruction/order", order)?;
        }
    }
    Ok(dims_out)
}

fn check_order(path: &str, order: &str) -> MdfResult<()> {
    let mut chars: Vec<char> = order.chars().collect();
    chars.sort_unstable();
    if chars != ['x', 'y', 'z'] {
        return Err(MdfError::invalid(path, format!("expected a permutation of \"xyz\", found {order:?}")));
    }
    Ok(())
}

fn validate_measurement(m: &Measurement, info: DataInfo, file: &MdfFile, d: &Dims) -> MdfResult<()> {
    const DATA: &str = "/measurement/data";
    let l = &m.layout;
    let shape = info.shape;
    // Real and imaginary parts as a trailing axis of 2 is the MDF v1 convention (and what tools without
    // compound support write); MDF v2 defines complex numbers as the compound {r, i} only, so such data
    // are refused by name rather than reported as a rank mismatch.
    if shape.len() == 5 && shape[4] == 2 && info.class == ElementClass::Real {
        return Err(MdfError::Type {
            dataset: DATA.into(),
            expected: "complex numbers as the HDF5 compound {r, i} (MDF v2), in a rank-4 array".into(),
            found: format!(
                "real numbers of shape {shape:?} with a trailing axis of 2 (real/imaginary pairs, the MDF v1 \
                 convention)"
            ),
        });
    }
    if shape.len() != 4 {
        let want = if l.is_fast_frame_axis { "[J, C, V|K, N] (rank 4)" } else { "[N, J, C, V|K] (rank 4)" };
        return Err(MdfError::shape(DATA, want, shape));
    }
    // N is what the data hold; sparsity-compressed data hold B + E columns, so N comes from numFrames there.
    let n = if l.is_sparsity_transformed {
        file.acquisition.num_frames.max(0) as usize
    } else if l.is_fast_frame_axis {
        shape[3]
    } else {
        shape[0]
    };
    if file.acquisition.num_frames as usize != n {
        return Err(MdfError::invalid(
            "/acquisition/numFrames",
            format!("states N={} frames but /measurement/data holds {n}", file.acquisition.num_frames),
        ));
    }
    check_shape("/measurement/isBackgroundFrame", &[l.num_frames()], &[("N", n)])?;
    let k_full = d.v / 2 + 1;
    let k = match (&l.frequency_selection, l.is_frequency_selection) {
        (Some(sel), true) => {
            if let Some(bad) = sel.iter().find(|&&i| i >= k_full) {
                return Err(MdfError::invalid(
                    "/measurement/frequencySelection",
                    format!("index {bad} (0-based) is outside 0..{k_full} (V/2+1 = {k_full} frequencies)"),
                ));
            }
            sel.len()
        }
        (None, true) => {
            return Err(MdfError::Missing {
                dataset: "/measurement/frequencySelection".into(),
                context: " (isFrequencySelection = 1)".into(),
            })
        }
        _ => k_full,
    };
    if l.is_frequency_selection && !l.is_fourier_transformed {
        return Err(MdfError::invalid(DATA, "isFrequencySelection = 1 requires isFourierTransformed = 1"));
    }
    if l.is_frame_permutation {
        let Some(p) = &l.frame_permutation else {
            return Err(MdfError::Missing {
                dataset: "/measurement/framePermutation".into(),
                context: " (isFramePermutation = 1)".into(),
            });
        };
        check_shape("/measurement/framePermutation", &[p.len()], &[("N", n)])?;
        let mut seen = vec![false; n];
        for &i in p {
            if i >= n || seen[i] {
                return Err(MdfError::invalid(
                    "/measurement/framePermutation",
                    format!("not a permutation of the {n} frames (index {i} out of range or repeated)"),
                ));
            }
            seen[i] = true;
        }
    }
    let w = if l.is_fourier_transformed { k } else { d.v };
    let wl = if l.is_fourier_transformed { "K" } else { "V" };
    if l.is_sparsity_transformed {
        if !(l.is_fast_frame_axis && l.is_fourier_transformed) {
            return Err(MdfError::invalid(
                DATA,
                "isSparsityTransformed = 1 requires isFastFrameAxis = 1 and isFourierTransformed = 1",
            ));
        }
        if l.sparsity_transformation.is_none() {
            return Err(MdfError::Missing {
                dataset: "/measurement/sparsityTransformation".into(),
                context: " (isSparsityTransformed = 1)".into(),
            });
        }
        let Some(idx) = &l.subsampling_indices else {
            return Err(MdfError::Missing {
                dataset: "/measurement/subsamplingIndices".into(),
                context: " (isSparsityTransformed = 1)".into(),
            });
        };
        let o = l.num_foreground_frames();
        if l.is_background_frame.iter().take(o).any(|b| *b) {
            return Err(MdfError::invalid(
                "/measurement/isBackgroundFrame",
                "sparsity compression needs the O foreground frames first and the E background frames last",
            ));
        }
        let b = idx.shape()[3];
        check_shape("/measurement/subsamplingIndices", idx.shape(), &[("J", d.j), ("C", d.c), ("K", k), ("B", b)])?;
        if let Some(bad) = idx.iter().find(|&&i| i >= o) {
            return Err(MdfError::invalid(
                "/measurement/subsamplingIndices",
                format!("coefficient index {bad} (0-based) is outside 0..{o} (O foreground frames)"),
            ));
        }
        let e = l.num_background_frames();
        check_shape(DATA, shape, &[("J", d.j), ("C", d.c), ("K", k), ("B+E", b + e)])?;
        if let Some(cal) = &file.calibration {
            if cal.size.is_none() {
                return Err(MdfError::Missing {
                    dataset: "/calibration/size".into(),
                    context: " (needed to undo the multi-dimensional sparsity transform)".into(),
                });
            }
        } else {
            return Err(MdfError::Missing {
                dataset: "/calibration/size".into(),
                context: " (needed to undo the multi-dimensional sparsity transform)".into(),
            });
        }
    } else if l.is_fast_frame_axis {
        check_shape(DATA, shape, &[("J", d.j), ("C", d.c), (wl, w), ("N", n)])?;
    } else {
        check_shape(DATA, shape, &[("N", n), ("J", d.j), ("C", d.c), (wl, w)])?;
    }
    if !l.is_fourier_transformed && info.class == ElementClass::Complex {
        return Err(MdfError::Type {
            dataset: DATA.into(),
            expected: "real numbers for time-domain data (isFourierTransformed = 0)".into(),
            found: "complex numbers".into(),
        });
    }
    if l.is_fourier_transformed && info.class == ElementClass::Integer {
        return Err(MdfError::Type {
            dataset: DATA.into(),
            expected: "float or complex numbers for Fourier-domain data".into(),
            found: "integers".into(),
        });
    }
    Ok(())
}
