//! Kaczmarz exactly as RegularizedLeastSquares.jl (and MPIReco) iterate it, evaluated in row blocks.
//!
//! The iteration is the sequential row-action method on the extended system [S √λ I][x; v] = b (Dax 1993):
//! rows in order, τ = s_l·x (no conjugate), α_l = (b_l − τ − √λ v_l)/(‖s_l‖² + λ), x += α_l conj(s_l),
//! v_l += √λ α_l, and x ← max(Re x, 0) after each sweep. Within a block B of k consecutive rows the k sequential
//! updates are one lower-triangular solve: row j sees x plus the updates of rows i < j, whose effect on its inner
//! product is Σ_{i<j} (s_j·conj(s_i)) α_i = Σ_{i<j} G_ji α_i with the block's Gram matrix G = S_B S_Bᴴ, so
//!
//! (tril(G, −1) + diag(‖s‖² + λ)) α = b_B − S_B x − √λ v_B,   then   x += S_Bᴴ α,   v_B += √λ α.
//!
//! The iterates are those of the row loop (up to rounding), but the work is two matrix products per block: for
//! one frame the sweep streams S once from memory instead of being latency-bound row by row, and for a batch of
//! F frames (x is N × F) it becomes GEMMs that are compute-bound. The triangles are computed once, in `f64`, when
//! the solver is built, and cached.

use std::sync::Arc;

use faer::linalg::matmul::triangular::BlockStructure;
use faer::{Accum, MatMut, MatRef, Par};
use num_complex::Complex64;
use serde::{Deserialize, Serialize};

use super::reference::project_non_negative;
use crate::engine::{gemm_adjoint_acc, gemm_rows_acc, solve_lower_in_place, Element, SystemMatrix};
use crate::solvers::SolveError;
use magpie_core::operator::LinearOperator;

const NAME: &str = "kaczmarz (blocked)";

/// The block size callers use unless they have measured a better one for their shape (the engine may re-block
/// internally for speed; the iterates do not depend on it beyond rounding).
pub const DEFAULT_BLOCK_ROWS: usize = 64;

/// Rows per block of the complex-f32 one-frame sweep (at most; fewer when the solver was built with fewer): the
/// sweep re-reads a block's rows from L2 for its update, and 32 rows of half a 19³ row (a thread's columns) are
/// 0.9 MB, half the L2 of a core of the benchmark machine (64 rows spill and run 1.6× slower; measured).
pub const ONE_FRAME_BLOCK_ROWS: usize = 32;

/// Per-solve parameters of the blocked Kaczmarz solver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BlockedKaczmarzParams {
    /// Sweeps over all rows.
    pub sweeps: usize,
    /// Project x ← max(Re x, 0) after each sweep; without it x stays complex.
    pub non_negative: bool,
    /// Compute ‖S x − b‖ of the first frame after each sweep (one extra pass over S per sweep: off by default).
    pub residuals: bool,
}

impl Default for BlockedKaczmarzParams {
    fn default() -> Self {
        BlockedKaczmarzParams { sweeps: 3, non_negative: true, residuals: false }
    }
}

impl BlockedKaczmarzParams {
    /// `sweeps` sweeps with the other fields at their defaults.
    pub fn with_sweeps(sweeps: usize) -> Self {
        BlockedKaczmarzParams { sweeps, ..Default::default() }
    }
}

/// What a blocked Kaczmarz solve did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct BlockedKaczmarzInfo {
    /// Sweeps done.
    pub sweeps: usize,
    /// ‖S x − b‖ of the first frame after each sweep (empty unless asked for).
    pub residual_history: Vec<f64>,
}

/// One block of rows with its cached triangle T = tril(G, −1) + diag(‖s‖² + λ), k × k column-major.
#[derive(Debug, Clone)]
struct Block<T> {
    r0: usize,
    k: usize,
    tri: Vec<T>,
}

/// The built state of the blocked Kaczmarz solver for one system matrix, λ and block size; solves any number of
/// frames.
#[derive(Debug, Clone)]
pub struct BlockedKaczmarz<T: Element> {
    system: Arc<SystemMatrix<T>>,
    lambda_eff: f64,
    block_rows: usize,
    blocks: Vec<Block<T>>,
    /// The blocking of the complex-f32 one-frame sweep ([`ONE_FRAME_BLOCK_ROWS`]), built on first use.
    one_frame: std::sync::OnceLock<Vec<Block<T>>>,
}

/// Scratch of one solve: v (rows × frames) and the block right-hand sides (block_rows × frames). Reuse it across
/// solves with the same number of frames to avoid any allocation per solve.
#[derive(Debug, Clone)]
pub struct KaczmarzWorkspace<T> {
    frames: usize,
    v: Vec<T>,
    r: Vec<T>,
    res: Vec<T>,
    partials: Vec<T>,
    prev: Vec<T>,
}

impl<T> KaczmarzWorkspace<T> {
    /// The number of frames this scratch is for.
    pub fn frames(&self) -> usize {
        self.frames
    }
}

impl<T: Element> BlockedKaczmarz<T> {
    /// Computes the per-block triangles (Gram matrices in `f64` accumulation) with the system's parallelism.
    ///
    /// # Errors
    /// λ negative or not finite; `block_rows` zero; a zero row when λ = 0 (its step would divide by zero).
    pub fn build(system: Arc<SystemMatrix<T>>, lambda_eff: f64, block_rows: usize) -> Result<Self, SolveError> {
        crate::solvers::check_lambda(NAME, lambda_eff)?;
        if block_rows == 0 {
            return Err(SolveError::Parameter { solver: NAME, message: "block_rows must be ≥ 1".into() });
        }
        if lambda_eff == 0.0 && system.row_norms_sq().contains(&0.0) {
            return Err(SolveError::Parameter {
                solver: NAME,
                message: "the system has a zero row and λ = 0: drop the row or use λ > 0".into(),
            });
        }
        let blocks = make_blocks(&system, lambda_eff, block_rows);
        Ok(BlockedKaczmarz { system, lambda_eff, block_rows, blocks, one_frame: std::sync::OnceLock::new() })
    }

    /// The system matrix.
    pub fn system(&self) -> &Arc<SystemMatrix<T>> {
        &self.system
    }

    /// The blocks: first row, rows and the cached triangle (k × k column-major).
    pub(crate) fn block_parts(&self) -> Vec<(usize, usize, &[T])> {
        self.blocks.iter().map(|b| (b.r0, b.k, &b.tri[..])).collect()
    }

    /// λ_eff.
    pub fn lambda_eff(&self) -> f64 {
        self.lambda_eff
    }

    /// Rows per block.
    pub fn block_rows(&self) -> usize {
        self.block_rows
    }

    /// Scratch for solves of `frames` frames.
    pub fn workspace(&self, frames: usize) -> KaczmarzWorkspace<T> {
        KaczmarzWorkspace {
            frames,
            v: vec![T::default(); self.system.rows() * frames],
            r: vec![T::default(); self.block_rows.min(self.system.rows()).max(1) * frames],
            res: Vec::new(),
            partials: Vec::new(),
            prev: Vec::new(),
        }
    }

    /// Solves `frames` frames: `b` is rows × frames column-major; returns x, voxels × frames column-major (real
    /// and ≥ 0 when `non_negative`).
    ///
    /// # Errors
    /// Wrong data length; non-finite iterates.
    pub fn solve(
        &self,
        b: &[T],
        frames: usize,
        p: &BlockedKaczmarzParams,
    ) -> Result<(Vec<T>, BlockedKaczmarzInfo), SolveError> {
        let mut x = vec![T::default(); self.system.cols() * frames];
        let mut ws = self.workspace(frames);
        let info = self.solve_into(b, frames, p, &mut x, &mut ws)?;
        Ok((x, info))
    }

    /// As [`solve`](Self::solve), into `x` (voxels × frames, overwritten: the iteration starts at x = 0) with the
    /// caller's scratch; allocates nothing unless residuals are asked for.
    ///
    /// # Errors
    /// Wrong data, x or workspace length; non-finite iterates.
    pub fn solve_into(
        &self,
        b: &[T],
        frames: usize,
        p: &BlockedKaczmarzParams,
        x: &mut [T],
        ws: &mut KaczmarzWorkspace<T>,
    ) -> Result<BlockedKaczmarzInfo, SolveError> {
        let sys = &*self.system;
        let (m, n) = (sys.rows(), sys.cols());
        crate::solvers::check_rows(NAME, m * frames, b.len())?;
        crate::solvers::check_rows(NAME, n * frames, x.len())?;
        if ws.frames != frames {
            return Err(SolveError::Parameter {
                solver: NAME,
                message: format!("workspace is for {} frames, not {frames}", ws.frames),
            });
        }
        // Complex f32 (the production precision): the SIMD sweeps, unless residuals are asked for per sweep.
        if let (false, Some(b32)) = (p.residuals, T::as_c32(b)) {
            let parts = if frames == 1 && self.block_rows > ONE_FRAME_BLOCK_ROWS {
                let own = self.one_frame.get_or_init(|| {
                    if self.block_rows.is_multiple_of(ONE_FRAME_BLOCK_ROWS) {
                        split_blocks(&self.blocks, ONE_FRAME_BLOCK_ROWS)
                    } else {
                        make_blocks(sys, self.lambda_eff, ONE_FRAME_BLOCK_ROWS)
                    }
                });
                own.iter().map(|b| (b.r0, b.k, &b.tri[..])).collect()
            } else {
                self.block_parts()
            };
            let blocks: Option<Vec<super::simd::BlockRef>> = parts
                .into_iter()
                .map(|(r0, k, tri)| T::as_c32(tri).map(|tri| super::simd::BlockRef { r0, k, tri }))
                .collect();
            if let (Some(blocks), Some(data), Some(x32)) = (blocks, T::as_c32(sys.as_slice()), T::as_c32_mut(x)) {
                let sweep = super::simd::Sweep {
                    system: super::simd::Matrix { data, rows: m, cols: n },
                    blocks: &blocks,
                    lambda_eff: self.lambda_eff,
                    sweeps: p.sweeps,
                    non_negative: p.non_negative,
                    threads: sys.parallelism().thread_count(),
                    isa: crate::engine::kernels::Isa::detect(),
                };
                let done = if frames == 1 { sweep.one_frame(b32, x32) } else { sweep.batch(b32, frames, x32) };
                return match done {
                    Ok(()) => Ok(BlockedKaczmarzInfo { sweeps: p.sweeps, residual_history: Vec::new() }),
                    Err(s) => Err(SolveError::Diverged { solver: NAME, iteration: s }),
                };
            }
        }
        let par = sys.parallelism().par();
        let sl = T::from_f64(self.lambda_eff.sqrt());
        let (one, minus_one) = (T::from_f64(1.0), T::from_f64(-1.0));
        x.fill(T::default());
        ws.v.fill(T::default());
        let mut info = BlockedKaczmarzInfo::default();
        if frames == 1 && ws.partials.is_empty() {
            ws.partials = vec![T::default(); n.div_ceil(CHUNK_COLS) * self.block_rows];
            ws.prev = vec![T::default(); self.block_rows];
        }
        for sweep in 0..p.sweeps {
            if frames == 1 {
                sys.parallelism().install(|| self.sweep_one_frame(b, x, ws));
            } else {
                sys.parallelism().install(|| {
                    for blk in &self.blocks {
                        let (r0, k) = (blk.r0, blk.k);
                        let r = &mut ws.r[..k * frames];
                        for f in 0..frames {
                            let (bb, vb) = (&b[f * m + r0..f * m + r0 + k], &ws.v[f * m + r0..f * m + r0 + k]);
                            for ((ri, bi), vi) in r[f * k..(f + 1) * k].iter_mut().zip(bb).zip(vb) {
                                *ri = *bi - sl * *vi;
                            }
                        }
                        let sb = sys.rows_slice(r0, r0 + k);
                        gemm_rows_acc(r, k, k, frames, sb, n, x, minus_one, par);
                        solve_lower_in_place(&blk.tri, k, r, frames, k, par);
                        gemm_adjoint_acc(x, n, frames, sb, k, r, k, one, par);
                        for f in 0..frames {
                            for (vi, ai) in ws.v[f * m + r0..f * m + r0 + k].iter_mut().zip(&r[f * k..(f + 1) * k]) {
                                *vi += sl * *ai;
                            }
                        }
                    }
                });
            }
            if p.non_negative {
                project_non_negative(x);
            }
            if !x.iter().all(|z| z.abs2().is_finite()) {
                return Err(SolveError::Diverged { solver: NAME, iteration: sweep + 1 });
            }
            if p.residuals && frames > 0 {
                ws.res.resize(m, T::default());
                sys.forward_unchecked(&x[..n], &mut ws.res);
                let r: f64 = ws.res.iter().zip(&b[..m]).map(|(a, bb)| (*a - *bb).abs2()).sum();
                info.residual_history.push(r.sqrt());
                tracing::trace!(sweep = sweep + 1, residual = r.sqrt(), "blocked kaczmarz sweep");
            }
            info.sweeps = sweep + 1;
        }
        Ok(info)
    }

    /// One sweep for a single frame, without GEMV calls: the columns are cut into fixed chunks of
    /// [`CHUNK_COLS`]; per block, each chunk first applies the previous block's update x += S_Bᴴ α to its part
    /// of x and then computes its partial products S_B x on the same columns, so the two passes over a block's
    /// chunk run back to back (the chunk stays in cache) and there is one fork–join per block. Partial sums
    /// are reduced in chunk order, so the result does not depend on the number of threads.
    fn sweep_one_frame(&self, b: &[T], x: &mut [T], ws: &mut KaczmarzWorkspace<T>) {
        let sys = &*self.system;
        let n = sys.cols();
        let kmax = self.block_rows;
        let nchunks = n.div_ceil(CHUNK_COLS);
        let sl = T::from_f64(self.lambda_eff.sqrt());
        let parallel = sys.parallelism().thread_count() > 1;
        let (partials, prev, cur, v) = (&mut ws.partials, &mut ws.prev, &mut ws.r, &mut ws.v);
        let mut prev_blk: Option<&Block<T>> = None;
        for blk in self.blocks.iter().map(Some).chain(std::iter::once(None)) {
            let work = |(c, (xc, pc)): (usize, (&mut [T], &mut [T]))| {
                let j0 = c * CHUNK_COLS;
                let j1 = j0 + xc.len();
                if let Some(pb) = prev_blk {
                    for (i, ai) in prev[..pb.k].iter().enumerate() {
                        axpy_conj(*ai, &sys.row(pb.r0 + i)[j0..j1], xc);
                    }
                }
                if let Some(bk) = blk {
                    for (i, pi) in pc[..bk.k].iter_mut().enumerate() {
                        *pi = dot(&sys.row(bk.r0 + i)[j0..j1], xc);
                    }
                }
            };
            if parallel {
                use rayon::prelude::*;
                x.par_chunks_mut(CHUNK_COLS).zip(partials.par_chunks_mut(kmax)).enumerate().for_each(work);
            } else {
                x.chunks_mut(CHUNK_COLS).zip(partials.chunks_mut(kmax)).enumerate().for_each(work);
            }
            let Some(bk) = blk else { break };
            let (r0, k) = (bk.r0, bk.k);
            for i in 0..k {
                let mut acc = b[r0 + i] - sl * v[r0 + i];
                for c in 0..nchunks {
                    acc -= partials[c * kmax + i];
                }
                // Forward substitution with the block's triangle (its diagonal ‖s_i‖² + λ is real).
                for (j, cj) in cur[..i].iter().enumerate() {
                    acc -= bk.tri[j * k + i] * *cj;
                }
                cur[i] = acc * T::from_f64(1.0 / bk.tri[i * k + i].re_f64());
                v[r0 + i] += sl * cur[i];
            }
            prev[..k].copy_from_slice(&cur[..k]);
            prev_blk = Some(bk);
        }
    }
}

/// The blocks of `block_rows` rows with their triangles (Gram matrices accumulated in `f64`).
fn make_blocks<T: Element>(system: &SystemMatrix<T>, lambda_eff: f64, block_rows: usize) -> Vec<Block<T>> {
    use rayon::prelude::*;
    let (m, n) = (system.rows(), system.cols());
    let starts: Vec<usize> = (0..m).step_by(block_rows).collect();
    // Parallel over blocks, each block's Gram product on one thread: a k × k result with a long inner dimension
    // splits badly inside one product, and the result then does not depend on the thread count at all.
    system.parallelism().install(|| {
        starts
            .par_iter()
            .map_init(
                || (Vec::new(), Vec::new()),
                |(wide, gram): &mut (Vec<Complex64>, Vec<Complex64>), &r0| {
                    let k = block_rows.min(m - r0);
                    wide.clear();
                    wide.extend(system.rows_slice(r0, r0 + k).iter().map(|z| z.to_c64()));
                    gram.clear();
                    gram.resize(k * k, Complex64::default());
                    let sb = MatRef::from_row_major_slice(&wide[..], k, n);
                    let g = MatMut::from_column_major_slice_mut(&mut gram[..], k, k);
                    // Only the strictly lower triangle is used.
                    faer::linalg::matmul::triangular::matmul(
                        g,
                        BlockStructure::StrictTriangularLower,
                        Accum::Replace,
                        sb,
                        BlockStructure::Rectangular,
                        sb.adjoint(),
                        BlockStructure::Rectangular,
                        Complex64::new(1.0, 0.0),
                        Par::Seq,
                    );
                    let mut tri = vec![T::default(); k * k];
                    for j in 0..k {
                        tri[j * k + j] = T::from_f64(system.row_norm_sq(r0 + j) + lambda_eff);
                        for i in j + 1..k {
                            tri[j * k + i] = T::from_c64(gram[j * k + i]);
                        }
                    }
                    Block { r0, k, tri }
                },
            )
            .collect()
    })
}

/// The blocking into `rows` rows from a blocking into a multiple of `rows`: the triangle of each sub-block is the
/// diagonal sub-block of its parent's triangle (the same Gram entries, no new products).
fn split_blocks<T: Element>(parents: &[Block<T>], rows: usize) -> Vec<Block<T>> {
    let mut out = Vec::with_capacity(parents.iter().map(|b| b.k.div_ceil(rows)).sum());
    for b in parents {
        for s0 in (0..b.k).step_by(rows) {
            let k = rows.min(b.k - s0);
            let mut tri = vec![T::default(); k * k];
            for j in 0..k {
                for i in j..k {
                    tri[j * k + i] = b.tri[(s0 + j) * b.k + (s0 + i)];
                }
            }
            out.push(Block { r0: b.r0 + s0, k, tri });
        }
    }
    out
}

/// Columns per chunk of the single-frame sweep. Fixed, not derived from the thread count, so that partial sums
/// (and so the iterates) are the same for any number of threads; 1024 complex-f32 columns of a 64-row block are
/// 512 kB, which stays in a core's L2 between the update and the next block's products.
const CHUNK_COLS: usize = 1024;

/// Σ_j s_j x_j (no conjugate) with eight independent partial sums, so that the compiler can vectorise the loop;
/// they are combined in a fixed order.
fn dot<T: Element>(s: &[T], x: &[T]) -> T {
    let mut acc = [T::default(); 8];
    let (sc, xc) = (s.chunks_exact(8), x.chunks_exact(8));
    let (sr, xr) = (sc.remainder(), xc.remainder());
    for (a, b) in sc.zip(xc) {
        for l in 0..8 {
            acc[l] += a[l] * b[l];
        }
    }
    let mut tail = T::default();
    for (a, b) in sr.iter().zip(xr) {
        tail += *a * *b;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// x += α conj(s).
fn axpy_conj<T: Element>(alpha: T, s: &[T], x: &mut [T]) {
    for (xj, sj) in x.iter_mut().zip(s) {
        *xj += alpha * sj.conj();
    }
}
