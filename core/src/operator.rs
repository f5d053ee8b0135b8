//! The [`LinearOperator`] trait shared by the reconstructors, the [`Scalar`] element types it is generic over, and
//! the dot-product (adjoint) test every operator must pass ([`testing`]).
//!
//! An operator is a linear map A: Tⁿ → Tᵐ with its adjoint Aᴴ, applied into caller-provided buffers (as faer's
//! `apply(out, rhs, …)`), so that solvers allocate their scratch once per solve and never inside an iteration.
//! Batches of F vectors are stored column-major (vector f is the contiguous slice `f·len .. (f+1)·len`), which
//! lets an operator evaluate a whole batch as one matrix–matrix product.
//!
//! ```
//! use magpie_core::operator::{testing, DenseOperator, LinearOperator};
//! use num_complex::Complex64;
//! let op = DenseOperator::from_fn(3, 2, "S", |i, j| Complex64::new(i as f64, j as f64 - 1.0));
//! let mut y = vec![Complex64::default(); 3];
//! op.forward(&[Complex64::new(1.0, 0.0), Complex64::new(0.0, 1.0)], &mut y).unwrap();
//! assert_eq!(y[2], Complex64::new(2.0, -1.0) + Complex64::new(0.0, 2.0));
//! testing::assert_adjoint(&op, 1, 1e-12);
//! ```

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use ndarray::Array1;
use num_complex::{Complex32, Complex64};

/// A shape mismatch between an operator and the vectors given to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operator {operator}: {what} has length {found}, expected {expected}")]
pub struct ShapeError {
    /// Name of the operator.
    pub operator: String,
    /// "input" or "output".
    pub what: &'static str,
    /// Expected length.
    pub expected: usize,
    /// Length found.
    pub found: usize,
}

/// An element type of operators and solvers: `f32`, `f64`, [`Complex32`] or [`Complex64`].
///
/// Reductions (norms, inner products in tests) go through `f64`/[`Complex64`] so that single-precision data are
/// accumulated in double precision, as MPIReco and the numpy baseline accumulate row energies.
pub trait Scalar:
    Copy
    + Send
    + Sync
    + Debug
    + Default
    + PartialEq
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + 'static
{
    /// Whether the type has an imaginary part.
    const IS_COMPLEX: bool;
    /// Complex conjugate (identity for real types).
    fn conj(self) -> Self;
    /// |z|², computed in `f64`.
    fn abs2(self) -> f64;
    /// The value as a [`Complex64`].
    fn to_c64(self) -> Complex64;
    /// Rounds a [`Complex64`] to this type; real types keep only the real part.
    fn from_c64(z: Complex64) -> Self;
    /// A real value.
    fn from_f64(re: f64) -> Self {
        Self::from_c64(Complex64::new(re, 0.0))
    }
    /// The real part, as `f64`.
    fn re_f64(self) -> f64 {
        self.to_c64().re
    }
    /// Product with a real factor given in `f64` (rounded to the type's precision first).
    fn scale(self, r: f64) -> Self {
        self * Self::from_f64(r)
    }
}

impl Scalar for f32 {
    const IS_COMPLEX: bool = false;
    fn conj(self) -> Self {
        self
    }
    fn abs2(self) -> f64 {
        f64::from(self) * f64::from(self)
    }
    fn to_c64(self) -> Complex64 {
        Complex64::new(f64::from(self), 0.0)
    }
    fn from_c64(z: Complex64) -> Self {
        z.re as f32
    }
}

impl Scalar for f64 {
    const IS_COMPLEX: bool = false;
    fn conj(self) -> Self {
        self
    }
    fn abs2(self) -> f64 {
        self * self
    }
    fn to_c64(self) -> Complex64 {
        Complex64::new(self, 0.0)
    }
    fn from_c64(z: Complex64) -> Self {
        z.re
    }
}

impl Scalar for Complex32 {
    const IS_COMPLEX: bool = true;
    fn conj(self) -> Self {
        Complex32::conj(&self)
    }
    fn abs2(self) -> f64 {
        let (re, im) = (f64::from(self.re), f64::from(self.im));
        re * re + im * im
    }
    fn to_c64(self) -> Complex64 {
        Complex64::new(f64::from(self.re), f64::from(self.im))
    }
    fn from_c64(z: Complex64) -> Self {
        Complex32::new(z.re as f32, z.im as f32)
    }
}

impl Scalar for Complex64 {
    const IS_COMPLEX: bool = true;
    fn conj(self) -> Self {
        Complex64::conj(&self)
    }
    fn abs2(self) -> f64 {
        self.norm_sqr()
    }
    fn to_c64(self) -> Complex64 {
        self
    }
    fn from_c64(z: Complex64) -> Self {
        z
    }
}

/// A linear map A: Tⁿ → Tᵐ with its adjoint Aᴴ. Inputs are slices, outputs are caller-provided and overwritten.
///
/// The element type defaults to [`Complex64`] (the precision of the slow reference operators); the system-matrix
/// engine implements it for [`Complex32`], the precision of MDF files.
pub trait LinearOperator<T: Scalar = Complex64>: Sync {
    /// Name used in error messages.
    fn name(&self) -> &str;
    /// n, the input length.
    fn input_len(&self) -> usize;
    /// m, the output length.
    fn output_len(&self) -> usize;
    /// y ← A x, lengths already checked.
    fn forward_unchecked(&self, x: &[T], y: &mut [T]);
    /// x ← Aᴴ y, lengths already checked.
    fn adjoint_unchecked(&self, y: &[T], x: &mut [T]);

    /// Y ← A X for `frames` column-major vectors (X is n × frames, Y is m × frames). The default applies
    /// [`forward_unchecked`](Self::forward_unchecked) per column; dense operators override it with one
    /// matrix–matrix product.
    fn forward_batch_unchecked(&self, x: &[T], y: &mut [T], frames: usize) {
        let (n, m) = (self.input_len(), self.output_len());
        for f in 0..frames {
            self.forward_unchecked(&x[f * n..(f + 1) * n], &mut y[f * m..(f + 1) * m]);
        }
    }

    /// X ← Aᴴ Y for `frames` column-major vectors (see [`forward_batch_unchecked`](Self::forward_batch_unchecked)).
    fn adjoint_batch_unchecked(&self, y: &[T], x: &mut [T], frames: usize) {
        let (n, m) = (self.input_len(), self.output_len());
        for f in 0..frames {
            self.adjoint_unchecked(&y[f * m..(f + 1) * m], &mut x[f * n..(f + 1) * n]);
        }
    }

    /// y ← A x, checking lengths.
    ///
    /// # Errors
    /// [`ShapeError`] naming the operator when a length is wrong.
    fn forward(&self, x: &[T], y: &mut [T]) -> Result<(), ShapeError> {
        check(self.name(), "input", self.input_len(), x.len())?;
        check(self.name(), "output", self.output_len(), y.len())?;
        self.forward_unchecked(x, y);
        Ok(())
    }

    /// x ← Aᴴ y, checking lengths.
    ///
    /// # Errors
    /// [`ShapeError`] naming the operator when a length is wrong.
    fn adjoint(&self, y: &[T], x: &mut [T]) -> Result<(), ShapeError> {
        check(self.name(), "output", self.output_len(), y.len())?;
        check(self.name(), "input", self.input_len(), x.len())?;
        self.adjoint_unchecked(y, x);
        Ok(())
    }

    /// OUT ← AᴴA X for `frames` column-major vectors, with `scratch` of frames × the output length; the default
    /// composes the batched forward and adjoint (dense operators fuse them into one pass over the matrix).
    fn normal_batch_unchecked(&self, x: &[T], out: &mut [T], scratch: &mut [T], frames: usize) {
        self.forward_batch_unchecked(x, scratch, frames);
        self.adjoint_batch_unchecked(scratch, out, frames);
    }

    /// out ← AᴴA x (the normal operator), with `scratch` of the output length; the default composes forward and
    /// adjoint.
    fn normal_unchecked(&self, x: &[T], out: &mut [T], scratch: &mut [T]) {
        self.forward_unchecked(x, scratch);
        self.adjoint_unchecked(scratch, out);
    }
}

fn check(op: &str, what: &'static str, expected: usize, found: usize) -> Result<(), ShapeError> {
    if expected != found {
        return Err(ShapeError { operator: op.to_string(), what, expected, found });
    }
    Ok(())
}

/// A dense matrix as an operator: the slow, obviously-correct reference for fast and matrix-free operators.
#[derive(Debug, Clone)]
pub struct DenseOperator<T: Scalar = Complex64> {
    /// The matrix [m, n].
    pub matrix: ndarray::Array2<T>,
    /// Name for messages.
    pub label: String,
}

impl<T: Scalar> DenseOperator<T> {
    /// The m × n matrix with entries `f(i, j)`.
    pub fn from_fn(m: usize, n: usize, label: &str, f: impl Fn(usize, usize) -> T) -> Self {
        DenseOperator { matrix: ndarray::Array2::from_shape_fn((m, n), |(i, j)| f(i, j)), label: label.to_string() }
    }
}

impl<T: Scalar> LinearOperator<T> for DenseOperator<T> {
    fn name(&self) -> &str {
        &self.label
    }
    fn input_len(&self) -> usize {
        self.matrix.ncols()
    }
    fn output_len(&self) -> usize {
        self.matrix.nrows()
    }
    fn forward_unchecked(&self, x: &[T], y: &mut [T]) {
        for (yi, row) in y.iter_mut().zip(self.matrix.rows()) {
            *yi = row.iter().zip(x).fold(T::default(), |acc, (a, b)| acc + *a * *b);
        }
    }
    fn adjoint_unchecked(&self, y: &[T], x: &mut [T]) {
        x.fill(T::default());
        for (yi, row) in y.iter().zip(self.matrix.rows()) {
            for (xj, a) in x.iter_mut().zip(row.iter()) {
                *xj += a.conj() * *yi;
            }
        }
    }
}

/// Test helpers: dot-product (adjoint), linearity and normal-operator checks on seeded random data (as BART's
/// `linop_test_adjoint` and sigpy's `check_linop_adjoint`). Inner products are accumulated in [`Complex64`].
pub mod testing {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A seeded random complex vector with entries uniform in the unit square.
    pub fn random_vector(n: usize, seed: u64) -> Array1<Complex64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| Complex64::new(rng.random::<f64>() - 0.5, rng.random::<f64>() - 0.5)).collect()
    }

    /// [`random_vector`] rounded to the element type `T` (real types keep the real part).
    pub fn random_vec<T: Scalar>(n: usize, seed: u64) -> Vec<T> {
        random_vector(n, seed).iter().map(|z| T::from_c64(*z)).collect()
    }

    /// ⟨a, b⟩ = Σ conj(aᵢ) bᵢ, accumulated in [`Complex64`].
    pub fn dot<T: Scalar>(a: &[T], b: &[T]) -> Complex64 {
        a.iter().zip(b).map(|(x, y)| x.to_c64().conj() * y.to_c64()).sum()
    }

    /// ‖a‖₂, accumulated in `f64`.
    pub fn norm<T: Scalar>(a: &[T]) -> f64 {
        a.iter().map(|z| z.abs2()).sum::<f64>().sqrt()
    }

    /// ‖a − b‖₂ / ‖b‖₂, accumulated in `f64`.
    pub fn rel_diff<T: Scalar, U: Scalar>(a: &[T], b: &[U]) -> f64 {
        let num: f64 = a.iter().zip(b).map(|(x, y)| (x.to_c64() - y.to_c64()).norm_sqr()).sum();
        num.sqrt() / norm(b).max(f64::MIN_POSITIVE)
    }

    /// Relative mismatch |⟨Ax, y⟩ − ⟨x, Aᴴy⟩| / (‖Ax‖‖y‖) on random x, y.
    pub fn adjoint_mismatch<T: Scalar, O: LinearOperator<T> + ?Sized>(op: &O, seed: u64) -> f64 {
        let x = random_vec::<T>(op.input_len(), seed);
        let y = random_vec::<T>(op.output_len(), seed.wrapping_add(1));
        let mut ax = vec![T::default(); op.output_len()];
        op.forward_unchecked(&x, &mut ax);
        let mut ahy = vec![T::default(); op.input_len()];
        op.adjoint_unchecked(&y, &mut ahy);
        let lhs = dot(&ax, &y);
        let rhs = dot(&x, &ahy);
        let scale = (norm(&ax) * norm(&y)).max(f64::MIN_POSITIVE);
        (lhs - rhs).norm() / scale
    }

    /// Panics unless ⟨Ax, y⟩ = ⟨x, Aᴴy⟩ to `rel_tol`.
    ///
    /// # Panics
    /// When the operator's adjoint is wrong (this is a test helper).
    pub fn assert_adjoint<T: Scalar, O: LinearOperator<T> + ?Sized>(op: &O, seed: u64, rel_tol: f64) {
        let e = adjoint_mismatch(op, seed);
        assert!(e <= rel_tol, "operator {}: adjoint test failed, relative mismatch {e:e} > {rel_tol:e}", op.name());
    }

    /// Panics unless A(αx + y) = αAx + Ay to `rel_tol` (α real for real types).
    ///
    /// # Panics
    /// When the operator is not linear.
    pub fn assert_linear<T: Scalar, O: LinearOperator<T> + ?Sized>(op: &O, seed: u64, rel_tol: f64) {
        let x = random_vec::<T>(op.input_len(), seed);
        let y = random_vec::<T>(op.input_len(), seed + 7);
        let alpha = T::from_c64(Complex64::new(0.7, -1.3));
        let apply = |v: &[T]| {
            let mut out = vec![T::default(); op.output_len()];
            op.forward_unchecked(v, &mut out);
            out
        };
        let combo: Vec<T> = x.iter().zip(&y).map(|(a, b)| alpha * *a + *b).collect();
        let lhs = apply(&combo);
        let rhs: Vec<T> = apply(&x).iter().zip(apply(&y)).map(|(a, b)| alpha * *a + b).collect();
        let e = rel_diff(&lhs, &rhs);
        assert!(e <= rel_tol, "operator {}: linearity failed, {e:e}", op.name());
    }

    /// Panics unless `normal_unchecked` equals Aᴴ(A x) to `rel_tol`.
    ///
    /// # Panics
    /// When an overridden normal operator disagrees with forward and adjoint.
    pub fn assert_normal<T: Scalar, O: LinearOperator<T> + ?Sized>(op: &O, seed: u64, rel_tol: f64) {
        let x = random_vec::<T>(op.input_len(), seed);
        let mut ax = vec![T::default(); op.output_len()];
        op.forward_unchecked(&x, &mut ax);
        let mut want = vec![T::default(); op.input_len()];
        op.adjoint_unchecked(&ax, &mut want);
        let mut got = vec![T::default(); op.input_len()];
        let mut scratch = vec![T::default(); op.output_len()];
        op.normal_unchecked(&x, &mut got, &mut scratch);
        let e = rel_diff(&got, &want);
        assert!(e <= rel_tol, "operator {}: normal operator mismatch {e:e}", op.name());
    }

    /// Panics unless the batched forward and adjoint equal the per-vector ones to `rel_tol`, for `frames` random
    /// vectors.
    ///
    /// # Panics
    /// When an overridden batched product disagrees with the single-vector one.
    pub fn assert_batch<T: Scalar, O: LinearOperator<T> + ?Sized>(op: &O, frames: usize, seed: u64, rel_tol: f64) {
        let (n, m) = (op.input_len(), op.output_len());
        let x = random_vec::<T>(n * frames, seed);
        let y = random_vec::<T>(m * frames, seed + 3);
        let mut yb = vec![T::default(); m * frames];
        op.forward_batch_unchecked(&x, &mut yb, frames);
        let mut xb = vec![T::default(); n * frames];
        op.adjoint_batch_unchecked(&y, &mut xb, frames);
        for f in 0..frames {
            let mut y1 = vec![T::default(); m];
            op.forward_unchecked(&x[f * n..(f + 1) * n], &mut y1);
            let e = rel_diff(&yb[f * m..(f + 1) * m], &y1);
            assert!(e <= rel_tol, "operator {}: batched forward, frame {f}: {e:e}", op.name());
            let mut x1 = vec![T::default(); n];
            op.adjoint_unchecked(&y[f * m..(f + 1) * m], &mut x1);
            let e = rel_diff(&xb[f * n..(f + 1) * n], &x1);
            assert!(e <= rel_tol, "operator {}: batched adjoint, frame {f}: {e:e}", op.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    fn dense<T: Scalar>() -> DenseOperator<T> {
        DenseOperator::from_fn(7, 5, "dense", |i, j| {
            T::from_c64(Complex64::new((i * 3 + j) as f64 * 0.1, (i as f64 - j as f64) * 0.2))
        })
    }

    #[test]
    fn dense_operator_passes_adjoint_and_linearity() {
        let op = dense::<Complex64>();
        assert_adjoint(&op, 1, 1e-12);
        assert_linear(&op, 2, 1e-12);
        assert_normal(&op, 3, 1e-12);
        assert_batch(&op, 3, 4, 1e-15);
    }

    #[test]
    fn every_scalar_type_passes_the_adjoint_test_at_its_precision() {
        assert_adjoint(&dense::<f64>(), 1, 1e-14);
        assert_adjoint(&dense::<f32>(), 1, 1e-6);
        assert_adjoint(&dense::<Complex32>(), 1, 1e-6);
        assert_linear(&dense::<Complex32>(), 2, 1e-6);
    }

    /// A deliberately wrong adjoint must be caught.
    struct Broken;
    impl LinearOperator for Broken {
        fn name(&self) -> &str {
            "broken"
        }
        fn input_len(&self) -> usize {
            3
        }
        fn output_len(&self) -> usize {
            3
        }
        fn forward_unchecked(&self, x: &[Complex64], y: &mut [Complex64]) {
            for (yi, xi) in y.iter_mut().zip(x) {
                *yi = xi * Complex64::new(0.0, 1.0);
            }
        }
        fn adjoint_unchecked(&self, y: &[Complex64], x: &mut [Complex64]) {
            // Missing conjugate: should be −i.
            for (xi, yi) in x.iter_mut().zip(y) {
                *xi = yi * Complex64::new(0.0, 1.0);
            }
        }
    }

    #[test]
    fn adjoint_test_detects_a_wrong_adjoint() {
        assert!(adjoint_mismatch(&Broken, 5) > 1e-3);
    }

    #[test]
    fn shape_errors_name_the_operator() {
        let op = DenseOperator::<Complex64> { matrix: ndarray::Array2::zeros((2, 3)), label: "S".into() };
        let x = vec![Complex64::default(); 4];
        let mut y = vec![Complex64::default(); 2];
        let e = op.forward(&x, &mut y).unwrap_err();
        assert_eq!(e.operator, "S");
        assert_eq!((e.expected, e.found), (3, 4));
    }
}
