//! `magpie reconstruct` refuses a measurement that its system matrix does not describe (issue 13): a measurement
//! simulated on a scanner that differs from the calibration's in one respect — selection gradient, drive
//! amplitude, drive frequencies, receive channels, field of view — exits 1 before any work, naming what differs
//! with both values; `--allow-mismatch` reconstructs anyway (exit 0, with a warning) where that is meaningful.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn magpie() -> Command {
    Command::new(env!("CARGO_BIN_EXE_magpie"))
}

fn preset() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_data/scanners/bruker_2d.toml");
    std::fs::read_to_string(p).expect("bruker_2d preset")
}

/// The Bruker-like 2-D preset with `from` replaced by `to` (exactly once), as a TOML file in `dir`.
fn variant(dir: &Path, name: &str, edits: &[(&str, &str)]) -> PathBuf {
    let mut text = preset();
    for (from, to) in edits {
        assert_eq!(text.matches(from).count(), 1, "{name}: {from:?} must occur once in the preset");
        text = text.replacen(from, to, 1);
    }
    text = text.replacen("name = \"bruker_2d\"", &format!("name = \"{name}\""), 1);
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

fn simulate(scanner: &Path, out: &Path) {
    let st = magpie()
        .args(["-q", "simulate", "--phantom", "two_points", "--frames", "1", "--scanner"])
        .arg(scanner)
        .arg("-o")
        .arg(out)
        .status()
        .unwrap();
    assert!(st.success(), "simulate with {}", scanner.display());
}

fn reconstruct(sm: &Path, meas: &Path, out: &Path, extra: &[&str]) -> Output {
    magpie()
        .args(["-q", "reconstruct"])
        .arg(meas)
        .arg("--system-matrix")
        .arg(sm)
        .args(["--max-freq-khz", "300"])
        .args(extra)
        .arg("-o")
        .arg(out)
        .output()
        .unwrap()
}

/// (name, edits of the preset, what the message names, whether --allow-mismatch reconstructs anyway).
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a [&'a str], bool);

#[test]
fn reconstruct_refuses_measurements_the_system_matrix_does_not_describe() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sm = d.join("sm.mdf");
    let st = magpie()
        .args(["-q", "sysmat", "--scanner", "bruker_2d", "--grid", "9x9x1", "--fov-mm", "18,18,1"])
        .args(["--max-freq-khz", "300", "-o"])
        .arg(&sm)
        .status()
        .unwrap();
    assert!(st.success());

    // The matching measurement reconstructs: the refusals below are about the one difference each.
    let same = d.join("same.mdf");
    simulate(Path::new("bruker_2d"), &same);
    let out = reconstruct(&sm, &same, &d.join("r_same.mdf"), &[]);
    assert!(out.status.success(), "matching files: {}", String::from_utf8_lossy(&out.stderr));

    let gradient = "gradient_t_per_m = [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 2.0]]";
    let offset = format!("{gradient}\noffset_fields_t = [[0.030, 0.0, 0.0]]");
    let receive_z = "[[receive]]\nname = \"z\"\nsensitivity_t_per_a = [0.0, 0.0, 1.0e-3]\n";
    let cases: [Case; 5] = [
        (
            "gradient_2t",
            vec![(gradient, "gradient_t_per_m = [[-2.0, 0.0, 0.0], [0.0, -2.0, 0.0], [0.0, 0.0, 4.0]]")],
            &["selection gradient", "(-1.000, -1.000, 2.000) T/m", "(-2.000, -2.000, 4.000) T/m"],
            true,
        ),
        (
            "amplitude_3pct",
            vec![("amplitude_t = 0.012\ndivider = 102", "amplitude_t = 0.01236\ndivider = 102")],
            &["drive-field amplitude of channel 1", "12.000 mT", "12.360 mT"],
            true,
        ),
        (
            "frequency",
            vec![
                ("base_frequency_hz = 2.5e6", "base_frequency_hz = 2.6e6"),
                ("sampling_rate_hz = 2.5e6", "sampling_rate_hz = 2.6e6"),
            ],
            &["drive-field frequencies differ", "24.510 kHz", "25.490 kHz"],
            false,
        ),
        ("two_channels", vec![(receive_z, "")], &["receive channels: system matrix 3, measurement 2"], false),
        (
            "offset_30mm",
            // 30 mT of offset along x at 1 T/m moves the FOV (±12 mm) by 30 mm: no overlap.
            vec![(gradient, &offset)],
            &["fields of view do not overlap", "offset fields differ"],
            true,
        ),
    ];
    for (name, edits, expect, allowable) in cases {
        let meas = d.join(format!("{name}.mdf"));
        simulate(&variant(d, name, &edits), &meas);
        let r = d.join(format!("r_{name}.mdf"));
        let out = reconstruct(&sm, &meas, &r, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: refused with exit 1, got {:?}: {err}", out.status);
        for e in expect {
            assert!(err.contains(e), "{name}: the message names {e:?}: {err}");
        }
        assert!(!r.exists(), "{name}: nothing written");
        let out = reconstruct(&sm, &meas, &r, &["--allow-mismatch"]);
        let err = String::from_utf8_lossy(&out.stderr);
        if allowable {
            assert!(out.status.success(), "{name} with --allow-mismatch: {err}");
            assert!(r.exists(), "{name}: written with --allow-mismatch");
        } else {
            // Rows of other frequencies or channels cannot be paired with the measurement's at all.
            assert_eq!(out.status.code(), Some(1), "{name}: refused even with --allow-mismatch: {err}");
        }
    }
}
