//! Issue 12: "only the facade calls plan and build". Every caller (CLI, demo, bench, calibrate, Python, benches)
//! must go through `magpie_reconstruct::facade`, so that each gets the same consistency checks, memory estimate,
//! timings and cache. This test scans the workspace's Rust sources and fails on any call of the system-matrix
//! plan (`Plan::new`) or build (`.build(` on a plan) outside the facade and the `sysmat` module that defines them.

use std::fs;
use std::path::{Path, PathBuf};

/// Directories (relative to the workspace root) whose code may call plan and build.
const ALLOWED: &[&str] = &["reconstruct/src/facade", "reconstruct/src/sysmat"];

/// Directories scanned: every crate's sources, the integration tests and the benches.
const SCANNED: &[&str] =
    &["src", "core/src", "sim/src", "reconstruct/src", "calibration/src", "tests", "benches", "reconstruct/examples"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The offending lines of one source text: calls of `Plan::new(`, `Plan::build(` or `plan.build(`
/// (any receiver whose name ends in `plan`), ignoring comments.
fn offending_lines(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let compact: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let calls_plan = compact.contains("Plan::new(") || compact.contains("Plan::build(");
        let calls_build = compact.match_indices("plan.build(").next().is_some();
        if calls_plan || calls_build {
            found.push((i + 1, line.trim().to_string()));
        }
    }
    found
}

#[test]
fn the_detector_finds_the_calls_it_forbids() {
    // The scan is only as good as its pattern: check it on calls written the ways code writes them.
    assert_eq!(offending_lines("let p = Plan::new(&params, &sm)?;").len(), 1);
    assert_eq!(offending_lines("let p = sysmat::Plan::new(&params, &sm)?;").len(), 1);
    assert_eq!(offending_lines("let s = plan.build(rows, tf, par)?;").len(), 1);
    assert_eq!(offending_lines("let s = my_plan . build(rows)?;").len(), 1);
    assert_eq!(offending_lines("// Plan::new( is fine in a comment").len(), 0);
    assert_eq!(offending_lines("let pool = ThreadPoolBuilder::new().build()?;").len(), 0);
}

#[test]
fn only_the_facade_calls_plan_and_build() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in SCANNED {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "the scan found only {} Rust files under {root:?}", files.len());
    let this_file = root.join("tests/facade_only.rs");
    let mut violations = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(root).unwrap();
        if *file == this_file || ALLOWED.iter().any(|a| rel.starts_with(a)) {
            continue;
        }
        let text = fs::read_to_string(file).unwrap();
        for (line, code) in offending_lines(&text) {
            violations.push(format!("{}:{line}: {code}", rel.display()));
        }
    }
    assert!(
        violations.is_empty(),
        "plan/build called outside the reconstruction facade (use magpie_reconstruct::facade):\n{}",
        violations.join("\n")
    );
}
