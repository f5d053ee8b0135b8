//! FISTA (Beck & Teboulle 2009) on any [`LinearOperator`], batched over frames, for
//! min_{x real} ½‖A x − b‖² + λ‖x‖₁ (+ ι_{x ≥ 0}). x is real (the concentration): for real x the gradient of the
//! data term is Re(Aᴴ(A x − b)), which is what the real-stacked solver computes with [Re A; Im A].

use serde::{Deserialize, Serialize};

use crate::engine::Element;
use crate::solvers::{check_lambda, check_rows, SolveError};
use magpie_core::operator::LinearOperator;

const NAME: &str = "fista (batched)";

/// FISTA parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BatchedFistaParams {
    /// Iterations.
    pub iterations: usize,
    /// Enforce x ≥ 0 (the prox of λ‖x‖₁ + ι_{x≥0} is max(x − λ/L, 0)).
    pub non_negative: bool,
    /// L = ‖A‖₂² if known (e.g. cached from an earlier solve); else estimated by power iteration.
    pub lipschitz: Option<f64>,
}

impl Default for BatchedFistaParams {
    fn default() -> Self {
        BatchedFistaParams { iterations: 100, non_negative: true, lipschitz: None }
    }
}

impl BatchedFistaParams {
    /// `iterations` iterations, other fields at their defaults.
    pub fn with_iterations(iterations: usize) -> Self {
        BatchedFistaParams { iterations, ..Default::default() }
    }
}

/// What a FISTA solve did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct BatchedFistaInfo {
    /// Iterations done.
    pub iterations: usize,
    /// The step's Lipschitz constant L = ‖A‖₂² used.
    pub lipschitz: f64,
}

/// ‖A‖₂² = λ_max(AᴴA) by power iteration from a deterministic start (at most `iterations`, stopping at a relative
/// change of 1e-6).
pub fn spectral_norm_sq<T: Element, O: LinearOperator<T> + ?Sized>(op: &O, iterations: usize) -> f64 {
    let (m, n) = (op.output_len(), op.input_len());
    let mut x: Vec<T> = (0..n).map(|i| T::from_f64(1.0 + (i % 7) as f64 * 0.1)).collect();
    let mut ax = vec![T::default(); m];
    let mut est = 0.0;
    for _ in 0..iterations {
        let norm = x.iter().map(|z| z.abs2()).sum::<f64>().sqrt();
        if norm == 0.0 {
            return 0.0;
        }
        for z in x.iter_mut() {
            *z = z.scale(1.0 / norm);
        }
        op.forward_unchecked(&x, &mut ax);
        op.adjoint_unchecked(&ax, &mut x);
        let new = x.iter().map(|z| z.abs2()).sum::<f64>().sqrt();
        let done = (new - est).abs() <= 1e-6 * new;
        est = new;
        if done {
            break;
        }
    }
    est
}

/// Solves `frames` frames (`b` output_len × frames column-major); returns real x (imaginary parts zero),
/// input_len × frames.
///
/// # Errors
/// Wrong data length, invalid λ, non-finite iterates.
pub fn solve<T: Element, O: LinearOperator<T> + ?Sized>(
    op: &O,
    b: &[T],
    frames: usize,
    lambda: f64,
    p: &BatchedFistaParams,
) -> Result<(Vec<T>, BatchedFistaInfo), SolveError> {
    let (m, n) = (op.output_len(), op.input_len());
    check_rows(NAME, m * frames, b.len())?;
    check_lambda(NAME, lambda)?;
    let l = p.lipschitz.unwrap_or_else(|| spectral_norm_sq(op, 100)).max(f64::MIN_POSITIVE);
    let step = 1.0 / l;
    let thr = lambda * step;
    let mut x = vec![T::default(); n * frames];
    let mut y = vec![T::default(); n * frames];
    let mut grad = vec![T::default(); n * frames];
    let mut ay = vec![T::default(); m * frames];
    let mut t = 1.0f64;
    for it in 0..p.iterations {
        op.forward_batch_unchecked(&y, &mut ay, frames);
        for (a, bb) in ay.iter_mut().zip(b) {
            *a -= *bb;
        }
        op.adjoint_batch_unchecked(&ay, &mut grad, frames);
        let tn = 0.5 * (1.0 + (1.0 + 4.0 * t * t).sqrt());
        let mom = (t - 1.0) / tn;
        for ((xi, yi), gi) in x.iter_mut().zip(y.iter_mut()).zip(&grad) {
            let v = yi.re_f64() - step * gi.re_f64();
            let s = v.abs() - thr;
            let xn = if s <= 0.0 || (p.non_negative && v < 0.0) { 0.0 } else { s * v.signum() };
            let xo = xi.re_f64();
            *xi = T::from_f64(xn);
            *yi = T::from_f64(xn + mom * (xn - xo));
        }
        t = tn;
        if !x.iter().all(|z| z.abs2().is_finite()) {
            return Err(SolveError::Diverged { solver: NAME, iteration: it + 1 });
        }
    }
    Ok((x, BatchedFistaInfo { iterations: p.iterations, lipschitz: l }))
}
