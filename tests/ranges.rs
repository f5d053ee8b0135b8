//! Range checks of command-line and TOML numbers (issue 13): a value that would make nonsense (an empty or
//! negative map) or exhaust memory is refused before any work, with a message naming the option or field, and
//! nothing is written.

use std::path::{Path, PathBuf};
use std::process::Command;

fn sample(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_data").join(name).to_string_lossy().into_owned()
}

/// Runs `magpie -q <args>` in `dir` with a 1 GB memory budget; asserts the exit code and that stderr names
/// `expect`, and that `out.mdf` was not written.
fn refused(dir: &Path, args: &[&str], code: i32, expect: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_magpie"))
        .current_dir(dir)
        .env("MAGPIE_MEMORY_LIMIT_BYTES", "1000000000")
        .arg("-q")
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: exit {code} expected: {err}");
    assert!(err.contains(expect), "{args:?}: the message names {expect:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(!dir.join("out.mdf").exists(), "{args:?}: nothing written");
}

#[test]
fn numbers_out_of_range_are_refused_with_the_option_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (meas, sm) = (sample("mdf/measurement.mdf"), sample("mdf/system_matrix.mdf"));
    fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        base.iter().chain(extra).copied().collect()
    }
    let reco_base = ["reconstruct", meas.as_str(), "--system-matrix", sm.as_str(), "-o", "out.mdf"];
    let xspace_base = ["reconstruct", meas.as_str(), "--method", "xspace", "-o", "out.mdf"];
    let reco = |extra: &[&'static str]| with(&reco_base, extra);
    let xspace = |extra: &[&'static str]| with(&xspace_base, extra);
    // Command-line options: usage errors (exit 2) naming the option.
    refused(d, &reco(&["--iterations", "0"]), 2, "--iterations");
    refused(d, &reco(&["--snr-threshold", "nan"]), 2, "--snr-threshold");
    refused(d, &reco(&["--max-freq-khz=-5"]), 2, "--max-freq-khz");
    refused(d, &reco(&["--min-freq-khz", "inf"]), 2, "--min-freq-khz");
    refused(d, &reco(&["--delta-iron-ng", "0"]), 2, "--delta-iron-ng");
    refused(d, &reco(&["--max-rows", "0"]), 2, "--max-rows");
    refused(d, &reco(&["--threads", "0"]), 2, "--threads");
    refused(d, &xspace(&["--pg-per-cell=-3"]), 2, "--pg-per-cell");
    refused(d, &xspace(&["--tau-us=-3"]), 2, "--tau-us");
    refused(d, &xspace(&["--voxel-mm", "0"]), 2, "--voxel-mm");
    refused(d, &["sysmat", "--grid", "5x5x1", "--subsamples", "0", "-o", "out.mdf"], 2, "--subsamples");
    refused(d, &["sysmat", "--grid", "5x5x1", "--subsamples", "100000", "-o", "out.mdf"], 2, "1..=16");
    refused(d, &["sysmat", "--grid", "5x5x1", "--averages", "0", "-o", "out.mdf"], 2, "--averages");
    refused(d, &["sysmat", "--grid", "5x5x1", "--concentration-mmol=-1", "-o", "out.mdf"], 2, "--concentration-mmol");
    refused(d, &["simulate", "--phantom", "two_points", "--frames", "0", "-o", "out.mdf"], 2, "--frames");
    refused(d, &["simulate", "--phantom", "two_points", "--lattice-mm", "0", "-o", "out.mdf"], 2, "--lattice-mm");
    // Values checked by the library: exit 1 naming the field.
    refused(d, &["sysmat", "--grid", "5x5x1", "--delta-mm", "0,0,0", "-o", "out.mdf"], 1, "delta_size_m");
    refused(
        d,
        &["simulate", "--phantom", "two_points", "--oversampling", "0", "-o", "out.mdf"],
        1,
        "simulation_oversampling",
    );

    // Memory: estimated and refused before allocating, with the figure.
    refused(d, &["sysmat", "--grid", "300x300x300", "-o", "out.mdf"], 1, "GB, more than the 1.00 GB available");
    refused(d, &["simulate", "--phantom", "two_points", "--frames", "100000000", "-o", "out.mdf"], 1, "GB, more than");

    // TOML files: scanner, tracer, reconstruction parameters.
    let scanner = std::fs::read_to_string(sample("scanners/bruker_2d.toml")).unwrap();
    let singular = scanner.replacen("[0.0, 0.0, 2.0]]", "[0.0, 0.0, 0.0]]", 1);
    assert_ne!(singular, scanner);
    std::fs::write(d.join("singular.toml"), singular).unwrap();
    refused(
        d,
        &["simulate", "--phantom", "two_points", "--scanner", "singular.toml", "-o", "out.mdf"],
        1,
        "invertible",
    );
    let tracer = std::fs::read_to_string(sample("tracers/perimag_like.toml")).unwrap();
    std::fs::write(d.join("nodes.toml"), tracer.replacen("quadrature_nodes = 15", "quadrature_nodes = 100000", 1))
        .unwrap();
    refused(d, &["sysmat", "--grid", "5x5x1", "--tracer", "nodes.toml", "-o", "out.mdf"], 1, "quadrature_nodes");
    let debye = tracer.replacen("tau_s = 2e-6", "tau_s = -2e-6", 1);
    std::fs::write(d.join("tau.toml"), debye).unwrap();
    refused(d, &["sysmat", "--grid", "5x5x1", "--tracer", "tau.toml", "-o", "out.mdf"], 1, "relaxation");
    std::fs::write(
        d.join("zero.toml"),
        "[solver]\nkind = \"kaczmarz\"\niterations = 0\nnon_negative = true\nrandomized = false\nseed = 1\n",
    )
    .unwrap();
    refused(d, &reco(&["--config", "zero.toml"]), 1, "solver.iterations");
    std::fs::write(d.join("snr.toml"), "[frequency]\nsnr_threshold = -1.0\n").unwrap();
    refused(d, &reco(&["--config", "snr.toml"]), 1, "frequency.snr_threshold");
}
