//! The command-line conventions of issue 11: a clean console, exit codes, frame conventions, frequency selection
//! on the command line, and defaults that fit together.

mod util;

use magpie_core::mdf::{read_mdf, ParamValue};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn magpie() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_magpie"));
    c.env_remove("RUST_LOG");
    c
}

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/mdf").join(name)
}

fn run(args: &[&str], dir: &Path) -> Output {
    magpie().args(args).current_dir(dir).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The `/reconstruction/_parameters` entry `key` of a file.
fn param(path: &Path, key: &str) -> ParamValue {
    let f = read_mdf(path).unwrap();
    f.reconstruction.unwrap().parameters.get(key).unwrap_or_else(|| panic!("{key} missing")).clone()
}

fn reco_data(path: &Path) -> Vec<f64> {
    read_mdf(path).unwrap().reconstruction.unwrap().data.to_f64_lossy().iter().copied().collect()
}

#[test]
fn issue_011_piped_stderr_of_every_subcommand_is_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = sample("measurement.mdf").display().to_string();
    let sm = sample("system_matrix.mdf").display().to_string();
    let truth = sample("truth.mdf").display().to_string();
    let reco = sample("reconstruction.mdf").display().to_string();
    let suite = d.join("suite.toml");
    std::fs::write(
        &suite,
        "name = \"tiny\"\n[[case]]\nname = \"pts\"\nphantom = \"two_points\"\nscanner = \"xspace_1d_pfov\"\n\
         tracer = \"ideal_25nm\"\ngrid = [40, 1, 1]\nfov_mm = [20.0, 1.0, 1.0]\nmethods = [\"xspace\"]\n",
    )
    .unwrap();
    let suite = suite.display().to_string();
    let cases: Vec<Vec<&str>> = vec![
        vec!["-v", "inspect", &m],
        vec!["-v", "phantom", "two_points", "-o", "p.mdf"],
        vec!["-v", "sysmat", "--grid", "5x5x1", "--fov-mm", "10,10,1", "--max-freq-khz", "150", "-o", "s.mdf"],
        vec!["-v", "simulate", "--phantom", "two_points", "-o", "m.mdf"],
        vec!["-v", "reconstruct", &m, "-s", &sm, "-o", "r.mdf"],
        vec!["-v", "compare", &reco, &truth],
        vec!["-v", "bench", "--suite", &suite, "-o", "b"],
        vec!["-v", "completions", "zsh"],
        // Errors too: their messages are plain.
        vec!["inspect", "missing.mdf"],
        vec!["reconstruct", "missing.mdf", "-s", &sm, "-o", "x.mdf"],
    ];
    for args in cases {
        let out = run(&args, d);
        let err = stderr(&out);
        assert!(!out.stderr.contains(&0x1b), "escape codes in piped stderr of {args:?}:\n{err}");
        if args[0] == "-v" {
            assert!(out.status.success(), "{args:?}: {err}");
        }
    }
    // calibrate and demo are run in tests of their own (below and in cli.rs).
}

/// Runs `cmd` under a pseudo-terminal (util-linux `script`), returning what the terminal showed.
fn on_terminal(cmd: &str, no_color: bool) -> Option<String> {
    let mut c = Command::new("script");
    c.args(["-qec", cmd, "/dev/null"]).env_remove("RUST_LOG");
    if no_color {
        c.env("NO_COLOR", "1");
    } else {
        c.env_remove("NO_COLOR");
    }
    let out = c.output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn issue_011_colour_on_a_terminal_only_without_no_color() {
    // `phantom` without -o logs its grid and prints the iron: log lines to colour, no file to write.
    let cmd = format!("{} phantom two_points", env!("CARGO_BIN_EXE_magpie"));
    let Some(coloured) = on_terminal(&cmd, false) else {
        eprintln!("skipped: util-linux `script` is not available to provide a terminal");
        return;
    };
    assert!(coloured.contains('\u{1b}'), "a terminal gets colour: {coloured}");
    let plain = on_terminal(&cmd, true).unwrap();
    assert!(!plain.contains('\u{1b}'), "NO_COLOR=1 gives plain text: {plain}");
}

#[test]
fn issue_011_calibrate_prints_a_summary_not_a_log_per_measurement() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_data/calibration/bruker_perimag.toml");
    let out = magpie().args(["calibrate", "--simulate"]).arg(&spec).arg("-o").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = String::from_utf8_lossy(&out.stdout).lines().count() + stderr(&out).lines().count();
    assert!(lines <= 20, "{lines} lines at the default verbosity:\n{}", stderr(&out));
    assert!(!out.stderr.contains(&0x1b));
    assert!(!stderr(&out).contains("plan: plan"), "{}", stderr(&out));
    // -v shows the per-measurement detail.
    let out = magpie().args(["-v", "calibrate", "--simulate"]).arg(&spec).arg("-o").arg(dir.path()).output().unwrap();
    assert!(stderr(&out).lines().count() > 100, "-v shows every measurement's log");
}

#[test]
fn issue_011_exit_codes_distinguish_errors_usage_and_failed_checks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let reco = sample("reconstruction.mdf").display().to_string();
    let truth = sample("truth.mdf").display().to_string();
    let code = |args: &[&str]| run(args, d).status.code();
    // A check that ran and failed: 3.
    assert_eq!(code(&["compare", &reco, &truth, "-t", "0.5"]), Some(0));
    assert_eq!(code(&["compare", &reco, &truth, "-t", "1e-6"]), Some(3));
    let bad = util::fixture("bad/bad_nan.mdf").display().to_string();
    assert_eq!(code(&["inspect", "--check", &bad]), Some(3));
    let bad_shape = util::fixture("bad/bad_data_shape.mdf").display().to_string();
    assert_eq!(code(&["inspect", "--check", &bad_shape]), Some(3));
    assert_eq!(code(&["inspect", &bad_shape]), Some(1), "without --check a broken file is an error");
    assert_eq!(code(&["inspect", "--check", &reco]), Some(0));
    // bench --check against a baseline that no reconstruction can meet.
    std::fs::write(
        d.join("suite.toml"),
        "name = \"tiny\"\n[[case]]\nname = \"pts\"\nphantom = \"two_points\"\nscanner = \"xspace_1d_pfov\"\n\
         tracer = \"ideal_25nm\"\ngrid = [40, 1, 1]\nfov_mm = [20.0, 1.0, 1.0]\nmethods = [\"xspace\"]\n",
    )
    .unwrap();
    assert_eq!(code(&["-q", "bench", "--suite", "suite.toml", "-o", "b", "--write-baseline", "base.json"]), Some(0));
    assert_eq!(code(&["-q", "bench", "--suite", "suite.toml", "-o", "b", "--check", "base.json"]), Some(0));
    let mut base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("base.json")).unwrap()).unwrap();
    for r in base["rows"].as_array_mut().unwrap() {
        r["nrmse"] = serde_json::json!(0.0);
    }
    base["nrmse_relative"] = serde_json::json!(0.0);
    base["nrmse_absolute"] = serde_json::json!(0.0);
    std::fs::write(d.join("strict.json"), base.to_string()).unwrap();
    assert_eq!(code(&["-q", "bench", "--suite", "suite.toml", "-o", "b", "--check", "strict.json"]), Some(3));
    // Missing files: 1.
    assert_eq!(code(&["inspect", "missing.mdf"]), Some(1));
    assert_eq!(code(&["compare", "missing.mdf", &truth]), Some(1));
    assert_eq!(code(&["reconstruct", "missing.mdf", "-s", &reco, "-o", "x.mdf"]), Some(1));
    // Usage errors: 2.
    assert_eq!(code(&["reconstruct", &reco, "--no-such-option"]), Some(2));
    assert_eq!(code(&["reconstruct", &reco, "-s", &reco, "--frames", "3:1", "-o", "x.mdf"]), Some(2));
    assert_eq!(code(&["reconstruct", &reco, "-s", &reco, "--frames-1based", "0:1", "-o", "x.mdf"]), Some(2));
    assert_eq!(code(&["sysmat", "--grid", "0x3", "-o", "x.mdf"]), Some(2));
    assert!(!d.join("x.mdf").exists());
    // The codes are documented in --help.
    let help = String::from_utf8_lossy(&run(&["--help"], d).stdout).into_owned();
    assert!(help.contains("Exit codes") && help.contains("3  a check that ran and failed"), "{help}");
}

#[test]
fn issue_011_one_based_frames_are_mpireco_frames() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = sample("measurement.mdf").display().to_string();
    let sm = sample("system_matrix.mdf").display().to_string();
    let reco = |extra: &[&str], out: &str| {
        // --average 1: every frame its own map (the default, 0, averages the selected frames into one).
        let mut args =
            vec!["-q", "reconstruct", m.as_str(), "-s", sm.as_str(), "--preset", "sparse", "--average", "1", "-o", out];
        args.extend_from_slice(extra);
        let o = run(&args, d);
        assert!(o.status.success(), "{}", stderr(&o));
        reco_data(&d.join(out))
    };
    let zero = reco(&["--frames", "0:1"], "a.mdf");
    let one = reco(&["--frames-1based", "1:1"], "b.mdf");
    assert_eq!(zero, one);
    let last = reco(&["--frames-1based", "4:4"], "c.mdf");
    assert_eq!(last, reco(&["--frames", "3"], "d.mdf"));
    assert_eq!(reco(&["--frames-1based", "2:3"], "e.mdf").len(), 2 * zero.len());
    assert_ne!(zero, last, "different frames (independent noise) give different maps");
}

#[test]
fn issue_011_frequency_selection_options_equal_their_toml_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = sample("measurement.mdf").display().to_string();
    let sm = sample("system_matrix.mdf").display().to_string();
    let rows = |extra: &[&str], out: &str| -> i64 {
        let mut args = vec!["-q", "reconstruct", m.as_str(), "-s", sm.as_str(), "-o", out];
        args.extend_from_slice(extra);
        let o = run(&args, d);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        match param(&d.join(out), "rows_used") {
            ParamValue::Int(n) => n,
            other => panic!("rows_used: {other:?}"),
        }
    };
    let all = rows(&["--min-freq-khz", "40"], "all.mdf");
    let cases: [(&[&str], &str); 4] = [
        (&["--channels", "0"], "channels = [0]"),
        (&["--max-mixing-order", "3"], "max_mixing_order = 3"),
        (
            &["--stop-band", "73:79", "--stop-band", "120:130"],
            "stop_bands_hz = [[73000.0, 79000.0], [120000.0, 130000.0]]",
        ),
        (&["--max-freq-khz", "150"], "max_frequency_hz = 150000.0"),
    ];
    for (i, (opts, toml_line)) in cases.iter().enumerate() {
        let mut cli = vec!["--min-freq-khz", "40"];
        cli.extend_from_slice(opts);
        let by_cli = rows(&cli, &format!("cli{i}.mdf"));
        let cfg = d.join(format!("cfg{i}.toml"));
        std::fs::write(&cfg, format!("[frequency]\nmin_frequency_hz = 40000.0\n{toml_line}\n")).unwrap();
        let by_toml = rows(&["--config", cfg.to_str().unwrap()], &format!("toml{i}.mdf"));
        assert_eq!(by_cli, by_toml, "{opts:?} vs {toml_line}");
        assert!(by_cli < all, "{opts:?} selects fewer rows than all ({by_cli} of {all})");
    }
    // The old spelling in Hz still works and means the same.
    assert_eq!(rows(&["--min-freq", "40000"], "old.mdf"), all);
}

#[test]
fn issue_011_default_phantom_sysmat_simulate_reconstruct_compare_run_in_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for args in [
        vec!["phantom", "concentration_cubes_2d", "-o", "truth.mdf"],
        vec!["sysmat", "-o", "sm.mdf"],
        vec!["simulate", "--phantom", "concentration_cubes_2d", "-o", "meas.mdf"],
        vec!["reconstruct", "meas.mdf", "-s", "sm.mdf", "-o", "reco.mdf"],
        vec!["compare", "reco.mdf", "truth.mdf"],
    ] {
        let o = run(&args, d);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn issue_011_compare_refuses_other_fields_of_view_unless_resampling() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let reco = sample("reconstruction.mdf").display().to_string();
    let o = run(&["phantom", "concentration_cubes_2d", "--grid", "16x16x1", "--fov-mm", "32,32,1", "-o", "t.mdf"], d);
    assert!(o.status.success());
    let o = run(&["compare", &reco, "t.mdf"], d);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("39.000 × 39.000") && err.contains("32.000 × 32.000") && err.contains("--resample"), "{err}");
    let o = run(&["compare", &reco, "t.mdf", "--resample", "--json"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // The cubes lie inside both FOVs: resampling keeps all their iron, so the sparse reconstruction's total
    // error is that against the truth on its own grid.
    let direct: serde_json::Value = serde_json::from_slice(
        &run(&["compare", &reco, &sample("truth.mdf").display().to_string(), "--json"], d).stdout,
    )
    .unwrap();
    let (a, b) = (v["total_error"].as_f64().unwrap(), direct["total_error"].as_f64().unwrap());
    // Both truths are stored as float32: their sums agree to ~1e-7.
    assert!((a - b).abs() < 1e-5, "{a} vs {b}");
}

#[test]
fn issue_011_region_totals_are_stored_in_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = sample("measurement.mdf").display().to_string();
    let sm = sample("system_matrix.mdf").display().to_string();
    let o = run(
        &[
            "reconstruct",
            &m,
            "-s",
            &sm,
            "--preset",
            "sparse",
            "--frames",
            "0:2",
            "--average",
            "1",
            "--roi",
            "sphere:6,6,0,3",
            "-o",
            "r.mdf",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let ParamValue::Text(json) = param(&d.join("r.mdf"), "summary_json") else { panic!("summary_json is text") };
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2, "one summary per frame");
    let region = v[1]["regions"][0]["iron_ng"].as_f64().unwrap();
    let printed = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(printed.contains(&format!("region sphere:6,6,0,3: {region:.2} ng Fe")), "{printed}");
}

#[test]
fn issue_011_version_names_the_commit_and_completions_are_generated() {
    let o = magpie().arg("--version").output().unwrap();
    let v = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success() && v.starts_with("magpie ") && v.contains('(') && v.contains(')'), "{v}");
    for shell in ["bash", "zsh", "fish"] {
        let o = magpie().args(["completions", shell]).output().unwrap();
        assert!(o.status.success());
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(
            text.contains("reconstruct") && text.contains("frames-1based"),
            "{shell}: {}",
            &text[..200.min(text.len())]
        );
    }
}
