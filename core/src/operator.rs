//! The [`LinearOperator`] trait shared by the reconstructors, and the dot-product (adjoint) test every operator
//! must pass ([`testing`]).

use ndarray::{Array1, ArrayView1, ArrayViewMut1};
use num_complex::Complex64;

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

/// A complex linear map A: ℂⁿ → ℂᵐ with its adjoint Aᴴ. Inputs are views, outputs are caller-provided.
pub trait LinearOperator: Sync {
    /// Name used in error messages.
    fn name(&self) -> &str;
    /// n, the input length.
    fn input_len(&self) -> usize;
    /// m, the output length.
    fn output_len(&self) -> usize;
    /// y ← A x.
    fn forward_unchecked(&self, x: ArrayView1<Complex64>, y: ArrayViewMut1<Complex64>);
    /// x ← Aᴴ y.
    fn adjoint_unchecked(&self, y: ArrayView1<Complex64>, x: ArrayViewMut1<Complex64>);

    /// y ← A x, checking lengths.
    ///
    /// # Errors
    /// [`ShapeError`] naming the operator when a length is wrong.
    fn forward(&self, x: ArrayView1<Complex64>, y: ArrayViewMut1<Complex64>) -> Result<(), ShapeError> {
        check(self.name(), "input", self.input_len(), x.len())?;
        check(self.name(), "output", self.output_len(), y.len())?;
        self.forward_unchecked(x, y);
        Ok(())
    }

    /// x ← Aᴴ y, checking lengths.
    ///
    /// # Errors
    /// [`ShapeError`] naming the operator when a length is wrong.
    fn adjoint(&self, y: ArrayView1<Complex64>, x: ArrayViewMut1<Complex64>) -> Result<(), ShapeError> {
        check(self.name(), "output", self.output_len(), y.len())?;
        check(self.name(), "input", self.input_len(), x.len())?;
        self.adjoint_unchecked(y, x);
        Ok(())
    }

    /// x ← AᴴA x' (the normal operator); the default composes forward and adjoint.
    fn normal_unchecked(&self, x: ArrayView1<Complex64>, out: ArrayViewMut1<Complex64>) {
        let mut tmp = Array1::zeros(self.output_len());
        self.forward_unchecked(x, tmp.view_mut());
        self.adjoint_unchecked(tmp.view(), out);
    }
}

fn check(op: &str, what: &'static str, expected: usize, found: usize) -> Result<(), ShapeError> {
    if expected != found {
        return Err(ShapeError { operator: op.to_string(), what, expected, found });
    }
    Ok(())
}

/// A dense matrix as an operator: the slow, obviously-correct reference for matrix-free operators.
#[derive(Debug, Clone)]
pub struct DenseOperator {
    /// The matrix [m, n].
    pub matrix: ndarray::Array2<Complex64>,
    /// Name for messages.
    pub label: String,
}

impl LinearOperator for DenseOperator {
    fn name(&self) -> &str {
        &self.label
    }
    fn input_len(&self) -> usize {
        self.matrix.ncols()
    }
    fn output_len(&self) -> usize {
        self.matrix.nrows()
    }
    fn forward_unchecked(&self, x: ArrayView1<Complex64>, mut y: ArrayViewMut1<Complex64>) {
        for (yi, row) in y.iter_mut().zip(self.matrix.rows()) {
            *yi = row.iter().zip(x.iter()).map(|(a, b)| a * b).sum();
        }
    }
    fn adjoint_unchecked(&self, y: ArrayView1<Complex64>, mut x: ArrayViewMut1<Complex64>) {
        x.fill(Complex64::default());
        for (yi, row) in y.iter().zip(self.matrix.rows()) {
            for (xj, a) in x.iter_mut().zip(row.iter()) {
                *xj += a.conj() * yi;
            }
        }
    }
}

/// Test helpers: dot-product (adjoint), linearity and normal-operator checks on seeded random complex data
/// (as BART's `linop_test_adjoint` and sigpy's `check_linop_adjoint`).
pub mod testing {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A seeded random complex vector with entries uniform in the unit square.
    pub fn random_vector(n: usize, seed: u64) -> Array1<Complex64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| Complex64::new(rng.random::<f64>() - 0.5, rng.random::<f64>() - 0.5)).collect()
    }

    fn dot(a: &Array1<Complex64>, b: &Array1<Complex64>) -> Complex64 {
        a.iter().zip(b.iter()).map(|(x, y)| x.conj() * y).sum()
    }

    /// Relative mismatch |⟨Ax, y⟩ − ⟨x, Aᴴy⟩| / (‖Ax‖‖y‖) on random x, y.
    pub fn adjoint_mismatch(op: &dyn LinearOperator, seed: u64) -> f64 {
        let x = random_vector(op.input_len(), seed);
        let y = random_vector(op.output_len(), seed.wrapping_add(1));
        let mut ax = Array1::zeros(op.output_len());
        op.forward_unchecked(x.view(), ax.view_mut());
        let mut ahy = Array1::zeros(op.input_len());
        op.adjoint_unchecked(y.view(), ahy.view_mut());
        let lhs = dot(&ax, &y);
        let rhs = dot(&x, &ahy);
        let scale = (dot(&ax, &ax).re.sqrt() * dot(&y, &y).re.sqrt()).max(f64::MIN_POSITIVE);
        (lhs - rhs).norm() / scale
    }

    /// Panics unless ⟨Ax, y⟩ = ⟨x, Aᴴy⟩ to `rel_tol`.
    ///
    /// # Panics
    /// When the operator's adjoint is wrong (this is a test helper).
    pub fn assert_adjoint(op: &dyn LinearOperator, seed: u64, rel_tol: f64) {
        let e = adjoint_mismatch(op, seed);
        assert!(e <= rel_tol, "operator {}: adjoint test failed, relative mismatch {e:e} > {rel_tol:e}", op.name());
    }

    /// Panics unless A(αx + y) = αAx + Ay to `rel_tol`.
    ///
    /// # Panics
    /// When the operator is not linear.
    pub fn assert_linear(op: &dyn LinearOperator, seed: u64, rel_tol: f64) {
        let x = random_vector(op.input_len(), seed);
        let y = random_vector(op.input_len(), seed + 7);
        let alpha = Complex64::new(0.7, -1.3);
        let apply = |v: &Array1<Complex64>| {
            let mut out = Array1::zeros(op.output_len());
            op.forward_unchecked(v.view(), out.view_mut());
            out
        };
        let lhs = apply(&(&x * alpha + &y));
        let rhs = apply(&x) * alpha + apply(&y);
        let err = (&lhs - &rhs).iter().map(|z| z.norm_sqr()).sum::<f64>().sqrt();
        let scale = rhs.iter().map(|z| z.norm_sqr()).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
        assert!(err / scale <= rel_tol, "operator {}: linearity failed, {:e}", op.name(), err / scale);
    }

    /// Panics unless `normal_unchecked` equals Aᴴ(A x) to `rel_tol`.
    ///
    /// # Panics
    /// When an overridden normal operator disagrees with forward and adjoint.
    pub fn assert_normal(op: &dyn LinearOperator, seed: u64, rel_tol: f64) {
        let x = random_vector(op.input_len(), seed);
        let mut ax = Array1::zeros(op.output_len());
        op.forward_unchecked(x.view(), ax.view_mut());
        let mut want = Array1::zeros(op.input_len());
        op.adjoint_unchecked(ax.view(), want.view_mut());
        let mut got = Array1::zeros(op.input_len());
        op.normal_unchecked(x.view(), got.view_mut());
        let err = (&got - &want).iter().map(|z| z.norm_sqr()).sum::<f64>().sqrt();
        let scale = want.iter().map(|z| z.norm_sqr()).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
        assert!(err / scale <= rel_tol, "operator {}: normal operator mismatch {:e}", op.name(), err / scale);
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use ndarray::Array2;

    #[test]
    fn dense_operator_passes_adjoint_and_linearity() {
        let m: Array2<Complex64> = Array2::from_shape_fn((7, 5), |(i, j)| {
            Complex64::new((i * 3 + j) as f64 * 0.1, (i as f64 - j as f64) * 0.2)
        });
        let op = DenseOperator { matrix: m, label: "dense".into() };
        assert_adjoint(&op, 1, 1e-12);
        assert_linear(&op, 2, 1e-12);
        assert_normal(&op, 3, 1e-12);
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
        fn forward_unchecked(&self, x: ArrayView1<Complex64>, mut y: ArrayViewMut1<Complex64>) {
            y.assign(&x.mapv(|v| v * Complex64::new(0.0, 1.0)));
        }
        fn adjoint_unchecked(&self, y: ArrayView1<Complex64>, mut x: ArrayViewMut1<Complex64>) {
            // Missing conjugate: should be −i.
            x.assign(&y.mapv(|v| v * Complex64::new(0.0, 1.0)));
        }
    }

    #[test]
    fn adjoint_test_detects_a_wrong_adjoint() {
        assert!(adjoint_mismatch(&Broken, 5) > 1e-3);
    }

    #[test]
    fn shape_errors_name_the_operator() {
        let op = DenseOperator { matrix: Array2::zeros((2, 3)), label: "S".into() };
        let x = Array1::zeros(4);
        let mut y = Array1::zeros(2);
        let e = op.forward(x.view(), y.view_mut()).unwrap_err();
        assert_eq!(e.operator, "S");
        assert_eq!((e.expected, e.found), (3, 4));
    }
}
