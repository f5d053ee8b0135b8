//! Conjugate gradients on the normal equations (AᵀA + λI) x = Aᵀb (CGNR), for one or many frames.

use ndarray::{Array1, Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use super::{check_lambda, check_rows, per_frame, SolveError, SolveInfo};
use crate::system::RealOperator;

/// CGNR parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CgnrParams {
    /// Maximum iterations.
    pub iterations: usize,
    /// Stop when the normal-equation residual falls below this fraction of its start.
    pub tolerance: f64,
    /// Clip x at 0 after the last iteration.
    pub non_negative: bool,
}

impl Default for CgnrParams {
    fn default() -> Self {
        CgnrParams { iterations: 50, tolerance: 1e-10, non_negative: true }
    }
}

/// Solves each column of `b` [M, F]; returns x [N, F].
///
/// # Errors
/// Shape mismatch, invalid λ, divergence.
pub fn solve(
    op: &dyn RealOperator,
    b: ArrayView2<f64>,
    lambda: f64,
    p: &CgnrParams,
) -> Result<(Array2<f64>, SolveInfo), SolveError> {
    const NAME: &str = "cgnr";
    check_rows(NAME, op.rows(), b.nrows())?;
    check_lambda(NAME, lambda)?;
    let n = op.cols();
    let normal = |v: &Array1<f64>, out: &mut Array1<f64>, tmp: &mut Array1<f64>| {
        op.apply(v.view(), tmp.view_mut());
        op.apply_t(tmp.view(), out.view_mut());
        out.scaled_add(lambda, v);
    };
    per_frame(b, n, |bcol| {
        let mut info = SolveInfo::default();
        let mut xf = Array1::<f64>::zeros(n);
        let mut r = Array1::zeros(n);
        op.apply_t(bcol, r.view_mut());
        let mut pvec = r.clone();
        let mut ap = Array1::zeros(n);
        let mut tmp = Array1::zeros(op.rows());
        let r0 = r.dot(&r).sqrt();
        let mut rr = r.dot(&r);
        for it in 0..p.iterations {
            if rr.sqrt() <= p.tolerance * r0 || r0 == 0.0 {
                break;
            }
            normal(&pvec, &mut ap, &mut tmp);
            let alpha = rr / pvec.dot(&ap);
            xf.scaled_add(alpha, &pvec);
            r.scaled_add(-alpha, &ap);
            let rr_new = r.dot(&r);
            pvec = &r + &(&pvec * (rr_new / rr));
            rr = rr_new;
            if !alpha.is_finite() {
                return Err(SolveError::Diverged { solver: NAME, iteration: it + 1 });
            }
            {
                op.apply(xf.view(), tmp.view_mut());
                let res = &tmp - &bcol;
                info.residual_history.push(res.dot(&res).sqrt());
                info.iterations = it + 1;
            }
        }
        if p.non_negative {
            xf.mapv_inplace(|e| e.max(0.0));
        }
        Ok((xf, info))
    })
}
