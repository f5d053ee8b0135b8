//! The synthetic problem of the 3-D speed benchmark (the same construction as the numpy baseline
//! `perf_baseline.py`, with this crate's own seeded generator): S has i.i.d. complex Gaussian entries, each row
//! scaled by a log-normal factor (σ = 1, the row-energy spread of an SNR-selected MPI system matrix) over √(2N);
//! the frames are a non-negative phantom of three Gaussian blobs moving on a circle; b = S x + 1 % complex noise.

use num_complex::{Complex32, Complex64};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A benchmark problem: S row-major (rows × voxels), b and the truth column-major (frames contiguous).
#[derive(Debug, Clone)]
pub struct Problem {
    /// Rows.
    pub rows: usize,
    /// Voxels.
    pub cols: usize,
    /// Frames.
    pub frames: usize,
    /// S, row-major.
    pub s: Vec<Complex32>,
    /// b = S x_true + noise, rows × frames.
    pub b: Vec<Complex32>,
    /// The phantom, voxels × frames.
    pub x_true: Vec<f32>,
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller; u1 in (0, 1] so that ln is finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

impl Problem {
    /// Builds the problem for `rows` × `cols` (cols should be a cube n³ for the blob phantom; otherwise the
    /// phantom is laid out on a line) with `frames` frames from `seed`.
    pub fn new(rows: usize, cols: usize, frames: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut s = Vec::with_capacity(rows * cols);
        // As the row reader does for real matrices: huge pages before the first touch.
        magpie_core::mem::advise_huge_pages(s.spare_capacity_mut());
        let norm = 1.0 / (2.0 * cols.max(1) as f64).sqrt();
        for _ in 0..rows {
            let scale = normal(&mut rng).exp() * norm;
            for _ in 0..cols {
                let (re, im) = (normal(&mut rng), normal(&mut rng));
                s.push(Complex32::new((re * scale) as f32, (im * scale) as f32));
            }
        }
        let n = (cols as f64).cbrt().round() as usize;
        let cube = n * n * n == cols;
        let mut x_true = vec![0.0f32; cols * frames];
        let blobs = [((9.0, 9.0, 9.0), 1.0, 1.5), ((6.0, 12.0, 8.0), 0.5, 1.2), ((12.0, 6.0, 11.0), 0.25, 2.0)];
        let c = n as f64 / 19.0;
        for f in 0..frames {
            let ph = 2.0 * std::f64::consts::PI * f as f64 / frames.max(1) as f64;
            for v in 0..cols {
                let (z, y, x) = if cube { (v / (n * n), (v / n) % n, v % n) } else { (0, 0, v) };
                let mut val = 0.0;
                for ((cz, cy, cx), amp, sig) in blobs {
                    let (dz, dy) = (2.0 * ph.cos(), 2.0 * ph.sin());
                    let d2 = (z as f64 - c * (cz + dz)).powi(2)
                        + (y as f64 - c * (cy + dy)).powi(2)
                        + (x as f64 - c * cx).powi(2);
                    val += amp * (-d2 / (2.0 * (c * sig).powi(2))).exp();
                }
                x_true[f * cols + v] = val as f32;
            }
        }
        let mut b = vec![Complex32::default(); rows * frames];
        for f in 0..frames {
            let xf = &x_true[f * cols..(f + 1) * cols];
            let clean: Vec<Complex64> = (0..rows)
                .map(|l| s[l * cols..(l + 1) * cols].iter().zip(xf).map(|(a, xv)| a.to_f64() * f64::from(*xv)).sum())
                .collect();
            let rms = (clean.iter().map(|z| z.norm_sqr()).sum::<f64>() / rows.max(1) as f64).sqrt();
            for (l, z) in clean.iter().enumerate() {
                let noise = Complex64::new(normal(&mut rng), normal(&mut rng)) / 2f64.sqrt();
                let v = z + noise * (0.01 * rms);
                b[f * rows + l] = Complex32::new(v.re as f32, v.im as f32);
            }
        }
        Problem { rows, cols, frames, s, b, x_true }
    }
}

trait ToF64 {
    fn to_f64(&self) -> Complex64;
}

impl ToF64 for Complex32 {
    fn to_f64(&self) -> Complex64 {
        Complex64::new(f64::from(self.re), f64::from(self.im))
    }
}
