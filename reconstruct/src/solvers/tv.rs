//! Total-variation regularised reconstruction by the primal–dual algorithm of Chambolle & Pock (2011):
//! min_x ½‖Ax − b‖² + λ‖∇x‖_{2,1} + ι_{x ≥ 0}, with isotropic TV on the voxel grid (forward differences,
//! Neumann boundary). The data operator is rescaled to unit norm so that both blocks of K = [A; ∇] are O(1).

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use serde::{Deserialize, Serialize};

use super::{check_lambda, check_rows, per_frame, SolveError, SolveInfo};
use crate::system::{spectral_norm_sq, RealOperator};

/// TV parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TvParams {
    /// Primal–dual iterations.
    pub iterations: usize,
    /// Enforce x ≥ 0.
    pub non_negative: bool,
}

impl Default for TvParams {
    fn default() -> Self {
        TvParams { iterations: 300, non_negative: true }
    }
}

/// Forward-difference gradient on a grid (x fastest), and its adjoint (−divergence).
#[derive(Debug, Clone, Copy)]
pub struct Gradient {
    /// Grid shape.
    pub shape: [usize; 3],
}

impl Gradient {
    fn axes(&self) -> Vec<usize> {
        (0..3).filter(|d| self.shape[*d] > 1).collect()
    }

    fn stride(&self, d: usize) -> usize {
        match d {
            0 => 1,
            1 => self.shape[0],
            _ => self.shape[0] * self.shape[1],
        }
    }

    /// g [axes·N] ← ∇x.
    pub fn apply(&self, x: ArrayView1<f64>, g: &mut Array1<f64>) {
        let n = x.len();
        for (a, &d) in self.axes().iter().enumerate() {
            let s = self.stride(d);
            for p in 0..n {
                let i = (p / s) % self.shape[d];
                g[a * n + p] = if i + 1 < self.shape[d] { x[p + s] - x[p] } else { 0.0 };
            }
        }
    }

    /// x [N] ← ∇ᵀ g.
    pub fn apply_t(&self, g: ArrayView1<f64>, x: &mut Array1<f64>) {
        let n = x.len();
        x.fill(0.0);
        for (a, &d) in self.axes().iter().enumerate() {
            let s = self.stride(d);
            for p in 0..n {
                let i = (p / s) % self.shape[d];
                if i + 1 < self.shape[d] {
                    let v = g[a * n + p];
                    x[p + s] += v;
                    x[p] -= v;
                }
            }
        }
    }

    /// Number of gradient components per voxel.
    pub fn components(&self) -> usize {
        self.axes().len()
    }
}

/// Solves each column of `b` on the grid `shape`.
///
/// # Errors
/// Shape mismatch, invalid λ, divergence.
pub fn solve(
    op: &dyn RealOperator,
    b: ArrayView2<f64>,
    lambda: f64,
    shape: [usize; 3],
    p: &TvParams,
) -> Result<(Array2<f64>, SolveInfo), SolveError> {
    const NAME: &str = "tv";
    check_rows(NAME, op.rows(), b.nrows())?;
    check_lambda(NAME, lambda)?;
    let n = op.cols();
    if shape.iter().product::<usize>() != n {
        return Err(SolveError::Parameter {
            solver: NAME,
            message: format!("grid {shape:?} does not have {n} voxels"),
        });
    }
    let grad = Gradient { shape };
    let na = grad.components().max(1);
    // Rescale A to unit spectral norm: ½‖Ax − b‖² = s²·½‖Ãx − b/s‖², so λ becomes λ/s² for Ã.
    let s2 = spectral_norm_sq(op).max(f64::MIN_POSITIVE);
    let s = s2.sqrt();
    let lam = lambda / s2;
    // ‖K‖² ≤ ‖Ã‖² + ‖∇‖² ≤ 1 + 4·(number of axes).
    let l2 = 1.0 + 4.0 * na as f64;
    let (tau, sigma) = (0.99 / l2.sqrt(), 0.99 / l2.sqrt());
    per_frame(b, n, |bcol| {
        let mut info = SolveInfo::default();
        let bs = bcol.mapv(|v| v / s);
        let mut x = Array1::<f64>::zeros(n);
        let mut xbar = x.clone();
        let mut y1 = Array1::<f64>::zeros(op.rows());
        let mut y2 = Array1::<f64>::zeros(na * n);
        let mut tmp_m = Array1::zeros(op.rows());
        let mut tmp_g = Array1::zeros(na * n);
        let mut kty = Array1::zeros(n);
        let mut tmp_n = Array1::zeros(n);
        for it in 0..p.iterations {
            // Dual ascent on the data block: prox of F1*(y) = ½‖y‖² + ⟨y, b⟩.
            op.apply(xbar.view(), tmp_m.view_mut());
            tmp_m /= s;
            y1 = (&y1 + &(&tmp_m * sigma) - &(&bs * sigma)) / (1.0 + sigma);
            // Dual ascent on the TV block: projection onto the ball ‖y2_p‖₂ ≤ λ per voxel.
            grad.apply(xbar.view(), &mut tmp_g);
            y2.scaled_add(sigma, &tmp_g);
            for pix in 0..n {
                let mut norm = 0.0;
                for a in 0..na {
                    norm += y2[a * n + pix] * y2[a * n + pix];
                }
                let norm = norm.sqrt();
                if norm > lam && norm > 0.0 {
                    for a in 0..na {
                        y2[a * n + pix] *= lam / norm;
                    }
                }
            }
            // Primal descent.
            op.apply_t(y1.view(), kty.view_mut());
            kty /= s;
            grad.apply_t(y2.view(), &mut tmp_n);
            kty += &tmp_n;
            let x_old = x.clone();
            x.scaled_add(-tau, &kty);
            if p.non_negative {
                x.mapv_inplace(|v| v.max(0.0));
            }
            xbar = &x * 2.0 - &x_old;
            if x.iter().any(|v| !v.is_finite()) {
                return Err(SolveError::Diverged { solver: NAME, iteration: it + 1 });
            }
            if it % 10 == 9 || it + 1 == p.iterations {
                op.apply(x.view(), tmp_m.view_mut());
                let r = &tmp_m - &bcol;
                info.residual_history.push(r.dot(&r).sqrt());
                info.iterations = it + 1;
            }
        }
        Ok((x, info))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_adjoint_is_minus_divergence() {
        for shape in [[5, 1, 1], [4, 3, 1], [3, 4, 2]] {
            let g = Gradient { shape };
            let n: usize = shape.iter().product();
            let x: Array1<f64> = magpie_core::operator::testing::random_vector(n, 1).mapv(|z| z.re);
            let y: Array1<f64> = magpie_core::operator::testing::random_vector(n * g.components(), 2).mapv(|z| z.re);
            let mut gx = Array1::zeros(n * g.components());
            g.apply(x.view(), &mut gx);
            let mut gty = Array1::zeros(n);
            g.apply_t(y.view(), &mut gty);
            assert!((gx.dot(&y) - x.dot(&gty)).abs() < 1e-12, "{shape:?}");
        }
    }
}
