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
    for sub in ["inspect", "demo", "phantom", "simulate", "sysmat", "reconstruct", "compare", "calibrate", "bench"] {
        assert!(text.contains(sub), "--help lacks {sub}: {text}");
    }
}

#[test]
fn demo_simulates_reconstructs_and_counts_cells() {
    let dir = tempfile::tempdir().unwrap();
    let out = magpie().args(["demo", "--out"]).arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!out.stderr.contains(&0x1b), "escape codes in piped stderr");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("graft_a") && text.contains("300000"), "{text}");
    for f in
        ["system_matrix.mdf", "measurement.mdf", "truth.mdf", "reconstruction.mdf", "reconstruction.png", "report.md"]
    {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    // The report links the calibration report, which exists with its figures (issue 11).
    let report = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(report.contains("calibration/report.md"));
    let cal = std::fs::read_to_string(dir.path().join("calibration/report.md")).unwrap();
    for png in cal.split("](").skip(1).filter_map(|s| s.split(')').next()).filter(|l| l.ends_with(".png")) {
        assert!(dir.path().join("calibration").join(png).exists(), "figure {png} of the calibration report missing");
    }
    assert!(cal.contains(".png"), "the calibration report has figures");
    // The files it wrote are valid MDF.
    let out = magpie().args(["inspect", "--check"]).arg(dir.path().join("reconstruction.mdf")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
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
    // NaN in the data is found with --check (plain inspect reads metadata only): a failed check, exit 3.
    let out = magpie().args(["inspect", "--check"]).arg(util::fixture("bad/bad_nan.mdf")).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("non-finite"));
}

#[test]
fn phantom_sysmat_and_simulate_write_valid_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = magpie().args(["-q", "phantom", "--list"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("rat_striatum_graft"));
    let st = magpie()
        .args(["-q", "phantom", "two_points", "--grid", "32x32x1", "--fov-mm", "16,16,4", "-o"])
        .arg(d.join("truth.mdf"))
        .arg("--png")
        .arg(d.join("truth.png"))
        .status()
        .unwrap();
    assert!(st.success());
    let truth = magpie_core::mdf::read_mdf(d.join("truth.mdf")).unwrap();
    let total: f64 = truth.reconstruction.unwrap().data.to_f64_lossy().sum();
    assert!((total - 200.0).abs() < 1e-6, "two 100 ng points: {total}");
    assert!(std::fs::metadata(d.join("truth.png")).unwrap().len() > 1000);
    let st = magpie()
        .args([
            "-q",
            "sysmat",
            "--scanner",
            "bruker_2d",
            "--grid",
            "9x9x1",
            "--fov-mm",
            "18,18,1",
            "--max-freq-khz",
            "300",
            "-o",
        ])
        .arg(d.join("sm.mdf"))
        .status()
        .unwrap();
    assert!(st.success());
    let st = magpie()
        .args(["-q", "simulate", "--phantom", "two_points", "--scanner", "bruker_2d", "--frames", "2", "-o"])
        .arg(d.join("meas.mdf"))
        .status()
        .unwrap();
    assert!(st.success());
    for f in ["sm.mdf", "meas.mdf"] {
        let out = magpie().args(["inspect", "--check"]).arg(d.join(f)).output().unwrap();
        assert!(out.status.success(), "{f}: {}", String::from_utf8_lossy(&out.stderr));
    }
    // Bad input: a clear error, non-zero exit, nothing written.
    let out = magpie().args(["sysmat", "--scanner", "nope", "-o"]).arg(d.join("x.mdf")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bruker_2d"));
    assert!(!d.join("x.mdf").exists());
}

#[test]
fn xspace_reconstructs_a_time_domain_file_without_a_system_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let meas = dir.path().join("pts.mdf");
    let out = magpie()
        .args(["-q", "simulate", "--phantom", "two_points", "--scanner", "xspace_1d_pfov", "--tracer", "ideal_25nm"])
        .args(["--domain", "time", "--averages", "10000", "--no-background", "-o"])
        .arg(&meas)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reco = dir.path().join("xs.mdf");
    let png = dir.path().join("xs.png");
    let out = magpie()
        .args(["-q", "reconstruct"])
        .arg(&meas)
        .args(["--method", "xspace", "--roi", "box:-6,0,0,12,10,10", "--roi", "box:6,0,0,12,10,10", "-o"])
        .arg(&reco)
        .arg("--png")
        .arg(&png)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    // Each 100 ng source within 5 % in its half of the FOV (the L' tails reach far: a 1 mm sphere holds 85 %).
    let regions: Vec<f64> = text
        .lines()
        .filter(|l| l.contains("region"))
        .map(|l| l.split(':').nth(2).unwrap().trim().split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(regions.len(), 2, "{text}");
    for r in regions {
        assert!((r - 100.0).abs() < 5.0, "region total {r} ng of 100 ng: {text}");
    }
    assert!(png.exists());
    let out = magpie().args(["inspect", "--check"]).arg(&reco).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Without a tracer model there is no quantitation: a clear error, not a guess.
    let out = magpie()
        .args(["-q", "reconstruct"])
        .arg(util::fixture("sm_ffa_bg.mdf"))
        .args(["--method", "xspace", "-o"])
        .arg(dir.path().join("never.mdf"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--tracer") || err.contains("gradient") || err.contains("inductionFactor"), "{err}");
    // The system-matrix method still needs its matrix.
    let out =
        magpie().args(["-q", "reconstruct"]).arg(&meas).args(["-o"]).arg(dir.path().join("n.mdf")).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("system-matrix"));
}

#[test]
fn calibrate_simulates_a_series_and_its_manifest_gives_the_same_limits() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("spec.toml");
    std::fs::write(
        &spec,
        "scanner = \"bruker_2d\"\ntracer = \"perimag_like\"\namounts_ng = [1.0, 2.0, 5.0, 10.0]\n\
         blanks = 12\nrepetitions = 3\npg_fe_per_cell = 7.0\nbootstrap = 100\n\
         [scaling]\naverages_factors = [1.0, 4.0]\ntracers = [\"perimag_like\"]\ngradient_factors = [1.0]\nblanks = 12\n",
    )
    .unwrap();
    let out = dir.path().join("report");
    let run = magpie().args(["-q", "calibrate", "--simulate"]).arg(&spec).arg("-o").arg(&out).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let first = String::from_utf8_lossy(&run.stdout).to_string();
    assert!(first.contains("matched filter") && first.contains("cells at 7 pg Fe/cell"), "{first}");
    for f in
        ["report.md", "report.json", "calibration_matched_filter.png", "roc.png", "lod_vs_time.png", "manifest.toml"]
    {
        assert!(out.join(f).exists(), "{f} missing");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert!(json["detectors"][0]["limits"].as_array().unwrap().len() == 4);
    // The manifest it wrote, analysed on its own, prints the same limits (scaling study aside).
    let again = dir.path().join("again");
    let run = magpie()
        .args(["-q", "calibrate", "--manifest"])
        .arg(out.join("manifest.toml"))
        .arg("-o")
        .arg(&again)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let second = String::from_utf8_lossy(&run.stdout).to_string();
    let limits = |s: &str| s.lines().filter(|l| l.contains("ng Fe")).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(limits(&first), limits(&second));
    // Bad input: a clear error naming the problem.
    std::fs::write(dir.path().join("bad.toml"), "amounts_ng = [1.0]\nnonsense = 3\n").unwrap();
    let run = magpie()
        .args(["-q", "calibrate", "--simulate"])
        .arg(dir.path().join("bad.toml"))
        .arg("-o")
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("nonsense"));
}

/// Issue 13: a system matrix and a measurement in MPIFiles' 2.0 layout (isTransposed, numPeriods, [J, 3]
/// gradient and offset field, fixed-length strings, float32 time data with a conversion factor, no
/// deltaSampleSize) reconstruct through the binary. The measurement holds one delta sample's worth of tracer
/// in voxel 5 (its time response is that voxel's system-matrix column), so the image is 50 ng there.
#[test]
fn v2_0_system_matrix_and_measurement_reconstruct_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let reco = dir.path().join("reco.mdf");
    let meas = util::fixture("v20_meas_td_f32.mdf");
    let sm = util::fixture("v20_sm.mdf");
    let out = magpie()
        .args(["-q", "reconstruct"])
        .arg(&meas)
        .arg("-s")
        .arg(&sm)
        // No deltaSampleSize in a 2.0-era file: the delta sample's iron is given.
        .args(["--delta-iron-ng", "50", "--solver", "direct", "--lambda", "1e-9", "-o"])
        .arg(&reco)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r = magpie_core::mdf::read_mdf(&reco).unwrap();
    assert_eq!(r.version, magpie_core::mdf::MDF_VERSION);
    let img = r.reconstruction.as_ref().unwrap().data.to_f64_lossy();
    assert_eq!(img.shape(), &[1, 12, 1]);
    let (best, max) = img.iter().enumerate().fold((0, f64::MIN), |a, (i, v)| if *v > a.1 { (i, *v) } else { a });
    assert_eq!(best, 5, "{img:?}");
    assert!((max / 50.0 - 1.0).abs() < 0.02, "voxel 5 holds {max} ng of 50: {img:?}");
    // inspect names the version and what was translated.
    let out = magpie().arg("inspect").arg(&sm).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("MDF version")
            && text.contains("2.0.0 (read as v2.0 layout: ")
            && text.contains("isTransposed → isFastFrameAxis"),
        "{text}"
    );
}
