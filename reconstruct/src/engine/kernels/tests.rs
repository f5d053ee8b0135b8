//! Every kernel against a naive complex-f64 evaluation of its formula, for both implementations, on shapes
//! that exercise every tile and tail (rows not a multiple of 3 or 4, columns not a multiple of 8).

use super::*;
use num_complex::{Complex32, Complex64};

fn random(n: usize, seed: u64) -> Vec<Complex32> {
    // A small LCG: deterministic and enough for kernel tests.
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    };
    (0..n).map(|_| Complex32::new(next(), next())).collect()
}

fn c64(z: Complex32) -> Complex64 {
    Complex64::new(z.re as f64, z.im as f64)
}

fn isas() -> Vec<Isa> {
    let mut v = vec![Isa::Portable];
    #[cfg(target_arch = "x86_64")]
    {
        if avx512::available() {
            v.push(Isa::Avx512);
        } else {
            eprintln!("AVX-512 not available: its kernels are not tested here");
        }
        if avx2::available() {
            v.push(Isa::Avx2);
        } else {
            eprintln!("AVX2 + FMA not available: its kernels are not tested here");
        }
    }
    v
}

/// Error bound of an f32 sum of `terms` products of numbers of modulus ≤ √2: the worst case, terms × ε_f32 × 2,
/// with a factor of 8 for the combination steps. A wrong, missing or doubled term (modulus ~1) exceeds it.
fn tol(terms: usize) -> f64 {
    terms as f64 * f32::EPSILON as f64 * 2.0 * 8.0
}

#[test]
fn dot_rows_is_the_row_times_vector_product() {
    for isa in isas() {
        for (k, n, c0, c1) in [(7, 53, 0, 53), (9, 40, 3, 37), (4, 8, 0, 8), (1, 5, 1, 4), (6, 1000, 17, 999)] {
            let s = random(k * n, 1);
            let x = random(n, 2);
            let mut out = vec![Complex64::default(); k];
            dot_rows(isa, Rows::new(&s, k, n), c0, c1, &x[c0..c1], &mut out);
            for j in 0..k {
                let want: Complex64 = (c0..c1).map(|i| c64(s[j * n + i]) * c64(x[i])).sum();
                assert!((out[j] - want).norm() <= tol(c1 - c0), "{isa:?} k{k} n{n} row {j}");
            }
        }
    }
}

#[test]
fn dot_rows_chunked_is_the_product_per_chunk() {
    for isa in isas() {
        // Rows: full groups of 8, a group of 4 and single rows; chunks with a short last one.
        let shapes: [(usize, usize, usize, usize, usize); 4] =
            [(32, 1100, 0, 1100, 512), (13, 300, 7, 290, 64), (8, 40, 0, 40, 40), (3, 9, 1, 9, 5)];
        for (k, n, c0, c1, chunk) in shapes {
            let s = random(k * n, 10);
            let x = random(n, 11);
            let chunks = (c1 - c0).div_ceil(chunk);
            let mut out = vec![Complex64::default(); chunks * k];
            // The rows prefetched ahead (a hint) must not change anything: none, fewer and more than a group.
            let more = random(11 * n, 12);
            let ahead = [Rows::none(n), Rows::new(&more[..3 * n], 3, n), Rows::new(&more, 11, n)][k % 3];
            dot_rows_chunked(isa, Rows::new(&s, k, n), ahead, c0, c1, chunk, &x[c0..c1], &mut out);
            for c in 0..chunks {
                let (g0, g1) = (c0 + c * chunk, (c0 + (c + 1) * chunk).min(c1));
                for j in 0..k {
                    let want: Complex64 = (g0..g1).map(|i| c64(s[j * n + i]) * c64(x[i])).sum();
                    let got = out[c * k + j];
                    assert!((got - want).norm() <= tol(g1 - g0), "{isa:?} k{k} n{n} chunk {c} row {j}");
                }
            }
        }
    }
}

#[test]
fn axpy_rows_conj_is_the_adjoint_update() {
    for isa in isas() {
        for (k, n, c0, c1) in [(7, 53, 0, 53), (9, 77, 5, 70), (3, 32, 0, 32), (1, 9, 0, 9), (64, 300, 1, 299)] {
            let s = random(k * n, 3);
            let alpha = random(k, 4);
            let x0 = random(n, 5);
            let mut x = x0.clone();
            let more = random(20 * n, 13);
            let ahead = [Rows::none(n), Rows::new(&more[..n], 1, n), Rows::new(&more, 20, n)][k % 3];
            axpy_rows_conj(isa, Rows::new(&s, k, n), ahead, c0, c1, &alpha, &mut x[c0..c1]);
            for i in 0..n {
                let mut want = c64(x0[i]);
                if (c0..c1).contains(&i) {
                    want += (0..k).map(|j| c64(s[j * n + i]).conj() * c64(alpha[j])).sum::<Complex64>();
                }
                assert!((c64(x[i]) - want).norm() <= tol(k), "{isa:?} k{k} n{n} col {i}");
            }
        }
    }
}

#[test]
fn gemm_n_and_gemm_h_are_the_batch_products() {
    for isa in isas() {
        for (k, n, ld, f0, f1, c0, c1) in [
            (7, 301, 64, 0, 64, 0, 301),
            (5, 40, 24, 8, 24, 3, 39),
            (3, 600, 8, 0, 8, 0, 600),
            (10, 17, 40, 16, 40, 2, 17),
        ] {
            let s = random(k * n, 6);
            let x0 = random(n * ld, 7);
            let mut r = random(k * ld, 8);
            let r0 = r.clone();
            gemm_n(isa, Rows::new(&s, k, n), c0, c1, &x0, ld, f0, f1, &mut r);
            for j in 0..k {
                for f in 0..ld {
                    let mut want = c64(r0[j * ld + f]);
                    if (f0..f1).contains(&f) {
                        want += (c0..c1).map(|i| c64(s[j * n + i]) * c64(x0[i * ld + f])).sum::<Complex64>();
                    }
                    let e = (c64(r[j * ld + f]) - want).norm();
                    assert!(e <= tol(c1 - c0), "{isa:?} gemm_n k{k} n{n} ({j}, {f}): {e}");
                }
            }
            let a = random(k * ld, 9);
            let mut x = x0.clone();
            gemm_h(isa, Rows::new(&s, k, n), c0, c1, &a, ld, f0, f1, &mut x[c0 * ld..c1 * ld]);
            for i in 0..n {
                for f in 0..ld {
                    let mut want = c64(x0[i * ld + f]);
                    if (f0..f1).contains(&f) && (c0..c1).contains(&i) {
                        want += (0..k).map(|j| c64(s[j * n + i]).conj() * c64(a[j * ld + f])).sum::<Complex64>();
                    }
                    let e = (c64(x[i * ld + f]) - want).norm();
                    assert!(e <= tol(k), "{isa:?} gemm_h k{k} n{n} ({i}, {f}): {e}");
                }
            }
        }
    }
}
