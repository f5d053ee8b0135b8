//! Receive transfer functions as data (issue 13): a network analyser's Touchstone file against the same function
//! in MPIFiles.jl's HDF5 form, and the correction of a measurement simulated through a measured receive chain
//! (scanner key `receive_transfer_function`) with a chain-free system matrix (`reconstruct --tf-file`), in
//! system-matrix and x-space mode.
//!
//! The fixture `tests/fixtures/tf/receive_chain.s2p` (written by `make_receive_chain.py` there) is a 2nd-order
//! band-pass S21 = G·s/(1 − (f/f0)² + s), s = i f/(Q f0), G = 1.25, f0 = 300 kHz, Q = 0.3, at 201 log-spaced
//! points over 1 kHz – 10 MHz in DB format with 5 significant digits.

mod util;

use magpie_core::tf::TransferFunction;
use ndarray::Array2;
use num_complex::Complex64;
use std::path::{Path, PathBuf};
use std::process::Command;

fn magpie() -> Command {
    Command::new(env!("CARGO_BIN_EXE_magpie"))
}

fn chain_s2p() -> PathBuf {
    util::fixture("tf/receive_chain.s2p")
}

/// The analytic chain of the fixture.
fn band_pass(f: f64) -> Complex64 {
    let s = Complex64::new(0.0, f / (0.3 * 300e3));
    1.25 * s / (1.0 - (f / 300e3).powi(2) + s)
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{:?}: {}", cmd, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn touchstone_s21_agrees_with_the_hdf5_form_to_the_printed_precision() {
    let dir = tempfile::tempdir().unwrap();
    let s2p = TransferFunction::read(&chain_s2p()).unwrap();
    assert_eq!(s2p.frequency_hz().len(), 201);
    assert_eq!(s2p.band_hz(), (1e3, 10e6));
    // The same function at full precision, at the fixture's (printed) frequencies, in the HDF5 form: the two
    // differ only by the printing of 5 significant digits of dB and degrees (≤ 0.0005 dB ≈ 5.8e-5 relative
    // in magnitude, ≤ 0.0005° ≈ 8.7e-6 rad), everywhere in the band since both interpolate alike.
    let f = s2p.frequency_hz().to_vec();
    let data = Array2::from_shape_fn((1, f.len()), |(_, k)| band_pass(f[k]));
    let exact = TransferFunction::new(f, data, Some(vec![1.0]), "analytic").unwrap();
    let h5 = dir.path().join("analytic.h5");
    magpie_core::mdf::write_transfer_function(&h5, &exact).unwrap();
    let exact = TransferFunction::read(&h5).unwrap();
    let rel = |fk: f64| {
        let (a, b) = (s2p.at(0, fk).unwrap(), exact.at(0, fk).unwrap());
        (a - b).norm() / b.norm()
    };
    let worst = (0..=400).map(|i| rel(1e3 * 10f64.powf(4.0 * i as f64 / 400.0))).fold(0.0, f64::max);
    assert!(worst < 7e-5, "Touchstone vs HDF5: worst relative difference {worst:.2e}");
    // Interpolation (magnitude and unwrapped phase linear over the 4.7 % steps) follows the analytic response
    // within 1e-3 between the points.
    let interp = (0..=400)
        .map(|i| {
            let fk = 1e3 * 10f64.powf(4.0 * (i as f64 + 0.5) / 401.0);
            (s2p.at(0, fk).unwrap() - band_pass(fk)).norm() / band_pass(fk).norm()
        })
        .fold(0.0, f64::max);
    assert!(interp < 1e-3, "interpolation error {interp:.2e}");
    // `magpie tf convert` writes the Touchstone data unchanged into the HDF5 form, which reads back identically.
    let out = dir.path().join("chain.h5");
    let png = dir.path().join("chain.png");
    let text = run_ok(magpie().args(["tf", "convert"]).arg(chain_s2p()).arg("-o").arg(&out).arg("--png").arg(&png));
    assert!(text.contains("201 points") && text.contains("1.000000 – 10000.000000 kHz"), "{text}");
    assert!(std::fs::metadata(&png).unwrap().len() > 1000);
    let back = TransferFunction::read(&out).unwrap();
    assert_eq!(back.frequency_hz(), s2p.frequency_hz());
    assert_eq!(back.data(), s2p.data());
    assert_eq!(back.induction_factor(), Some(&[1.0][..]));
    // The [C, K, 2] float layout (trailing re/im axis) reads as the compound one.
    let alt = dir.path().join("alt.h5");
    {
        let f = hdf5::File::create(&alt).unwrap();
        let fr = ndarray::Array1::from(s2p.frequency_hz().to_vec());
        f.new_dataset_builder().with_data(&fr).create("frequencies").unwrap();
        let k = fr.len();
        let ri = ndarray::Array3::from_shape_fn((1, k, 2), |(_, kk, j)| {
            let z = s2p.data()[[0, kk]];
            if j == 0 {
                z.re
            } else {
                z.im
            }
        });
        f.new_dataset_builder().with_data(&ri).create("transferFunction").unwrap();
    }
    let alt = TransferFunction::read(&alt).unwrap();
    assert_eq!(alt.data(), s2p.data());
    assert_eq!(alt.induction_factor(), None);
}

#[test]
fn malformed_touchstone_is_refused_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.s2p");
    std::fs::write(&bad, "# kHz S DB R 50\n1 -20 0 -37.1 89.3 -60 0 -20 0\n2 -20 0 -36.7\n").unwrap();
    let out = magpie().args(["tf", "show"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3") && err.contains("expected 9 values"), "{err}");
}

/// A scanner preset as a TOML file in `dir` whose receive chain is the true (analytic) band-pass, given at
/// full precision on 2001 log-spaced points over 1 kHz – 10 MHz in the HDF5 form (by a relative path); the
/// network analyser's view of it, the fixture, is copied beside it for the correction. Correcting with the
/// fixture therefore carries its printing and interpolation errors, as a measured chain would.
fn chained_scanner(dir: &Path, preset: &str) -> PathBuf {
    std::fs::copy(chain_s2p(), dir.join("receive_chain.s2p")).unwrap();
    let f: Vec<f64> = (0..=2000).map(|i| 1e3 * 10f64.powf(4.0 * i as f64 / 2000.0)).collect();
    let data = Array2::from_shape_fn((1, f.len()), |(_, k)| band_pass(f[k]));
    let truth = TransferFunction::new(f, data, None, "true chain").unwrap();
    magpie_core::mdf::write_transfer_function(&dir.join("true_chain.h5"), &truth).unwrap();
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("sample_data/scanners/{preset}.toml")),
    )
    .unwrap();
    // Top-level keys go before the first table.
    let at = text.find("\n[").unwrap();
    let text = format!("{}\nreceive_transfer_function = \"true_chain.h5\"{}", &text[..at], &text[at..]);
    let path = dir.join(format!("{preset}_chain.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn total_ng(stdout: &str) -> f64 {
    let line = stdout.lines().find(|l| l.contains("total iron in the FOV")).unwrap_or_else(|| panic!("{stdout}"));
    line.split("FOV ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap()
}

/// Totals of the chain-free reference, of the chained measurement corrected with --tf-file, and uncorrected.
fn three_totals(dir: &Path, reference: &Path, chained: &Path, extra: &[&str]) -> (f64, f64, f64) {
    let reco = |meas: &Path, tf: bool, name: &str| {
        let mut c = magpie();
        c.args(["-q", "reconstruct"]).arg(meas).args(extra).arg("-o").arg(dir.join(name));
        if tf {
            c.arg("--tf-file").arg(dir.join("receive_chain.s2p"));
        }
        total_ng(&run_ok(&mut c))
    };
    (reco(reference, false, "ref.mdf"), reco(chained, true, "tf.mdf"), reco(chained, false, "raw.mdf"))
}

#[test]
fn tf_file_recovers_the_chain_free_iron_in_system_matrix_mode() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let scanner = chained_scanner(d, "bruker_2d");
    let sm = d.join("sm.mdf");
    run_ok(
        magpie()
            .args(["-q", "sysmat", "--scanner", "bruker_2d", "--grid", "9x9x1", "--fov-mm", "18,18,1"])
            .args(["--max-freq-khz", "600", "-o"])
            .arg(&sm),
    );
    let simulate = |scanner: &str, out: &Path| {
        run_ok(
            magpie()
                .args(["-q", "simulate", "--phantom", "two_points", "--scanner", scanner, "--no-noise", "-o"])
                .arg(out),
        )
    };
    let (reference, chained) = (d.join("meas_ref.mdf"), d.join("meas_chain.mdf"));
    simulate("bruker_2d", &reference);
    simulate(scanner.to_str().unwrap(), &chained);
    // The chained file records what its data went through.
    let m = magpie_core::mdf::read_mdf(&chained).unwrap();
    assert!(m.acquisition.receiver.transfer_function.is_some());
    assert!(m.acquisition.receiver.transfer_function_file_name.as_deref().unwrap().ends_with("true_chain.h5"));
    assert!(!m.measurement.as_ref().unwrap().layout.is_transfer_function_corrected);

    let sm_arg = ["-s", sm.to_str().unwrap()];
    let (t_ref, t_tf, t_raw) = three_totals(d, &reference, &chained, &sm_arg);
    let (e_tf, e_raw) = (t_tf / t_ref - 1.0, t_raw / t_ref - 1.0);
    eprintln!(
        "system matrix: chain-free {t_ref:.2} ng; chained with --tf-file {t_tf:.2} ng ({:+.3} %); without {t_raw:.2} ng ({:+.1} %)",
        100.0 * e_tf,
        100.0 * e_raw
    );
    assert!(e_tf.abs() < 0.01, "--tf-file: {t_tf:.2} ng vs {t_ref:.2} ng");
    assert!(e_raw.abs() > 0.05, "without correction the total should differ noticeably: {t_raw:.2} vs {t_ref:.2}");

    // Correcting twice is refused: a measurement flagged as corrected, or --tf with --tf-file.
    let mut flagged = m.clone();
    flagged.measurement.as_mut().unwrap().layout.is_transfer_function_corrected = true;
    let flagged_path = d.join("flagged.mdf");
    magpie_core::mdf::write_mdf(&flagged_path, &flagged, &Default::default()).unwrap();
    let out = magpie()
        .args(["-q", "reconstruct"])
        .arg(&flagged_path)
        .args(sm_arg)
        .arg("--tf-file")
        .arg(d.join("receive_chain.s2p"))
        .arg("-o")
        .arg(d.join("never.mdf"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already transfer-function corrected"), "{err}");
    let out = magpie()
        .args(["-q", "reconstruct"])
        .arg(&chained)
        .args(sm_arg)
        .args(["--tf", "--tf-file"])
        .arg(d.join("receive_chain.s2p"))
        .arg("-o")
        .arg(d.join("never.mdf"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn tf_file_recovers_the_chain_free_iron_in_xspace_mode() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let scanner = chained_scanner(d, "xspace_1d_pfov");
    let simulate = |scanner: &str, out: &Path| {
        run_ok(
            magpie()
                .args(["-q", "simulate", "--phantom", "two_points", "--scanner", scanner, "--tracer", "ideal_25nm"])
                .args(["--no-noise", "--no-background", "-o"])
                .arg(out),
        )
    };
    let (reference, chained) = (d.join("meas_ref.mdf"), d.join("meas_chain.mdf"));
    simulate("xspace_1d_pfov", &reference);
    simulate(scanner.to_str().unwrap(), &chained);
    let (t_ref, t_tf, t_raw) = three_totals(d, &reference, &chained, &["--method", "xspace"]);
    let (e_tf, e_raw) = (t_tf / t_ref - 1.0, t_raw / t_ref - 1.0);
    eprintln!(
        "x-space: chain-free {t_ref:.2} ng; chained with --tf-file {t_tf:.2} ng ({:+.3} %); without {t_raw:.2} ng ({:+.1} %)",
        100.0 * e_tf,
        100.0 * e_raw
    );
    assert!(e_tf.abs() < 0.01, "--tf-file: {t_tf:.2} ng vs {t_ref:.2} ng");
    assert!(e_raw.abs() > 0.05, "without correction the total should differ noticeably: {t_raw:.2} vs {t_ref:.2}");

    // A chain measured only from 60 kHz cannot correct the 50 kHz harmonic x-space images: a clear error.
    let text = std::fs::read_to_string(chain_s2p()).unwrap();
    let narrow: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(['!', '#']) || l.split(' ').next().unwrap().parse::<f64>().unwrap() >= 60.0)
        .collect();
    let narrow_path = d.join("narrow.s2p");
    std::fs::write(&narrow_path, narrow.join("\n")).unwrap();
    let out = magpie()
        .args(["-q", "reconstruct"])
        .arg(&chained)
        .args(["--method", "xspace", "--tf-file"])
        .arg(&narrow_path)
        .arg("-o")
        .arg(d.join("never.mdf"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("50 kHz is outside its measured band"), "{err}");
}
