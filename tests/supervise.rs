//! No input can end magpie with a signal (issue 13): every command runs in a child process; when the child
//! dies by a signal (libhdf5 crashing on a corrupt file), the parent names what was being read, deletes the
//! child's unfinished outputs and exits 1.

use std::path::PathBuf;
use std::process::Command;

mod util;
use util::temporaries;

fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_data/mdf").join(name)
}

/// The child processes of `pid` (Linux: /proc/PID/task/PID/children).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

#[test]
fn a_child_killed_by_a_signal_becomes_a_clear_error_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.mdf");
    // The write hook holds the output's temporary file open for 20 s: the crash comes in the middle of it.
    let parent = Command::new(env!("CARGO_BIN_EXE_magpie"))
        .args(["-q", "reconstruct"])
        .arg(sample("measurement.mdf"))
        .arg("--system-matrix")
        .arg(sample("system_matrix.mdf"))
        .arg("-o")
        .arg(&out)
        .env("MAGPIE_TEST_WRITE_DELAY_MS", "20000")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while temporaries(dir.path()).is_empty() {
        assert!(t0.elapsed().as_secs() < 120, "no temporary file appeared");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let kids = children(parent.id());
    assert_eq!(kids.len(), 1, "the command runs in one child process");
    // A fault as libhdf5 causes on a corrupt heap (SIGILL: Rust's own SIGSEGV handler, meant for stack
    // overflows, swallows a SIGSEGV that no faulting instruction raised).
    assert!(Command::new("kill").arg("-ILL").arg(kids[0].to_string()).status().unwrap().success());
    let res = parent.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(1), "exit 1, not a signal: {err}");
    assert!(err.contains("crashed reading") && err.contains("SIGILL"), "{err}");
    assert!(err.contains(".mdf:/"), "names the file and dataset: {err}");
    assert_eq!(temporaries(dir.path()), Vec::<String>::new(), "the child's temporary file was deleted");
    assert!(!out.exists());
}

#[test]
fn exit_codes_and_output_pass_through_the_supervisor() {
    let inspect = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_magpie")).arg("inspect").arg(sample("truth.mdf")).args(extra).output().unwrap()
    };
    let supervised = inspect(&[]);
    let direct = Command::new(env!("CARGO_BIN_EXE_magpie"))
        .arg("inspect")
        .arg(sample("truth.mdf"))
        .env("MAGPIE_NO_SUPERVISOR", "1")
        .output()
        .unwrap();
    assert!(supervised.status.success());
    assert_eq!(supervised.stdout, direct.stdout);
    let missing = Command::new(env!("CARGO_BIN_EXE_magpie")).args(["inspect", "no-such-file.mdf"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-file.mdf"));
}

#[test]
fn files_that_crash_libhdf5_give_exit_1_naming_the_dataset() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crash");
    for (file, dataset) in
        [("vlen_heap_study_name.mdf", "/study/name"), ("vlen_heap_waveform.mdf", "/acquisition/drivefield/waveform")]
    {
        let path = dir.join(file);
        for args in [vec!["inspect", "--check"], vec!["inspect"]] {
            let out = Command::new(env!("CARGO_BIN_EXE_magpie")).arg("-q").args(&args).arg(&path).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{file} {args:?}: {err}");
            assert!(err.contains("the HDF5 library crashed reading") && err.contains(dataset), "{file}: {err}");
        }
        // As a measurement and as a system matrix.
        let sm = sample("system_matrix.mdf");
        let o = tempfile::tempdir().unwrap();
        for (m, s) in [(path.as_path(), sm.as_path()), (sm.as_path(), path.as_path())] {
            let out = Command::new(env!("CARGO_BIN_EXE_magpie"))
                .args(["-q", "reconstruct"])
                .arg(m)
                .arg("--system-matrix")
                .arg(s)
                .arg("-o")
                .arg(o.path().join("r.mdf"))
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

#[test]
fn a_file_on_which_libhdf5_loops_is_stopped_by_the_watchdog() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crash/heap_loop_reco.mdf");
    let t0 = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_magpie"))
        .args(["-q", "inspect", "--check"])
        .arg(&path)
        .env("MAGPIE_READ_WATCHDOG_S", "2")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the HDF5 library hung reading") && err.contains("heap_loop_reco.mdf:/"), "{err}");
    assert!(t0.elapsed().as_secs() < 30, "stopped after the 2 s watchdog, not hanging");
}

/// A fuzz mutant (of `v201_td_f64.mdf`) whose `/version` holds bytes that are not UTF-8: formatting the string
/// panicked, and in `reconstruct` the panic left the progress thread waiting, so the command hung.
#[test]
fn a_string_that_is_not_utf8_is_an_error_not_a_panic_or_a_hang() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crash/invalid_utf8_version.mdf");
    let out =
        Command::new(env!("CARGO_BIN_EXE_magpie")).args(["-q", "inspect", "--check"]).arg(&path).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(matches!(out.status.code(), Some(1 | 3)), "{:?}: {err}", out.status);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("/version"), "the error names the dataset: {err}");
    let sm = sample("system_matrix.mdf");
    let o = tempfile::tempdir().unwrap();
    for (m, s) in [(path.as_path(), sm.as_path()), (sm.as_path(), path.as_path())] {
        let t0 = std::time::Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_magpie"))
            .args(["-q", "reconstruct"])
            .arg(m)
            .arg("--system-matrix")
            .arg(s)
            .arg("-o")
            .arg(o.path().join("r.mdf"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(!err.contains("panicked") && err.contains("/version"), "{err}");
        assert!(t0.elapsed().as_secs() < 30, "no hang");
    }
}
