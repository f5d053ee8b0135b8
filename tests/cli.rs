//! End-to-end tests of the `magpie` binary.

mod util;

use std::process::Command;

fn magpie() -> Command {
    Command::new(env!("CARGO_BIN_EXE_magpie"))
}

#[test]
fn help_lists_every_subcommand() {
    let out = magpie().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["inspect", "demo"] {
        assert!(text.contains(sub), "--help lacks {sub}: {text}");
    }
}

#[test]
fn demo_writes_and_inspects_an_example_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = magpie().args(["-q", "demo", "--out"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("24.5098 kHz") && text.contains("3 foreground, 1 background"), "{text}");
    assert!(dir.path().join("example_measurement.mdf").exists());
}

#[test]
fn inspect_json_reports_physical_units() {
    let out = magpie().args(["inspect", "--json"]).arg(util::fixture("sm_ffa_bg.mdf")).output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["drive_field_channels"][0]["amplitude_mt"][0].as_f64(), Some(12.0));
    let f = v["drive_field_channels"][1]["frequency_khz"][0].as_f64().unwrap();
    assert!((f - 2500.0 / 96.0).abs() < 1e-9);
    assert_eq!(v["gradient_t_per_m"][2][2].as_f64(), Some(2.0));
    assert_eq!(v["measurement"]["background_frames"].as_u64(), Some(3));
    assert_eq!(v["calibration"]["grid_size"][0].as_u64(), Some(3));
    assert_eq!(v["calibration"]["field_of_view_mm"][0].as_f64(), Some(6.0));
}

#[test]
fn inspect_refuses_a_malformed_file_with_the_dataset_named() {
    let out = magpie().args(["inspect"]).arg(util::fixture("bad/bad_data_shape.mdf")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/measurement/data"), "{err}");
    // NaN in the data is found with --check (plain inspect reads metadata only).
    let out = magpie().args(["inspect", "--check"]).arg(util::fixture("bad/bad_nan.mdf")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("non-finite"));
}
