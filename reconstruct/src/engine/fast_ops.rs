//! The system matrix's products y = S x and x = Sᴴ y in complex f32 on the SIMD [`kernels`], split over threads
//! by *output* (rows for S x, voxels for Sᴴ y), so that every output element is summed in the same order for any
//! number of threads. Batches (column-major frames, as the [`LinearOperator`](magpie_core::operator::LinearOperator)
//! interface has them) are packed frames-fastest for the kernels and unpacked afterwards; the packing is O(frames
//! × (rows + voxels)), against O(frames × rows × voxels) for the products.

use num_complex::{Complex32, Complex64};

use super::kernels::{self, Isa, Rows, LANES};

/// Rows per kernel call.
const ROW_BLOCK: usize = 64;

/// A row-major complex-f32 matrix with the threads and kernels to use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dense<'a> {
    pub data: &'a [Complex32],
    pub rows: usize,
    pub cols: usize,
    pub threads: usize,
    pub isa: Isa,
}

/// Splits 0..len into `parts` contiguous ranges, each a multiple of `align` (but the last).
fn ranges(len: usize, parts: usize, align: usize) -> Vec<(usize, usize)> {
    let units = len.div_ceil(align);
    let parts = parts.clamp(1, units.max(1));
    (0..parts)
        .map(|t| ((t * units / parts * align).min(len), ((t + 1) * units / parts * align).min(len)))
        .filter(|(a, b)| a < b)
        .collect()
}

/// Runs `f` on each of the disjoint mutable pieces, on scoped threads (the first on the calling thread).
fn run_pieces<P: Send>(pieces: Vec<P>, f: impl Fn(P) + Sync) {
    let f = &f;
    std::thread::scope(|scope| {
        let mut it = pieces.into_iter();
        let first = it.next();
        for p in it {
            scope.spawn(move || f(p));
        }
        if let Some(p) = first {
            f(p);
        }
    });
}

/// Cuts `v` into consecutive pieces of `len · (b − a)` elements for the ranges.
fn split<'v, T>(mut v: &'v mut [T], ranges: &[(usize, usize)], len: usize) -> Vec<&'v mut [T]> {
    let mut out = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        let (head, tail) = v.split_at_mut((b - a) * len);
        out.push(head);
        v = tail;
    }
    out
}

impl Dense<'_> {
    fn block(&self, r0: usize, r1: usize) -> Rows<'_> {
        Rows::new(&self.data[r0 * self.cols..r1 * self.cols], r1 - r0, self.cols)
    }

    /// y = S x for `frames` column-major frames (x: cols × frames, y: rows × frames).
    pub fn forward(&self, x: &[Complex32], y: &mut [Complex32], frames: usize) {
        let (m, n) = (self.rows, self.cols);
        if frames == 1 {
            let parts = ranges(m, self.threads, ROW_BLOCK);
            let pieces: Vec<_> = parts.iter().copied().zip(split(y, &parts, 1)).collect();
            run_pieces(pieces, |((r0, r1), yt)| {
                let mut out = vec![Complex64::new(0.0, 0.0); ROW_BLOCK];
                for b0 in (r0..r1).step_by(ROW_BLOCK) {
                    let b1 = (b0 + ROW_BLOCK).min(r1);
                    kernels::dot_rows(self.isa, self.block(b0, b1), 0, n, x, &mut out[..b1 - b0]);
                    for (yi, z) in yt[b0 - r0..b1 - r0].iter_mut().zip(&out) {
                        *yi = Complex32::new(z.re as f32, z.im as f32);
                    }
                }
            });
            return;
        }
        let ld = frames.div_ceil(LANES) * LANES;
        let xp = pack(x, n, frames, ld);
        let parts = ranges(m, self.threads, ROW_BLOCK);
        let mut packed = vec![Complex32::new(0.0, 0.0); m * ld];
        let pieces: Vec<_> = parts.iter().copied().zip(split(&mut packed, &parts, ld)).collect();
        run_pieces(pieces, |((r0, r1), rt)| {
            for b0 in (r0..r1).step_by(ROW_BLOCK) {
                let b1 = (b0 + ROW_BLOCK).min(r1);
                let out = &mut rt[(b0 - r0) * ld..(b1 - r0) * ld];
                kernels::gemm_n(self.isa, self.block(b0, b1), 0, n, &xp, ld, 0, ld, out);
            }
        });
        unpack(&packed, m, frames, ld, y);
    }

    /// x = Sᴴ y for `frames` column-major frames (y: rows × frames, x: cols × frames).
    pub fn adjoint(&self, y: &[Complex32], x: &mut [Complex32], frames: usize) {
        let (m, n) = (self.rows, self.cols);
        x.fill(Complex32::new(0.0, 0.0));
        if frames == 1 {
            let parts = ranges(n, self.threads, LANES);
            let pieces: Vec<_> = parts.iter().copied().zip(split(x, &parts, 1)).collect();
            run_pieces(pieces, |((c0, c1), xt)| {
                for b0 in (0..m).step_by(ROW_BLOCK) {
                    let b1 = (b0 + ROW_BLOCK).min(m);
                    kernels::axpy_rows_conj(self.isa, self.block(b0, b1), c0, c1, &y[b0..b1], xt);
                }
            });
            return;
        }
        let ld = frames.div_ceil(LANES) * LANES;
        let yp = pack(y, m, frames, ld);
        let parts = ranges(n, self.threads, LANES);
        let mut packed = vec![Complex32::new(0.0, 0.0); n * ld];
        let pieces: Vec<_> = parts.iter().copied().zip(split(&mut packed, &parts, ld)).collect();
        run_pieces(pieces, |((c0, c1), xt)| {
            kernels::gemm_h(self.isa, self.block(0, m), c0, c1, &yp, ld, 0, ld, xt);
        });
        unpack(&packed, n, frames, ld, x);
    }
}

/// Column-major len × frames → frames-fastest len × ld (padding zero).
fn pack(v: &[Complex32], len: usize, frames: usize, ld: usize) -> Vec<Complex32> {
    let mut out = vec![Complex32::new(0.0, 0.0); len * ld];
    for f in 0..frames {
        for i in 0..len {
            out[i * ld + f] = v[f * len + i];
        }
    }
    out
}

/// Frames-fastest len × ld → column-major len × frames.
fn unpack(p: &[Complex32], len: usize, frames: usize, ld: usize, v: &mut [Complex32]) {
    for f in 0..frames {
        for i in 0..len {
            v[f * len + i] = p[i * ld + f];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_everything_once_and_aligned() {
        for (len, parts, align) in [(100, 3, 8), (7, 4, 8), (64, 2, 64), (3000, 2, 64), (1, 1, 1)] {
            let r = ranges(len, parts, align);
            assert_eq!(r[0].0, 0);
            assert_eq!(r.last().unwrap().1, len);
            for w in r.windows(2) {
                assert_eq!(w[0].1, w[1].0);
                assert_eq!(w[0].1 % align, 0);
            }
        }
    }
}
