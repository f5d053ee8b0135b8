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
                    let ahead = if b1 < m { self.block(b1, (b1 + ROW_BLOCK).min(m)) } else { Rows::none(n) };
                    kernels::axpy_rows_conj(self.isa, self.block(b0, b1), ahead, c0, c1, &y[b0..b1], xt);
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

impl Dense<'_> {
    /// out = SᴴS x for `frames` column-major frames, reading S once: per block of rows, q_B = S_B x and then
    /// out += S_Bᴴ q_B while the block is still in cache. One frame: the columns are shared over the threads in
    /// fixed chunks and q_B is reduced in chunk order after a barrier (as the one-frame Kaczmarz sweep does);
    /// batches: each thread takes a group of frames.
    pub fn normal(&self, x: &[Complex32], out: &mut [Complex32], frames: usize) {
        let n = self.cols;
        out.fill(Complex32::new(0.0, 0.0));
        if frames == 1 {
            self.normal_one(x, out);
            return;
        }
        let ld_all = frames.div_ceil(LANES);
        let groups = ranges(ld_all * LANES, self.threads, LANES);
        let results: Vec<Vec<Complex32>> = std::thread::scope(|scope| {
            let handles: Vec<_> = groups
                .iter()
                .skip(1)
                .map(|&(f0, f1)| scope.spawn(move || self.normal_group(x, frames, f0, f1.min(frames))))
                .collect();
            let mut r = vec![self.normal_group(x, frames, groups[0].0, groups[0].1.min(frames))];
            r.extend(handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))));
            r
        });
        for ((f0, _), p) in groups.iter().zip(results) {
            let ld = p.len() / n.max(1);
            for f in 0..ld.min(frames.saturating_sub(*f0)) {
                for i in 0..n {
                    out[(f0 + f) * n + i] = p[i * ld + f];
                }
            }
        }
    }

    /// SᴴS for the frames [f0, f1) of x; returns n × ld frames-fastest.
    fn normal_group(&self, x: &[Complex32], frames: usize, f0: usize, f1: usize) -> Vec<Complex32> {
        let (m, n) = (self.rows, self.cols);
        let nf = f1.saturating_sub(f0);
        let ld = nf.div_ceil(LANES).max(1) * LANES;
        let zero = Complex32::new(0.0, 0.0);
        let mut xp = vec![zero; n * ld];
        for f in 0..nf.min(frames) {
            for i in 0..n {
                xp[i * ld + f] = x[(f0 + f) * n + i];
            }
        }
        let mut acc = vec![zero; n * ld];
        let mut q = vec![zero; ROW_BLOCK * ld];
        for b0 in (0..m).step_by(ROW_BLOCK) {
            let b1 = (b0 + ROW_BLOCK).min(m);
            let qb = &mut q[..(b1 - b0) * ld];
            qb.fill(zero);
            kernels::gemm_n(self.isa, self.block(b0, b1), 0, n, &xp, ld, 0, ld, qb);
            kernels::gemm_h(self.isa, self.block(b0, b1), 0, n, qb, ld, 0, ld, &mut acc);
        }
        acc
    }

    fn normal_one(&self, x: &[Complex32], out: &mut [Complex32]) {
        use super::sync::{Partials, SpinBarrier};
        let (m, n) = (self.rows, self.cols);
        // Equal shares for the threads, fixed by n (see `chunk_cols`).
        let chunk = super::sync::chunk_cols(n);
        let chunks = n.div_ceil(chunk).max(1);
        let threads = self.threads.clamp(1, chunks);
        let partials = Partials::new(chunks, ROW_BLOCK);
        let barrier = SpinBarrier::new(threads);
        let bounds: Vec<usize> = (0..=threads).map(|t| t * chunks / threads).collect();
        let parts: Vec<(usize, usize)> =
            (0..threads).map(|t| ((bounds[t] * chunk).min(n), (bounds[t + 1] * chunk).min(n))).collect();
        let pieces: Vec<_> = (0..threads).zip(split(out, &parts, 1)).collect();
        let (partials, barrier) = (&partials, &barrier);
        run_pieces(pieces, |(t, ot)| {
            let base = parts[t].0;
            let blocks = m.div_ceil(ROW_BLOCK);
            let mut tmp = vec![Complex64::new(0.0, 0.0); ROW_BLOCK * (bounds[t + 1] - bounds[t])];
            let mut q = vec![Complex32::new(0.0, 0.0); ROW_BLOCK];
            let mut parity = 0;
            for bi in 0..=blocks {
                let prev = bi.checked_sub(1).map(|p| (p * ROW_BLOCK, ((p + 1) * ROW_BLOCK).min(m)));
                let cur = (bi < blocks).then(|| (bi * ROW_BLOCK, ((bi + 1) * ROW_BLOCK).min(m)));
                // The previous block's update over the thread's whole column range (its rows are in L2), then
                // the products with the rows outer (long contiguous streams), kept per chunk for the reduction.
                let end = parts[t].1;
                // Each pass prefetches what the next one streams (see `kernels::dot_rows_chunked`).
                let ahead = |r0: usize| if r0 < m { self.block(r0, (r0 + ROW_BLOCK).min(m)) } else { Rows::none(n) };
                if let Some((p0, p1)) = prev {
                    let a = ahead(p1);
                    kernels::axpy_rows_conj(self.isa, self.block(p0, p1), a, base, end, &q[..p1 - p0], ot);
                }
                if let Some((r0, r1)) = cur {
                    let o = &mut tmp[..(r1 - r0) * (bounds[t + 1] - bounds[t])];
                    let a = ahead(r1);
                    kernels::dot_rows_chunked(self.isa, self.block(r0, r1), a, base, end, chunk, &x[base..end], o);
                    for (c, oc) in o.chunks_exact(r1 - r0).enumerate() {
                        for (i, z) in oc.iter().enumerate() {
                            partials.store(parity, bounds[t] + c, i, *z);
                        }
                    }
                }
                let Some((r0, r1)) = cur else { break };
                barrier.wait();
                for (i, qi) in q[..r1 - r0].iter_mut().enumerate() {
                    let mut z = Complex64::new(0.0, 0.0);
                    for c in 0..partials.chunks {
                        z += partials.load(parity, c, i);
                    }
                    *qi = Complex32::new(z.re as f32, z.im as f32);
                }
                parity ^= 1;
            }
        });
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
    use magpie_core::operator::testing::{random_vec, rel_diff};

    /// The fused normal product equals the adjoint of the forward product, for one frame and a batch, on one
    /// and two threads (which give identical results), on both kernel sets.
    #[test]
    fn the_fused_normal_product_is_the_adjoint_of_the_forward() {
        let (m, n) = (150, 1100);
        let s: Vec<Complex32> = random_vec(m * n, 3);
        for isa in [Isa::Portable, Isa::detect()] {
            for frames in [1, 9] {
                let x: Vec<Complex32> = random_vec(n * frames, 4);
                let mut outs = Vec::new();
                for threads in [1, 2] {
                    let d = Dense { data: &s, rows: m, cols: n, threads, isa };
                    let (mut y, mut want, mut got) = (
                        vec![Complex32::default(); m * frames],
                        vec![Complex32::default(); n * frames],
                        vec![Complex32::default(); n * frames],
                    );
                    d.forward(&x, &mut y, frames);
                    d.adjoint(&y, &mut want, frames);
                    d.normal(&x, &mut got, frames);
                    let e = rel_diff(&got, &want);
                    assert!(e < 1e-5, "{isa:?}, {frames} frame(s), {threads} thread(s): {e:e}");
                    outs.push(got);
                }
                assert!(outs[0] == outs[1], "{isa:?}, {frames} frame(s): the thread count changed the result");
            }
        }
    }

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
