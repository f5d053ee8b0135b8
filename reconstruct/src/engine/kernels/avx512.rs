//! The kernels with AVX-512F: 512-bit vectors of eight interleaved complex f32 (re, im, re, im, …).
//!
//! A complex product is two FMAs on the interleaved vectors: with the other factor's real and imaginary parts
//! broadcast (or its pairs swapped), the accumulators hold (a·b_re) and (a·b_im) lane by lane, and one
//! `fmaddsub`/`fmsubadd` with the swapped second accumulator combines them at the end of a tile — so the inner
//! loops are pure FMAs and loads (Intel, *Optimization Reference Manual*, complex arithmetic with FMA).
//!
//! Register tiles: the one-frame kernels vectorise over columns (four rows or four column vectors at once); the
//! batch kernels over frames, with 3 rows (or voxels) × up to 4 frame vectors = 24 accumulators of 32.
//!
//! Safety: the public functions are called only after [`available`] returned true (the caller holds an
//! [`super::Isa::Avx512`]) and after `super` checked every length; the `unsafe` blocks then only read and write
//! inside those slices.

use std::arch::x86_64::*;

use num_complex::{Complex32, Complex64};

use super::Rows;

/// Whether the running CPU has AVX-512F.
pub fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// Columns per chunk of the batch product R += S_B X: the X panel of a chunk (256 voxels × 32 frames × 8 B =
/// 64 kB) stays in L2 while every row tile of the block passes over it.
const KC: usize = 256;

/// Rows per chunk of the batch update X += S_Bᴴ A (see `gemm_h_impl`): 32 row streams, and the X tile's load
/// and store amortised over 32 × 24 FMAs.
const JC: usize = 16;

/// (+1, −1) on (even, odd) lanes: conjugation of interleaved complex vectors.
#[target_feature(enable = "avx512f")]
fn conj_signs() -> __m512 {
    _mm512_setr_ps(1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0)
}

/// Swaps (re, im) within every complex lane.
#[target_feature(enable = "avx512f")]
fn swap_pairs(v: __m512) -> __m512 {
    _mm512_permute_ps::<0xB1>(v)
}

/// Mask of the floats of the first `c` complex elements of a vector (c ≤ 8).
fn tail_mask(c: usize) -> __mmask16 {
    ((1u32 << (2 * c)) - 1) as __mmask16
}

/// See [`super::dot_rows`].
pub fn dot_rows(s: Rows, c0: usize, c1: usize, x: &[Complex32], out: &mut [Complex64]) {
    // SAFETY: AVX-512F is present (module documentation); `super::dot_rows` checked c0 ≤ c1 ≤ n, |x| = c1 − c0 and
    // |out| = k, so every row pointer below addresses inside `s.data` and `x`.
    unsafe { dot_rows_impl(s, c0, c1, x, out) }
}

#[target_feature(enable = "avx512f")]
unsafe fn dot_rows_impl(s: Rows, c0: usize, c1: usize, x: &[Complex32], out: &mut [Complex64]) {
    let len = c1 - c0;
    let xp = x.as_ptr() as *const f32;
    let mut j = 0;
    while j + 4 <= s.k {
        dot_group::<4>(s, j, c0, len, xp, &mut out[j..j + 4]);
        j += 4;
    }
    while j < s.k {
        dot_group::<1>(s, j, c0, len, xp, &mut out[j..j + 1]);
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

/// The start (column c0) of the rows that follow row `j0` of the block, `R` of them: the block's own rows, then
/// those of `ahead`, then — past both — the last row already being read (a prefetch of cached lines is free).
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

#[target_feature(enable = "avx512f")]
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
                dot_group_pf::<DOT_GROUP>(s, j, g0, g1 - g0, xg, &pg, &mut tmp);
            } else {
                let mut r = 0;
                while r + 4 <= g {
                    dot_group::<4>(s, j + r, g0, g1 - g0, xg, &mut tmp[r..r + 4]);
                    r += 4;
                }
                while r < g {
                    dot_group::<1>(s, j + r, g0, g1 - g0, xg, &mut tmp[r..r + 1]);
                    r += 1;
                }
            }
            out[c * k + j..c * k + j + g].copy_from_slice(&tmp[..g]);
            g0 = g1;
            c += 1;
        }
        j += g;
    }
}

/// Rows per group of [`dot_rows_chunked`]: the group's rows stream side by side over the whole column range.
const DOT_GROUP: usize = 8;

/// R rows at once: each x vector is loaded (and swapped) once for R rows.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn dot_group<const R: usize>(s: Rows, j0: usize, c0: usize, len: usize, xp: *const f32, out: &mut [Complex64]) {
    let rp: [*const f32; R] = std::array::from_fn(|r| s.data.as_ptr().add((j0 + r) * s.n + c0) as *const f32);
    let mut a1 = [_mm512_setzero_ps(); R];
    let mut a2 = [_mm512_setzero_ps(); R];
    let full = len / 8;
    for v in 0..full {
        let xv = _mm512_loadu_ps(xp.add(16 * v));
        let xs = swap_pairs(xv);
        for r in 0..R {
            let sv = _mm512_loadu_ps(rp[r].add(16 * v));
            a1[r] = _mm512_fmadd_ps(sv, xv, a1[r]);
            a2[r] = _mm512_fmadd_ps(sv, xs, a2[r]);
        }
    }
    let rem = len % 8;
    if rem > 0 {
        let m = tail_mask(rem);
        let xv = _mm512_maskz_loadu_ps(m, xp.add(16 * full));
        let xs = swap_pairs(xv);
        for r in 0..R {
            let sv = _mm512_maskz_loadu_ps(m, rp[r].add(16 * full));
            a1[r] = _mm512_fmadd_ps(sv, xv, a1[r]);
            a2[r] = _mm512_fmadd_ps(sv, xs, a2[r]);
        }
    }
    // a1 = (s_re x_re, s_im x_im), a2 = (s_re x_im, s_im x_re): re = Σ even − Σ odd of a1, im = Σ a2.
    let signs = conj_signs();
    for r in 0..R {
        let re = _mm512_reduce_add_ps(_mm512_mul_ps(a1[r], signs));
        let im = _mm512_reduce_add_ps(a2[r]);
        out[r] = Complex64::new(re as f64, im as f64);
    }
}

/// [`dot_group`] that also prefetches, per vector of columns, the same columns of the R rows at `pf`.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn dot_group_pf<const R: usize>(
    s: Rows,
    j0: usize,
    c0: usize,
    len: usize,
    xp: *const f32,
    pf: &[*const f32; R],
    out: &mut [Complex64],
) {
    let rp: [*const f32; R] = std::array::from_fn(|r| s.data.as_ptr().add((j0 + r) * s.n + c0) as *const f32);
    let mut a1 = [_mm512_setzero_ps(); R];
    let mut a2 = [_mm512_setzero_ps(); R];
    let full = len / 8;
    for v in 0..full {
        let xv = _mm512_loadu_ps(xp.add(16 * v));
        let xs = swap_pairs(xv);
        for r in 0..R {
            _mm_prefetch::<PF_HINT>(pf[r].wrapping_add(16 * v) as *const i8);
            let sv = _mm512_loadu_ps(rp[r].add(16 * v));
            a1[r] = _mm512_fmadd_ps(sv, xv, a1[r]);
            a2[r] = _mm512_fmadd_ps(sv, xs, a2[r]);
        }
    }
    let rem = len % 8;
    if rem > 0 {
        let m = tail_mask(rem);
        let xv = _mm512_maskz_loadu_ps(m, xp.add(16 * full));
        let xs = swap_pairs(xv);
        for r in 0..R {
            let sv = _mm512_maskz_loadu_ps(m, rp[r].add(16 * full));
            a1[r] = _mm512_fmadd_ps(sv, xv, a1[r]);
            a2[r] = _mm512_fmadd_ps(sv, xs, a2[r]);
        }
    }
    let signs = conj_signs();
    for r in 0..R {
        let re = _mm512_reduce_add_ps(_mm512_mul_ps(a1[r], signs));
        let im = _mm512_reduce_add_ps(a2[r]);
        out[r] = Complex64::new(re as f64, im as f64);
    }
}

/// Rows of the next block each group of rows of the update prefetches: the update of a 64-row block runs from
/// cache for about as long as memory takes to deliver 16 rows.
const AXPY_AHEAD: usize = 2;

/// Prefetch hint of the one-frame kernels: into all cache levels (the next group is read within microseconds).
const PF_HINT: i32 = _MM_HINT_T1;

/// See [`super::axpy_rows_conj`].
pub fn axpy_rows_conj(s: Rows, ahead: Rows, c0: usize, c1: usize, alpha: &[Complex32], x: &mut [Complex32]) {
    // SAFETY: as in `dot_rows`; `super::axpy_rows_conj` checked |α| = k and the columns of `ahead`.
    unsafe { axpy_impl(s, ahead, c0, c1, alpha, x) }
}

#[target_feature(enable = "avx512f")]
unsafe fn axpy_impl(s: Rows, ahead: Rows, c0: usize, c1: usize, alpha: &[Complex32], x: &mut [Complex32]) {
    let len = c1 - c0;
    let xp = x.as_mut_ptr() as *mut f32;
    let sp = s.data.as_ptr().add(c0) as *const f32;
    let stride = 2 * s.n;
    // Group number g prefetches rows AXPY_AHEAD·g … of `ahead` (past its end: the group's own first row, cached
    // anyway).
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
    // Rows outer, columns inner: each row's chunk is read sequentially (prefetch- and TLB-friendly) and the
    // chunk of x stays in L1 across the rows.
    let (mut j, mut g) = (0, 0);
    while j + 8 <= s.k {
        axpy_group::<8>(sp.add(j * stride), stride, &alpha[j..j + 8], xp, len, pf(g, j));
        (j, g) = (j + 8, g + 1);
    }
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
#[target_feature(enable = "avx512f")]
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
    let a: [__m512; R] = std::array::from_fn(|r| _mm512_mul_ps(_mm512_set1_ps(alpha[r].re), signs));
    let b: [__m512; R] = std::array::from_fn(|r| _mm512_set1_ps(alpha[r].im));
    let full = len / 8;
    for v in 0..full {
        let p = xp.add(16 * v);
        for q in pf {
            _mm_prefetch::<PF_HINT>(q.wrapping_add(16 * v) as *const i8);
        }
        // Four independent accumulators (even/odd rows × the two products): a single one would chain 2R FMAs
        // of 4 cycles' latency each per vector of x, four times the FMA throughput's time.
        let mut acc = [_mm512_loadu_ps(p), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()];
        for r in 0..R {
            let sv = _mm512_loadu_ps(sp.add(r * stride + 16 * v));
            let h = 2 * (r & 1);
            acc[h] = _mm512_fmadd_ps(sv, a[r], acc[h]);
            acc[h + 1] = _mm512_fmadd_ps(swap_pairs(sv), b[r], acc[h + 1]);
        }
        _mm512_storeu_ps(p, _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
    }
    let rem = len % 8;
    if rem > 0 {
        let m = tail_mask(rem);
        let p = xp.add(16 * full);
        let mut acc = _mm512_maskz_loadu_ps(m, p);
        for r in 0..R {
            let sv = _mm512_maskz_loadu_ps(m, sp.add(r * stride + 16 * full));
            acc = _mm512_fmadd_ps(sv, a[r], acc);
            acc = _mm512_fmadd_ps(swap_pairs(sv), b[r], acc);
        }
        _mm512_mask_storeu_ps(p, m, acc);
    }
}

/// See [`super::gemm_n`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_n(s: Rows, c0: usize, c1: usize, x: &[Complex32], ld: usize, f0: usize, f1: usize, r: &mut [Complex32]) {
    // SAFETY: AVX-512F is present; `super::gemm_n` checked the shapes (|x| = n·ld, |r| = k·ld, frame ranges
    // multiples of 8 within ld), so every tile addresses inside the slices.
    unsafe { gemm_n_impl(s, c0, c1, x, ld, f0, f1, r) }
}

#[target_feature(enable = "avx512f")]
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
        let mut j = 0;
        while j < s.k {
            let mr = (s.k - j).min(3);
            let mut f = f0;
            while f < f1 {
                let nv = ((f1 - f) / 8).min(4);
                let (sj, rj) = (sp.add(j * stride), rp.add(j * ld2 + 2 * f));
                let xf = xp.add(2 * f);
                match (mr, nv) {
                    (3, 4) => tile_n::<3, 4>(sj, stride, i0, i1, xf, ld2, rj),
                    (3, 3) => tile_n::<3, 3>(sj, stride, i0, i1, xf, ld2, rj),
                    (3, 2) => tile_n::<3, 2>(sj, stride, i0, i1, xf, ld2, rj),
                    (3, 1) => tile_n::<3, 1>(sj, stride, i0, i1, xf, ld2, rj),
                    (2, 4) => tile_n::<2, 4>(sj, stride, i0, i1, xf, ld2, rj),
                    (2, 3) => tile_n::<2, 3>(sj, stride, i0, i1, xf, ld2, rj),
                    (2, 2) => tile_n::<2, 2>(sj, stride, i0, i1, xf, ld2, rj),
                    (2, 1) => tile_n::<2, 1>(sj, stride, i0, i1, xf, ld2, rj),
                    (1, 4) => tile_n::<1, 4>(sj, stride, i0, i1, xf, ld2, rj),
                    (1, 3) => tile_n::<1, 3>(sj, stride, i0, i1, xf, ld2, rj),
                    (1, 2) => tile_n::<1, 2>(sj, stride, i0, i1, xf, ld2, rj),
                    _ => tile_n::<1, 1>(sj, stride, i0, i1, xf, ld2, rj),
                }
                f += 8 * nv;
            }
            j += mr;
        }
        i0 = i1;
    }
}

/// R[MR rows, NV frame vectors] += Σ_{i ∈ [i0, i1)} s_ji X_i: broadcast s_ji, load X_i's frame vectors.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn tile_n<const MR: usize, const NV: usize>(
    sp: *const f32,
    stride: usize,
    i0: usize,
    i1: usize,
    xp: *const f32,
    ld2: usize,
    rp: *mut f32,
) {
    let mut ar = [[_mm512_setzero_ps(); NV]; MR];
    let mut ai = [[_mm512_setzero_ps(); NV]; MR];
    for i in i0..i1 {
        let xrow = xp.add(i * ld2);
        let xv: [__m512; NV] = std::array::from_fn(|q| _mm512_loadu_ps(xrow.add(16 * q)));
        for m in 0..MR {
            let e = sp.add(m * stride + 2 * i);
            let (sr, si) = (_mm512_set1_ps(*e), _mm512_set1_ps(*e.add(1)));
            for q in 0..NV {
                ar[m][q] = _mm512_fmadd_ps(xv[q], sr, ar[m][q]);
                ai[m][q] = _mm512_fmadd_ps(xv[q], si, ai[m][q]);
            }
        }
    }
    // s·x with ar = x·s_re, ai = x·s_im: re = ar.even − swap(ai).even, im = ar.odd + swap(ai).odd.
    let one = _mm512_set1_ps(1.0);
    for m in 0..MR {
        for q in 0..NV {
            let p = rp.add(m * ld2 + 16 * q);
            let prod = _mm512_fmaddsub_ps(ar[m][q], one, swap_pairs(ai[m][q]));
            _mm512_storeu_ps(p, _mm512_add_ps(_mm512_loadu_ps(p), prod));
        }
    }
}

/// See [`super::gemm_h`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_h(s: Rows, c0: usize, c1: usize, a: &[Complex32], ld: usize, f0: usize, f1: usize, x: &mut [Complex32]) {
    // SAFETY: as in `gemm_n` (|a| = k·ld, |x| = (c1 − c0)·ld).
    unsafe { gemm_h_impl(s, c0, c1, a, ld, f0, f1, x) }
}

#[target_feature(enable = "avx512f")]
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
    // Rows in chunks of JC, voxels inside: a chunk's rows are read as JC sequential streams (a voxel tile
    // touches one line of each, the next tiles the rest of it), instead of k page-strided loads per tile.
    let mut j0 = 0;
    while j0 < s.k {
        let jn = (s.k - j0).min(JC);
        let (sj, aj) = (sp.add(j0 * stride), ap.add(j0 * ld2));
        let mut i = c0;
        while i < c1 {
            let mr = (c1 - i).min(3);
            let mut f = f0;
            while f < f1 {
                let nv = ((f1 - f) / 8).min(4);
                let (si, af, xi) = (sj.add(2 * i), aj.add(2 * f), xp.add((i - c0) * ld2 + 2 * f));
                match (mr, nv) {
                    (3, 4) => tile_h::<3, 4>(si, stride, jn, af, ld2, xi),
                    (3, 3) => tile_h::<3, 3>(si, stride, jn, af, ld2, xi),
                    (3, 2) => tile_h::<3, 2>(si, stride, jn, af, ld2, xi),
                    (3, 1) => tile_h::<3, 1>(si, stride, jn, af, ld2, xi),
                    (2, 4) => tile_h::<2, 4>(si, stride, jn, af, ld2, xi),
                    (2, 3) => tile_h::<2, 3>(si, stride, jn, af, ld2, xi),
                    (2, 2) => tile_h::<2, 2>(si, stride, jn, af, ld2, xi),
                    (2, 1) => tile_h::<2, 1>(si, stride, jn, af, ld2, xi),
                    (1, 4) => tile_h::<1, 4>(si, stride, jn, af, ld2, xi),
                    (1, 3) => tile_h::<1, 3>(si, stride, jn, af, ld2, xi),
                    (1, 2) => tile_h::<1, 2>(si, stride, jn, af, ld2, xi),
                    _ => tile_h::<1, 1>(si, stride, jn, af, ld2, xi),
                }
                f += 8 * nv;
            }
            i += mr;
        }
        j0 += jn;
    }
}

/// X[MR voxels, NV frame vectors] += Σ_j conj(s_ji) A_j: broadcast s_ji, load A_j's frame vectors.
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn tile_h<const MR: usize, const NV: usize>(
    sp: *const f32,
    stride: usize,
    k: usize,
    ap: *const f32,
    ld2: usize,
    xp: *mut f32,
) {
    let mut ar = [[_mm512_setzero_ps(); NV]; MR];
    let mut ai = [[_mm512_setzero_ps(); NV]; MR];
    for j in 0..k {
        let arow = ap.add(j * ld2);
        let av: [__m512; NV] = std::array::from_fn(|q| _mm512_loadu_ps(arow.add(16 * q)));
        let srow = sp.add(j * stride);
        for m in 0..MR {
            let (sr, si) = (_mm512_set1_ps(*srow.add(2 * m)), _mm512_set1_ps(*srow.add(2 * m + 1)));
            for q in 0..NV {
                ar[m][q] = _mm512_fmadd_ps(av[q], sr, ar[m][q]);
                ai[m][q] = _mm512_fmadd_ps(av[q], si, ai[m][q]);
            }
        }
    }
    // conj(s)·a with ar = a·s_re, ai = a·s_im: re = ar.even + swap(ai).even, im = ar.odd − swap(ai).odd.
    let one = _mm512_set1_ps(1.0);
    for m in 0..MR {
        for q in 0..NV {
            let p = xp.add(m * ld2 + 16 * q);
            let prod = _mm512_fmsubadd_ps(ar[m][q], one, swap_pairs(ai[m][q]));
            _mm512_storeu_ps(p, _mm512_add_ps(_mm512_loadu_ps(p), prod));
        }
    }
}
