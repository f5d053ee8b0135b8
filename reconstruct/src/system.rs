//! The linear system of system-matrix reconstruction in real form.
//!
//! The unknown concentration x is real and the system matrix S complex, so the problem
//! min_{x ∈ ℝᴺ} ‖S x − u‖² + λ‖x‖² is the real least-squares problem with the stacked matrix
//! A = [Re S; Im S] (rows interleaved: 2r = Re, 2r+1 = Im) and b = [Re u; Im u].
//!
//! The system matrix itself is held once, as complex-f32 rows ([`SystemMatrix`]); the real form is never
//! stored for the iterative solvers. Two views give it to them on the fly:
//!
//! * [`RealInput`]: S restricted to real inputs, as a [`LinearOperator`] on the complex engine. Its adjoint is
//!   Re(Sᴴ y), the transpose of A, so CGNR and FISTA on it iterate exactly the real-stacked problem, with
//!   batched matrix–matrix products;
//! * [`RealView`]: the same operator as a [`RealOperator`] on `f64` vectors in the stacked layout, for the
//!   solvers written against that trait (TV).
//!
//! [`RealSystem`], the materialised stacked matrix, is what the dense SVD of the direct solver factorises, and
//! the slow, obviously correct reference the views are tested against.

use magpie_core::operator::LinearOperator;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut1, Axis};
use num_complex::{Complex32, Complex64};
use rayon::prelude::*;

use crate::engine::SystemMatrix;

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

    /// Materialises the stacked real form of a complex-f32 system matrix (f64 entries: 16 B per complex
    /// entry, twice the complex-f32 matrix). Only for dense factorisations and tests: the iterative solvers use
    /// [`RealInput`] or [`RealView`] instead.
    pub fn from_system_matrix(s: &SystemMatrix<Complex32>) -> Self {
        let (r, n) = (s.rows(), s.cols());
        let mut a = Array2::zeros((2 * r, n));
        for (i, mut pair) in a.axis_chunks_iter_mut(Axis(0), 2).enumerate() {
            for (j, z) in s.row(i).iter().enumerate() {
                pair[[0, j]] = f64::from(z.re);
                pair[[1, j]] = f64::from(z.im);
            }
        }
        RealSystem { a }
    }

    /// Bytes [`from_system_matrix`](Self::from_system_matrix) allocates for `rows` complex rows of `cols`
    /// voxels.
    pub fn bytes_for(rows: usize, cols: usize) -> u64 {
        2 * rows as u64 * cols as u64 * 8
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

/// The complex system matrix restricted to real inputs: forward y = S x (x real, stored as complex with zero
/// imaginary parts), adjoint x = Re(Sᴴ y). As a map ℝᴺ → ℂᴿ ≅ ℝ²ᴿ this is the stacked matrix A = [Re S; Im S]
/// and its transpose, evaluated with the engine's batched products and never materialised.
///
/// It is ℝ-linear, not ℂ-linear (the adjoint drops imaginary parts), so its dot-product test takes real x:
/// Re⟨S x, y⟩ = ⟨x, Re(Sᴴ y)⟩.
#[derive(Debug, Clone, Copy)]
pub struct RealInput<'a> {
    system: &'a SystemMatrix<Complex32>,
}

impl<'a> RealInput<'a> {
    /// The view of `system`.
    pub fn new(system: &'a SystemMatrix<Complex32>) -> Self {
        RealInput { system }
    }
}

fn drop_imaginary(x: &mut [Complex32]) {
    for z in x {
        z.im = 0.0;
    }
}

impl LinearOperator<Complex32> for RealInput<'_> {
    fn name(&self) -> &str {
        "system matrix (real input)"
    }
    fn input_len(&self) -> usize {
        self.system.cols()
    }
    fn output_len(&self) -> usize {
        self.system.rows()
    }
    fn forward_unchecked(&self, x: &[Complex32], y: &mut [Complex32]) {
        self.system.forward_unchecked(x, y);
    }
    fn adjoint_unchecked(&self, y: &[Complex32], x: &mut [Complex32]) {
        self.system.adjoint_unchecked(y, x);
        drop_imaginary(x);
    }
    fn forward_batch_unchecked(&self, x: &[Complex32], y: &mut [Complex32], frames: usize) {
        self.system.forward_batch_unchecked(x, y, frames);
    }
    fn adjoint_batch_unchecked(&self, y: &[Complex32], x: &mut [Complex32], frames: usize) {
        self.system.adjoint_batch_unchecked(y, x, frames);
        drop_imaginary(x);
    }
}

/// The stacked real operator A = [Re S; Im S] as a [`RealOperator`] on `f64` vectors (y interleaved: 2r = Re,
/// 2r+1 = Im), evaluated through the complex-f32 engine: x and y are rounded to f32 for the product, the
/// precision the matrix is held in. Scratch is allocated per product (two vectors, small beside the product).
#[derive(Debug, Clone, Copy)]
pub struct RealView<'a> {
    system: &'a SystemMatrix<Complex32>,
}

impl<'a> RealView<'a> {
    /// The view of `system`.
    pub fn new(system: &'a SystemMatrix<Complex32>) -> Self {
        RealView { system }
    }
}

impl RealOperator for RealView<'_> {
    fn rows(&self) -> usize {
        2 * self.system.rows()
    }
    fn cols(&self) -> usize {
        self.system.cols()
    }
    fn apply(&self, x: ArrayView1<f64>, mut y: ArrayViewMut1<f64>) {
        let xc: Vec<Complex32> = x.iter().map(|v| Complex32::new(*v as f32, 0.0)).collect();
        let mut yc = vec![Complex32::default(); self.system.rows()];
        self.system.forward_unchecked(&xc, &mut yc);
        for (i, z) in yc.iter().enumerate() {
            y[2 * i] = f64::from(z.re);
            y[2 * i + 1] = f64::from(z.im);
        }
    }
    fn apply_t(&self, y: ArrayView1<f64>, mut x: ArrayViewMut1<f64>) {
        let yc: Vec<Complex32> =
            (0..self.system.rows()).map(|i| Complex32::new(y[2 * i] as f32, y[2 * i + 1] as f32)).collect();
        let mut xc = vec![Complex32::default(); self.system.cols()];
        self.system.adjoint_unchecked(&yc, &mut xc);
        for (xi, z) in x.iter_mut().zip(&xc) {
            *xi = f64::from(z.re);
        }
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
    use magpie_core::operator::Scalar;

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

    fn complex_system(m: usize, n: usize, seed: u64) -> SystemMatrix<Complex32> {
        let e: Vec<Complex32> = magpie_core::operator::testing::random_vec(m * n, seed);
        SystemMatrix::from_row_major(e, m, n, crate::engine::Parallelism::sequential()).unwrap()
    }

    #[test]
    fn views_equal_the_materialised_stacked_matrix_and_pass_the_dot_product_test() {
        let (m, n) = (29, 17);
        let s = complex_system(m, n, 4);
        let dense = RealSystem::from_system_matrix(&s);
        let view = RealView::new(&s);
        assert!(adjoint_mismatch(&dense, 1) < 1e-14);
        assert!(adjoint_mismatch(&view, 2) < 1e-6, "{}", adjoint_mismatch(&view, 2));
        let x: Array1<f64> = magpie_core::operator::testing::random_vector(n, 5).mapv(|z| z.re);
        let (mut y1, mut y2) = (Array1::zeros(2 * m), Array1::zeros(2 * m));
        dense.apply(x.view(), y1.view_mut());
        view.apply(x.view(), y2.view_mut());
        assert!((&y1 - &y2).dot(&(&y1 - &y2)).sqrt() < 1e-6 * y1.dot(&y1).sqrt());
        let (mut x1, mut x2) = (Array1::zeros(n), Array1::zeros(n));
        dense.apply_t(y1.view(), x1.view_mut());
        view.apply_t(y1.view(), x2.view_mut());
        assert!((&x1 - &x2).dot(&(&x1 - &x2)).sqrt() < 1e-6 * x1.dot(&x1).sqrt());
        // The complex-engine view: real x in, Re(Sᴴ y) out, the same numbers as Aᵀ on the stacked y.
        let op = RealInput::new(&s);
        let xr: Vec<Complex32> = x.iter().map(|v| Complex32::new(*v as f32, 0.0)).collect();
        let y: Vec<Complex32> = magpie_core::operator::testing::random_vec(m, 6);
        let (mut sx, mut sty) = (vec![Complex32::default(); m], vec![Complex32::default(); n]);
        op.forward_unchecked(&xr, &mut sx);
        op.adjoint_unchecked(&y, &mut sty);
        assert!(sty.iter().all(|z| z.im == 0.0));
        let lhs: f64 = sx.iter().zip(&y).map(|(a, b)| (a.to_c64().conj() * b.to_c64()).re).sum();
        let rhs: f64 = xr.iter().zip(&sty).map(|(a, b)| f64::from(a.re) * f64::from(b.re)).sum();
        assert!((lhs - rhs).abs() < 1e-5 * lhs.abs().max(1.0), "{lhs} vs {rhs}");
        let ys: Array1<f64> =
            (0..2 * m).map(|i| if i % 2 == 0 { f64::from(y[i / 2].re) } else { f64::from(y[i / 2].im) }).collect();
        let mut at_y = Array1::zeros(n);
        dense.apply_t(ys.view(), at_y.view_mut());
        for (a, b) in at_y.iter().zip(&sty) {
            assert!((a - f64::from(b.re)).abs() < 1e-5 * at_y.iter().fold(0.0f64, |m, v| m.max(v.abs())));
        }
        // Batched products agree with the single ones (frame 1 is frame 0 doubled).
        let xb: Vec<Complex32> = xr.iter().copied().chain(xr.iter().map(|z| *z * 2.0)).collect();
        let mut yb = vec![Complex32::default(); 2 * m];
        op.forward_batch_unchecked(&xb, &mut yb, 2);
        assert!(magpie_core::operator::testing::rel_diff(&yb[..m], &sx) < 1e-6);
        assert!(
            magpie_core::operator::testing::rel_diff(&yb[m..], &sx.iter().map(|z| *z * 2.0).collect::<Vec<_>>()) < 1e-6
        );
        let mut xt = vec![Complex32::default(); 2 * n];
        op.adjoint_batch_unchecked(&yb, &mut xt, 2);
        assert!(xt.iter().all(|z| z.im == 0.0));
    }
}
