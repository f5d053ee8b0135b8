//! MDF read throughput: reading a subset of system-matrix rows straight from disk versus loading the whole
//! matrix. Uses a generated calibration file of ≥ 500 MB (complex64, processed layout [J, C, K, O+E]), written
//! once to `target/bench-data/` and reused.
//!
//! Timed: opening the file (metadata) and reading + converting the selected rows. Not timed: generating the file.
//! Throughput is the number of bytes of the rows read.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use magpie_core::mdf::example::small_system_matrix;
use magpie_core::mdf::{write_mdf, MdfReader, RowId, WriteOptions};
use rand::{Rng, SeedableRng};
use std::path::PathBuf;

/// 19³ voxels + 100 background frames, 3 channels, V = 6000 (K = 3001): 3·3001·6959·8 B ≈ 501 MB.
const SIZE: [usize; 3] = [19, 19, 19];
const BG: usize = 100;
const CHANNELS: usize = 3;
const V: usize = 6000;

fn bench_file() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).expect("bench-data folder");
    let path = dir.join("sm_500mb.mdf");
    if !path.exists() {
        eprintln!("generating {} (once)…", path.display());
        let f = small_system_matrix(SIZE, BG, CHANNELS, V);
        write_mdf(&path, &f, &WriteOptions::default()).expect("write bench file");
    }
    path
}

fn rows(reader: &MdfReader, n: usize, seed: u64) -> Vec<RowId> {
    let all = reader.all_rows();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| all[rng.random_range(0..all.len())]).collect()
}

fn row_subset(c: &mut Criterion) {
    let path = bench_file();
    let size_mb = std::fs::metadata(&path).map(|m| m.len() as f64 / 1e6).unwrap_or(0.0);
    eprintln!("bench file: {size_mb:.0} MB");
    let reader = MdfReader::open(&path).expect("open");
    let cols = SIZE.iter().product::<usize>() + BG;
    let mut g = c.benchmark_group("mdf_read");
    g.sample_size(10);
    for n in [10usize, 300] {
        let sel = rows(&reader, n, 42);
        g.throughput(Throughput::Bytes((n * cols * 8) as u64));
        g.bench_function(format!("row_subset_{n}_rows"), |b| {
            b.iter(|| {
                let r = MdfReader::open(&path).expect("open");
                r.system_matrix_rows(&sel).expect("rows")
            })
        });
    }
    // Baseline: what a reader without row selection must do — load the whole matrix, then pick rows.
    let sel = rows(&reader, 300, 42);
    g.throughput(Throughput::Bytes((300 * cols * 8) as u64));
    g.bench_function("full_read_then_select_300_rows", |b| {
        b.iter(|| {
            let f = magpie_core::mdf::read_mdf(&path).expect("read");
            let sm = magpie_core::mdf::system_matrix(&f).expect("sm");
            let picked: Vec<_> = sel
                .iter()
                .filter_map(|r| sm.rows.iter().position(|a| a == r))
                .map(|i| sm.foreground.row(i).to_owned())
                .collect();
            picked
        })
    });
    g.finish();
}

criterion_group!(benches, row_subset);
criterion_main!(benches);
