//! The linear system of system-matrix reconstruction in real form.
//!
//! The unknown concentration x is real and the system matrix S complex, so the problem
//! min_{x ∈ ℝᴺ} ‖S x − u‖² + λ‖x‖² is the real least-squares problem with the stacked matrix
//! A = [Re S; Im S] (rows interleaved: 2r = Re, 2r+1 = Im) and b = [Re u; Im u]. Every solver works on this
//! real system, so that all of them solve the same problem and can be checked against each other.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, Axis};
use num_complex::Complex64;
use rayon::prelude::*;

/// A real linear operator A: ℝⁿ → ℝᵐ with its transpose.
pub trait RealOperator: Sync {
    /// m.
    fn rows(&self) -> usize;
    /// n.
    fn cols(&self) -> usize;
    /// y ← A x.
    fn apply(&self, x: ArrayView1<f64>, y: ArrayViewMut1<f64>);
    /// x ← Aᵀ y.
    fn apply_t(&self, y: ArrayView1<f64>, x: ArrayViewMut1<f64>);
}

/// The stacked real system matrix A (dense, row-major so that each row is contiguous for Kaczmarz).
#[derive(Debug, Clone)]
pub struct RealSystem {
    /// A [2R, N].
    pub a: Array2<f64>,
}

impl RealSystem {
    /// Stacks complex rows S [R, N] into A [2R, N].
    pub fn from_complex(s: ArrayView2<Complex64>) -> Self {
        let (r, n) = s.dim();
        let mut a = Array2::zeros((2 * r, n));
        for (i, row) in s.axis_iter(Axis(0)).enumerate() {
            for (j, z) in row.iter().enumerate() {
                a[[2 * i, j]] = z.re;
                a[[2 * i + 1, j]] = z.im;
            }
        }
        RealSystem { a }
    }

    /// Stacks complex data u [R] (or [R, F] frames) into b [2R] (or [2R, F]).
    pub fn stack_data(u: ArrayView2<Complex64>) -> Array2<f64> {
        let (r, f) = u.dim();
        let mut b = Array2::zeros((2 * r, f));
        for i in 0..r {
            for k in 0..f {
                b[[2 * i, k]] = u[[i, k]].re;
                b[[2 * i + 1, k]] = u[[i, k]].im;
            }
        }
        b
    }

    /// ‖A‖²_F.
    pub fn frobenius_sq(&self) -> f64 {
        self.a.iter().map(|v| v * v).sum()
    }

    /// The MPIReco-style regularisation scaling: λ_eff = λ · ‖A‖²_F / N.
    pub fn lambda_eff(&self, lambda: f64) -> f64 {
        lambda * self.frobenius_sq() / self.a.ncols().max(1) as f64
    }
}

impl RealOperator for RealSystem {
    fn rows(&self) -> usize {
        self.a.nrows()
    }
    fn cols(&self) -> usize {
        self.a.ncols()
    }
    fn apply(&self, x: ArrayView1<f64>, mut y: ArrayViewMut1<f64>) {
        y.as_slice_mut()
            .map(|ys| {
                ys.par_iter_mut().enumerate().for_each(|(i, yi)| *yi = self.a.row(i).dot(&x));
            })
            .unwrap_or_else(|| y.assign(&self.a.dot(&x)));
    }
    fn apply_t(&self, y: ArrayView1<f64>, mut x: ArrayViewMut1<f64>) {
        x.assign(&self.a.t().dot(&y));
    }
}

/// Power iteration for ‖A‖₂² = λ_max(AᵀA) (30 iterations, deterministic start).
pub fn spectral_norm_sq(op: &dyn RealOperator) -> f64 {
    let n = op.cols();
    let mut x = Array1::from_shape_fn(n, |i| 1.0 + (i % 7) as f64 * 0.1);
    let mut ax = Array1::zeros(op.rows());
    let mut est = 0.0;
    for _ in 0..50 {
        let norm = x.dot(&x).sqrt();
        if norm == 0.0 {
            return 0.0;
        }
        x /= norm;
        op.apply(x.view(), ax.view_mut());
        op.apply_t(ax.view(), x.view_mut());
        let new = x.dot(&x).sqrt();
        if (new - est).abs() <= 1e-6 * new {
            est = new;
            break;
        }
        est = new;
    }
    est
}

/// Dot-product test for real operators: |⟨Ax, y⟩ − ⟨x, Aᵀy⟩| / (‖Ax‖‖y‖).
pub fn adjoint_mismatch(op: &dyn RealOperator, seed: u64) -> f64 {
    let x: Array1<f64> = magpie_core::operator::testing::random_vector(op.cols(), seed).mapv(|z| z.re);
    let y: Array1<f64> = magpie_core::operator::testing::random_vector(op.rows(), seed + 1).mapv(|z| z.re);
    let mut ax = Array1::zeros(op.rows());
    op.apply(x.view(), ax.view_mut());
    let mut aty = Array1::zeros(op.cols());
    op.apply_t(y.view(), aty.view_mut());
    (ax.dot(&y) - x.dot(&aty)).abs() / (ax.dot(&ax).sqrt() * y.dot(&y).sqrt()).max(f64::MIN_POSITIVE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacked_system_is_the_real_form_of_the_complex_one() {
        let s = Array2::from_shape_fn((4, 3), |(i, j)| Complex64::new(i as f64 - j as f64, (i * j) as f64 * 0.5));
        let sys = RealSystem::from_complex(s.view());
        assert!(adjoint_mismatch(&sys, 3) < 1e-14);
        let x = Array1::from(vec![0.3, -1.0, 2.0]);
        let sx = s.dot(&x.mapv(|v| Complex64::new(v, 0.0)));
        let mut ax = Array1::zeros(8);
        sys.apply(x.view(), ax.view_mut());
        for i in 0..4 {
            assert!((ax[2 * i] - sx[i].re).abs() < 1e-14 && (ax[2 * i + 1] - sx[i].im).abs() < 1e-14);
        }
        let l = spectral_norm_sq(&sys);
        let svd_max = sys.a.t().dot(&sys.a);
        // λ_max bounded by the trace and at least the largest diagonal element.
        assert!(l <= svd_max.diag().sum() + 1e-9 && l >= svd_max.diag().fold(0.0f64, |m, v| m.max(*v)) - 1e-9);
    }
}
