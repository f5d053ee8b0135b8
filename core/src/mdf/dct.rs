//! Orthonormal DCT-I…IV (the FFTW REDFT00/10/01/11 kernels with orthonormal scaling, as scipy's `norm="ortho"`),
//! applied separably along the axes of a grid. Used to decode sparsity-compressed system matrices (MDF 2.1).
//!
//! The grids are small (tens of points per axis), so the transforms are explicit matrix products: exact,
//! simple to check, and far cheaper than the disk read of the row they decode.

use ndarray::{Array2, ArrayViewMut1};
use num_complex::Complex64;
use std::f64::consts::PI;

use super::SparsityTransform;

/// The n×n matrix Γ of the orthonormal 1-D transform, such that coefficients = Γ · samples.
pub fn dct_matrix(kind: SparsityTransform, n: usize) -> Array2<f64> {
    let nf = n as f64;
    let mut m = Array2::zeros((n, n));
    if n == 0 {
        return m;
    }
    match kind {
        SparsityTransform::DctI => {
            if n == 1 {
                m[[0, 0]] = 1.0;
                return m;
            }
            // M_kn = √(2/(N−1)) c_k c_n cos(π k n /(N−1)), c = 1/√2 at both ends: symmetric and orthogonal.
            let c = |i: usize| if i == 0 || i == n - 1 { std::f64::consts::FRAC_1_SQRT_2 } else { 1.0 };
            let s = (2.0 / (nf - 1.0)).sqrt();
            for k in 0..n {
                for j in 0..n {
                    m[[k, j]] = s * c(k) * c(j) * (PI * (k * j) as f64 / (nf - 1.0)).cos();
                }
            }
        }
        SparsityTransform::DctII | SparsityTransform::DctIII => {
            // DCT-II: X_k = s_k Σ x_j cos(π k (2j+1) / 2N), s_0 = √(1/N), s_k = √(2/N); DCT-III is its transpose.
            for k in 0..n {
                let s = if k == 0 { (1.0 / nf).sqrt() } else { (2.0 / nf).sqrt() };
                for j in 0..n {
                    let v = s * (PI * k as f64 * (2 * j + 1) as f64 / (2.0 * nf)).cos();
                    if kind == SparsityTransform::DctII {
                        m[[k, j]] = v;
                    } else {
                        m[[j, k]] = v;
                    }
                }
            }
        }
        SparsityTransform::DctIV => {
            let s = (2.0 / nf).sqrt();
            for k in 0..n {
                for j in 0..n {
                    m[[k, j]] = s * (PI * (2 * k + 1) as f64 * (2 * j + 1) as f64 / (4.0 * nf)).cos();
                }
            }
        }
    }
    m
}

/// A separable 3-D orthonormal transform on a grid with x fastest (flat index ix + nx·(iy + ny·iz)).
#[derive(Debug, Clone)]
pub struct GridTransform {
    size: [usize; 3],
    mats: [Array2<f64>; 3],
}

impl GridTransform {
    /// The transform of `kind` on a grid of `size` = (nx, ny, nz).
    pub fn new(kind: SparsityTransform, size: [usize; 3]) -> Self {
        let mats = [dct_matrix(kind, size[0]), dct_matrix(kind, size[1]), dct_matrix(kind, size[2])];
        GridTransform { size, mats }
    }

    /// Number of grid points.
    pub fn len(&self) -> usize {
        self.size.iter().product()
    }

    /// True for an empty grid.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// In place: v ← Γ v (forward, samples → coefficients).
    pub fn forward(&self, v: ArrayViewMut1<Complex64>) {
        self.apply(v, false);
    }

    /// In place: v ← Γᵀ v (inverse, coefficients → samples; Γ is real orthogonal so Γᴴ = Γᵀ).
    pub fn inverse(&self, v: ArrayViewMut1<Complex64>) {
        self.apply(v, true);
    }

    fn apply(&self, mut v: ArrayViewMut1<Complex64>, transpose: bool) {
        let [nx, ny, nz] = self.size;
        assert_eq!(v.len(), nx * ny * nz, "GridTransform: vector length must equal the grid size");
        let strides = [1, nx, nx * ny];
        let mut line = vec![Complex64::default(); nx.max(ny).max(nz)];
        let mut out = line.clone();
        for ((&n, m), &stride) in self.size.iter().zip(&self.mats).zip(&strides) {
            // Every line along `axis` starts at a base index whose `axis` coordinate is 0.
            for base in 0..v.len() {
                if (base / stride) % n != 0 {
                    continue;
                }
                for i in 0..n {
                    line[i] = v[base + i * stride];
                }
                for (k, o) in out.iter_mut().enumerate().take(n) {
                    let mut acc = Complex64::default();
                    for (j, l) in line.iter().enumerate().take(n) {
                        let g = if transpose { m[[j, k]] } else { m[[k, j]] };
                        acc += l * g;
                    }
                    *o = acc;
                }
                for i in 0..n {
                    v[base + i * stride] = out[i];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array1;

    const KINDS: [SparsityTransform; 4] =
        [SparsityTransform::DctI, SparsityTransform::DctII, SparsityTransform::DctIII, SparsityTransform::DctIV];

    #[test]
    fn every_kind_is_orthogonal() {
        for kind in KINDS {
            for n in [1, 2, 3, 5, 8] {
                let m = dct_matrix(kind, n);
                let p = m.dot(&m.t());
                for i in 0..n {
                    for j in 0..n {
                        let e = if i == j { 1.0 } else { 0.0 };
                        assert!((p[[i, j]] - e).abs() < 1e-12, "{kind:?} n={n}");
                    }
                }
            }
        }
    }

    #[test]
    fn dct2_matches_textbook_values() {
        // DCT-II (ortho) of [1, 2, 3, 4]: X0 = 10/2 = 5, X1 = -2.2304425, X2 = 0, X3 = -0.1585127 (scipy).
        let m = dct_matrix(SparsityTransform::DctII, 4);
        let x = Array1::from(vec![1.0, 2.0, 3.0, 4.0]);
        let y = m.dot(&x);
        let want = [5.0, -2.230_442_497_2, 0.0, -0.158_512_668_5];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-9, "{y:?}");
        }
    }

    #[test]
    fn grid_transform_roundtrip_and_separability() {
        let size = [4, 3, 2];
        for kind in KINDS {
            let t = GridTransform::new(kind, size);
            let x: Array1<Complex64> =
                (0..24).map(|i| Complex64::new(i as f64 * 0.3 - 1.0, (i * i) as f64 * 0.01)).collect();
            let mut y = x.clone();
            t.forward(y.view_mut());
            // Reference: the dense Kronecker product Γz ⊗ Γy ⊗ Γx applied to x.
            let (mx, my, mz) = (dct_matrix(kind, 4), dct_matrix(kind, 3), dct_matrix(kind, 2));
            for kz in 0..2 {
                for ky in 0..3 {
                    for kx in 0..4 {
                        let mut acc = Complex64::default();
                        for iz in 0..2 {
                            for iy in 0..3 {
                                for ix in 0..4 {
                                    acc += x[ix + 4 * (iy + 3 * iz)] * (mx[[kx, ix]] * my[[ky, iy]] * mz[[kz, iz]]);
                                }
                            }
                        }
                        assert!((acc - y[kx + 4 * (ky + 3 * kz)]).norm() < 1e-12);
                    }
                }
            }
            t.inverse(y.view_mut());
            for (a, b) in x.iter().zip(y.iter()) {
                assert!((a - b).norm() < 1e-12);
            }
        }
    }
}
