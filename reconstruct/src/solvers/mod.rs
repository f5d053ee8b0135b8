//! Generic least-squares solvers on a [`RealOperator`](crate::system::RealOperator); they know nothing of MPI.
//! Each has `…Params` (with `Default`), returns a [`SolveInfo`], and fails with a typed [`SolveError`].
//! The regularisation weight given to a solver is the *effective* λ (callers scale relative values, e.g. by
//! ‖A‖²_F/N as MPIReco does).

pub mod cgnr;
#[cfg(feature = "lapack")]
pub mod direct;
pub mod fast;
pub mod fista;
pub mod kaczmarz;
pub mod tv;

/// What a solver did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SolveInfo {
    /// Iterations (sweeps for Kaczmarz) done.
    pub iterations: usize,
    /// Residual norm ‖Ax − b‖ after each iteration (first frame).
    pub residual_history: Vec<f64>,
}

/// Solver failures.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SolveError {
    /// Data and operator do not match.
    #[error("solver {solver}: data has {found} rows, the operator {expected}")]
    Shape {
        /// Solver name.
        solver: &'static str,
        /// Operator rows.
        expected: usize,
        /// Data rows.
        found: usize,
    },
    /// A parameter is out of range.
    #[error("solver {solver}: {message}")]
    Parameter {
        /// Solver name.
        solver: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The iteration produced non-finite values.
    #[error("solver {solver}: diverged (non-finite values) at iteration {iteration}")]
    Diverged {
        /// Solver name.
        solver: &'static str,
        /// Iteration.
        iteration: usize,
    },
    /// The linear algebra backend failed.
    #[error("solver {solver}: {message}")]
    Backend {
        /// Solver name.
        solver: &'static str,
        /// Backend message.
        message: String,
    },
}

pub(crate) fn check_rows(solver: &'static str, expected: usize, found: usize) -> Result<(), SolveError> {
    if expected != found {
        return Err(SolveError::Shape { solver, expected, found });
    }
    Ok(())
}

pub(crate) fn check_lambda(solver: &'static str, lambda: f64) -> Result<(), SolveError> {
    if !(lambda.is_finite() && lambda >= 0.0) {
        return Err(SolveError::Parameter { solver, message: format!("λ must be finite and ≥ 0, found {lambda}") });
    }
    Ok(())
}

/// Solves every column of `b` independently and in parallel (frames are independent problems), keeping the
/// report of the first column.
pub(crate) fn per_frame<F>(
    b: ndarray::ArrayView2<f64>,
    n: usize,
    solve: F,
) -> Result<(ndarray::Array2<f64>, SolveInfo), SolveError>
where
    F: Fn(ndarray::ArrayView1<f64>) -> Result<(ndarray::Array1<f64>, SolveInfo), SolveError> + Sync,
{
    use rayon::prelude::*;
    let results: Vec<Result<(ndarray::Array1<f64>, SolveInfo), SolveError>> =
        (0..b.ncols()).into_par_iter().map(|f| solve(b.column(f))).collect();
    let mut x = ndarray::Array2::zeros((n, b.ncols()));
    let mut info = SolveInfo::default();
    for (f, r) in results.into_iter().enumerate() {
        let (xf, i) = r?;
        x.column_mut(f).assign(&xf);
        if f == 0 {
            info = i;
        }
    }
    Ok((x, info))
}

/// Per-iteration callback: (iteration, current estimate of the first frame).
pub type Callback<'a> = &'a mut dyn FnMut(usize, ndarray::ArrayView1<f64>);
