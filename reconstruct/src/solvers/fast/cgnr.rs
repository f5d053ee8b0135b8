//! CGNR on any [`LinearOperator`], batched over frames: conjugate gradients on (AᴴA + λI) x = Aᴴ b with x0 = 0
//! (Hestenes & Stiefel 1952; the form of the numpy baseline and RegularizedLeastSquares' CGNR), every frame its
//! own α and β, the products AP and AᴴQ done for all frames at once (matrix–matrix products on a dense system).
//! The projection x ← max(Re x, 0) is applied once, after the last iteration.

use serde::{Deserialize, Serialize};

use super::reference::project_non_negative;
use crate::engine::Element;
use crate::solvers::{check_lambda, check_rows, SolveError};
use magpie_core::operator::LinearOperator;

const NAME: &str = "cgnr (batched)";

/// CGNR parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BatchedCgnrParams {
    /// Iterations.
    pub iterations: usize,
    /// Stop when every frame's normal-equation residual is below this fraction of its start (0: never).
    pub tolerance: f64,
    /// Project x ← max(Re x, 0) after the last iteration.
    pub non_negative: bool,
    /// Record ‖A x − b‖ of the first frame after each iteration (one extra product per iteration).
    pub residuals: bool,
}

impl Default for BatchedCgnrParams {
    fn default() -> Self {
        BatchedCgnrParams { iterations: 10, tolerance: 0.0, non_negative: true, residuals: false }
    }
}

impl BatchedCgnrParams {
    /// `iterations` iterations, other fields at their defaults.
    pub fn with_iterations(iterations: usize) -> Self {
        BatchedCgnrParams { iterations, ..Default::default() }
    }
}

/// What a CGNR solve did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct BatchedCgnrInfo {
    /// Iterations done.
    pub iterations: usize,
    /// ‖A x − b‖ of the first frame after each iteration (empty unless asked for).
    pub residual_history: Vec<f64>,
}

fn col_norm_sq<T: Element>(v: &[T]) -> f64 {
    v.iter().map(|z| z.abs2()).sum()
}

/// Solves `frames` frames (`b` output_len × frames column-major; x input_len × frames).
///
/// # Errors
/// Wrong data length, invalid λ, non-finite iterates.
pub fn solve<T: Element, O: LinearOperator<T> + ?Sized>(
    op: &O,
    b: &[T],
    frames: usize,
    lambda_eff: f64,
    p: &BatchedCgnrParams,
) -> Result<(Vec<T>, BatchedCgnrInfo), SolveError> {
    let (m, n) = (op.output_len(), op.input_len());
    check_rows(NAME, m * frames, b.len())?;
    check_lambda(NAME, lambda_eff)?;
    // All scratch is allocated here, once per solve.
    let mut x = vec![T::default(); n * frames];
    let mut r = vec![T::default(); n * frames];
    let mut ap = vec![T::default(); n * frames];
    let mut q = vec![T::default(); m * frames];
    op.adjoint_batch_unchecked(b, &mut r, frames);
    let mut pv = r.clone();
    let mut rr: Vec<f64> = r.chunks(n.max(1)).map(col_norm_sq).collect();
    let r0 = rr.clone();
    let mut info = BatchedCgnrInfo::default();
    for it in 0..p.iterations {
        if rr.iter().zip(&r0).all(|(a, b0)| *a <= p.tolerance * p.tolerance * b0) {
            break;
        }
        // AᴴA P in one call: a dense system fuses the two products into one pass over the matrix.
        op.normal_batch_unchecked(&pv, &mut ap, &mut q, frames);
        for f in 0..frames {
            let (pf, apf) = (&pv[f * n..(f + 1) * n], &mut ap[f * n..(f + 1) * n]);
            let lam = T::from_f64(lambda_eff);
            for (a, pp) in apf.iter_mut().zip(pf) {
                *a += lam * *pp;
            }
            // pᴴ(AᴴA + λI)p, summed in f64 (= ‖Ap‖² + λ‖p‖²).
            let denom: f64 = pf.iter().zip(apf.iter()).map(|(a, b)| (a.conj() * *b).re_f64()).sum();
            let alpha = if rr[f] > 0.0 && denom > 0.0 { rr[f] / denom } else { 0.0 };
            let a = T::from_f64(alpha);
            for ((xi, pi), (ri, api)) in
                x[f * n..(f + 1) * n].iter_mut().zip(pf).zip(r[f * n..(f + 1) * n].iter_mut().zip(apf.iter()))
            {
                *xi += a * *pi;
                *ri -= a * *api;
            }
            let rr_new = col_norm_sq(&r[f * n..(f + 1) * n]);
            let beta = T::from_f64(if rr[f] > 0.0 { rr_new / rr[f] } else { 0.0 });
            for (pi, ri) in pv[f * n..(f + 1) * n].iter_mut().zip(&r[f * n..(f + 1) * n]) {
                *pi = *ri + beta * *pi;
            }
            rr[f] = rr_new;
        }
        if !x.iter().all(|z| z.abs2().is_finite()) {
            return Err(SolveError::Diverged { solver: NAME, iteration: it + 1 });
        }
        if p.residuals && frames > 0 {
            op.forward_unchecked(&x[..n], &mut q[..m]);
            let res: f64 = q[..m].iter().zip(&b[..m]).map(|(a, bb)| (*a - *bb).abs2()).sum();
            info.residual_history.push(res.sqrt());
        }
        info.iterations = it + 1;
    }
    if p.non_negative {
        project_non_negative(&mut x);
    }
    Ok((x, info))
}
