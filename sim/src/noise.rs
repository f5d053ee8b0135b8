//! Receive noise and background, in the frequency domain of one period.
//!
//! White Gaussian noise of density n₀ [V/√Hz] sampled at f_s has per-sample standard deviation
//! σ = n₀·√(f_s/2) (the noise bandwidth is the first Nyquist zone); averaging N periods divides it by √N. The
//! unscaled DFT of V such samples has, for 0 < k < V/2, independent real and imaginary parts of variance σ²V/2,
//! and a real DC (and Nyquist) bin of variance σ²V. Drawing the spectrum directly is equivalent to drawing
//! time samples and transforming them, and cheaper.

use magpie_core::scanner::ScannerConfig;
use ndarray::Array2;
use num_complex::Complex64;
use rand::Rng;
use rand_distr::StandardNormal;

/// Per-sample noise standard deviation [V] after `averages` averages.
pub fn sample_sigma_v(scanner: &ScannerConfig, averages: u32) -> f64 {
    scanner.noise_v_per_sqrt_hz * (scanner.sampling_rate_hz() / 2.0).sqrt() / (averages.max(1) as f64).sqrt()
}

/// Adds one period's noise to the spectrum `row` (bins 0..=V/2 of a V-sample period).
pub fn add_noise<R: Rng>(row: &mut [Complex64], v: usize, sigma: f64, rng: &mut R) {
    if sigma == 0.0 {
        return;
    }
    let s_half = sigma * (v as f64 / 2.0).sqrt();
    let s_full = sigma * (v as f64).sqrt();
    for (k, z) in row.iter_mut().enumerate() {
        let real_bin = k == 0 || (v.is_multiple_of(2) && k == v / 2);
        if real_bin {
            let n: f64 = rng.sample(StandardNormal);
            *z += Complex64::new(s_full * n, 0.0);
        } else {
            let a: f64 = rng.sample(StandardNormal);
            let b: f64 = rng.sample(StandardNormal);
            *z += Complex64::new(s_half * a, s_half * b);
        }
    }
}

/// The background spectrum [C, K] at zero drift: feed-through residue at the harmonics n ≥ 2 of each drive
/// frequency, coupled into each receive channel by the alignment of its coil with the drive axis. A sinusoid of
/// amplitude A gives |û_k| = A·V/2. Phases are fixed (deterministic) per harmonic and channel.
pub fn background_spectrum(scanner: &ScannerConfig) -> Array2<Complex64> {
    let v = scanner.samples_per_period();
    let k_max = v / 2 + 1;
    let c = scanner.receive.len();
    let mut out = Array2::zeros((c, k_max));
    let bg = &scanner.background;
    if bg.feedthrough_v == 0.0 {
        return out;
    }
    let cycle_ticks = (scanner.cycle_s() * scanner.base_frequency_hz).round() as usize;
    for (d, ch) in scanner.drive.iter().enumerate() {
        if ch.amplitude_t == 0.0 {
            continue;
        }
        // Bin of the drive fundamental: cycles of channel d per drive-field cycle.
        let k1 = cycle_ticks / ch.divider as usize;
        for (ci, coil) in scanner.receive.iter().enumerate() {
            let s = coil.sensitivity_t_per_a;
            let norm = (s[0] * s[0] + s[1] * s[1] + s[2] * s[2]).sqrt();
            let coupling = if norm > 0.0 { s[d].abs() / norm } else { 0.0 };
            if coupling == 0.0 {
                continue;
            }
            let mut n = 2;
            while n * k1 < k_max {
                let amp = bg.feedthrough_v * bg.harmonic_ratio.powi(n as i32 - 2) * coupling * v as f64 / 2.0;
                let phase = 0.7 * n as f64 + 1.3 * d as f64 + 0.4 * ci as f64;
                out[[ci, n * k1]] += Complex64::from_polar(amp, phase);
                n += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn frequency_domain_noise_has_the_time_domain_statistics() {
        // Draw spectra, transform back, and compare the sample std with σ (and against the naive DFT scaling).
        let v = 102;
        let sigma = 2.5;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut acc = 0.0;
        let mut count = 0.0;
        for _ in 0..2000 {
            let mut row = vec![Complex64::default(); v / 2 + 1];
            add_noise(&mut row, v, sigma, &mut rng);
            let t = crate::forward::irfft(&row, v);
            acc += t.iter().map(|x| x * x).sum::<f64>();
            count += v as f64;
        }
        let est = (acc / count).sqrt();
        assert!((est / sigma - 1.0).abs() < 0.01, "{est}");
    }
}
