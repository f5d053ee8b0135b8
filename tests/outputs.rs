//! Inputs are never overwritten (issue 13): every command refuses an output path that names one of its inputs —
//! MDF files, TOML presets and configurations, manifests — directly, through a symlink or a hard link, and two
//! outputs that name the same file; it refuses before any work and leaves the input byte for byte unchanged.
//! An interrupted write leaves no temporary file behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod util;
use util::temporaries;

fn magpie() -> Command {
    Command::new(env!("CARGO_BIN_EXE_magpie"))
}

fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_data").join(name)
}

/// Copies a sample file into `dir` (the tests must never risk the repository's own files).
fn copy(dir: &Path, from: &str, to: &str) -> PathBuf {
    let p = dir.join(to);
    std::fs::copy(sample(from), &p).unwrap();
    p
}

fn refused(out: &Output, expect: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "refused with exit 1, got {:?}: {err}", out.status);
    assert!(err.contains(expect), "the message says {expect:?}: {err}");
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    magpie().arg("-q").args(args).output().unwrap()
}

macro_rules! os {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new($a)),*] };
}

#[test]
fn outputs_that_name_an_input_are_refused_and_the_input_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let meas = copy(d, "mdf/measurement.mdf", "meas.mdf");
    let sm = copy(d, "mdf/system_matrix.mdf", "sm.mdf");
    let before = std::fs::read(&meas).unwrap();
    let reco = |out: &Path, extra: &[&str]| {
        let mut c = magpie();
        c.args(["-q", "reconstruct"]).arg(&meas).arg("--system-matrix").arg(&sm).arg("-o").arg(out).args(extra);
        c.output().unwrap()
    };

    // Directly, through a symlink, through a hard link, and through another spelling of the same path.
    refused(&reco(&meas, &[]), "is the measurement");
    let link = d.join("link.mdf");
    std::os::unix::fs::symlink(&meas, &link).unwrap();
    refused(&reco(&link, &[]), "is the measurement");
    let hard = d.join("hard.mdf");
    std::fs::hard_link(&sm, &hard).unwrap();
    refused(&reco(&hard, &[]), "is the system matrix");
    let sub = d.join("sub");
    std::fs::create_dir(&sub).unwrap();
    refused(&reco(&sub.join("../meas.mdf"), &[]), "is the measurement");
    // A folder symlink: the output would land on the input.
    std::os::unix::fs::symlink(d, d.join("here")).unwrap();
    refused(&reco(&d.join("here/sm.mdf"), &[]), "is the system matrix");
    // The x-space method too, and --png and --report.
    let mut c = magpie();
    c.args(["-q", "reconstruct", "--method", "xspace"]).arg(&meas).arg("-o").arg(&link);
    refused(&c.output().unwrap(), "is the measurement");
    let out = d.join("r.mdf");
    refused(&reco(&out, &["--png", meas.to_str().unwrap()]), "is the measurement");
    refused(&reco(&out, &["--report", sm.to_str().unwrap()]), "is the system matrix");
    // Two outputs on one file.
    refused(&reco(&out, &["--png", out.to_str().unwrap()]), "name the same file");
    refused(&reco(&out, &["--report", d.join("sub/../r.mdf").to_str().unwrap()]), "name the same file");
    assert!(!out.exists(), "nothing was written");
    assert_eq!(std::fs::read(&meas).unwrap(), before, "the measurement is unchanged");

    // TOML presets and configurations.
    let scanner = copy(d, "scanners/bruker_2d.toml", "scanner.toml");
    let toml_before = std::fs::read(&scanner).unwrap();
    let s = scanner.to_str().unwrap();
    refused(&run(os!["simulate", "--phantom", "two_points", "--scanner", s, "-o", s]), "is the --scanner");
    refused(&run(os!["sysmat", "--scanner", s, "--grid", "5x5x1", "-o", s]), "is the --scanner");
    let tracer = copy(d, "tracers/perimag_like.toml", "tracer.toml");
    let t = tracer.to_str().unwrap();
    refused(&run(os!["sysmat", "--tracer", t, "--grid", "5x5x1", "-o", t]), "is the --tracer");
    assert_eq!(std::fs::read(&scanner).unwrap(), toml_before, "the scanner file is unchanged");
    let phantom = d.join("phantom.toml");
    let dot =
        "name = \"dot\"\n[[sources]]\nname = \"dot\"\nshape = { type = \"point\", position_mm = [0.0, 0.0, 0.0] }\n\
               amount = { iron_ng = 50.0 }\n";
    std::fs::write(&phantom, dot).unwrap();
    let p = phantom.to_str().unwrap();
    refused(&run(os!["phantom", p, "-o", p]), "is the phantom");
    refused(&run(os!["simulate", "--phantom", p, "-o", p]), "is the phantom");
    let png = d.join("truth.png");
    let png = png.to_str().unwrap();
    refused(&run(os!["phantom", "two_points", "-o", png, "--png", png]), "name the same file");
    refused(&run(os!["phantom", "two_points", "--scanner", s, "--png", s]), "is the --scanner");

    // A manifest where calibrate would write its report.
    let cal = d.join("cal");
    std::fs::create_dir(&cal).unwrap();
    let manifest = cal.join("report.md");
    let text = "blanks = [{ file = \"../meas.mdf\" }]\nsamples = [{ file = \"../meas.mdf\", iron_ng = 5.0 }]\n";
    std::fs::write(&manifest, text).unwrap();
    refused(
        &run(os!["calibrate", "--manifest", manifest.to_str().unwrap(), "-o", cal.to_str().unwrap()]),
        "is the manifest",
    );
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), text);
}

#[test]
fn calibrate_writes_nothing_when_it_refuses_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("m.toml");
    std::fs::write(&manifest, "blanks = [{ file = \"missing.mdf\" }]\nsamples = []\n").unwrap();
    let report = dir.path().join("report");
    let out = run(os!["calibrate", "--manifest", manifest.to_str().unwrap(), "-o", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!report.exists(), "no report folder for a refused manifest");
}

#[test]
fn an_interrupted_write_leaves_no_temporary_file() {
    for signal in ["INT", "TERM"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("sm.mdf");
        // The test hook holds every atomic write open for 20 s between creating the temporary file and the rename.
        let mut child = magpie()
            .args(["-q", "sysmat", "--scanner", "bruker_2d", "--grid", "5x5x1", "--fov-mm", "10,10,1"])
            .args(["--max-freq-khz", "150", "-o"])
            .arg(&out)
            .env("MAGPIE_TEST_WRITE_DELAY_MS", "20000")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let t0 = std::time::Instant::now();
        while temporaries(dir.path()).is_empty() {
            assert!(t0.elapsed().as_secs() < 120, "no temporary file appeared");
            assert!(child.try_wait().unwrap().is_none(), "sysmat ended before writing");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let st = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
        assert!(st.success());
        let res = child.wait_with_output().unwrap();
        let code = if signal == "INT" { 130 } else { 143 };
        assert_eq!(res.status.code(), Some(code), "{signal}: {}", String::from_utf8_lossy(&res.stderr));
        assert!(String::from_utf8_lossy(&res.stderr).contains("removed 1 unfinished output file"));
        assert!(t0.elapsed().as_secs() < 60, "the signal ended the 20 s write at once");
        assert_eq!(temporaries(dir.path()), Vec::<String>::new(), "{signal}: temporary files survive");
        assert!(!out.exists(), "{signal}: no output");
    }
}
