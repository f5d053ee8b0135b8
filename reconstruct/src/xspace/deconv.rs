//! Optional deconvolution of the x-space point response: generalised Tikhonov in the Fourier domain,
//! X = H* Y / (|H|² + λ |L|²), with H the model point image (normal and tangential envelopes as gridded by the
//! trajectory, normalised to unit sum) and L the discrete Laplacian, so that the DC term — the total iron over the
//! padded domain — is untouched (over the grid, up to what moves into the padding). λ follows Morozov's discrepancy principle: the residual ‖HX − Y‖² equals the expected noise
//! energy (voxels × σ²), with σ estimated from the difference of the two sweep directions. Zero padding to
//! twice the grid along every non-singleton axis avoids wrap-around.

use magpie_core::Grid;
use num_complex::Complex64;
use rustfft::FftPlanner;

/// In-place N-D FFT of a row-major buffer with x fastest (`dims` = padded shape).
fn fft_nd(buf: &mut [Complex64], dims: [usize; 3], inverse: bool) {
    let mut planner = FftPlanner::new();
    let stride = [1, dims[0], dims[0] * dims[1]];
    for d in 0..3 {
        let n = dims[d];
        if n == 1 {
            continue;
        }
        let fft = if inverse { planner.plan_fft_inverse(n) } else { planner.plan_fft_forward(n) };
        let mut line = vec![Complex64::default(); n];
        let total = buf.len();
        for start in 0..total {
            // Visit each line once: its first element has index 0 along d.
            if !(start / stride[d]).is_multiple_of(n) {
                continue;
            }
            for (i, x) in line.iter_mut().enumerate() {
                *x = buf[start + i * stride[d]];
            }
            fft.process(&mut line);
            for (i, x) in line.iter().enumerate() {
                buf[start + i * stride[d]] = *x;
            }
        }
    }
    if inverse {
        let s = 1.0 / buf.len() as f64;
        buf.iter_mut().for_each(|x| *x *= s);
    }
}

/// Deconvolves `y` (values per voxel of `grid`) by the point response `kernel` (image of a point at the voxel
/// with index shape/2 along every axis). `noise` is the per-voxel noise standard deviation of `y`; only
/// `covered` voxels count for the noise energy. Returns the deconvolved map and λ.
pub fn deconvolve(grid: &Grid, kernel: &[f64], y: &[f64], noise: f64, covered: &[bool]) -> (Vec<f64>, f64) {
    let shape = grid.shape;
    let dims: [usize; 3] = std::array::from_fn(|d| if shape[d] > 1 { 2 * shape[d] } else { 1 });
    let m: usize = dims.iter().product();
    let idx = |i: [usize; 3]| i[0] + dims[0] * (i[1] + dims[1] * i[2]);
    let ksum: f64 = kernel.iter().sum();
    let mut h = vec![Complex64::default(); m];
    let mut yy = vec![Complex64::default(); m];
    for p in 0..grid.len() {
        let i = grid.unflatten(p);
        let c: [usize; 3] = std::array::from_fn(|d| (i[d] + dims[d] - shape[d] / 2) % dims[d]);
        h[idx(c)] = Complex64::new(kernel[p] / ksum, 0.0);
        yy[idx(i)] = Complex64::new(y[p], 0.0);
    }
    fft_nd(&mut h, dims, false);
    fft_nd(&mut yy, dims, false);
    // |L_k|² of the discrete Laplacian.
    let lap: Vec<f64> = (0..m)
        .map(|p| {
            let i = [p % dims[0], (p / dims[0]) % dims[1], p / (dims[0] * dims[1])];
            let s: f64 = (0..3)
                .filter(|&d| dims[d] > 1)
                .map(|d| 2.0 - 2.0 * (std::f64::consts::TAU * i[d] as f64 / dims[d] as f64).cos())
                .sum();
            s * s
        })
        .collect();
    let residual = |lambda: f64| -> f64 {
        // Parseval: ‖r‖² = (1/M) Σ |Y|² (λ|L|²/(|H|² + λ|L|²))².
        (0..m)
            .map(|k| {
                let den = h[k].norm_sqr() + lambda * lap[k];
                if den > 0.0 {
                    yy[k].norm_sqr() * (lambda * lap[k] / den).powi(2)
                } else {
                    0.0
                }
            })
            .sum::<f64>()
            / m as f64
    };
    let target = covered.iter().filter(|c| **c).count() as f64 * noise * noise;
    // Bisection in log λ; the residual grows with λ.
    let (mut lo, mut hi) = (-12.0f64, 6.0f64);
    let lambda = if residual(10f64.powf(lo)) >= target {
        10f64.powf(lo)
    } else if residual(10f64.powf(hi)) <= target {
        10f64.powf(hi)
    } else {
        for _ in 0..60 {
            let mid = 0.5 * (lo + hi);
            if residual(10f64.powf(mid)) < target {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        10f64.powf(0.5 * (lo + hi))
    };
    let mut x: Vec<Complex64> = (0..m)
        .map(|k| {
            let den = h[k].norm_sqr() + lambda * lap[k];
            if den > 0.0 {
                h[k].conj() * yy[k] / den
            } else {
                Complex64::default()
            }
        })
        .collect();
    fft_nd(&mut x, dims, true);
    let out = (0..grid.len()).map(|p| x[idx(grid.unflatten(p))].re).collect();
    (out, lambda)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deconvolution_sharpens_a_blurred_point_and_keeps_the_total() {
        let grid = Grid::new([33, 1, 1], [33e-3, 1e-3, 1e-3], [0.0; 3]);
        let kernel: Vec<f64> = (0..33).map(|i| (-((i as f64 - 16.0) / 2.0).powi(2)).exp()).collect();
        let ks: f64 = kernel.iter().sum();
        // A point of 10 at index 12 blurred by the kernel.
        let y: Vec<f64> = (0..33).map(|i| 10.0 * kernel[(i + 16 - 12).min(32)] / ks).collect();
        let (x, lambda) = deconvolve(&grid, &kernel, &y, 1e-6, &[true; 33]);
        assert!(lambda > 0.0);
        // The DC term is untouched; over the grid the total holds up to what the deconvolution moves into the
        // zero padding.
        let total: f64 = x.iter().sum();
        assert!((total - y.iter().sum::<f64>()).abs() < 1e-3 * 10.0, "total {total}");
        let peak = x.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert_eq!(peak, 12);
        assert!(x[12] > 2.0 * y[12], "deconvolved peak {} vs blurred {}", x[12], y[12]);
    }
}
