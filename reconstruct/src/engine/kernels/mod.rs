//! The complex-f32 kernels of the engine's fast solvers, on its layouts: the system matrix row-major (k rows of
//! a block, row stride `n`), a single frame as a contiguous vector, a batch of frames *frames-fastest*
//! (voxel- or row-major with `ld` frames per line, padded to a multiple of [`LANES`]).
//!
//! Every kernel exists three times: with AVX-512 ([`avx512`]) and with AVX2 + FMA ([`avx2`]), the best the CPU
//! has chosen at run time, and in plain Rust ([`portable`], the fallback and the reference the fast ones are
//! tested against). They compute the same
//! sums in the same order per output element up to the width of the partial sums, so results agree to rounding.
//!
//! | kernel | computes | used by |
//! |---|---|---|
//! | [`dot_rows`] | out_j = Σ_{i∈c} s_ji x_i | one frame: S_B x (Kaczmarz, CGNR), per column chunk c |
//! | [`dot_rows_chunked`] | the same per chunk of a column range, rows outer | one frame: Kaczmarz's S_B x |
//! | [`axpy_rows_conj`] | x_i += Σ_j conj(s_ji) α_j, i ∈ c | one frame: x += S_Bᴴ α |
//! | [`gemm_n`] | R_jf += Σ_{i∈c} s_ji X_if | batch: R += S_B X |
//! | [`gemm_h`] | X_if += Σ_j conj(s_ji) A_jf, i ∈ c | batch: X += S_Bᴴ A |

#[cfg(target_arch = "x86_64")]
pub mod avx2;
#[cfg(target_arch = "x86_64")]
pub mod avx512;
pub mod portable;

use num_complex::{Complex32, Complex64};

/// Frames per SIMD vector of the batch kernels (8 complex f32 in 512 bits); batches are padded to a multiple.
pub const LANES: usize = 8;

/// Which implementation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F.
    Avx512,
    /// AVX2 and FMA (AMD Zen, Intel since Haswell).
    Avx2,
    /// Plain Rust (any CPU).
    Portable,
}

impl Isa {
    /// The best the running CPU supports (`MAGPIE_PORTABLE_KERNELS=1` forces the portable ones,
    /// `MAGPIE_AVX2_KERNELS=1` the AVX2 ones where the CPU has them, for comparison).
    pub fn detect() -> Isa {
        if std::env::var_os("MAGPIE_PORTABLE_KERNELS").is_some_and(|v| v == "1") {
            return Isa::Portable;
        }
        #[cfg(target_arch = "x86_64")]
        if std::env::var_os("MAGPIE_AVX2_KERNELS").is_some_and(|v| v == "1") && avx2::available() {
            return Isa::Avx2;
        }
        #[cfg(target_arch = "x86_64")]
        if avx512::available() {
            return Isa::Avx512;
        }
        #[cfg(target_arch = "x86_64")]
        if avx2::available() {
            return Isa::Avx2;
        }
        Isa::Portable
    }
}

/// A block of `k` rows of a row-major matrix with `n` columns.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    /// The k × n elements, row-major.
    pub data: &'a [Complex32],
    /// Rows.
    pub k: usize,
    /// Columns (row stride).
    pub n: usize,
}

impl<'a> Rows<'a> {
    /// No rows (of `n` columns): nothing to prefetch.
    pub fn none(n: usize) -> Self {
        Rows { data: &[], k: 0, n }
    }

    /// Checks the shape.
    ///
    /// # Panics
    /// When `data` does not hold k × n elements (a programming error of the caller).
    pub fn new(data: &'a [Complex32], k: usize, n: usize) -> Self {
        assert_eq!(data.len(), k * n, "row block of {k} × {n} needs {} elements", k * n);
        Rows { data, k, n }
    }
}

/// out_j = Σ_{i ∈ [c0, c1)} s_ji x_i for every row j of the block (out has k elements; `x` holds x_{c0..c1}).
///
/// # Panics
/// On inconsistent lengths.
pub fn dot_rows(isa: Isa, s: Rows, c0: usize, c1: usize, x: &[Complex32], out: &mut [Complex64]) {
    assert!(c0 <= c1 && c1 <= s.n && x.len() == c1 - c0 && out.len() == s.k);
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => avx512::dot_rows(s, c0, c1, x, out),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => avx2::dot_rows(s, c0, c1, x, out),
        _ => portable::dot_rows(s, c0, c1, x, out),
    }
}

/// [`dot_rows`] on each chunk [c0 + c·chunk, min(c0 + (c+1)·chunk, c1)) of the columns: `out[c·k + j]` is row
/// j's product over chunk c (chunk-major, ⌈(c1 − c0)/chunk⌉ × k elements). The same sums as one [`dot_rows`]
/// call per chunk, but with the rows outer, so that each row's columns stream contiguously across the chunks:
/// a chunk of a row is a few kB, too short for the hardware prefetchers to reach full speed on their own.
///
/// `ahead` are the rows the caller reads next (the next block's first rows, or none): while a group of rows
/// streams, the next group's columns c0..c1 are prefetched — the block's own next group, after its last group
/// `ahead` — so that memory stays busy across group and block boundaries (a hint only: results do not depend
/// on it).
///
/// # Panics
/// On inconsistent lengths or a zero chunk.
#[allow(clippy::too_many_arguments)]
pub fn dot_rows_chunked(
    isa: Isa,
    s: Rows,
    ahead: Rows,
    c0: usize,
    c1: usize,
    chunk: usize,
    x: &[Complex32],
    out: &mut [Complex64],
) {
    assert!(chunk > 0 && c0 <= c1 && c1 <= s.n && x.len() == c1 - c0 && out.len() == (c1 - c0).div_ceil(chunk) * s.k);
    assert!(ahead.k == 0 || ahead.n == s.n, "rows ahead of {} columns for a block of {}", ahead.n, s.n);
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => avx512::dot_rows_chunked(s, ahead, c0, c1, chunk, x, out),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => avx2::dot_rows_chunked(s, ahead, c0, c1, chunk, x, out),
        _ => portable::dot_rows_chunked(s, c0, c1, chunk, x, out),
    }
}

/// x_i += Σ_j conj(s_ji) α_j for i ∈ [c0, c1) (α has k elements; `x` holds x_{c0..c1}).
///
/// `ahead` are rows the caller streams next (see [`dot_rows_chunked`]): their columns c0..c1 are prefetched
/// while the update runs from cache, one row per group of rows of the update, so that the memory is not idle
/// meanwhile (a hint only).
///
/// # Panics
/// On inconsistent lengths.
pub fn axpy_rows_conj(isa: Isa, s: Rows, ahead: Rows, c0: usize, c1: usize, alpha: &[Complex32], x: &mut [Complex32]) {
    assert!(c0 <= c1 && c1 <= s.n && x.len() == c1 - c0 && alpha.len() == s.k);
    assert!(ahead.k == 0 || ahead.n == s.n, "rows ahead of {} columns for a block of {}", ahead.n, s.n);
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => avx512::axpy_rows_conj(s, ahead, c0, c1, alpha, x),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => avx2::axpy_rows_conj(s, ahead, c0, c1, alpha, x),
        _ => portable::axpy_rows_conj(s, c0, c1, alpha, x),
    }
}

/// R_jf += Σ_{i ∈ [c0, c1)} s_ji X_if for the frames f ∈ [f0, f1) (multiples of [`LANES`]); X is n × ld and R
/// k × ld, frames fastest.
///
/// # Panics
/// On inconsistent lengths or frame ranges that are not multiples of [`LANES`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_n(
    isa: Isa,
    s: Rows,
    c0: usize,
    c1: usize,
    x: &[Complex32],
    ld: usize,
    f0: usize,
    f1: usize,
    r: &mut [Complex32],
) {
    check_frames(ld, f0, f1);
    assert!(c0 <= c1 && c1 <= s.n && x.len() == s.n * ld && r.len() == s.k * ld);
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => avx512::gemm_n(s, c0, c1, x, ld, f0, f1, r),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => avx2::gemm_n(s, c0, c1, x, ld, f0, f1, r),
        _ => portable::gemm_n(s, c0, c1, x, ld, f0, f1, r),
    }
}

/// X_if += Σ_j conj(s_ji) A_jf for i ∈ [c0, c1) and the frames f ∈ [f0, f1) (multiples of [`LANES`]); A is
/// k × ld and `x` holds the rows c0..c1 of X ((c1 − c0) × ld), frames fastest.
///
/// # Panics
/// On inconsistent lengths or frame ranges that are not multiples of [`LANES`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_h(
    isa: Isa,
    s: Rows,
    c0: usize,
    c1: usize,
    a: &[Complex32],
    ld: usize,
    f0: usize,
    f1: usize,
    x: &mut [Complex32],
) {
    check_frames(ld, f0, f1);
    assert!(c0 <= c1 && c1 <= s.n && x.len() == (c1 - c0) * ld && a.len() == s.k * ld);
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => avx512::gemm_h(s, c0, c1, a, ld, f0, f1, x),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => avx2::gemm_h(s, c0, c1, a, ld, f0, f1, x),
        _ => portable::gemm_h(s, c0, c1, a, ld, f0, f1, x),
    }
}

fn check_frames(ld: usize, f0: usize, f1: usize) {
    assert!(
        ld.is_multiple_of(LANES) && f0.is_multiple_of(LANES) && f1.is_multiple_of(LANES) && f0 <= f1 && f1 <= ld,
        "frame range {f0}..{f1} of {ld}: multiples of {LANES} expected"
    );
}

#[cfg(test)]
mod tests;
