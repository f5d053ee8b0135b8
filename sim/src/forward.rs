//! The forward model: point masses of tracer in the scanner's fields → induced voltage spectra per period and
//! receive channel (the rFFT of one drive-field period, unscaled; see `magpie_core::doc::axes`).
//!
//! For each period j the total moment m(t) = Σ_p m_Fe,p · M_sat/kg · g(|B_p(t)|) · B_p(t),
//! B_p(t) = G·r_p + B_D(t) + B_off(j), is sampled at `oversampling`·V points, projected on each coil's
//! sensitivity (B/I)_c, Fourier-transformed, and turned into the voltage spectrum
//! û_k = −2πi f_k · Φ̂_k / oversampling · D(f_k) · H_rx(f_k), where D = 1/(1 + 2πi f τ) is the Debye relaxation
//! (physics.md §1.5) and H_rx the receive chain (band-stop, transfer function). Keeping only k ≤ V/2 of the
//! oversampled spectrum is an ideal anti-alias filter at the receiver bandwidth.

use magpie_core::scanner::ScannerConfig;
use magpie_core::tracer::TracerModel;
use ndarray::{s, Array2, Array3, ArrayViewMut2};
use num_complex::Complex64;
use rustfft::{Fft, FftPlanner};
use std::f64::consts::PI;
use std::sync::Arc;

use crate::ensemble::Ensemble;
use crate::SimError;

/// A quantity of tracer at a point: what the forward model sums over. Phantoms are turned into point masses by
/// `crate::phantom` (sub-voxel sampling of extended sources).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PointMass {
    /// Position [m].
    pub position_m: [f64; 3],
    /// Iron [kg].
    pub iron_kg: f64,
}

/// A prepared forward model for one scanner and tracer.
pub struct Engine {
    /// The scanner.
    pub scanner: ScannerConfig,
    /// The tracer.
    pub tracer: TracerModel,
    ensemble: Ensemble,
    gradient: [[f64; 3]; 3],
    sens: Vec<[f64; 3]>,
    v: usize,
    os: usize,
    /// Per period: B_D(t) + B_off(j) at the oversampled times [T].
    drive: Vec<Vec<[f64; 3]>>,
    /// Per kept bin k: −2πi f_k · D(f_k) · H_rx(f_k) / oversampling.
    response: Vec<Complex64>,
    /// Per receive channel and kept bin: the measured receive chain (`receive_transfer_function`), if any.
    measured: Option<Array2<Complex64>>,
    fft: Arc<dyn Fft<f64>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("scanner", &self.scanner.name).field("tracer", &self.tracer.name).finish()
    }
}

/// Reusable buffers of one worker thread.
pub struct Scratch {
    m: Vec<[f64; 3]>,
    buf: Vec<Complex64>,
    fft_scratch: Vec<Complex64>,
}

/// Largest field magnitude the engine will meet for positions within `extent_m` of the centre [T].
fn field_bound(scanner: &ScannerConfig, extent_m: f64) -> f64 {
    let g: f64 = scanner.gradient_t_per_m.iter().flat_map(|r| r.iter()).map(|v| v * v).sum::<f64>().sqrt();
    let d: f64 = scanner.drive.iter().map(|c| c.amplitude_t * c.amplitude_t).sum::<f64>().sqrt();
    let o = (0..scanner.periods_per_frame())
        .map(|j| scanner.offset_field_t(j).iter().map(|v| v * v).sum::<f64>().sqrt())
        .fold(0.0, f64::max);
    g * extent_m + d + o
}

impl Engine {
    /// Prepares the model. Polydisperse tracers are tabulated for field magnitudes up to what positions
    /// within 0.1 m of the centre meet (beyond it, exact sums are used).
    ///
    /// # Errors
    /// An invalid scanner description.
    pub fn new(scanner: &ScannerConfig, tracer: &TracerModel) -> Result<Self, SimError> {
        scanner.check()?;
        if scanner.receive_transfer_function.is_some() && scanner.measured_receive_chain.is_none() {
            return Err(SimError::Invalid {
                what: "receive_transfer_function".into(),
                why: "names a file that has not been read (load the scanner from its TOML file, or call \
                      ScannerConfig::read_receive_transfer_function)"
                    .into(),
            });
        }
        let _span = tracing::debug_span!("engine", scanner = %scanner.name, tracer = %tracer.name).entered();
        let v = scanner.samples_per_period();
        let os = scanner.simulation_oversampling;
        let n = v * os;
        let dt = scanner.cycle_s() / n as f64;
        let drive = (0..scanner.periods_per_frame())
            .map(|j| {
                let off = scanner.offset_field_t(j);
                (0..n)
                    .map(|i| {
                        let b = scanner.drive_field_t(i as f64 * dt);
                        [b[0] + off[0], b[1] + off[1], b[2] + off[2]]
                    })
                    .collect()
            })
            .collect();
        let tau = tracer.relaxation_time_s();
        let k = v / 2 + 1;
        let fs = scanner.sampling_rate_hz();
        let response = (0..k)
            .map(|k| {
                let f = k as f64 * fs / v as f64;
                let mut r = Complex64::new(0.0, -2.0 * PI * f) / os as f64;
                if let Some(t) = tau {
                    r /= Complex64::new(1.0, 2.0 * PI * f * t);
                }
                r * scanner.receive_chain_response(f)
            })
            .collect();
        let measured = scanner.measured_receive_chain.as_ref().map(|tf| {
            let outside = (0..k).filter(|&kk| !tf.in_band(kk as f64 * fs / v as f64)).count();
            if outside > 0 {
                let (lo, hi) = tf.band_hz();
                tracing::warn!(
                    "measured receive chain: {outside} of {k} bins lie outside its band {:.3} – {:.3} kHz and take \
                     the value at the nearer end",
                    lo / 1e3,
                    hi / 1e3
                );
            }
            Array2::from_shape_fn((scanner.receive.len(), k), |(c, kk)| {
                scanner.measured_receive_response(c, kk as f64 * fs / v as f64)
            })
        });
        let fft = FftPlanner::new().plan_fft_forward(n);
        Ok(Engine {
            measured,
            ensemble: Ensemble::new(tracer, field_bound(scanner, 0.1)),
            gradient: scanner.gradient_t_per_m,
            sens: scanner.receive.iter().map(|c| c.sensitivity_t_per_a).collect(),
            scanner: scanner.clone(),
            tracer: tracer.clone(),
            v,
            os,
            drive,
            response,
            fft,
        })
    }

    /// V, samples per period.
    pub fn samples_per_period(&self) -> usize {
        self.v
    }

    /// K = V/2 + 1 frequency bins.
    pub fn num_bins(&self) -> usize {
        self.v / 2 + 1
    }

    /// J periods per frame.
    pub fn num_periods(&self) -> usize {
        self.drive.len()
    }

    /// C receive channels.
    pub fn num_channels(&self) -> usize {
        self.sens.len()
    }

    /// Frequency of bin k [Hz].
    pub fn frequency_hz(&self, k: usize) -> f64 {
        k as f64 * self.scanner.sampling_rate_hz() / self.v as f64
    }

    /// The particle ensemble.
    pub fn ensemble(&self) -> &Ensemble {
        &self.ensemble
    }

    /// Fresh buffers for [`Self::spectra_into`].
    pub fn scratch(&self) -> Scratch {
        let n = self.v * self.os;
        Scratch {
            m: vec![[0.0; 3]; n],
            buf: vec![Complex64::default(); n],
            fft_scratch: vec![Complex64::default(); self.fft.get_inplace_scratch_len()],
        }
    }

    /// Noiseless voltage spectra [J, C, K] of the point masses [V].
    pub fn spectra(&self, points: &[PointMass]) -> Array3<Complex64> {
        let mut out = Array3::zeros((self.num_periods(), self.num_channels(), self.num_bins()));
        let mut scratch = self.scratch();
        for j in 0..self.num_periods() {
            self.spectra_into(points, j, &mut scratch, out.slice_mut(s![j, .., ..]));
        }
        out
    }

    /// The magnetic moment m(t) of the point masses in period j at the oversampled times [A·m²].
    pub fn moment_series(&self, points: &[PointMass], j: usize) -> Vec<[f64; 3]> {
        let mut s = self.scratch();
        self.accumulate_moment(points, j, &mut s.m);
        s.m
    }

    fn accumulate_moment(&self, points: &[PointMass], j: usize, m: &mut [[f64; 3]]) {
        m.fill([0.0; 3]);
        let g = &self.gradient;
        let e = &self.ensemble;
        for p in points {
            let r = p.position_m;
            let gr = [
                g[0][0] * r[0] + g[0][1] * r[1] + g[0][2] * r[2],
                g[1][0] * r[0] + g[1][1] * r[1] + g[1][2] * r[2],
                g[2][0] * r[0] + g[2][1] * r[1] + g[2][2] * r[2],
            ];
            let scale = p.iron_kg * e.moment_per_kg_fe;
            for (acc, d) in m.iter_mut().zip(&self.drive[j]) {
                let b = [gr[0] + d[0], gr[1] + d[1], gr[2] + d[2]];
                let mag = (b[0] * b[0] + b[1] * b[1] + b[2] * b[2]).sqrt();
                let s = scale * e.g(mag);
                acc[0] += s * b[0];
                acc[1] += s * b[1];
                acc[2] += s * b[2];
            }
        }
    }

    /// Spectra [C, K] of period j into `out`, allocation-free.
    pub fn spectra_into(&self, points: &[PointMass], j: usize, sc: &mut Scratch, mut out: ArrayViewMut2<Complex64>) {
        self.accumulate_moment(points, j, &mut sc.m);
        let n = sc.m.len();
        let k_max = self.num_bins();
        // Two real channels per complex FFT: z = a + i·b ⇒ A_k = (Z_k + Z*_{n−k})/2, B_k = (Z_k − Z*_{n−k})/(2i).
        let c = self.sens.len();
        let mut ch = 0;
        while ch < c {
            let sa = self.sens[ch];
            let sb = if ch + 1 < c { self.sens[ch + 1] } else { [0.0; 3] };
            for (z, m) in sc.buf.iter_mut().zip(&sc.m) {
                let a = sa[0] * m[0] + sa[1] * m[1] + sa[2] * m[2];
                let b = sb[0] * m[0] + sb[1] * m[1] + sb[2] * m[2];
                *z = Complex64::new(a, b);
            }
            self.fft.process_with_scratch(&mut sc.buf, &mut sc.fft_scratch);
            for k in 0..k_max {
                let zk = sc.buf[k];
                let zn = sc.buf[(n - k) % n].conj();
                let a = (zk + zn) * 0.5;
                out[[ch, k]] = a * self.response[k];
                if ch + 1 < c {
                    let b = (zk - zn) * Complex64::new(0.0, -0.5);
                    out[[ch + 1, k]] = b * self.response[k];
                }
                if let Some(h) = &self.measured {
                    out[[ch, k]] *= h[[ch, k]];
                    if ch + 1 < c {
                        out[[ch + 1, k]] *= h[[ch + 1, k]];
                    }
                }
            }
            ch += 2;
        }
    }

    /// Time-domain voltage of one period [V] from a spectrum row [K] (inverse of the unscaled rFFT).
    pub fn time_signal(&self, spectrum: &[Complex64]) -> Vec<f64> {
        irfft(spectrum, self.v)
    }
}

/// Inverse of the unscaled rFFT: u_v = (1/V) Σ_k û_k e^{2πi k v/V} over the Hermitian-extended spectrum.
pub fn irfft(spectrum: &[Complex64], v: usize) -> Vec<f64> {
    let mut full = vec![Complex64::default(); v];
    for (k, z) in spectrum.iter().enumerate().take(v / 2 + 1) {
        full[k] = *z;
        if k > 0 && k < v - k {
            full[v - k] = z.conj();
        }
    }
    FftPlanner::new().plan_fft_inverse(v).process(&mut full);
    full.iter().map(|z| z.re / v as f64).collect()
}

/// Reference implementation for tests: the naive DFT of real samples, unscaled, bins 0..=V/2.
pub fn naive_rdft(x: &[f64]) -> Vec<Complex64> {
    let n = x.len();
    (0..n / 2 + 1)
        .map(|k| {
            x.iter().enumerate().map(|(t, v)| Complex64::from_polar(*v, -2.0 * PI * (k * t) as f64 / n as f64)).sum()
        })
        .collect()
}

/// Per-bin complex response of the receive chain only (for writing the transfer function to MDF): band-stop,
/// modelled transfer function and the measured chain (`receive_transfer_function`), [C, V/2+1].
pub fn receive_chain_spectrum(scanner: &ScannerConfig) -> Array2<Complex64> {
    let v = scanner.samples_per_period();
    let fs = scanner.sampling_rate_hz();
    Array2::from_shape_fn((scanner.receive.len(), v / 2 + 1), |(c, k)| {
        let f = k as f64 * fs / v as f64;
        scanner.receive_chain_response(f) * scanner.measured_receive_response(c, f)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use magpie_core::tf::TransferFunction;

    /// The measured receive chain multiplies every bin by its value there (held constant outside its band),
    /// and is recorded in the header's transfer function.
    #[test]
    fn measured_receive_chain_multiplies_the_spectra() {
        let plain = ScannerConfig::preset("mps").unwrap();
        let tracer = TracerModel::preset("ideal_25nm").unwrap();
        let fs = plain.sampling_rate_hz();
        let v = plain.samples_per_period();
        // |H| falls linearly from 1 to 0.5 over [10 kHz, fs/2], phase −60° throughout.
        let f = vec![10e3, fs / 2.0];
        let h = |m: f64| Complex64::from_polar(m, -60f64.to_radians());
        let tf =
            TransferFunction::new(f, Array2::from_shape_vec((1, 2), vec![h(1.0), h(0.5)]).unwrap(), None, "t").unwrap();
        let mut chained = plain.clone();
        chained.receive_transfer_function = Some("t.h5".into());
        chained.measured_receive_chain = Some(Arc::new(tf));
        let p = [PointMass { position_m: [0.0; 3], iron_kg: 1e-11 }];
        let a = Engine::new(&plain, &tracer).unwrap().spectra(&p);
        let b = Engine::new(&chained, &tracer).unwrap().spectra(&p);
        for k in 0..v / 2 + 1 {
            let fk = k as f64 * fs / v as f64;
            let m = if fk <= 10e3 { 1.0 } else { 1.0 - 0.5 * (fk - 10e3) / (fs / 2.0 - 10e3) };
            let want = a[[0, 0, k]] * h(m);
            assert!((b[[0, 0, k]] - want).norm() <= 1e-12 * a[[0, 0, k]].norm().max(1e-30), "bin {k}");
        }
        let header = crate::header::simulated_file(&chained, &tracer, 1, "t");
        let stored = header.acquisition.receiver.transfer_function.unwrap();
        assert!(
            (stored[[0, 3]]
                - plain.receive_chain_response(3.0 * fs / v as f64)
                    * h(1.0 - 0.5 * (3.0 * fs / v as f64 - 10e3) / (fs / 2.0 - 10e3)))
            .norm()
                < 1e-12
        );
        assert_eq!(header.acquisition.receiver.transfer_function_file_name.as_deref(), Some("t.h5"));
        let mut unread = chained.clone();
        unread.measured_receive_chain = None;
        assert!(Engine::new(&unread, &tracer).unwrap_err().to_string().contains("not been read"));
    }
}
