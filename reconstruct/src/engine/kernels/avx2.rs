//! The kernels with AVX2 and FMA: 256-bit vectors of four interleaved complex f32 (re, im, re, im, …), for the
//! CPUs without AVX-512 (AMD Zen 1–3, older Intel): the same schemes as [`super::avx512`] at half the width.
//!
//! A complex product is two FMAs on the interleaved vectors: with the other factor's real and imaginary parts
//! broadcast (or its pairs swapped), the accumulators hold (a·b_re) and (a·b_im) lane by lane, and one
//! `fmaddsub`/`fmsubadd` with the swapped second accumulator combines them at the end of a tile.
//!
//! There are only 16 vector registers, so the tiles are smaller than the AVX-512 ones: the one-frame kernels
//! take four rows at once (eight accumulators), the batch kernels 3 rows (or voxels) × 8 frames, two vectors
//! per frame group of [`super::LANES`] (12 accumulators).
//!
//! Safety: the public functions are called only after [`available`] returned true (the caller holds an
//! [`super::Isa::Avx2`]) and after `super` checked every length; the `unsafe` blocks then only read and write
//! inside those slices (tails through masked loads and stores).

use std::arch::x86_64::*;

use num_complex::{Complex32, Complex64};

use super::Rows;

/// Whether the running CPU has AVX2 and FMA.
pub fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Columns per chunk of the batch product R += S_B X: the X panel of a chunk (256 voxels × 8 frames × 8 B =
/// 16 kB) stays in L1 while every row tile of the block passes over it.
const KC: usize = 256;

/// Rows per chunk of the batch update X += S_Bᴴ A (see `gemm_h_impl`): 16 row streams, the X tile's load and
/// store amortised over 16 × 12 FMAs.
const JC: usize = 16;

/// Rows per group of [`dot_rows_chunked`]: the group's rows stream side by side over the whole column range.
const DOT_GROUP: usize = 4;

/// Rows of the next block each group of rows of the update prefetches (see [`super::avx512`]).
const AXPY_AHEAD: usize = 1;

/// Prefetch hint of the one-frame kernels: into L2 and below (the next group is read within microseconds).
const PF_HINT: i32 = _MM_HINT_T1;

/// (+1, −1) on (even, odd) lanes: conjugation of interleaved complex vectors.
#[target_feature(enable = "avx2,fma")]
fn conj_signs() -> __m256 {
    _mm256_setr_ps(1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0)
}

/// Swaps (re, im) within every complex lane.
#[target_feature(enable = "avx2,fma")]
fn swap_pairs(v: __m256) -> __m256 {
    _mm256_permute_ps::<0xB1>(v)
}

/// Mask of the floats of the first `c` complex elements of a vector (c ≤ 4): the sign bit set on those lanes.
#[target_feature(enable = "avx2,fma")]
fn tail_mask(c: usize) -> __m256i {
    _mm256_cmpgt_epi32(_mm256_set1_epi32(2 * c as i32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
}

/// The sum of the eight lanes.
#[target_feature(enable = "avx2,fma")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
    _mm_cvtss_f32(s)
}

/// See [`super::dot_rows`].
pub fn dot_rows(s: Rows, c0: usize, c1: usize, x: &[Complex32], out: &mut [Complex64]) {
    // SAFETY: AVX2 and FMA are present (module documentation); `super::dot_rows` checked c0 ≤ c1 ≤ n,
    // |x| = c1 − c0 and |out| = k, so every row pointer below addresses inside `s.data` and `x`.
    unsafe { dot_rows_impl(s, c0, c1, x, out) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn dot_rows_impl(s: Rows, c0: usize, c1: usize, x: &[Complex32], out: &mut [Complex64]) {
    let len = c1 - c0;
    let xp = x.as_ptr() as *const f32;
    let mut j = 0;
    while j + 4 <= s.k {
        dot_group::<4>(s, j, c0, len, xp, None, &mut out[j..j + 4]);
        j += 4;
    }
    while j < s.k {
        dot_group::<1>(s, j, c0, len, xp, None, &mut out[j..j + 1]);
        j += 1;
    }
}

/// See [`super::dot_rows_chunked`].
pub fn dot_rows_chunked(
    s: Rows,
    ahead: Rows,
    c0: usize,
    c1: usize,
    chunk: usize,
    x: &[Complex32],
    out: &mut [Complex64],
) {
    // SAFETY: as in `dot_rows`; `super::dot_rows_chunked` checked |out| = chunks × k and that `ahead` has n
    // columns (prefetches never fault; their addresses are kept inside the slices anyway).
    unsafe { dot_rows_chunked_impl(s, ahead, c0, c1, chunk, x, out) }
}

/// The start (column c0) of the `R` rows that follow the group at row `j0`: the block's own rows, then those of
/// `ahead`, then — past both — the group's last row (a prefetch of cached lines is free).
fn next_rows<const R: usize>(s: Rows, ahead: Rows, j0: usize, c0: usize) -> [*const f32; R] {
    let last = s.data.as_ptr().wrapping_add((j0 + R - 1).min(s.k - 1) * s.n + c0) as *const f32;
    std::array::from_fn(|r| {
        let t = j0 + R + r;
        if t < s.k {
            s.data[t * s.n + c0..].as_ptr() as *const f32
        } else if t - s.k < ahead.k {
            ahead.data[(t - s.k) * ahead.n + c0..].as_ptr() as *const f32
        } else {
            last
        }
    })
}

#[target_feature(enable = "avx2,fma")]
unsafe fn dot_rows_chunked_impl(
    s: Rows,
    ahead: Rows,
    c0: usize,
    c1: usize,
    chunk: usize,
    x: &[Complex32],
    out: &mut [Complex64],
) {
    let xp = x.as_ptr() as *const f32;
    let k = s.k;
    let mut tmp = [Complex64::new(0.0, 0.0); DOT_GROUP];
    let mut j = 0;
    while j < k {
        let g = (k - j).min(DOT_GROUP);
        let pf = next_rows::<DOT_GROUP>(s, ahead, j, c0);
        let mut g0 = c0;
        let mut c = 0;
        while g0 < c1 {
            let g1 = (g0 + chunk).min(c1);
            let xg = xp.add(2 * (g0 - c0));
            if g == DOT_GROUP {
                let pg: [*const f32; DOT_GROUP] = std::array::from_fn(|r| pf[r].wrapping_add(2 * (g0 - c0)));
                dot_group::<DOT_GROUP>(s, j, g0, g1 - g0, xg, Some(&pg), &mut tmp);
            } else {
                for r in 0..g {
                    dot_group::<1>(s, j + r, g0, g1 - g0, xg, None, &mut tmp[r..r + 1]);
                }
            }
            out[c * k + j..c * k + j + g].copy_from_slice(&tmp[..g]);
            g0 = g1;
            c += 1;
        }
        j += g;
    }
}

/// R rows at once: each x vector is loaded (and swapped) once for R rows; with `pf`, the same columns of the R
/// rows there are prefetched, one line per vector and row.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dot_group<const R: usize>(
    s: Rows,
    j0: usize,
    c0: usize,
    len: usize,
    xp: *const f32,
    pf: Option<&[*const f32; R]>,
    out: &mut [Complex64],
) {
    let rp: [*const f32; R] = std::array::from_fn(|r| s.data.as_ptr().add((j0 + r) * s.n + c0) as *const f32);
    let mut a1 = [_mm256_setzero_ps(); R];
    let mut a2 = [_mm256_setzero_ps(); R];
    let full = len / 4;
    for v in 0..full {
        let xv = _mm256_loadu_ps(xp.add(8 * v));
        let xs = swap_pairs(xv);
        for r in 0..R {
            // A 64-byte line holds two vectors: one prefetch per line.
            if let Some(pf) = pf {
                if v % 2 == 0 {
                    _mm_prefetch::<PF_HINT>(pf[r].wrapping_add(8 * v) as *const i8);
                }
            }
            let sv = _mm256_loadu_ps(rp[r].add(8 * v));
            a1[r] = _mm256_fmadd_ps(sv, xv, a1[r]);
            a2[r] = _mm256_fmadd_ps(sv, xs, a2[r]);
        }
    }
    let rem = len % 4;
    if rem > 0 {
        let m = tail_mask(rem);
        let xv = _mm256_maskload_ps(xp.add(8 * full), m);
        let xs = swap_pairs(xv);
        for r in 0..R {
            let sv = _mm256_maskload_ps(rp[r].add(8 * full), m);
            a1[r] = _mm256_fmadd_ps(sv, xv, a1[r]);
            a2[r] = _mm256_fmadd_ps(sv, xs, a2[r]);
        }
    }
    // a1 = (s_re x_re, s_im x_im), a2 = (s_re x_im, s_im x_re): re = Σ even − Σ odd of a1, im = Σ a2.
    let signs = conj_signs();
    for r in 0..R {
        let re = hsum(_mm256_mul_ps(a1[r], signs));
        let im = hsum(a2[r]);
        out[r] = Complex64::new(re as f64, im as f64);
    }
}

/// See [`super::axpy_rows_conj`].
pub fn axpy_rows_conj(s: Rows, ahead: Rows, c0: usize, c1: usize, alpha: &[Complex32], x: &mut [Complex32]) {
    // SAFETY: as in `dot_rows`; `super::axpy_rows_conj` checked |α| = k and the columns of `ahead`.
    unsafe { axpy_impl(s, ahead, c0, c1, alpha, x) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_impl(s: Rows, ahead: Rows, c0: usize, c1: usize, alpha: &[Complex32], x: &mut [Complex32]) {
    let len = c1 - c0;
    let xp = x.as_mut_ptr() as *mut f32;
    let sp = s.data.as_ptr().add(c0) as *const f32;
    let stride = 2 * s.n;
    // Group number g prefetches row g of `ahead` (past its end: the group's own first row, cached anyway).
    let pf = |g: usize, j: usize| -> [*const f32; AXPY_AHEAD] {
        std::array::from_fn(|q| {
            let t = AXPY_AHEAD * g + q;
            if t < ahead.k {
                ahead.data[t * ahead.n + c0..].as_ptr() as *const f32
            } else {
                sp.add(j * stride)
            }
        })
    };
    // Rows outer, columns inner: each row's chunk is read sequentially and the chunk of x stays in L1.
    let (mut j, mut g) = (0, 0);
    while j + 4 <= s.k {
        axpy_group::<4>(sp.add(j * stride), stride, &alpha[j..j + 4], xp, len, pf(g, j));
        (j, g) = (j + 4, g + 1);
    }
    while j < s.k {
        axpy_group::<1>(sp.add(j * stride), stride, &alpha[j..j + 1], xp, len, pf(g, j));
        (j, g) = (j + 1, g + 1);
    }
}

/// x += Σ_{r < R} conj(s_r) α_r over the chunk, for R consecutive rows at once (x loaded and stored once).
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn axpy_group<const R: usize>(
    sp: *const f32,
    stride: usize,
    alpha: &[Complex32],
    xp: *mut f32,
    len: usize,
    pf: [*const f32; AXPY_AHEAD],
) {
    // conj(s)·α = (s_re α_re + s_im α_im, s_im·(−α_re) + s_re α_im) = s ⊙ (α_re, −α_re) + swap(s) ⊙ (α_im, α_im).
    let signs = conj_signs();
    let a: [__m256; R] = std::array::from_fn(|r| _mm256_mul_ps(_mm256_set1_ps(alpha[r].re), signs));
    let b: [__m256; R] = std::array::from_fn(|r| _mm256_set1_ps(alpha[r].im));
    let full = len / 4;
    for v in 0..full {
        let p = xp.add(8 * v);
        if v % 2 == 0 {
            for q in pf {
                _mm_prefetch::<PF_HINT>(q.wrapping_add(8 * v) as *const i8);
            }
        }
        // Independent accumulators (even/odd rows × the two products), so that the FMAs do not form one chain.
        let mut acc = [_mm256_loadu_ps(p), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()];
        for r in 0..R {
            let sv = _mm256_loadu_ps(sp.add(r * stride + 8 * v));
            let h = 2 * (r & 1);
            acc[h] = _mm256_fmadd_ps(sv, a[r], acc[h]);
            acc[h + 1] = _mm256_fmadd_ps(swap_pairs(sv), b[r], acc[h + 1]);
        }
        _mm256_storeu_ps(p, _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    }
    let rem = len % 4;
    if rem > 0 {
        let m = tail_mask(rem);
        let p = xp.add(8 * full);
        let mut acc = _mm256_maskload_ps(p, m);
        for r in 0..R {
            let sv = _mm256_maskload_ps(sp.add(r * stride + 8 * full), m);
            acc = _mm256_fmadd_ps(sv, a[r], acc);
            acc = _mm256_fmadd_ps(swap_pairs(sv), b[r], acc);
        }
        _mm256_maskstore_ps(p, m, acc);
    }
}

/// See [`super::gemm_n`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_n(s: Rows, c0: usize, c1: usize, x: &[Complex32], ld: usize, f0: usize, f1: usize, r: &mut [Complex32]) {
    // SAFETY: AVX2 and FMA are present; `super::gemm_n` checked the shapes (|x| = n·ld, |r| = k·ld, frame
    // ranges multiples of 8 within ld), so every tile addresses inside the slices.
    unsafe { gemm_n_impl(s, c0, c1, x, ld, f0, f1, r) }
}

#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_n_impl(
    s: Rows,
    c0: usize,
    c1: usize,
    x: &[Complex32],
    ld: usize,
    f0: usize,
    f1: usize,
    r: &mut [Complex32],
) {
    let sp = s.data.as_ptr() as *const f32;
    let xp = x.as_ptr() as *const f32;
    let rp = r.as_mut_ptr() as *mut f32;
    let (stride, ld2) = (2 * s.n, 2 * ld);
    let mut i0 = c0;
    while i0 < c1 {
        let i1 = (i0 + KC).min(c1);
        let mut f = f0;
        while f < f1 {
            let xf = xp.add(2 * f);
            let mut j = 0;
            while j < s.k {
                let (sj, rj) = (sp.add(j * stride), rp.add(j * ld2 + 2 * f));
                match (s.k - j).min(3) {
                    3 => tile_n::<3>(sj, stride, i0, i1, xf, ld2, rj),
                    2 => tile_n::<2>(sj, stride, i0, i1, xf, ld2, rj),
                    _ => tile_n::<1>(sj, stride, i0, i1, xf, ld2, rj),
                }
                j += 3;
            }
            f += super::LANES;
        }
        i0 = i1;
    }
}

/// R[MR rows, 8 frames] += Σ_{i ∈ [i0, i1)} s_ji X_i: broadcast s_ji, load X_i's two frame vectors.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile_n<const MR: usize>(
    sp: *const f32,
    stride: usize,
    i0: usize,
    i1: usize,
    xp: *const f32,
    ld2: usize,
    rp: *mut f32,
) {
    let mut ar = [[_mm256_setzero_ps(); 2]; MR];
    let mut ai = [[_mm256_setzero_ps(); 2]; MR];
    for i in i0..i1 {
        let xrow = xp.add(i * ld2);
        let xv = [_mm256_loadu_ps(xrow), _mm256_loadu_ps(xrow.add(8))];
        for m in 0..MR {
            let e = sp.add(m * stride + 2 * i);
            let sr = _mm256_broadcast_ss(&*e);
            ar[m][0] = _mm256_fmadd_ps(xv[0], sr, ar[m][0]);
            ar[m][1] = _mm256_fmadd_ps(xv[1], sr, ar[m][1]);
            let si = _mm256_broadcast_ss(&*e.add(1));
            ai[m][0] = _mm256_fmadd_ps(xv[0], si, ai[m][0]);
            ai[m][1] = _mm256_fmadd_ps(xv[1], si, ai[m][1]);
        }
    }
    // s·x with ar = x·s_re, ai = x·s_im: re = ar.even − swap(ai).even, im = ar.odd + swap(ai).odd.
    let one = _mm256_set1_ps(1.0);
    for m in 0..MR {
        for q in 0..2 {
            let p = rp.add(m * ld2 + 8 * q);
            let prod = _mm256_fmaddsub_ps(ar[m][q], one, swap_pairs(ai[m][q]));
            _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), prod));
        }
    }
}

/// See [`super::gemm_h`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_h(s: Rows, c0: usize, c1: usize, a: &[Complex32], ld: usize, f0: usize, f1: usize, x: &mut [Complex32]) {
    // SAFETY: as in `gemm_n` (|a| = k·ld, |x| = (c1 − c0)·ld).
    unsafe { gemm_h_impl(s, c0, c1, a, ld, f0, f1, x) }
}

#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_h_impl(
    s: Rows,
    c0: usize,
    c1: usize,
    a: &[Complex32],
    ld: usize,
    f0: usize,
    f1: usize,
    x: &mut [Complex32],
) {
    let sp = s.data.as_ptr() as *const f32;
    let ap = a.as_ptr() as *const f32;
    let xp = x.as_mut_ptr() as *mut f32;
    let (stride, ld2) = (2 * s.n, 2 * ld);
    // Rows in chunks of JC, voxels inside: a chunk's rows are read as JC sequential streams.
    let mut j0 = 0;
    while j0 < s.k {
        let jn = (s.k - j0).min(JC);
        let (sj, aj) = (sp.add(j0 * stride), ap.add(j0 * ld2));
        let mut i = c0;
        while i < c1 {
            let mut f = f0;
            while f < f1 {
                let (si, af, xi) = (sj.add(2 * i), aj.add(2 * f), xp.add((i - c0) * ld2 + 2 * f));
                match (c1 - i).min(3) {
                    3 => tile_h::<3>(si, stride, jn, af, ld2, xi),
                    2 => tile_h::<2>(si, stride, jn, af, ld2, xi),
                    _ => tile_h::<1>(si, stride, jn, af, ld2, xi),
                }
                f += super::LANES;
            }
            i += 3;
        }
        j0 += jn;
    }
}

/// X[MR voxels, 8 frames] += Σ_j conj(s_ji) A_j: broadcast s_ji, load A_j's two frame vectors.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile_h<const MR: usize>(sp: *const f32, stride: usize, k: usize, ap: *const f32, ld2: usize, xp: *mut f32) {
    let mut ar = [[_mm256_setzero_ps(); 2]; MR];
    let mut ai = [[_mm256_setzero_ps(); 2]; MR];
    for j in 0..k {
        let arow = ap.add(j * ld2);
        let av = [_mm256_loadu_ps(arow), _mm256_loadu_ps(arow.add(8))];
        let srow = sp.add(j * stride);
        for m in 0..MR {
            let sr = _mm256_broadcast_ss(&*srow.add(2 * m));
            ar[m][0] = _mm256_fmadd_ps(av[0], sr, ar[m][0]);
            ar[m][1] = _mm256_fmadd_ps(av[1], sr, ar[m][1]);
            let si = _mm256_broadcast_ss(&*srow.add(2 * m + 1));
            ai[m][0] = _mm256_fmadd_ps(av[0], si, ai[m][0]);
            ai[m][1] = _mm256_fmadd_ps(av[1], si, ai[m][1]);
        }
    }
    // conj(s)·a with ar = a·s_re, ai = a·s_im: re = ar.even + swap(ai).even, im = ar.odd − swap(ai).odd.
    let one = _mm256_set1_ps(1.0);
    for m in 0..MR {
        for q in 0..2 {
            let p = xp.add(m * ld2 + 8 * q);
            let prod = _mm256_fmsubadd_ps(ar[m][q], one, swap_pairs(ai[m][q]));
            _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(p), prod));
        }
    }
}
