//! Canonical views of `/measurement/data`, whatever processing stages it went through: converted to the
//! receiver's unit, Fourier-transformed, frames in acquisition order, sparsity compression undone.
//!
//! FFT convention (see [`crate::doc::axes`]): û_k = Σ_v u_v e^{−2πi k v / V}, unscaled, k = 0..=V/2.

use ndarray::{s, Array2, Array4, ArrayD, ArrayView1, Axis, Ix4};
use num_complex::{Complex32, Complex64};
use rustfft::FftPlanner;

use super::{GridTransform, MdfError, MdfFile, MdfResult, Measurement};

/// Measurement spectra in canonical form.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectra {
    /// [N, J, C, K] in the receiver's unit (usually V), frames in acquisition order.
    pub data: Array4<Complex64>,
    /// The K columns as 0-based indices into the full spectrum 0..=V/2.
    pub frequencies: Vec<usize>,
    /// [N] background-frame mask, acquisition order.
    pub is_background_frame: Vec<bool>,
}

/// One system-matrix row: period j, receive channel c, and the index k into the **stored** frequency axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowId {
    /// Period j.
    pub period: usize,
    /// Receive channel c.
    pub channel: usize,
    /// Index into the stored frequency axis (equal to the rFFT bin unless a frequency selection is stored).
    pub k: usize,
}

/// System-matrix rows: foreground (one column per calibration position, grid order x fastest) and background.
///
/// The element type is `Complex64` by default (what [`system_matrix`] and `MdfReader::system_matrix_rows`
/// return); `MdfReader::system_matrix_rows_c32` returns `SystemMatrixRows<Complex32>`, the precision of MDF
/// files, at half the memory. Both arrays are in standard (row-major, contiguous) layout, so
/// `foreground.as_slice()` is the `[R·O]` buffer an operator can use without a copy.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemMatrixRows<T = Complex64> {
    /// The rows, in the order asked for.
    pub rows: Vec<RowId>,
    /// [R, O] in the receiver's unit per delta sample.
    pub foreground: Array2<T>,
    /// [R, E] background measurements.
    pub background: Array2<T>,
}

impl<T: Clone> SystemMatrixRows<T> {
    /// The given rows, in that order (`None` if one is not held).
    pub fn subset(&self, rows: &[RowId]) -> Option<SystemMatrixRows<T>> {
        let idx: Option<Vec<usize>> = rows.iter().map(|r| self.rows.iter().position(|x| x == r)).collect();
        let idx = idx?;
        Some(SystemMatrixRows {
            rows: rows.to_vec(),
            foreground: self.foreground.select(Axis(0), &idx),
            background: self.background.select(Axis(0), &idx),
        })
    }
}

impl SystemMatrixRows<Complex64> {
    /// The same rows rounded to complex f32 (the precision MDF files store).
    pub fn to_c32(&self) -> SystemMatrixRows<Complex32> {
        let cast = |z: &Complex64| Complex32::new(z.re as f32, z.im as f32);
        SystemMatrixRows {
            rows: self.rows.clone(),
            foreground: self.foreground.map(cast),
            background: self.background.map(cast),
        }
    }
}

/// Time-domain data [N, J, C, V] converted with `dataConversionFactor`, frames in acquisition order.
///
/// # Errors
/// The data are Fourier-transformed, or the file has no measurement.
pub fn time_data(file: &MdfFile) -> MdfResult<Array4<f64>> {
    let m = measurement(file)?;
    if m.layout.is_fourier_transformed {
        return Err(MdfError::invalid("/measurement/data", "time-domain data requested but isFourierTransformed = 1"));
    }
    let a = converted_time_samples(file, m)?;
    Ok(unpermute_frames(a, &m.layout.frame_permutation, m.layout.is_frame_permutation))
}

/// Spectra [N, J, C, K] of a measurement in canonical form (see [`Spectra`]).
///
/// # Errors
/// No measurement, or a sparsity-compressed file without `/calibration/size`.
pub fn measurement_spectra(file: &MdfFile) -> MdfResult<Spectra> {
    let m = measurement(file)?;
    let l = &m.layout;
    let v = file.acquisition.receiver.num_sampling_points as usize;
    if !l.is_fourier_transformed {
        let td = time_data(file)?;
        let spec = rfft_last_axis(&td);
        let mut bg = l.is_background_frame.clone();
        if l.is_frame_permutation {
            bg = unpermute_vec(&bg, l.frame_permutation.as_deref());
        }
        return Ok(Spectra { data: spec, frequencies: (0..v / 2 + 1).collect(), is_background_frame: bg });
    }
    let frequencies: Vec<usize> = if l.is_frequency_selection {
        l.frequency_selection.clone().unwrap_or_default()
    } else {
        (0..v / 2 + 1).collect()
    };
    // Bring to [J, C, K, N] (fast frame axis) first when compressed, then to [N, J, C, K].
    let mut a: Array4<Complex64> = if l.is_sparsity_transformed {
        let rows = system_matrix(file)?;
        let (j, c, k) = (file.num_periods(), file.acquisition.receiver.num_channels as usize, frequencies.len());
        let n = l.num_frames();
        let mut out = Array4::zeros((j, c, k, n));
        let fg: Vec<usize> = (0..n).filter(|i| !l.is_background_frame[*i]).collect();
        let bgi: Vec<usize> = (0..n).filter(|i| l.is_background_frame[*i]).collect();
        for (r, id) in rows.rows.iter().enumerate() {
            for (col, &f) in fg.iter().enumerate() {
                out[[id.period, id.channel, id.k, f]] = rows.foreground[[r, col]];
            }
            for (col, &f) in bgi.iter().enumerate() {
                out[[id.period, id.channel, id.k, f]] = rows.background[[r, col]];
            }
        }
        // system_matrix() already applied the conversion factor.
        let out = out.permuted_axes([3, 0, 1, 2]).as_standard_layout().to_owned();
        return Ok(Spectra {
            data: unpermute_frames(out, &l.frame_permutation, l.is_frame_permutation),
            frequencies,
            is_background_frame: unpermute_vec(
                &l.is_background_frame,
                l.frame_permutation.as_deref().filter(|_| l.is_frame_permutation),
            ),
        });
    } else {
        let d = into4(m.data.to_c64())?;
        if l.is_fast_frame_axis {
            d.permuted_axes([3, 0, 1, 2]).as_standard_layout().to_owned()
        } else {
            d
        }
    };
    convert_spectra_raw(file, &mut a, &frequencies);
    let bg = if l.is_frame_permutation {
        unpermute_vec(&l.is_background_frame, l.frame_permutation.as_deref())
    } else {
        l.is_background_frame.clone()
    };
    Ok(Spectra {
        data: unpermute_frames(a, &l.frame_permutation, l.is_frame_permutation),
        frequencies,
        is_background_frame: bg,
    })
}

/// All rows of a (Fourier-domain or time-domain) system matrix held in memory, rows ordered (j, c, k) with k
/// fastest; foreground columns in grid order, x fastest: the stored frame order of a processed calibration
/// file, or the stored order with MPIFiles' meander undone when `/calibration/isMeanderingGrid = 1` and the
/// frames are still in acquisition order (`isFramePermutation = 0`).
///
/// # Errors
/// No measurement, compressed data without `/calibration/size`, or a meandering grid that cannot be undone
/// (no grid size, or compressed data).
pub fn system_matrix(file: &MdfFile) -> MdfResult<SystemMatrixRows> {
    let m = measurement(file)?;
    let l = &m.layout;
    let n = l.num_frames();
    let fg = foreground_frames(file)?;
    let bgi: Vec<usize> = (0..n).filter(|i| l.is_background_frame[*i]).collect();
    let v = file.acquisition.receiver.num_sampling_points as usize;
    let frequencies: Vec<usize> = if l.is_frequency_selection {
        l.frequency_selection.clone().unwrap_or_default()
    } else {
        (0..v / 2 + 1).collect()
    };
    let (jn, cn, kn) = (file.num_periods(), file.acquisition.receiver.num_channels as usize, frequencies.len());
    let rows: Vec<RowId> = (0..jn)
        .flat_map(|j| (0..cn).flat_map(move |c| (0..kn).map(move |k| RowId { period: j, channel: c, k })))
        .collect();
    let mut fgm = Array2::zeros((rows.len(), fg.len()));
    let mut bgm = Array2::zeros((rows.len(), bgi.len()));
    if l.is_sparsity_transformed {
        let idx = l.subsampling_indices.as_ref().ok_or_else(|| MdfError::Missing {
            dataset: "/measurement/subsamplingIndices".into(),
            context: " (isSparsityTransformed = 1)".into(),
        })?;
        let t = sparsity_transform(file)?;
        let d = into4(m.data.to_c64())?;
        let b = idx.shape()[3];
        for (r, id) in rows.iter().enumerate() {
            let stored = d.slice(s![id.period, id.channel, id.k, ..]);
            let ind = idx.slice(s![id.period, id.channel, id.k, ..]);
            let mut row = fgm.row_mut(r);
            decode_sparse_row(&t, stored.slice(s![..b]), ind, row.view_mut())?;
            bgm.row_mut(r).assign(&stored.slice(s![b..]));
        }
    } else {
        // Canonical [N, J, C, K] spectra in *stored* frame order (no unpermutation: a processed calibration
        // file stores its frames in grid order and framePermutation records the robot order).
        let spec: Array4<Complex64> = if l.is_fourier_transformed {
            let d = into4(m.data.to_c64())?;
            let mut d =
                if l.is_fast_frame_axis { d.permuted_axes([3, 0, 1, 2]).as_standard_layout().to_owned() } else { d };
            convert_spectra_raw(file, &mut d, &frequencies);
            d
        } else {
            rfft_last_axis(&converted_time_samples(file, m)?)
        };
        for (r, id) in rows.iter().enumerate() {
            for (col, &f) in fg.iter().enumerate() {
                fgm[[r, col]] = spec[[f, id.period, id.channel, id.k]];
            }
            for (col, &f) in bgi.iter().enumerate() {
                bgm[[r, col]] = spec[[f, id.period, id.channel, id.k]];
            }
        }
        return Ok(SystemMatrixRows { rows, foreground: fgm, background: bgm });
    }
    apply_conversion_rows(file, &rows, &frequencies, &mut fgm, &mut bgm);
    Ok(SystemMatrixRows { rows, foreground: fgm, background: bgm })
}

/// The stored foreground frames in calibration-grid order (x fastest, then y, then z).
///
/// Stored order is grid order unless `/calibration/isMeanderingGrid = 1` (non-standard, written by MPIFiles.jl)
/// and the frames are still in acquisition order (`isFramePermutation = 0`): then the robot traversed the grid
/// as a meander, and, as MPIFiles' `meanderingFramePermutation` defines it, grid point (x, y, z) (0-based,
/// sizes X, Y) was acquired as the foreground frame at (x', y', z) with x' = X−1−x when y + z is odd and
/// y' = Y−1−y when z is odd (x' = x, y' = y otherwise). With `isFramePermutation = 1` the frames were already
/// sorted into grid order (MPIFiles' `calibPostProcessing` folds the meander into `framePermutation` and keeps
/// the flag only as a record of the acquisition), so nothing is undone twice.
pub(crate) fn foreground_frames(file: &MdfFile) -> MdfResult<Vec<usize>> {
    let l = &measurement(file)?.layout;
    let n = l.num_frames();
    let fg: Vec<usize> = (0..n).filter(|i| !l.is_background_frame[*i]).collect();
    let cal = file.calibration.as_ref();
    let meandering = cal.and_then(|c| c.is_meandering_grid).unwrap_or(false);
    if !meandering || l.is_frame_permutation {
        return Ok(fg);
    }
    const P: &str = "/calibration/isMeanderingGrid";
    if l.is_sparsity_transformed {
        // The sparsity transform acts along the grid: coefficients of meander-ordered frames cannot be decoded
        // into grid order, and the 2.1 spec requires sorted frames for compression anyway.
        return Err(MdfError::invalid(
            P,
            "isMeanderingGrid = 1 with isFramePermutation = 0 on sparsity-compressed data: the frames must be \
             sorted into grid order before compression",
        ));
    }
    let size = cal.and_then(|c| c.size).ok_or_else(|| MdfError::Missing {
        dataset: "/calibration/size".into(),
        context: " (needed to undo isMeanderingGrid = 1)".into(),
    })?;
    let [nx, ny, nz] = size;
    if nx * ny * nz != fg.len() {
        return Err(MdfError::invalid(
            "/calibration/size",
            format!("grid {size:?} has {} points but there are {} foreground frames", nx * ny * nz, fg.len()),
        ));
    }
    let mut sorted = Vec::with_capacity(fg.len());
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let xa = if (y + z) % 2 == 1 { nx - 1 - x } else { x };
                let ya = if z % 2 == 1 { ny - 1 - y } else { y };
                sorted.push(fg[xa + nx * (ya + ny * z)]);
            }
        }
    }
    Ok(sorted)
}

/// Time samples [N, J, C, V] in stored frame order with `dataConversionFactor` applied (u = a·r + b).
fn converted_time_samples(file: &MdfFile, m: &Measurement) -> MdfResult<Array4<f64>> {
    let mut a = m.data.to_f64_lossy();
    if m.layout.is_fast_frame_axis {
        a = a.permuted_axes(vec![3, 0, 1, 2]).as_standard_layout().to_owned();
    }
    let mut a = into4(a)?;
    if let Some(conv) = &file.acquisition.receiver.data_conversion_factor {
        for c in 0..a.shape()[2] {
            let (sc, off) = (conv[[c, 0]], conv[[c, 1]]);
            a.slice_mut(s![.., .., c, ..]).mapv_inplace(|r| sc * r + off);
        }
    }
    Ok(a)
}

/// The grid transform of a sparsity-compressed file.
pub(crate) fn sparsity_transform(file: &MdfFile) -> MdfResult<GridTransform> {
    let l = &measurement(file)?.layout;
    let kind = l.sparsity_transformation.ok_or_else(|| MdfError::Missing {
        dataset: "/measurement/sparsityTransformation".into(),
        context: " (isSparsityTransformed = 1)".into(),
    })?;
    let size = file.calibration.as_ref().and_then(|c| c.size).ok_or_else(|| MdfError::Missing {
        dataset: "/calibration/size".into(),
        context: " (needed to undo the multi-dimensional sparsity transform)".into(),
    })?;
    Ok(GridTransform::new(kind, size))
}

/// Zero-fills the O coefficients from the B stored ones and applies Γᵀ (MDF 2.1 sparsity recovery).
pub(crate) fn decode_sparse_row(
    t: &GridTransform,
    coeffs: ArrayView1<Complex64>,
    indices: ArrayView1<usize>,
    mut out: ndarray::ArrayViewMut1<Complex64>,
) -> MdfResult<()> {
    out.fill(Complex64::default());
    for (c, &i) in coeffs.iter().zip(indices.iter()) {
        if i >= out.len() {
            return Err(MdfError::invalid(
                "/measurement/subsamplingIndices",
                format!("index {i} outside the {} grid points", out.len()),
            ));
        }
        out[i] = *c;
    }
    t.inverse(out);
    Ok(())
}

/// Applies the conversion factors to frequency-domain rows: scale by a_c; the offset b_c only reaches DC (b_c·V).
pub(crate) fn apply_conversion_rows(
    file: &MdfFile,
    rows: &[RowId],
    frequencies: &[usize],
    fg: &mut Array2<Complex64>,
    bg: &mut Array2<Complex64>,
) {
    let Some(conv) = &file.acquisition.receiver.data_conversion_factor else { return };
    let v = file.acquisition.receiver.num_sampling_points as f64;
    for (r, id) in rows.iter().enumerate() {
        let (a, b) = (conv[[id.channel, 0]], conv[[id.channel, 1]]);
        let dc = if frequencies.get(id.k) == Some(&0) { b * v } else { 0.0 };
        for m in [&mut *fg, &mut *bg] {
            m.row_mut(r).mapv_inplace(|z| z * a + dc);
        }
    }
}

fn convert_spectra_raw(file: &MdfFile, a: &mut Array4<Complex64>, frequencies: &[usize]) {
    let Some(conv) = &file.acquisition.receiver.data_conversion_factor else { return };
    let v = file.acquisition.receiver.num_sampling_points as f64;
    for c in 0..a.shape()[2] {
        let (sc, off) = (conv[[c, 0]], conv[[c, 1]]);
        for (ki, &f) in frequencies.iter().enumerate() {
            let dc = if f == 0 { off * v } else { 0.0 };
            a.slice_mut(s![.., .., c, ki]).mapv_inplace(|z| z * sc + dc);
        }
    }
}

fn measurement(file: &MdfFile) -> MdfResult<&Measurement> {
    file.measurement
        .as_ref()
        .ok_or_else(|| MdfError::Missing { dataset: "/measurement".into(), context: String::new() })
}

fn into4<T>(a: ArrayD<T>) -> MdfResult<Array4<T>> {
    let shape = a.shape().to_vec();
    a.into_dimensionality::<Ix4>().map_err(|_| MdfError::shape("/measurement/data", "rank 4", &shape))
}

/// Stored frame n is original frame perm[n]: put it back at perm[n].
fn unpermute_frames<T: Clone + num_traits::Zero>(a: Array4<T>, perm: &Option<Vec<usize>>, enabled: bool) -> Array4<T> {
    let Some(p) = perm.as_ref().filter(|_| enabled) else { return a };
    let mut out = Array4::from_elem(a.raw_dim(), T::zero());
    for (n, &orig) in p.iter().enumerate() {
        out.index_axis_mut(Axis(0), orig).assign(&a.index_axis(Axis(0), n));
    }
    out
}

fn unpermute_vec<T: Clone + Default>(v: &[T], perm: Option<&[usize]>) -> Vec<T> {
    let Some(p) = perm else { return v.to_vec() };
    let mut out = vec![T::default(); v.len()];
    for (n, &orig) in p.iter().enumerate() {
        out[orig] = v[n].clone();
    }
    out
}

/// rFFT along the last axis of [N, J, C, V] → [N, J, C, V/2+1], unscaled.
pub(crate) fn rfft_last_axis(a: &Array4<f64>) -> Array4<Complex64> {
    let (n, j, c, v) = a.dim();
    let fft = FftPlanner::new().plan_fft_forward(v);
    let mut out = Array4::zeros((n, j, c, v / 2 + 1));
    let mut buf = vec![Complex64::default(); v];
    let mut scratch = vec![Complex64::default(); fft.get_inplace_scratch_len()];
    for ni in 0..n {
        for ji in 0..j {
            for ci in 0..c {
                for (b, x) in buf.iter_mut().zip(a.slice(s![ni, ji, ci, ..])) {
                    *b = Complex64::new(*x, 0.0);
                }
                fft.process_with_scratch(&mut buf, &mut scratch);
                out.slice_mut(s![ni, ji, ci, ..]).assign(&ArrayView1::from(&buf[..v / 2 + 1]));
            }
        }
    }
    out
}
