//! Dense products on the engine's layouts, through faer: the system matrix (or a block of its rows) is row-major
//! k × n with row stride n; batches of vectors are column-major (one frame per contiguous column).
//!
//! faer reads the row-major block through a transposed view and conjugates through a lazy adjoint view, so no
//! product copies or conjugates the matrix.

use faer::{Accum, MatMut, MatRef, Par};

use super::Element;

/// dst ← dst + α · S_B · X, with S_B the k × n row-major `s_block`, X the n × f column-major `x`, and dst k × f
/// column-major with leading dimension `ld_dst` (so that it can be a row range of a taller matrix).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_rows_acc<T: Element>(
    dst: &mut [T],
    ld_dst: usize,
    k: usize,
    f: usize,
    s_block: &[T],
    n: usize,
    x: &[T],
    alpha: T,
    par: Par,
) {
    let s = MatRef::from_row_major_slice(s_block, k, n);
    let x = MatRef::from_column_major_slice(x, n, f);
    let d = MatMut::from_column_major_slice_with_stride_mut(dst, k, f, ld_dst);
    faer::linalg::matmul::matmul(d, Accum::Add, s, x, alpha, par);
}

/// X ← X + α · S_Bᴴ · A, with S_B the k × n row-major `s_block`, X n × f column-major and A k × f column-major
/// with leading dimension `ld_a`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_adjoint_acc<T: Element>(
    x: &mut [T],
    n: usize,
    f: usize,
    s_block: &[T],
    k: usize,
    a: &[T],
    ld_a: usize,
    alpha: T,
    par: Par,
) {
    let s = MatRef::from_row_major_slice(s_block, k, n);
    let a = MatRef::from_column_major_slice_with_stride(a, k, f, ld_a);
    let xm = MatMut::from_column_major_slice_mut(x, n, f);
    faer::linalg::matmul::matmul(xm, Accum::Add, s.adjoint(), a, alpha, par);
}

/// Solves L Y = R in place for the k × k lower-triangular `tri` (column-major, diagonal included; the upper
/// triangle is not read) and the k × f column-major right-hand sides `rhs` (leading dimension `ld`).
pub(crate) fn solve_lower_in_place<T: Element>(tri: &[T], k: usize, rhs: &mut [T], f: usize, ld: usize, par: Par) {
    let l = MatRef::from_column_major_slice(tri, k, k);
    let r = MatMut::from_column_major_slice_with_stride_mut(rhs, k, f, ld);
    faer::linalg::triangular_solve::solve_lower_triangular_in_place(l, r, par);
}
