//! Slow, obviously-correct references for the fast solvers (kept for tests, as RustFFT keeps its naive DFT):
//! the literal row-by-row Kaczmarz iteration of RegularizedLeastSquares.jl, one frame at a time, and a dense
//! Gaussian elimination for the Tikhonov normal equations.

use num_complex::Complex64;

use crate::engine::{Element, SystemMatrix};

/// RegularizedLeastSquares' Kaczmarz on the extended system [S √λ I], row by row, every frame on its own, in the
/// element type's precision: τ = s_l·x (no conjugate), α = (b_l − τ − √λ v_l)/(‖s_l‖² + λ), x += α conj(s_l),
/// v_l += √λ α; rows with ‖s_l‖² = 0 are skipped (as RegularizedLeastSquares does); after every sweep
/// x ← max(Re x, 0) when `non_negative`. `b` is rows × frames column-major; returns x, voxels × frames.
pub fn kaczmarz_rows<T: Element>(
    s: &SystemMatrix<T>,
    b: &[T],
    frames: usize,
    lambda_eff: f64,
    sweeps: usize,
    non_negative: bool,
) -> Vec<T> {
    let (m, n) = (s.rows(), s.cols());
    let sl = T::from_f64(lambda_eff.sqrt());
    let mut out = vec![T::default(); n * frames];
    for f in 0..frames {
        let bf = &b[f * m..(f + 1) * m];
        let x = &mut out[f * n..(f + 1) * n];
        let mut v = vec![T::default(); m];
        for _ in 0..sweeps {
            for l in 0..m {
                let e = s.row_norm_sq(l);
                if e == 0.0 {
                    continue;
                }
                let row = s.row(l);
                let tau = row.iter().zip(x.iter()).fold(T::default(), |acc, (a, xj)| acc + *a * *xj);
                let alpha = (bf[l] - tau - sl * v[l]) * T::from_f64(1.0 / (e + lambda_eff));
                for (xj, a) in x.iter_mut().zip(row) {
                    *xj += alpha * a.conj();
                }
                v[l] += sl * alpha;
            }
            if non_negative {
                project_non_negative(x);
            }
        }
    }
    out
}

/// x ← max(Re x, 0), imaginary part zeroed.
pub(crate) fn project_non_negative<T: Element>(x: &mut [T]) {
    for z in x {
        *z = T::from_f64(z.re_f64().max(0.0));
    }
}

/// The Tikhonov solution x = (SᴴS + λI)⁻¹ Sᴴ b of one frame by Gaussian elimination with partial pivoting on
/// the dense normal equations in [`Complex64`] (for small test systems only: O(N³)).
pub fn tikhonov_direct<T: Element>(s: &SystemMatrix<T>, b: &[T], lambda_eff: f64) -> Vec<Complex64> {
    let (m, n) = (s.rows(), s.cols());
    let mut a = vec![Complex64::default(); n * n];
    let mut rhs = vec![Complex64::default(); n];
    for (l, bl) in b[..m].iter().enumerate() {
        let row: Vec<Complex64> = s.row(l).iter().map(|z| z.to_c64()).collect();
        for i in 0..n {
            rhs[i] += row[i].conj() * bl.to_c64();
            for j in 0..n {
                a[i * n + j] += row[i].conj() * row[j];
            }
        }
    }
    for i in 0..n {
        a[i * n + i] += lambda_eff;
    }
    solve_dense(&mut a, &mut rhs, n);
    rhs
}

/// Solves A x = r in place (A n × n row-major) by Gaussian elimination with partial pivoting.
pub(crate) fn solve_dense(a: &mut [Complex64], r: &mut [Complex64], n: usize) {
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| a[i * n + c].norm().total_cmp(&a[j * n + c].norm())).unwrap_or(c);
        if p != c {
            for j in 0..n {
                a.swap(c * n + j, p * n + j);
            }
            r.swap(c, p);
        }
        let d = a[c * n + c];
        for i in c + 1..n {
            let f = a[i * n + c] / d;
            if f == Complex64::default() {
                continue;
            }
            for j in c..n {
                let v = a[c * n + j];
                a[i * n + j] -= f * v;
            }
            let rc = r[c];
            r[i] -= f * rc;
        }
    }
    for c in (0..n).rev() {
        let mut acc = r[c];
        for j in c + 1..n {
            acc -= a[c * n + j] * r[j];
        }
        r[c] = acc / a[c * n + c];
    }
}
