//! Image-quality metrics, with their normalisations fixed (physics.md §6).

/// Comparison of an estimate with the truth.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// ‖x̂ − x‖₂ / ‖x‖₂.
    pub nrmse: f64,
    /// 20·log10(max|x| / RMSE) [dB].
    pub psnr_db: f64,
    /// Mean SSIM (Wang et al. 2004; Gaussian window σ = 1.5 voxels, K1 = 0.01, K2 = 0.03, dynamic range of
    /// the truth).
    pub ssim: f64,
    /// (Σx̂ − Σx)/Σx.
    pub total_error: f64,
}

/// Compares `est` with `truth` on a grid of `shape` (x fastest).
pub fn compare(est: &[f64], truth: &[f64], shape: [usize; 3]) -> Comparison {
    let n = truth.len().max(1) as f64;
    let diff2: f64 = est.iter().zip(truth).map(|(a, b)| (a - b).powi(2)).sum();
    let norm2: f64 = truth.iter().map(|b| b * b).sum();
    let rmse = (diff2 / n).sqrt();
    let peak = truth.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let total_t: f64 = truth.iter().sum();
    let total_e: f64 = est.iter().sum();
    Comparison {
        nrmse: if norm2 > 0.0 { (diff2 / norm2).sqrt() } else { f64::INFINITY },
        psnr_db: if rmse > 0.0 { 20.0 * (peak / rmse).log10() } else { f64::INFINITY },
        ssim: ssim(est, truth, shape),
        total_error: if total_t != 0.0 { (total_e - total_t) / total_t } else { f64::INFINITY },
    }
}

/// Gaussian-windowed SSIM over the axes with more than one voxel (separable window, truncated at 3σ).
pub fn ssim(est: &[f64], truth: &[f64], shape: [usize; 3]) -> f64 {
    let range =
        truth.iter().fold(f64::NEG_INFINITY, |m, v| m.max(*v)) - truth.iter().fold(f64::INFINITY, |m, v| m.min(*v));
    let range = if range > 0.0 { range } else { 1.0 };
    let (c1, c2) = ((0.01 * range).powi(2), (0.03 * range).powi(2));
    let blur = |v: &[f64]| gaussian_blur(v, shape, 1.5);
    let mu_x = blur(est);
    let mu_y = blur(truth);
    let xx: Vec<f64> = est.iter().map(|v| v * v).collect();
    let yy: Vec<f64> = truth.iter().map(|v| v * v).collect();
    let xy: Vec<f64> = est.iter().zip(truth).map(|(a, b)| a * b).collect();
    let (sxx, syy, sxy) = (blur(&xx), blur(&yy), blur(&xy));
    let mut total = 0.0;
    for i in 0..truth.len() {
        let (mx, my) = (mu_x[i], mu_y[i]);
        let vx = sxx[i] - mx * mx;
        let vy = syy[i] - my * my;
        let cxy = sxy[i] - mx * my;
        total += ((2.0 * mx * my + c1) * (2.0 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
    }
    total / truth.len().max(1) as f64
}

fn gaussian_blur(v: &[f64], shape: [usize; 3], sigma: f64) -> Vec<f64> {
    let r = (3.0 * sigma).ceil() as isize;
    let w: Vec<f64> = (-r..=r).map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let mut cur = v.to_vec();
    let strides = [1, shape[0], shape[0] * shape[1]];
    for d in 0..3 {
        if shape[d] <= 1 {
            continue;
        }
        let mut out = vec![0.0; cur.len()];
        for (p, o) in out.iter_mut().enumerate() {
            let i = (p / strides[d]) % shape[d];
            let (mut acc, mut ws) = (0.0, 0.0);
            for (k, wk) in w.iter().enumerate() {
                let j = i as isize + k as isize - r;
                if j >= 0 && (j as usize) < shape[d] {
                    let q = (p as isize + (j - i as isize) * strides[d] as isize) as usize;
                    acc += wk * cur[q];
                    ws += wk;
                }
            }
            *o = acc / ws;
        }
        cur = out;
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_images_are_perfect_and_metrics_follow_their_definitions() {
        let t: Vec<f64> = (0..64).map(|i| ((i % 8) as f64 - 3.5).powi(2)).collect();
        let c = compare(&t, &t, [8, 8, 1]);
        assert_eq!(c.nrmse, 0.0);
        assert!((c.ssim - 1.0).abs() < 1e-12);
        let e: Vec<f64> = t.iter().map(|v| v * 1.1).collect();
        let c = compare(&e, &t, [8, 8, 1]);
        assert!((c.nrmse - 0.1).abs() < 1e-12 && (c.total_error - 0.1).abs() < 1e-12);
        assert!(c.ssim < 1.0 && c.ssim > 0.9);
        let noisy: Vec<f64> = t.iter().enumerate().map(|(i, v)| v + if i % 2 == 0 { 3.0 } else { -3.0 }).collect();
        assert!(compare(&noisy, &t, [8, 8, 1]).ssim < c.ssim);
    }
}
