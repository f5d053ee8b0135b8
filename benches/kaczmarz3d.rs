//! The 3-D system-matrix solve of issue 12: 3000 complex-f32 rows × 19³ voxels (i.i.d. complex Gaussian entries
//! with log-normal row scaling), λ = 1e-3 relative, x ≥ 0. Groups: blocked Kaczmarz, 3 sweeps, on one frame and
//! on a batch of 64 frames; CGNR, 10 iterations, on one frame and on 64. Throughput is in frames.
//!
//! Timed: the solve (x = 0 start, all sweeps or iterations, projection). Not timed: building the problem, the
//! row norms and the per-block Gram triangles (computed once per system matrix in `build`).
//! `MAGPIE_BENCH_THREADS` sets the engine's threads (default: all cores). The comparison against numpy and the
//! machine's bounds is made by `scripts/bench_reco.sh`, which runs the `kernel_bench` example.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use magpie_reconstruct::engine::{Parallelism, SystemMatrix};
use magpie_reconstruct::solvers::fast::cgnr::{self, BatchedCgnrParams};
use magpie_reconstruct::solvers::fast::kaczmarz::{BlockedKaczmarz, BlockedKaczmarzParams};
use magpie_reconstruct::solvers::fast::synthetic::Problem;
use num_complex::Complex32;

const ROWS: usize = 3000;
const VOXELS: usize = 19 * 19 * 19;
const FRAMES: usize = 64;

fn bench(c: &mut Criterion) {
    let threads = std::env::var("MAGPIE_BENCH_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let pb = Problem::new(ROWS, VOXELS, FRAMES, 20261122);
    let par = Parallelism::threads(threads).expect("thread pool");
    let s = Arc::new(SystemMatrix::from_row_major(pb.s.clone(), ROWS, VOXELS, par).expect("system"));
    let lam = s.lambda_eff(1e-3);
    let kp = BlockedKaczmarzParams::with_sweeps(3);
    let mut g = c.benchmark_group("kaczmarz3d");
    g.sample_size(10);
    for (name, frames, k) in [("kaczmarz_1_frame_k64", 1usize, 64usize), ("kaczmarz_64_frames_k256", FRAMES, 256)] {
        let solver = BlockedKaczmarz::build(s.clone(), lam, k).expect("build");
        let mut ws = solver.workspace(frames);
        let mut x = vec![Complex32::default(); VOXELS * frames];
        let b = &pb.b[..ROWS * frames];
        g.throughput(Throughput::Elements(frames as u64));
        g.bench_function(name, |bn| bn.iter(|| solver.solve_into(b, frames, &kp, &mut x, &mut ws).expect("solve")));
    }
    let cp = BatchedCgnrParams::with_iterations(10);
    for (name, frames) in [("cgnr_1_frame", 1usize), ("cgnr_64_frames", FRAMES)] {
        let b = &pb.b[..ROWS * frames];
        g.throughput(Throughput::Elements(frames as u64));
        g.bench_function(name, |bn| bn.iter(|| cgnr::solve(&*s, b, frames, lam, &cp).expect("cgnr")));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
