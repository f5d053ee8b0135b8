//! The complex-f32 sweeps of the blocked Kaczmarz solver on the SIMD [`kernels`]: the
//! same block algebra as the generic path (module [`super::kaczmarz`]), organised for the memory system.
//!
//! * **One frame** is bandwidth-bound: the columns are cut into fixed, equal chunks (`engine::sync::chunk_cols`),
//!   shared out over the threads. Per block, each thread first applies the previous block's update x += S_Bᴴ α to its chunks
//!   (the block's rows are still in its L2 from the products it just formed) and then forms its partial
//!   products S_B x on the same chunks, so S streams from memory once per sweep. One spin barrier per block
//!   publishes the partials; every thread then reduces them *in chunk order* and solves the block's triangle
//!   itself, in f64 — so the iterates do not depend on the number of threads.
//! * **A batch** is compute-bound: frames are independent problems, so each thread takes a group of frames
//!   (padded to the SIMD width) and runs the sweep on its own copies of x, b and v, frames fastest, with the
//!   two products of every block as register-tiled GEMMs. Nothing is shared but the read-only matrix.

use std::sync::atomic::{AtomicUsize, Ordering};

use num_complex::{Complex32, Complex64};

use crate::engine::kernels::{self, Isa, Rows, LANES};
use crate::engine::sync::{chunk_cols, Partials, SpinBarrier};

/// A row-major complex-f32 matrix.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    /// rows × cols elements.
    pub data: &'a [Complex32],
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
}

impl<'a> Matrix<'a> {
    fn rows(&self) -> usize {
        self.rows
    }
    fn cols(&self) -> usize {
        self.cols
    }
    fn rows_slice(&self, r0: usize, r1: usize) -> &'a [Complex32] {
        &self.data[r0 * self.cols..r1 * self.cols]
    }
}

/// A block of rows with its triangle T = tril(G, −1) + diag(‖s‖² + λ), k × k column-major.
#[derive(Debug, Clone, Copy)]
pub struct BlockRef<'a> {
    /// First row.
    pub r0: usize,
    /// Rows.
    pub k: usize,
    /// The triangle.
    pub tri: &'a [Complex32],
}

/// What both sweeps need.
pub struct Sweep<'a> {
    /// The system matrix, row-major.
    pub system: Matrix<'a>,
    /// Its blocks with their triangles, in row order.
    pub blocks: &'a [BlockRef<'a>],
    /// λ_eff.
    pub lambda_eff: f64,
    /// Sweeps.
    pub sweeps: usize,
    /// x ← max(Re x, 0) after each sweep.
    pub non_negative: bool,
    /// Threads.
    pub threads: usize,
    /// Kernels.
    pub isa: Isa,
}

/// x ← max(Re x, 0).
fn project(x: &mut [Complex32]) {
    for z in x {
        *z = Complex32::new(z.re.max(0.0), 0.0);
    }
}

fn finite(x: &[Complex32]) -> bool {
    x.iter().all(|z| z.re.is_finite() && z.im.is_finite())
}

impl Sweep<'_> {
    fn kmax(&self) -> usize {
        self.blocks.iter().map(|b| b.k).max().unwrap_or(0)
    }

    fn rows(&self, b: &BlockRef) -> Rows<'_> {
        Rows::new(self.system.rows_slice(b.r0, b.r0 + b.k), b.k, self.system.cols())
    }

    /// Solves one frame: `b` has one entry per row, `x` (overwritten, starting from 0) one per voxel. Returns
    /// the sweep at which the iterate stopped being finite, if it did.
    pub fn one_frame(&self, b: &[Complex32], x: &mut [Complex32]) -> Result<(), usize> {
        let n = self.system.cols();
        let chunk = chunk_cols(n);
        let chunks = n.div_ceil(chunk).max(1);
        let threads = self.threads.clamp(1, chunks);
        let partials = Partials::new(chunks, self.kmax().max(1));
        let barrier = SpinBarrier::new(threads);
        let failed = AtomicUsize::new(0);
        x.fill(Complex32::new(0.0, 0.0));
        // Thread t owns chunks [t·chunks/T, (t+1)·chunks/T) and the matching columns of x.
        let bounds: Vec<usize> = (0..=threads).map(|t| t * chunks / threads).collect();
        let mut parts: Vec<&mut [Complex32]> = Vec::with_capacity(threads);
        let mut rest = &mut x[..];
        for t in 0..threads {
            let cols = (bounds[t + 1] * chunk).min(n) - (bounds[t] * chunk).min(n);
            let (head, tail) = rest.split_at_mut(cols);
            parts.push(head);
            rest = tail;
        }
        std::thread::scope(|scope| {
            let mut handles = Vec::new();
            for (t, xt) in parts.into_iter().enumerate().rev() {
                let (c_lo, c_hi) = (bounds[t], bounds[t + 1]);
                let (partials, barrier, failed) = (&partials, &barrier, &failed);
                let mut work = move || self.one_frame_thread(b, xt, c_lo, c_hi, partials, barrier, failed);
                if t == 0 {
                    work();
                } else {
                    handles.push(scope.spawn(work));
                }
            }
        });
        match failed.load(Ordering::Relaxed) {
            0 => Ok(()),
            s => Err(s),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn one_frame_thread(
        &self,
        b: &[Complex32],
        xt: &mut [Complex32],
        c_lo: usize,
        c_hi: usize,
        partials: &Partials,
        barrier: &SpinBarrier,
        failed: &AtomicUsize,
    ) {
        let n = self.system.cols();
        let m = self.system.rows();
        let kmax = self.kmax();
        let sl = self.lambda_eff.sqrt();
        let chunk = chunk_cols(n);
        let base = (c_lo * chunk).min(n);
        // Every thread keeps v, the block's α and its scratch itself: identical values, no sharing.
        let mut v = vec![Complex64::new(0.0, 0.0); m];
        let mut alpha = vec![Complex32::new(0.0, 0.0); kmax];
        let mut alpha64 = vec![Complex64::new(0.0, 0.0); kmax];
        let mut out = vec![Complex64::new(0.0, 0.0); kmax * (c_hi - c_lo)];
        let mut parity = 0usize;
        for sweep in 0..self.sweeps {
            for bi in 0..=self.blocks.len() {
                let prev = bi.checked_sub(1).map(|p| self.blocks[p]);
                let cur = self.blocks.get(bi).copied();
                let end = (c_hi * chunk).min(n);
                // The previous block's update over the whole column range first (its rows are in L2), then the
                // products with the rows outer (long contiguous streams), kept per chunk for the reduction.
                // Each pass prefetches what the next one streams: the update the current block's first rows,
                // the products the next block's (after the last block: the first, for the next sweep).
                let none = Rows::none(n);
                if let Some(p) = prev {
                    let ahead = cur.map_or(none, |c| self.rows(&c));
                    kernels::axpy_rows_conj(self.isa, self.rows(&p), ahead, base, end, &alpha[..p.k], xt);
                }
                if let Some(bk) = cur {
                    let o = &mut out[..(c_hi - c_lo) * bk.k];
                    let next = self.blocks.get(bi + 1).or(self.blocks.first()).map_or(none, |c| self.rows(c));
                    kernels::dot_rows_chunked(self.isa, self.rows(&bk), next, base, end, chunk, xt, o);
                    for (c, oc) in o.chunks_exact(bk.k).enumerate() {
                        for (i, z) in oc.iter().enumerate() {
                            partials.store(parity, c_lo + c, i, *z);
                        }
                    }
                }
                let Some(bk) = cur else { break };
                barrier.wait();
                let (r0, k) = (bk.r0, bk.k);
                // The residuals of the block's rows, the chunks' partial products subtracted in chunk order, then
                // forward substitution with the block's triangle column by column (it is column-major; its
                // diagonal is real). Per row the same operations in the same order as row by row, but every
                // inner loop runs over contiguous memory.
                let acc = &mut alpha64[..k];
                for (i, a) in acc.iter_mut().enumerate() {
                    *a = Complex64::new(b[r0 + i].re as f64, b[r0 + i].im as f64) - v[r0 + i] * sl;
                }
                for c in 0..partials.chunks {
                    for (i, a) in acc.iter_mut().enumerate() {
                        *a -= partials.load(parity, c, i);
                    }
                }
                for j in 0..k {
                    let aj = acc[j] / bk.tri[j * k + j].re as f64;
                    acc[j] = aj;
                    for (a, t) in acc[j + 1..].iter_mut().zip(&bk.tri[j * k + j + 1..(j + 1) * k]) {
                        *a -= Complex64::new(t.re as f64, t.im as f64) * aj;
                    }
                    v[r0 + j] += aj * sl;
                    alpha[j] = Complex32::new(aj.re as f32, aj.im as f32);
                }
                parity ^= 1;
            }
            if self.non_negative {
                project(xt);
            }
            if !finite(xt) {
                failed.store(sweep + 1, Ordering::Relaxed);
            }
            // Every thread must know whether another one diverged before it starts the next sweep.
            barrier.wait();
            if failed.load(Ordering::Relaxed) != 0 {
                return;
            }
        }
    }

    /// Solves `frames` frames: `b` column-major rows × frames, `x` column-major voxels × frames (overwritten).
    pub fn batch(&self, b: &[Complex32], frames: usize, x: &mut [Complex32]) -> Result<(), usize> {
        let (m, n) = (self.system.rows(), self.system.cols());
        let vectors = frames.div_ceil(LANES);
        let threads = self.threads.clamp(1, vectors.max(1));
        // Frame groups of whole vectors, as even as possible.
        let groups: Vec<(usize, usize)> = (0..threads)
            .map(|t| (t * vectors / threads * LANES, ((t + 1) * vectors / threads * LANES).min(frames)))
            .filter(|(a, z)| a < z)
            .collect();
        let tris: Vec<RowTriangle> = self.blocks.iter().map(RowTriangle::new).collect();
        let tris = &tris[..];
        let results: Vec<(usize, Result<Vec<Complex32>, usize>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = groups
                .iter()
                .skip(1)
                .map(|&(f0, f1)| scope.spawn(move || (f0, self.batch_group(b, m, f0, f1, tris))))
                .collect();
            let mut out = vec![(groups[0].0, self.batch_group(b, m, groups[0].0, groups[0].1, tris))];
            out.extend(handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))));
            out
        });
        for (f0, r) in results {
            let xt = r?;
            let ld = xt.len() / n.max(1);
            // Frames of the group beyond its real ones are padding.
            for f in 0..ld.min(frames - f0) {
                for i in 0..n {
                    x[(f0 + f) * n + i] = xt[i * ld + f];
                }
            }
        }
        Ok(())
    }

    /// One thread's frames [f0, f1): returns x, voxels × ld frames-fastest (ld = the group padded to LANES).
    fn batch_group(
        &self,
        b: &[Complex32],
        m: usize,
        f0: usize,
        f1: usize,
        tris: &[RowTriangle],
    ) -> Result<Vec<Complex32>, usize> {
        let n = self.system.cols();
        let nf = f1 - f0;
        let ld = nf.div_ceil(LANES) * LANES;
        let kmax = self.kmax();
        let zero = Complex32::new(0.0, 0.0);
        let sl = self.lambda_eff.sqrt() as f32;
        let mut x = vec![zero; n * ld];
        let mut bt = vec![zero; m * ld];
        for f in 0..nf {
            for l in 0..m {
                bt[l * ld + f] = b[(f0 + f) * m + l];
            }
        }
        let mut v = vec![zero; m * ld];
        let mut r = vec![zero; kmax * ld];
        for sweep in 0..self.sweeps {
            for (bk, tri) in self.blocks.iter().zip(tris) {
                let (r0, k) = (bk.r0, bk.k);
                let rk = &mut r[..k * ld];
                rk.fill(zero);
                kernels::gemm_n(self.isa, self.rows(bk), 0, n, &x, ld, 0, ld, rk);
                for j in 0..k {
                    let (bl, vl) = (&bt[(r0 + j) * ld..(r0 + j + 1) * ld], &v[(r0 + j) * ld..(r0 + j + 1) * ld]);
                    for ((rf, bf), vf) in rk[j * ld..(j + 1) * ld].iter_mut().zip(bl).zip(vl) {
                        *rf = *bf - vf * sl - *rf;
                    }
                }
                tri.solve(self.isa, rk, ld);
                kernels::gemm_h(self.isa, self.rows(bk), 0, n, rk, ld, 0, ld, &mut x);
                for j in 0..k {
                    for (vf, af) in v[(r0 + j) * ld..(r0 + j + 1) * ld].iter_mut().zip(&rk[j * ld..(j + 1) * ld]) {
                        *vf += af * sl;
                    }
                }
            }
            if self.non_negative {
                project(&mut x);
            }
            if !finite(&x) {
                return Err(sweep + 1);
            }
        }
        Ok(x)
    }
}

/// A block's triangle as the forward substitution uses it: the strict lower part negated and row-major (row j
/// holds −T_ji for i < j, contiguous), and the inverse diagonal.
struct RowTriangle {
    k: usize,
    lower: Vec<Complex32>,
    inv_diag: Vec<f32>,
}

impl RowTriangle {
    fn new(b: &BlockRef) -> Self {
        let k = b.k;
        let mut lower = vec![Complex32::new(0.0, 0.0); k * k];
        for j in 0..k {
            for i in 0..j {
                lower[j * k + i] = -b.tri[i * k + j];
            }
        }
        RowTriangle { k, lower, inv_diag: (0..k).map(|j| 1.0 / b.tri[j * k + j].re).collect() }
    }

    /// T A = R in place for k rows of `ld` frames (frames fastest): a_j = (r_j + Σ_{i<j} (−T_ji) a_i) / T_jj,
    /// the sum over the solved rows as one row-times-panel product of the batch kernel.
    fn solve(&self, isa: Isa, r: &mut [Complex32], ld: usize) {
        let k = self.k;
        for j in 0..k {
            let (done, rest) = r.split_at_mut(j * ld);
            let rj = &mut rest[..ld];
            if j > 0 {
                kernels::gemm_n(isa, Rows::new(&self.lower[j * k..j * k + j], 1, j), 0, j, done, ld, 0, ld, rj);
            }
            let inv = self.inv_diag[j];
            for a in rj.iter_mut() {
                *a *= inv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Parallelism, SystemMatrix};
    use crate::solvers::fast::kaczmarz::BlockedKaczmarz;
    use crate::solvers::fast::synthetic::Problem;
    use magpie_core::operator::testing::rel_diff;
    use std::sync::Arc;

    /// The sweeps on the SIMD kernels the CPU has and on the portable ones give the same iterates to f32 rounding.
    #[test]
    fn simd_and_portable_sweeps_agree() {
        let pb = Problem::new(200, 777, 9, 5);
        let s =
            Arc::new(SystemMatrix::from_row_major(pb.s.clone(), pb.rows, pb.cols, Parallelism::sequential()).unwrap());
        let lam = s.lambda_eff(1e-3);
        let solver = BlockedKaczmarz::build(s.clone(), lam, 48).unwrap();
        let blocks: Vec<BlockRef> =
            solver.block_parts().into_iter().map(|(r0, k, tri)| BlockRef { r0, k, tri }).collect();
        let run = |isa: Isa, threads: usize, frames: usize| {
            let sweep = Sweep {
                system: Matrix { data: s.as_slice(), rows: pb.rows, cols: pb.cols },
                blocks: &blocks,
                lambda_eff: lam,
                sweeps: 3,
                non_negative: true,
                threads,
                isa,
            };
            let mut x = vec![Complex32::new(0.0, 0.0); pb.cols * frames];
            if frames == 1 {
                sweep.one_frame(&pb.b[..pb.rows], &mut x).unwrap();
            } else {
                sweep.batch(&pb.b[..pb.rows * frames], frames, &mut x).unwrap();
            }
            x
        };
        for frames in [1, 9] {
            let p = run(Isa::Portable, 1, frames);
            let f = run(Isa::detect(), 2, frames);
            let e = rel_diff(&p, &f);
            assert!(e < 1e-5, "{frames} frame(s): portable vs {:?} {e:e}", Isa::detect());
            assert!(p.iter().any(|z| z.re > 0.0), "a non-trivial solution");
        }
    }
}
