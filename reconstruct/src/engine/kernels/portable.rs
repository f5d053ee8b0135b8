//! The kernels in plain Rust: the fallback for CPUs without AVX-512 and the reference the fast ones are tested
//! against. Partial sums are kept in eight lanes, as the SIMD kernels keep them, and combined at the end.

use num_complex::{Complex32, Complex64};

use super::Rows;

/// See [`super::dot_rows`].
pub fn dot_rows(s: Rows, c0: usize, c1: usize, x: &[Complex32], out: &mut [Complex64]) {
    let xs = x;
    for (j, o) in out.iter_mut().enumerate() {
        let row = &s.data[j * s.n + c0..j * s.n + c1];
        let mut acc = [Complex32::new(0.0, 0.0); 8];
        let (rc, xc) = (row.chunks_exact(8), xs.chunks_exact(8));
        let (rr, xr) = (rc.remainder(), xc.remainder());
        for (a, b) in rc.zip(xc) {
            for l in 0..8 {
                acc[l] += a[l] * b[l];
            }
        }
        for (l, (a, b)) in rr.iter().zip(xr).enumerate() {
            acc[l] += a * b;
        }
        *o = acc.iter().map(|z| Complex64::new(z.re as f64, z.im as f64)).sum();
    }
}

/// See [`super::dot_rows_chunked`].
pub fn dot_rows_chunked(s: Rows, c0: usize, c1: usize, chunk: usize, x: &[Complex32], out: &mut [Complex64]) {
    for (c, o) in out.chunks_exact_mut(s.k).enumerate() {
        let (g0, g1) = (c0 + c * chunk, (c0 + (c + 1) * chunk).min(c1));
        dot_rows(s, g0, g1, &x[g0 - c0..g1 - c0], o);
    }
}

/// See [`super::axpy_rows_conj`].
pub fn axpy_rows_conj(s: Rows, c0: usize, c1: usize, alpha: &[Complex32], x: &mut [Complex32]) {
    debug_assert_eq!(x.len(), c1 - c0);
    for (i, xi) in x.iter_mut().enumerate() {
        let mut acc = Complex32::new(0.0, 0.0);
        for (j, a) in alpha.iter().enumerate() {
            acc += s.data[j * s.n + c0 + i].conj() * a;
        }
        *xi += acc;
    }
}

/// See [`super::gemm_n`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_n(s: Rows, c0: usize, c1: usize, x: &[Complex32], ld: usize, f0: usize, f1: usize, r: &mut [Complex32]) {
    for j in 0..s.k {
        let rj = &mut r[j * ld + f0..j * ld + f1];
        for i in c0..c1 {
            let sji = s.data[j * s.n + i];
            for (rf, xf) in rj.iter_mut().zip(&x[i * ld + f0..i * ld + f1]) {
                *rf += sji * xf;
            }
        }
    }
}

/// See [`super::gemm_h`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_h(s: Rows, c0: usize, c1: usize, a: &[Complex32], ld: usize, f0: usize, f1: usize, x: &mut [Complex32]) {
    for i in c0..c1 {
        let xi = &mut x[(i - c0) * ld + f0..(i - c0) * ld + f1];
        for j in 0..s.k {
            let sji = s.data[j * s.n + i].conj();
            for (xf, af) in xi.iter_mut().zip(&a[j * ld + f0..j * ld + f1]) {
                *xf += sji * af;
            }
        }
    }
}
