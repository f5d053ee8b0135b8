//! Frames per second of the system-matrix engine's solvers on the 3-D benchmark problem of issue 12 (3000
//! complex rows × 19³ voxels, log-normal row scaling, λ = 1e-3 relative, x ≥ 0): blocked Kaczmarz (3 sweeps) on
//! one frame and on a batch, CGNR (10 iterations) on one frame and on a batch. Prints one JSON object on stdout
//! (progress on stderr), read by `scripts/bench_reco.py`.
//!
//! Timed: the solve only (x = 0 start, all sweeps, projection); not timed: building the problem, the system
//! matrix's norms and the per-block Gram triangles (done once per system matrix in `build`).
//!
//! ```text
//! cargo run --release -p magpie-reconstruct --example kernel_bench -- --threads 2 --repeats 5
//! ```

use std::sync::Arc;
use std::time::Instant;

use magpie_reconstruct::engine::{Parallelism, SystemMatrix};
use magpie_reconstruct::solvers::fast::cgnr::{self, BatchedCgnrParams};
use magpie_reconstruct::solvers::fast::kaczmarz::{BlockedKaczmarz, BlockedKaczmarzParams};
use magpie_reconstruct::solvers::fast::synthetic::Problem;
use num_complex::Complex32;

struct Args {
    rows: usize,
    cols: usize,
    frames: usize,
    sweeps: usize,
    iters: usize,
    lambda: f64,
    threads: usize,
    repeats: usize,
    k1: usize,
    kb: usize,
    seed: u64,
    only: Option<String>,
}

fn parse() -> Args {
    let mut a = Args {
        rows: 3000,
        cols: 19 * 19 * 19,
        frames: 64,
        sweeps: 3,
        iters: 10,
        lambda: 1e-3,
        threads: 2,
        repeats: 5,
        k1: 64,
        kb: 256,
        seed: 20261122,
        only: None,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        let num = || val.parse::<usize>().unwrap_or_else(|_| panic!("{} needs a number", v[i]));
        match v[i].as_str() {
            "--rows" => a.rows = num(),
            "--cols" => a.cols = num(),
            "--frames" => a.frames = num(),
            "--sweeps" => a.sweeps = num(),
            "--iters" => a.iters = num(),
            "--threads" => a.threads = num(),
            "--repeats" => a.repeats = num(),
            "--k1" => a.k1 = num(),
            "--kb" => a.kb = num(),
            "--seed" => a.seed = num() as u64,
            "--lambda" => a.lambda = val.parse().expect("--lambda needs a number"),
            "--only" => a.only = Some(val),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    a
}

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(f64::total_cmp);
    let n = t.len();
    if n % 2 == 1 {
        t[n / 2]
    } else {
        0.5 * (t[n / 2 - 1] + t[n / 2])
    }
}

fn time(repeats: usize, mut f: impl FnMut()) -> Vec<f64> {
    f(); // warm-up: page faults, caches, thread pool start
    (0..repeats)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed().as_secs_f64()
        })
        .collect()
}

/// `sweeps` bare products S x (the matrix streamed once each), the columns split over `threads` threads as the
/// one-frame sweep splits them, 32 rows at a time.
fn stream(s: &[Complex32], m: usize, n: usize, sweeps: usize, threads: usize) {
    use magpie_reconstruct::engine::kernels::{dot_rows_chunked, Isa, Rows};
    let isa = Isa::detect();
    let x = vec![Complex32::new(1.0, 0.0); n];
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (c0, c1) = (t * n / threads, (t + 1) * n / threads);
            let x = &x[c0..c1];
            scope.spawn(move || {
                let chunks = (c1 - c0).div_ceil(512);
                let mut out = vec![num_complex::Complex64::default(); 32 * chunks];
                for _ in 0..sweeps {
                    for r0 in (0..m).step_by(32) {
                        let k = 32.min(m - r0);
                        let rows = Rows::new(&s[r0 * n..(r0 + k) * n], k, n);
                        // The next rows prefetched as the solvers prefetch them, so the bound is the best read.
                        let r1 = (r0 + k + 32).min(m);
                        let ahead = Rows::new(&s[(r0 + k) * n..r1 * n], r1 - r0 - k, n);
                        dot_rows_chunked(isa, rows, ahead, c0, c1, 512, x, &mut out[..k * chunks]);
                    }
                    std::hint::black_box(&out);
                }
            });
        }
    });
}

fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

fn entry(name: &str, frames: usize, ts: &[f64], extra: &str) -> String {
    let med = median(ts.to_vec());
    let min = ts.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = ts.iter().cloned().fold(0.0, f64::max);
    format!(
        "\"{name}\": {{\"frames\": {frames}, \"runs\": {}, \"median_s\": {med:e}, \"min_s\": {min:e}, \"max_s\": {max:e}, \
         \"frames_per_s_median\": {:.4}{extra}}}",
        ts.len(),
        frames as f64 / med
    )
}

fn main() {
    let a = parse();
    let want = |name: &str| a.only.as_deref().is_none_or(|o| o.split(',').any(|w| name.starts_with(w)));
    let t0 = Instant::now();
    let mut pb = Problem::new(a.rows, a.cols, a.frames, a.seed);
    eprintln!(
        "[problem] {} × {} complex64, {} frames, built in {:.1} s",
        a.rows,
        a.cols,
        a.frames,
        t0.elapsed().as_secs_f64()
    );
    let par = Parallelism::threads(a.threads).expect("thread pool");
    // The rows are moved into the holder, never copied.
    let s = Arc::new(SystemMatrix::from_row_major(std::mem::take(&mut pb.s), a.rows, a.cols, par).expect("system"));
    let lam = s.lambda_eff(a.lambda);
    let (m, n) = (a.rows, a.cols);
    let b1: Vec<Complex32> = pb.b[..m].to_vec();
    let mut out = Vec::new();
    let kp = BlockedKaczmarzParams::with_sweeps(a.sweeps);
    let rel = |x: &[Complex32], truth: &[f32]| {
        let num: f64 = x.iter().zip(truth).map(|(z, t)| (f64::from(z.re) - f64::from(*t)).powi(2)).sum();
        let den: f64 = truth.iter().map(|t| f64::from(*t).powi(2)).sum();
        (num / den).sqrt()
    };
    if want("kaczmarz1") {
        let t = Instant::now();
        let solver = BlockedKaczmarz::build(s.clone(), lam, a.k1).expect("build");
        let build_s = t.elapsed().as_secs_f64();
        let mut ws = solver.workspace(1);
        let mut x = vec![Complex32::default(); n];
        let ts = time(a.repeats, || {
            solver.solve_into(&b1, 1, &kp, &mut x, &mut ws).expect("solve");
        });
        let e = rel(&x, &pb.x_true[..n]);
        eprintln!("[kaczmarz1 k{}] {:.2} ms/frame", a.k1, median(ts.clone()) * 1e3);
        out.push(entry(
            &format!("kaczmarz1_blocked_k{}_t{}", a.k1, a.threads),
            1,
            &ts,
            &format!(", \"build_s\": {build_s:e}, \"rel_error_vs_truth\": {e:e}"),
        ));
    }
    if want("kaczmarzB") {
        let t = Instant::now();
        let solver = BlockedKaczmarz::build(s.clone(), lam, a.kb).expect("build");
        let build_s = t.elapsed().as_secs_f64();
        let mut ws = solver.workspace(a.frames);
        let mut x = vec![Complex32::default(); n * a.frames];
        let ts = time(a.repeats, || {
            solver.solve_into(&pb.b, a.frames, &kp, &mut x, &mut ws).expect("solve");
        });
        eprintln!("[kaczmarzB k{}] {:.1} frames/s", a.kb, a.frames as f64 / median(ts.clone()));
        out.push(entry(
            &format!("kaczmarzB_blocked_k{}_t{}", a.kb, a.threads),
            a.frames,
            &ts,
            &format!(", \"build_s\": {build_s:e}"),
        ));
    }
    if want("stream") {
        // What one frame's sweeps cost in reads alone: the same bytes, the same kernel and column split as the
        // one-frame Kaczmarz sweep, without its update, triangles and barriers.
        let ts = time(a.repeats, || stream(s.as_slice(), m, n, a.sweeps, a.threads));
        eprintln!(
            "[stream] {:.2} ms per frame's reads ({:.1} GB/s)",
            median(ts.clone()) * 1e3,
            (a.sweeps * m * n * 8) as f64 / median(ts.clone()) / 1e9
        );
        out.push(entry(&format!("stream_dot_t{}", a.threads), 1, &ts, ""));
    }
    let cp = BatchedCgnrParams::with_iterations(a.iters);
    if want("cgnr1") {
        let ts = time(a.repeats, || {
            cgnr::solve(&*s, &b1, 1, lam, &cp).expect("cgnr");
        });
        eprintln!("[cgnr1] {:.2} ms/frame", median(ts.clone()) * 1e3);
        out.push(entry(&format!("cgnr1_t{}", a.threads), 1, &ts, ""));
    }
    if want("cgnrB") {
        let ts = time(a.repeats, || {
            cgnr::solve(&*s, &pb.b, a.frames, lam, &cp).expect("cgnr");
        });
        eprintln!("[cgnrB] {:.1} frames/s", a.frames as f64 / median(ts.clone()));
        out.push(entry(&format!("cgnrB_t{}", a.threads), a.frames, &ts, ""));
    }
    let rss = peak_rss_bytes().map_or("null".to_string(), |v| v.to_string());
    println!(
        "{{\"tool\": \"kernel_bench\", \"problem\": {{\"M\": {m}, \"N\": {n}, \"F\": {}, \"S_bytes\": {}, \"sweeps\": {}, \
         \"cg_iterations\": {}, \"lambda\": {}, \"lambda_eff\": {lam:e}, \"threads\": {}}}, \"peak_rss_bytes\": {rss}, \
         \"results\": {{{}}}}}",
        a.frames,
        s.bytes(),
        a.sweeps,
        a.iters,
        a.lambda,
        a.threads,
        out.join(", ")
    );
}
