//! Reading selected system-matrix rows into contiguous complex-f32 buffers (issue 12, "rows from disk at memory
//! speed"), against the complex-f64 reader on the same rows and the libhdf5 hyperslab path.
//!
//! The file is `MAGPIE_SM_ROWS_FILE` when set (e.g. the 4.4 GB 19³ Bruker-like matrix of
//! `magpie sysmat --scanner bruker_3d --grid 19x19x19 --fov-mm 38,38,19`), otherwise a generated 501 MB processed
//! calibration file in `target/bench-data/` (the one `benches/mdf_read.rs` uses). Both are read from the page
//! cache once warmed by criterion's warm-up.
//!
//! Timed: planning and reading the rows (allocation of the output included: a caller pays it). Not timed:
//! opening the file and choosing the rows. Throughput is the selected-row bytes, rows × (O + E) × 8 B.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use magpie_core::mdf::example::small_system_matrix;
use magpie_core::mdf::{write_mdf, MdfReader, RowId, RowReadOptions, WriteOptions};
use std::path::PathBuf;

fn bench_file() -> PathBuf {
    if let Some(p) = std::env::var_os("MAGPIE_SM_ROWS_FILE") {
        return PathBuf::from(p);
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&dir).expect("bench-data folder");
    let path = dir.join("sm_500mb.mdf");
    if !path.exists() {
        eprintln!("generating {} (once)…", path.display());
        // 19³ voxels + 100 background frames, 3 channels, V = 6000: 3·3001·6959·8 B ≈ 501 MB.
        let f = small_system_matrix([19, 19, 19], 100, 3, 6000);
        write_mdf(&path, &f, &WriteOptions::default()).expect("write bench file");
    }
    path
}

/// The selections of the issue: every k-th row (11 301-ish rows), one run of consecutive rows, and the
/// rows at SNR ≥ 2 (the default preset; ≈ 62 000 rows of the 19³ matrix).
fn selections(reader: &MdfReader) -> Vec<(String, Vec<RowId>)> {
    let all = reader.all_rows();
    let target = 11_301.min(all.len());
    let step = (all.len() / target).max(1);
    let mut out = vec![
        (format!("every_{step}th"), all.iter().step_by(step).take(target).copied().collect()),
        ("run".to_string(), all[all.len() - target..].to_vec()),
    ];
    if let Some(snr) = reader.header.calibration.as_ref().and_then(|c| c.snr.as_ref()) {
        let sel: Vec<RowId> = all.iter().copied().filter(|r| snr[[r.period, r.channel, r.k]] >= 2.0).collect();
        out.push(("snr_ge_2".to_string(), sel));
    }
    out
}

fn sm_rows(c: &mut Criterion) {
    let path = bench_file();
    let reader = MdfReader::open(&path).expect("open");
    let cols = reader.header.measurement.as_ref().map_or(0, |m| m.layout.num_frames());
    eprintln!("bench file {} ({cols} columns per row)", path.display());
    let mut g = c.benchmark_group("sm_rows");
    g.sample_size(10);
    for (name, rows) in selections(&reader) {
        let bytes = (rows.len() * cols * 8) as u64;
        g.throughput(Throughput::Bytes(bytes));
        let label = format!("{name}_{}_rows", rows.len());
        g.bench_with_input(BenchmarkId::new("c32", &label), &rows, |b, rows| {
            b.iter(|| reader.plan_row_read(rows, &RowReadOptions::default()).expect("plan").read().expect("rows"))
        });
        let hs = RowReadOptions::default().with_hyperslab_only(true);
        g.bench_with_input(BenchmarkId::new("c32_hyperslab", &label), &rows, |b, rows| {
            b.iter(|| reader.plan_row_read(rows, &hs).expect("plan").read().expect("rows"))
        });
        // The complex-f64 reader needs twice the memory: only on the smaller selections.
        if rows.len() <= 20_000 {
            g.bench_with_input(BenchmarkId::new("c64", &label), &rows, |b, rows| {
                b.iter(|| reader.system_matrix_rows(rows).expect("rows"))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, sm_rows);
criterion_main!(benches);
