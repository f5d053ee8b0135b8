//! Issue 12: a reconstruction whose memory estimate exceeds the available memory is refused *before* anything
//! large is allocated or read, with the figure and the `--max-rows` value that would fit in the message.
//!
//! The case is the issue's own: a 37³ Bruker-like system matrix at the default preset (≈ 80 000 rows ×
//! 50 653 voxels × 8 B ≈ 32 GB). Such a file is 33 GB on disk; the test crafts one that costs nothing: a 3³
//! calibration from `magpie sysmat` whose `/measurement/data` is replaced by a chunked 37³-sized dataset that
//! is never written (HDF5 allocates no storage for unwritten chunks), with the grid, frame count and
//! background flags to match. Reading it would be slow and return fill values; planning it is instant.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn magpie(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_magpie")).args(args).output().expect("magpie runs")
}

/// Turns the `n`³ calibration `path` into the header of an `m`³ one (same rows, same SNR, no data written).
fn inflate_grid(path: &Path, m: usize) {
    let f = hdf5::File::open_rw(path).unwrap();
    let data = f.dataset("measurement/data").unwrap();
    let shape = data.shape();
    assert_eq!(shape.len(), 4, "layout [J, C, K, N] expected, found {shape:?}");
    let td = data.dtype().unwrap().to_descriptor().unwrap();
    drop(data);
    let flags: Vec<i8> = f.dataset("measurement/isBackgroundFrame").unwrap().read_raw().unwrap();
    let background = flags.iter().filter(|b| **b == 1).count();
    let frames = m * m * m + background;
    f.unlink("measurement/data").unwrap();
    f.new_dataset_builder()
        .empty_as(&td)
        .shape([shape[0], shape[1], shape[2], frames])
        .chunk([1, 1, 1, frames])
        .create("measurement/data")
        .unwrap();
    let new_flags: Vec<i8> = (0..frames).map(|i| i8::from(i >= m * m * m)).collect();
    f.unlink("measurement/isBackgroundFrame").unwrap();
    f.new_dataset_builder().with_data(&new_flags).create("measurement/isBackgroundFrame").unwrap();
    f.dataset("acquisition/numFrames").unwrap().write_scalar(&(frames as i64)).unwrap();
    f.dataset("calibration/size").unwrap().write_raw(&[m as i64, m as i64, m as i64]).unwrap();
}

#[test]
fn a_37_cubed_system_matrix_at_the_default_preset_is_refused_before_allocation_with_the_figure() {
    let dir = tempfile::tempdir().unwrap();
    let sm = dir.path().join("sm37.mdf");
    let meas = dir.path().join("meas.mdf");
    let out = dir.path().join("reco.mdf");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let run =
        magpie(&["-q", "sysmat", "--scanner", "bruker_3d", "--grid", "3x3x3", "--fov-mm", "38,38,19", "-o", &s(&sm)]);
    assert!(run.status.success(), "sysmat: {}", String::from_utf8_lossy(&run.stderr));
    let run = magpie(&["-q", "simulate", "--scanner", "bruker_3d", "--phantom", "two_points", "-o", &s(&meas)]);
    assert!(run.status.success(), "simulate: {}", String::from_utf8_lossy(&run.stderr));
    inflate_grid(&sm, 37);
    let info = magpie(&["inspect", &s(&sm)]);
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(info.contains("37 × 37 × 37"), "the crafted file is not a 37³ calibration:\n{info}");

    // A fixed limit (20 GB, below the ≈ 32 GB the plan needs) keeps the test independent of the machine;
    // without it the limit is MemAvailable, which on a 24 GB machine refuses the same plan.
    let t0 = Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_magpie"))
        .args(["reconstruct", &s(&meas), "--system-matrix", &s(&sm), "-o", &s(&out)])
        .env("MAGPIE_MEMORY_LIMIT_BYTES", "20000000000")
        .output()
        .unwrap();
    let elapsed = t0.elapsed();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "expected a refusal (exit 1):\n{stderr}");
    assert!(stderr.contains("50653 voxels"), "the message should name the voxels:\n{stderr}");
    assert!(stderr.contains("20.00 GB are available"), "the message should name the limit:\n{stderr}");
    // The figure: the estimate, in GB, at least the matrix itself (rows × 50 653 × 8 B > 20 GB).
    let needed: f64 = stderr
        .split("needs ≈ ")
        .nth(1)
        .and_then(|t| t.split(" GB").next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no figure in the message:\n{stderr}"));
    assert!(needed > 20.0 && needed < 40.0, "estimate {needed} GB");
    let max_rows: usize = stderr
        .split("--max-rows ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no --max-rows in the message:\n{stderr}"));
    // What fits: the matrix of max_rows rows stays below the limit, and is a real fraction of the rows.
    assert!((max_rows as f64) * 50653.0 * 8.0 < 20e9, "--max-rows {max_rows} does not fit 20 GB");
    assert!(max_rows > 20_000, "--max-rows {max_rows} is needlessly small");
    assert!(!out.exists(), "no output may be written");
    eprintln!("refused in {elapsed:?}:\n{stderr}");
    // To reproduce by hand (BENCHMARKS.md): keep the crafted files.
    if let Some(keep) = std::env::var_os("MAGPIE_KEEP_REFUSAL_FILES") {
        std::fs::create_dir_all(&keep).unwrap();
        for f in [&sm, &meas] {
            std::fs::copy(f, Path::new(&keep).join(f.file_name().unwrap())).unwrap();
        }
    }
    // Refused before reading: 32 GB of rows cannot be read in this time.
    assert!(elapsed < Duration::from_secs(30), "refusal took {elapsed:?}");
}
