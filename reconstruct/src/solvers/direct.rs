//! Direct Tikhonov solution through the SVD of A (ndarray-linalg, LAPACK), cached so that many λ cost one
//! matrix–vector product each: x(λ) = V diag(σ/(σ² + λ)) Uᵀ b. Automatic λ by the discrepancy principle, GCV
//! and the L-curve, all from the same decomposition (Hansen, "Rank-Deficient and Discrete Ill-Posed Problems").

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use ndarray_linalg::{JobSvd, SVDDC};

use super::{check_lambda, check_rows, SolveError};

/// A cached thin SVD A = U Σ Vᵀ.
#[derive(Debug, Clone)]
pub struct TikhonovSvd {
    u: Array2<f64>,
    sigma: Array1<f64>,
    vt: Array2<f64>,
    rows: usize,
}

impl TikhonovSvd {
    /// Decomposes `a` [M, N].
    ///
    /// # Errors
    /// LAPACK failure.
    pub fn new(a: ArrayView2<f64>) -> Result<Self, SolveError> {
        // The full U of a tall matrix is M × M (tens of GB for 3-D systems): only the thin factors are computed.
        let (m, n) = a.dim();
        let k = m.min(n);
        let bytes = 8.0 * (m as f64 * k as f64 + k as f64 * n as f64 + m as f64 * n as f64);
        if bytes > 8e9 {
            return Err(SolveError::Backend {
                solver: "direct",
                message: format!(
                    "a {m} × {n} system needs {:.1} GB for its SVD; use an iterative solver (kaczmarz, cgnr, fista)",
                    bytes / 1e9
                ),
            });
        }
        let (u, sigma, vt) =
            a.svddc(JobSvd::Some).map_err(|e| SolveError::Backend { solver: "direct", message: e.to_string() })?;
        let (u, vt) = match (u, vt) {
            (Some(u), Some(vt)) => (u, vt),
            _ => return Err(SolveError::Backend { solver: "direct", message: "SVD returned no vectors".into() }),
        };
        let k = sigma.len().min(k);
        Ok(TikhonovSvd {
            u: u.slice(ndarray::s![.., ..k]).to_owned(),
            sigma,
            vt: vt.slice(ndarray::s![..k, ..]).to_owned(),
            rows: a.nrows(),
        })
    }

    /// Singular values.
    pub fn singular_values(&self) -> &Array1<f64> {
        &self.sigma
    }

    /// Uᵀ b.
    pub fn project(&self, b: ArrayView1<f64>) -> Result<Array1<f64>, SolveError> {
        check_rows("direct", self.rows, b.len())?;
        Ok(self.u.t().dot(&b))
    }

    /// x(λ) for effective λ.
    ///
    /// # Errors
    /// Shape mismatch or invalid λ.
    pub fn solve(&self, b: ArrayView1<f64>, lambda: f64) -> Result<Array1<f64>, SolveError> {
        check_lambda("direct", lambda)?;
        let beta = self.project(b)?;
        let coef = Array1::from_iter(self.sigma.iter().zip(beta.iter()).map(|(s, bt)| s * bt / (s * s + lambda)));
        Ok(self.vt.t().dot(&coef))
    }

    /// Residual norm² ‖A x(λ) − b‖² = Σ (λ/(σ²+λ))² β² + ‖b‖² − ‖β‖² (the part outside range(U)).
    pub fn residual_sq(&self, beta: &Array1<f64>, b_norm_sq: f64, lambda: f64) -> f64 {
        let outside = (b_norm_sq - beta.dot(beta)).max(0.0);
        self.sigma.iter().zip(beta.iter()).map(|(s, bt)| (lambda / (s * s + lambda) * bt).powi(2)).sum::<f64>()
            + outside
    }

    /// Solution norm² ‖x(λ)‖².
    pub fn solution_sq(&self, beta: &Array1<f64>, lambda: f64) -> f64 {
        self.sigma.iter().zip(beta.iter()).map(|(s, bt)| (s * bt / (s * s + lambda)).powi(2)).sum()
    }

    /// Candidate λ values spanning the singular spectrum (log-spaced).
    pub fn lambda_grid(&self, count: usize) -> Vec<f64> {
        let smax = self.sigma.iter().copied().fold(0.0, f64::max).max(f64::MIN_POSITIVE);
        let smin = self.sigma.iter().copied().filter(|s| *s > 1e-12 * smax).fold(smax, f64::min);
        let (lo, hi) = ((smin * smin * 1e-2).ln(), (smax * smax * 10.0).ln());
        (0..count).map(|i| (lo + (hi - lo) * i as f64 / (count - 1).max(1) as f64).exp()).collect()
    }

    /// Discrepancy principle: the largest λ with ‖A x(λ) − b‖ ≤ τ·δ (δ: expected noise norm).
    pub fn lambda_discrepancy(&self, b: ArrayView1<f64>, noise_norm: f64, tau: f64) -> Result<f64, SolveError> {
        let beta = self.project(b)?;
        let bn = b.dot(&b);
        let target = (tau * noise_norm).powi(2);
        let grid = self.lambda_grid(200);
        let mut best = grid[0];
        for &l in &grid {
            if self.residual_sq(&beta, bn, l) <= target {
                best = l;
            }
        }
        Ok(best)
    }

    /// Generalised cross-validation: argmin ‖A x(λ) − b‖² / (M − Σ σ²/(σ²+λ))².
    pub fn lambda_gcv(&self, b: ArrayView1<f64>) -> Result<f64, SolveError> {
        let beta = self.project(b)?;
        let bn = b.dot(&b);
        let m = self.rows as f64;
        let mut best = (f64::INFINITY, 0.0);
        for l in self.lambda_grid(200) {
            let dof = m - self.sigma.iter().map(|s| s * s / (s * s + l)).sum::<f64>();
            let g = self.residual_sq(&beta, bn, l) / (dof * dof).max(f64::MIN_POSITIVE);
            if g < best.0 {
                best = (g, l);
            }
        }
        Ok(best.1)
    }

    /// L-curve corner: maximum curvature of (log ‖r‖, log ‖x‖) over the λ grid.
    pub fn lambda_lcurve(&self, b: ArrayView1<f64>) -> Result<f64, SolveError> {
        let beta = self.project(b)?;
        let bn = b.dot(&b);
        let grid = self.lambda_grid(200);
        let pts: Vec<(f64, f64)> = grid
            .iter()
            .map(|&l| {
                (
                    0.5 * self.residual_sq(&beta, bn, l).max(1e-300).ln(),
                    0.5 * self.solution_sq(&beta, l).max(1e-300).ln(),
                )
            })
            .collect();
        let mut best = (f64::NEG_INFINITY, grid[grid.len() / 2]);
        for i in 1..pts.len() - 1 {
            let (x0, y0) = pts[i - 1];
            let (x1, y1) = pts[i];
            let (x2, y2) = pts[i + 1];
            // Curvature of the polyline through three points (Menger curvature), signed for a convex corner.
            let area2 = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0);
            let d = ((x1 - x0).hypot(y1 - y0) * (x2 - x1).hypot(y2 - y1) * (x2 - x0).hypot(y2 - y0)).max(1e-300);
            let k = 2.0 * area2 / d;
            if k > best.0 {
                best = (k, grid[i]);
            }
        }
        Ok(best.1)
    }
}
