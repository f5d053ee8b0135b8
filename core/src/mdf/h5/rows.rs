//! Reading a subset of system-matrix rows (period × channel × frequency) straight from disk, without loading
//! the whole matrix: real 3-D calibration files hold several GB.

use ndarray::{s, Array1, Array2, Axis};
use num_complex::{Complex32, Complex64};
use rustfft::FftPlanner;

use super::util::{complex_width, h5err};
use super::MdfReader;
use crate::mdf::spectra::{apply_conversion_rows, decode_sparse_row, sparsity_transform};
use crate::mdf::{MdfError, MdfResult, RowId, SystemMatrixRows};

const DATA: &str = "/measurement/data";

impl MdfReader {
    /// Every row id of the stored system matrix, ordered (j, c, k) with k fastest.
    pub fn all_rows(&self) -> Vec<RowId> {
        let (j, c, k) = self.row_dims();
        (0..j).flat_map(|j| (0..c).flat_map(move |c| (0..k).map(move |k| RowId { period: j, channel: c, k }))).collect()
    }

    /// (J, C, K stored).
    pub fn row_dims(&self) -> (usize, usize, usize) {
        let f = &self.header;
        let v = f.acquisition.receiver.num_sampling_points.max(0) as usize;
        let k = f
            .measurement
            .as_ref()
            .and_then(|m| m.layout.frequency_selection.as_ref().filter(|_| m.layout.is_frequency_selection))
            .map_or(v / 2 + 1, |s| s.len());
        (f.num_periods(), f.acquisition.receiver.num_channels.max(0) as usize, k)
    }

    /// The stored frequency axis as 0-based rFFT bins.
    pub fn stored_frequencies(&self) -> Vec<usize> {
        let v = self.header.acquisition.receiver.num_sampling_points.max(0) as usize;
        self.header
            .measurement
            .as_ref()
            .and_then(|m| m.layout.frequency_selection.clone().filter(|_| m.layout.is_frequency_selection))
            .unwrap_or_else(|| (0..v / 2 + 1).collect())
    }

    /// Reads the given rows of the system matrix, converted to the receiver's unit. Foreground columns are
    /// the foreground frames in stored order (grid order, x fastest, for a processed calibration file).
    ///
    /// Processed files (Fourier, fast frame axis) cost one contiguous read per row; other layouts are read with
    /// strided selections, time-domain ones Fourier-transformed per (j, c) block.
    ///
    /// # Errors
    /// A row outside the stored dimensions, a file without measurement, or HDF5 failures.
    pub fn system_matrix_rows(&self, rows: &[RowId]) -> MdfResult<SystemMatrixRows> {
        let _span = tracing::debug_span!("read_sm_rows", rows = rows.len()).entered();
        let m = self
            .header
            .measurement
            .as_ref()
            .ok_or_else(|| MdfError::Missing { dataset: "/measurement".into(), context: String::new() })?;
        let l = &m.layout;
        let (jn, cn, kn) = self.row_dims();
        if let Some(bad) = rows.iter().find(|r| r.period >= jn || r.channel >= cn || r.k >= kn) {
            return Err(MdfError::invalid(
                DATA,
                format!("row {bad:?} is outside the stored dimensions J={jn}, C={cn}, K={kn}"),
            ));
        }
        let n = l.num_frames();
        let fg: Vec<usize> = (0..n).filter(|i| !l.is_background_frame[*i]).collect();
        let bg: Vec<usize> = (0..n).filter(|i| l.is_background_frame[*i]).collect();
        let mut fgm = Array2::zeros((rows.len(), fg.len()));
        let mut bgm = Array2::zeros((rows.len(), bg.len()));
        let ds = self.h5.dataset(DATA)?;
        let td = ds.dtype().and_then(|t| t.to_descriptor()).map_err(|e| h5err(DATA, e))?;
        let is_c32 = complex_width(&td) == Some(4);
        let is_complex = complex_width(&td).is_some();
        let check = |row: &Array1<Complex64>| -> MdfResult<()> {
            if let Some(i) = row.iter().position(|z| !(z.re.is_finite() && z.im.is_finite())) {
                return Err(MdfError::NonFinite { dataset: DATA.into(), index: i });
            }
            Ok(())
        };
        if l.is_sparsity_transformed {
            let t = sparsity_transform(&self.header)?;
            let idx = l.subsampling_indices.as_ref().ok_or_else(|| MdfError::Missing {
                dataset: "/measurement/subsamplingIndices".into(),
                context: " (isSparsityTransformed = 1)".into(),
            })?;
            let b = idx.shape()[3];
            for (r, id) in rows.iter().enumerate() {
                let row = read_row(&ds, s![id.period, id.channel, id.k, ..], is_c32, is_complex)?;
                check(&row)?;
                let ind = idx.slice(s![id.period, id.channel, id.k, ..]);
                decode_sparse_row(&t, row.slice(s![..b]), ind, fgm.row_mut(r))?;
                bgm.row_mut(r).assign(&row.slice(s![b..]));
            }
        } else if l.is_fourier_transformed {
            for (r, id) in rows.iter().enumerate() {
                let row = if l.is_fast_frame_axis {
                    read_row(&ds, s![id.period, id.channel, id.k, ..], is_c32, is_complex)?
                } else {
                    read_row(&ds, s![.., id.period, id.channel, id.k], is_c32, is_complex)?
                };
                check(&row)?;
                scatter(&row, &fg, &bg, &mut fgm, &mut bgm, r);
            }
        } else {
            // Time domain: Fourier-transform each needed (j, c) block once.
            let v = self.header.acquisition.receiver.num_sampling_points as usize;
            let fft = FftPlanner::new().plan_fft_forward(v);
            let mut blocks: std::collections::BTreeMap<(usize, usize), Array2<Complex64>> = Default::default();
            for (r, id) in rows.iter().enumerate() {
                if let std::collections::btree_map::Entry::Vacant(slot) = blocks.entry((id.period, id.channel)) {
                    // [N, V] raw samples.
                    let raw: Array2<f64> = if l.is_fast_frame_axis {
                        let a: Array2<f64> =
                            ds.read_slice_2d(s![id.period, id.channel, .., ..]).map_err(|e| h5err(DATA, e))?;
                        a.reversed_axes().as_standard_layout().to_owned()
                    } else {
                        ds.read_slice_2d(s![.., id.period, id.channel, ..]).map_err(|e| h5err(DATA, e))?
                    };
                    if let Some(i) = raw.iter().position(|x| !x.is_finite()) {
                        return Err(MdfError::NonFinite { dataset: DATA.into(), index: i });
                    }
                    let mut spec = Array2::zeros((raw.shape()[0], v / 2 + 1));
                    let mut buf = vec![Complex64::default(); v];
                    for (fr, mut out) in raw.axis_iter(Axis(0)).zip(spec.axis_iter_mut(Axis(0))) {
                        for (b, x) in buf.iter_mut().zip(fr) {
                            *b = Complex64::new(*x, 0.0);
                        }
                        fft.process(&mut buf);
                        out.assign(&ndarray::ArrayView1::from(&buf[..v / 2 + 1]));
                    }
                    slot.insert(spec);
                }
                let spec = &blocks[&(id.period, id.channel)];
                let row = spec.column(id.k).to_owned();
                scatter(&row, &fg, &bg, &mut fgm, &mut bgm, r);
            }
        }
        let freqs = self.stored_frequencies();
        apply_conversion_rows(&self.header, rows, &freqs, &mut fgm, &mut bgm);
        Ok(SystemMatrixRows { rows: rows.to_vec(), foreground: fgm, background: bgm })
    }
}

fn scatter(
    row: &Array1<Complex64>,
    fg: &[usize],
    bg: &[usize],
    fgm: &mut Array2<Complex64>,
    bgm: &mut Array2<Complex64>,
    r: usize,
) {
    for (col, &f) in fg.iter().enumerate() {
        fgm[[r, col]] = row[f];
    }
    for (col, &f) in bg.iter().enumerate() {
        bgm[[r, col]] = row[f];
    }
}

fn read_row<S>(ds: &hdf5::Dataset, sel: S, is_c32: bool, is_complex: bool) -> MdfResult<Array1<Complex64>>
where
    S: TryInto<hdf5::Selection>,
    hdf5::Error: From<S::Error>,
{
    if is_c32 {
        let a: Array1<Complex32> = ds.read_slice_1d(sel).map_err(|e| h5err(DATA, e))?;
        Ok(a.mapv(|z| Complex64::new(z.re as f64, z.im as f64)))
    } else if is_complex {
        ds.read_slice_1d::<Complex64, _>(sel).map_err(|e| h5err(DATA, e))
    } else {
        let a: Array1<f64> = ds.read_slice_1d(sel).map_err(|e| h5err(DATA, e))?;
        Ok(a.mapv(|x| Complex64::new(x, 0.0)))
    }
}
