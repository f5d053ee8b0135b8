//! FISTA (Beck & Teboulle 2009) for min ½‖Ax − b‖² + λ‖x‖₁ with optional x ≥ 0: a proximal gradient step of
//! size 1/L (L = ‖A‖₂² by power iteration) with Nesterov momentum θ_{k+1} = (1 + √(1 + 4θ_k²))/2.

use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::{check_lambda, check_rows, per_frame, SolveError, SolveInfo};
use crate::system::{spectral_norm_sq, RealOperator};

/// FISTA parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FistaParams {
    /// Iterations.
    pub iterations: usize,
    /// Enforce x ≥ 0 (prox of λ‖x‖₁ + ι_{x≥0} is max(x − λ/L, 0)).
    pub non_negative: bool,
}

impl Default for FistaParams {
    fn default() -> Self {
        FistaParams { iterations: 100, non_negative: true }
    }
}

/// Solves each column of `b`; λ weights the L1 term (½ on the data term).
///
/// # Errors
/// Shape mismatch, invalid λ, divergence.
pub fn solve(
    op: &dyn RealOperator,
    b: ArrayView2<f64>,
    lambda: f64,
    p: &FistaParams,
) -> Result<(Array2<f64>, SolveInfo), SolveError> {
    const NAME: &str = "fista";
    check_rows(NAME, op.rows(), b.nrows())?;
    check_lambda(NAME, lambda)?;
    let n = op.cols();
    let l = spectral_norm_sq(op).max(f64::MIN_POSITIVE);
    let step = 1.0 / l;
    per_frame(b, n, |bcol| {
        let mut info = SolveInfo::default();
        let mut x = Array1::<f64>::zeros(n);
        let mut y = x.clone();
        let mut t = 1.0f64;
        let mut ay = Array1::zeros(op.rows());
        let mut grad = Array1::zeros(n);
        for it in 0..p.iterations {
            op.apply(y.view(), ay.view_mut());
            let r = &ay - &bcol;
            op.apply_t(r.view(), grad.view_mut());
            let mut xn = &y - &(&grad * step);
            let thr = lambda * step;
            xn.mapv_inplace(|v| {
                let s = v.abs() - thr;
                if s <= 0.0 || (p.non_negative && v < 0.0) {
                    0.0
                } else {
                    s * v.signum()
                }
            });
            let tn = 0.5 * (1.0 + (1.0 + 4.0 * t * t).sqrt());
            y = &xn + &((&xn - &x) * ((t - 1.0) / tn));
            x = xn;
            t = tn;
            if x.iter().any(|v| !v.is_finite()) {
                return Err(SolveError::Diverged { solver: NAME, iteration: it + 1 });
            }
            {
                op.apply(x.view(), ay.view_mut());
                let res = &ay - &bcol;
                info.residual_history.push(res.dot(&res).sqrt());
                info.iterations = it + 1;
            }
        }
        Ok((x, info))
    })
}
