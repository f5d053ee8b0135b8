//! Regularised Kaczmarz (algebraic reconstruction technique) on the extended system [A √λ I][x; v] = b, which
//! solves min ‖Ax − b‖² + λ‖x‖² (Dax 1993; the form MPIReco uses). One sweep visits every row once; several
//! frames are updated in the same pass over the rows (the row is read once for all of them).

use ndarray::{Array2, ArrayView2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::{check_lambda, check_rows, SolveError, SolveInfo};

/// Kaczmarz parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KaczmarzParams {
    /// Sweeps over all rows.
    pub iterations: usize,
    /// Project onto x ≥ 0 after each sweep (the result is real by construction).
    pub non_negative: bool,
    /// Visit the rows in a random order (shuffled once, seeded) instead of sequentially.
    pub randomized: bool,
    /// Seed of the random order.
    pub seed: u64,
}

impl Default for KaczmarzParams {
    fn default() -> Self {
        KaczmarzParams { iterations: 10, non_negative: true, randomized: false, seed: 1234 }
    }
}

/// Solves for every column of `b` [M, F]; returns x [N, F].
///
/// # Errors
/// Shape mismatch, invalid λ, divergence.
pub fn solve(
    a: ArrayView2<f64>,
    b: ArrayView2<f64>,
    lambda: f64,
    p: &KaczmarzParams,
) -> Result<(Array2<f64>, SolveInfo), SolveError> {
    const NAME: &str = "kaczmarz";
    let (m, n) = a.dim();
    check_rows(NAME, m, b.nrows())?;
    check_lambda(NAME, lambda)?;
    let f = b.ncols();
    let mut x = Array2::<f64>::zeros((n, f));
    let mut v = Array2::<f64>::zeros((m, f));
    let norms: Vec<f64> = a.axis_iter(Axis(0)).map(|r| r.dot(&r)).collect();
    let sl = lambda.sqrt();
    let mut order: Vec<usize> = (0..m).filter(|i| norms[*i] > 0.0).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(p.seed);
    if p.randomized {
        order.shuffle(&mut rng);
    }
    let mut info = SolveInfo::default();
    let mut alpha = vec![0.0; f];
    // Frames as rows of xt [F, N] so that each frame's update is a contiguous axpy.
    let mut xt = x.t().to_owned();
    for it in 0..p.iterations {
        for &i in &order {
            let row = a.row(i);
            let denom = norms[i] + lambda;
            for (k, al) in alpha.iter_mut().enumerate() {
                let tau = row.dot(&xt.row(k));
                *al = (b[[i, k]] - tau - sl * v[[i, k]]) / denom;
            }
            for (k, al) in alpha.iter().enumerate() {
                xt.row_mut(k).scaled_add(*al, &row);
                v[[i, k]] += al * sl;
            }
        }
        if p.non_negative {
            xt.mapv_inplace(|e| e.max(0.0));
        }
        if xt.iter().any(|e| !e.is_finite()) {
            return Err(SolveError::Diverged { solver: NAME, iteration: it + 1 });
        }
        let r = a.dot(&xt.row(0)) - b.column(0);
        info.residual_history.push(r.dot(&r).sqrt());
        info.iterations = it + 1;
        tracing::trace!(iteration = it + 1, residual = info.residual_history[it], "kaczmarz sweep");
    }
    x.assign(&xt.t());
    Ok((x, info))
}
