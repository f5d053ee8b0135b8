//! Measurement frames for the solver, read one frame at a time for the rows the plan selected.
//!
//! A reconstruction needs, per frame, only the R selected (period, channel, frequency) values, not the whole
//! spectrum: [`FrameSource`] gives exactly those, so that frames are streamed batch by batch instead of being
//! converted all at once to complex f64 ([`magpie_core::mdf::measurement_spectra`] holds N × J × C × K × 16 B).
//! [`MdfFrames`] reads them from a measurement held in memory in its stored element type (Fourier data by direct
//! indexing, time data by one FFT per frame, period and channel); [`Spectra`] is a source too, for callers that
//! already hold canonical spectra.

use std::sync::Arc;

use magpie_core::mdf::{measurement_spectra, MdfFile, NumArray, Spectra};
use num_complex::Complex64;
use rustfft::{Fft, FftPlanner};

use crate::RecoError;

/// Where one selected row's value sits in a frame: period j, receive channel c, and the column of the source's
/// frequency axis ([`FrameSource::frequencies`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    /// Period j.
    pub period: usize,
    /// Receive channel c.
    pub channel: usize,
    /// Column of the source's frequency axis.
    pub column: usize,
}

/// A measurement whose frames can be read one at a time, in acquisition order.
pub trait FrameSource: Sync {
    /// Number of frames N (foreground and background).
    fn frame_count(&self) -> usize;
    /// [N] true for background frames, acquisition order.
    fn is_background_frame(&self) -> &[bool];
    /// (J, C): periods and receive channels.
    fn periods_channels(&self) -> (usize, usize);
    /// The frequency axis: 0-based rFFT bins of the columns.
    fn frequencies(&self) -> &[usize];
    /// Writes the value of every pick of frame `frame` (acquisition order) into `out`, in the receiver's unit.
    ///
    /// # Errors
    /// A frame or pick out of range (as an input error naming the measurement).
    fn read_frame(&self, frame: usize, picks: &[Pick], out: &mut [Complex64]) -> Result<(), RecoError>;
}

fn out_of_range(what: String) -> RecoError {
    RecoError::Input { what: "measurement".into(), message: what }
}

impl FrameSource for Spectra {
    fn frame_count(&self) -> usize {
        self.data.shape()[0]
    }
    fn is_background_frame(&self) -> &[bool] {
        &self.is_background_frame
    }
    fn periods_channels(&self) -> (usize, usize) {
        (self.data.shape()[1], self.data.shape()[2])
    }
    fn frequencies(&self) -> &[usize] {
        &self.frequencies
    }
    fn read_frame(&self, frame: usize, picks: &[Pick], out: &mut [Complex64]) -> Result<(), RecoError> {
        let (n, j, c, k) = self.data.dim();
        for (o, p) in out.iter_mut().zip(picks) {
            if frame >= n || p.period >= j || p.channel >= c || p.column >= k {
                return Err(out_of_range(format!("frame {frame} / {p:?} outside the spectra [{n}, {j}, {c}, {k}]")));
            }
            *o = self.data[[frame, p.period, p.channel, p.column]];
        }
        Ok(())
    }
}

/// How [`MdfFrames`] reaches the values.
enum Access {
    /// Fourier data `[N, J, C, K]` or `[J, C, K, N]` (fast frame axis): direct indexing.
    Fourier { fast_axis: bool },
    /// Time data `[N, J, C, V]` or `[J, C, V, N]`: an FFT of each (frame, period, channel) needed.
    Time { fast_axis: bool, fft: Arc<dyn Fft<f64>> },
    /// Any other layout (sparsity-compressed): every frame's spectra computed once, as complex f64.
    Materialised(Spectra),
}

/// The frames of a measurement held in memory ([`MdfFile`]), read one at a time from the stored array in its
/// own element type: `dataConversionFactor` (u = a·r + b), frame permutation and the fast frame axis are
/// applied per value. Sparsity-compressed measurements, which are rare, are expanded once instead.
pub struct MdfFrames<'a> {
    data: &'a NumArray,
    shape: Vec<usize>,
    access: Access,
    frequencies: Vec<usize>,
    background: Vec<bool>,
    /// Acquisition frame → stored frame.
    stored_of: Vec<usize>,
    conversion: Option<Vec<(f64, f64)>>,
    samples_per_period: usize,
}

impl std::fmt::Debug for MdfFrames<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MdfFrames(shape {:?})", self.shape)
    }
}

impl<'a> MdfFrames<'a> {
    /// The frames of `file`'s measurement.
    ///
    /// # Errors
    /// A file without measurement, a data array that is not of rank 4, or a frame permutation that is not one.
    pub fn new(file: &'a MdfFile) -> Result<Self, RecoError> {
        let m = file.measurement.as_ref().ok_or_else(|| RecoError::Input {
            what: "/measurement".into(),
            message: "the file has no measurement".into(),
        })?;
        let l = &m.layout;
        let shape = m.data.shape().to_vec();
        let v = file.acquisition.receiver.num_sampling_points.max(0) as usize;
        let bad = |message: String| RecoError::Input { what: "/measurement/data".into(), message };
        if shape.len() != 4 {
            return Err(bad(format!("rank {} (shape {shape:?}), expected 4", shape.len())));
        }
        let n = l.num_frames();
        let mut stored_of: Vec<usize> = (0..n).collect();
        let mut background = l.is_background_frame.clone();
        if l.is_frame_permutation {
            if let Some(perm) = &l.frame_permutation {
                let mut seen = vec![false; n];
                for (stored, &orig) in perm.iter().enumerate() {
                    if orig >= n || seen[orig] {
                        return Err(RecoError::Input {
                            what: "/measurement/framePermutation".into(),
                            message: "is not a permutation of the frames".into(),
                        });
                    }
                    seen[orig] = true;
                    stored_of[orig] = stored;
                    background[orig] = l.is_background_frame[stored];
                }
            }
        }
        let (access, frequencies) = if l.is_sparsity_transformed {
            tracing::debug!("sparsity-compressed measurement: spectra of all frames expanded at once");
            let sp = measurement_spectra(file).map_err(|e| bad(e.to_string()))?;
            let f = sp.frequencies.clone();
            background = sp.is_background_frame.clone();
            (Access::Materialised(sp), f)
        } else if l.is_fourier_transformed {
            let f = if l.is_frequency_selection {
                l.frequency_selection.clone().unwrap_or_default()
            } else {
                (0..v / 2 + 1).collect()
            };
            (Access::Fourier { fast_axis: l.is_fast_frame_axis }, f)
        } else {
            let fft = FftPlanner::new().plan_fft_forward(v.max(1));
            (Access::Time { fast_axis: l.is_fast_frame_axis, fft }, (0..v / 2 + 1).collect())
        };
        let (jn, cn) = (file.num_periods(), file.acquisition.receiver.num_channels.max(0) as usize);
        let expected = match access {
            Access::Fourier { fast_axis: false } => vec![n, jn, cn, frequencies.len()],
            Access::Fourier { fast_axis: true } => vec![jn, cn, frequencies.len(), n],
            Access::Time { fast_axis: false, .. } => vec![n, jn, cn, v],
            Access::Time { fast_axis: true, .. } => vec![jn, cn, v, n],
            Access::Materialised(_) => shape.clone(),
        };
        if shape != expected {
            return Err(bad(format!("shape {shape:?}, expected {expected:?} from the file's metadata")));
        }
        let conversion = file
            .acquisition
            .receiver
            .data_conversion_factor
            .as_ref()
            .map(|c| (0..cn).map(|ch| (c[[ch, 0]], c[[ch, 1]])).collect());
        Ok(MdfFrames {
            data: &m.data,
            shape,
            access,
            frequencies,
            background,
            stored_of,
            conversion,
            samples_per_period: v,
        })
    }

    /// Index of a stored element, C order.
    fn flat(&self, i: [usize; 4]) -> usize {
        ((i[0] * self.shape[1] + i[1]) * self.shape[2] + i[2]) * self.shape[3] + i[3]
    }
}

/// Element `flat` (C order) of a stored array as a complex f64 (real types: imaginary part 0).
fn element(a: &NumArray, flat: usize) -> Complex64 {
    fn at<T: Copy>(a: &ndarray::ArrayD<T>, flat: usize) -> T {
        match a.as_slice() {
            Some(s) => s[flat],
            // Arrays read from files are in standard layout; a view in another order is walked in logical order.
            None => a.iter().nth(flat).copied().expect("index checked against the shape"),
        }
    }
    match a {
        NumArray::I8(x) => Complex64::new(f64::from(at(x, flat)), 0.0),
        NumArray::I16(x) => Complex64::new(f64::from(at(x, flat)), 0.0),
        NumArray::I32(x) => Complex64::new(f64::from(at(x, flat)), 0.0),
        NumArray::I64(x) => Complex64::new(at(x, flat) as f64, 0.0),
        NumArray::F32(x) => Complex64::new(f64::from(at(x, flat)), 0.0),
        NumArray::F64(x) => Complex64::new(at(x, flat), 0.0),
        NumArray::C32(x) => {
            let z = at(x, flat);
            Complex64::new(f64::from(z.re), f64::from(z.im))
        }
        NumArray::C64(x) => at(x, flat),
    }
}

impl FrameSource for MdfFrames<'_> {
    fn frame_count(&self) -> usize {
        self.background.len()
    }
    fn is_background_frame(&self) -> &[bool] {
        &self.background
    }
    fn periods_channels(&self) -> (usize, usize) {
        match &self.access {
            Access::Fourier { fast_axis: true } | Access::Time { fast_axis: true, .. } => {
                (self.shape[0], self.shape[1])
            }
            Access::Materialised(sp) => sp.periods_channels(),
            _ => (self.shape[1], self.shape[2]),
        }
    }
    fn frequencies(&self) -> &[usize] {
        &self.frequencies
    }
    fn read_frame(&self, frame: usize, picks: &[Pick], out: &mut [Complex64]) -> Result<(), RecoError> {
        if let Access::Materialised(sp) = &self.access {
            return sp.read_frame(frame, picks, out);
        }
        let n = self.frame_count();
        let (jn, cn) = self.periods_channels();
        let k = self.frequencies.len();
        if frame >= n {
            return Err(out_of_range(format!("frame {frame} of {n}")));
        }
        if let Some(p) = picks.iter().find(|p| p.period >= jn || p.channel >= cn || p.column >= k) {
            return Err(out_of_range(format!("{p:?} outside J = {jn}, C = {cn}, K = {k}")));
        }
        let s = self.stored_of[frame];
        let v = self.samples_per_period as f64;
        match &self.access {
            Access::Fourier { fast_axis } => {
                for (o, p) in out.iter_mut().zip(picks) {
                    let idx = if *fast_axis {
                        [p.period, p.channel, p.column, s]
                    } else {
                        [s, p.period, p.channel, p.column]
                    };
                    let z = element(self.data, self.flat(idx));
                    *o = match &self.conversion {
                        // The offset b of u = a·r + b reaches only DC, as b·V (the FFT is unscaled).
                        Some(conv) => {
                            let (a, b) = conv[p.channel];
                            z * a + if self.frequencies[p.column] == 0 { b * v } else { 0.0 }
                        }
                        None => z,
                    };
                }
            }
            Access::Time { fast_axis, fft } => {
                let vn = self.samples_per_period;
                let mut buf = vec![Complex64::default(); vn];
                let mut scratch = vec![Complex64::default(); fft.get_inplace_scratch_len()];
                let mut done: Option<(usize, usize)> = None;
                // Picks of one (period, channel) share one FFT; the plan orders rows by (j, c, k), so each
                // (j, c) is transformed once.
                for (o, p) in out.iter_mut().zip(picks) {
                    if done != Some((p.period, p.channel)) {
                        let (a, b) = self.conversion.as_ref().map_or((1.0, 0.0), |c| c[p.channel]);
                        for (t, z) in buf.iter_mut().enumerate() {
                            let idx =
                                if *fast_axis { [p.period, p.channel, t, s] } else { [s, p.period, p.channel, t] };
                            *z = Complex64::new(a * element(self.data, self.flat(idx)).re + b, 0.0);
                        }
                        fft.process_with_scratch(&mut buf, &mut scratch);
                        done = Some((p.period, p.channel));
                    }
                    *o = buf[self.frequencies[p.column]];
                }
            }
            Access::Materialised(_) => unreachable!("handled above"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use magpie_core::mdf::example::{small_measurement, small_system_matrix};

    fn assert_same_as_canonical(file: &MdfFile, what: &str) {
        let reference = measurement_spectra(file).unwrap();
        let frames = MdfFrames::new(file).unwrap();
        assert_eq!(frames.frequencies(), reference.frequencies.as_slice(), "{what}");
        assert_eq!(frames.is_background_frame(), reference.is_background_frame.as_slice(), "{what}");
        assert_eq!(frames.frame_count(), reference.frame_count(), "{what}");
        let (j, c) = frames.periods_channels();
        assert_eq!((j, c), reference.periods_channels(), "{what}");
        let k = frames.frequencies().len();
        let picks: Vec<Pick> = (0..j)
            .flat_map(|p| {
                (0..c).flat_map(move |ch| (0..k).map(move |col| Pick { period: p, channel: ch, column: col }))
            })
            .collect();
        let mut got = vec![Complex64::default(); picks.len()];
        let mut want = got.clone();
        let scale = reference.data.iter().fold(0.0f64, |m, z| m.max(z.norm()));
        for f in 0..frames.frame_count() {
            frames.read_frame(f, &picks, &mut got).unwrap();
            reference.read_frame(f, &picks, &mut want).unwrap();
            for (a, b) in got.iter().zip(&want) {
                assert!((a - b).norm() <= 1e-12 * scale, "{what}, frame {f}: {a} vs {b}");
            }
        }
        assert!(frames.read_frame(frames.frame_count(), &picks, &mut got).is_err());
    }

    /// Every layout gives the values of the canonical spectra (the slow reference, all frames at once).
    #[test]
    fn frames_equal_the_canonical_spectra_in_every_layout() {
        assert_same_as_canonical(&small_system_matrix([3, 2, 1], 2, 3, 16), "Fourier, fast frame axis");
        let time = small_measurement(4, 2);
        assert_same_as_canonical(&time, "time domain");
        // Time domain with the fast frame axis, a frame permutation and a conversion factor.
        let mut t2 = time.clone();
        let m = t2.measurement.as_mut().unwrap();
        let NumArray::F64(a) = &m.data else { panic!("f64 data") };
        let fast = a.clone().permuted_axes(ndarray::IxDyn(&[1, 2, 3, 0]));
        let perm = [2usize, 0, 3, 1];
        let stored =
            ndarray::ArrayD::from_shape_fn(fast.shape().to_vec(), |ix| fast[[ix[0], ix[1], ix[2], perm[ix[3]]]]);
        m.data = NumArray::F64(stored);
        m.layout.is_fast_frame_axis = true;
        m.layout.is_frame_permutation = true;
        m.layout.frame_permutation = Some(perm.to_vec());
        m.layout.is_background_frame =
            perm.iter().map(|&o| time.measurement.as_ref().unwrap().layout.is_background_frame[o]).collect();
        t2.acquisition.receiver.data_conversion_factor = Some(ndarray::array![[2.0, 1e-7], [0.5, -3e-7]]);
        assert_same_as_canonical(&t2, "time domain, fast frame axis, permuted, converted");
    }
}
