//! Every `magpie` command in README.md runs as written (issue 11): the shell blocks are read from the README, in
//! order, and run in an empty folder that has the repository's `sample_data/` beside it, with `magpie` on the
//! PATH. Each must exit with 0 and keep its piped stderr free of terminal escape codes.
//!
//! Not run here: `./run demo` and `./run test` (CI runs them), `cargo build` and the `alias` line (the test runs
//! the binary cargo built for it).

use std::path::Path;
use std::process::Command;

/// The commands of the README's ```sh blocks: continuation lines joined, comments and output lines dropped.
fn readme_commands(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_sh = !in_sh && t == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        // A comment after the command (the README puts two or more spaces before it); the lines of shown output
        // start with '#'.
        let code = match t.find("  #") {
            Some(i) => t[..i].trim_end(),
            None if t.starts_with('#') => "",
            None => t,
        };
        if let Some(head) = code.strip_suffix('\\') {
            pending.push_str(head.trim_end());
            pending.push(' ');
            continue;
        }
        pending.push_str(code);
        let cmd = std::mem::take(&mut pending).trim().to_string();
        if !cmd.is_empty() {
            out.push(cmd);
        }
    }
    out
}

fn skipped(cmd: &str) -> bool {
    ["./run ", "cargo ", "alias "].iter().any(|p| cmd.starts_with(p))
}

#[test]
fn the_readme_is_parsed_into_its_commands() {
    let text = "```sh\nmagpie a --x 1   # note\nmagpie b \\\n    --y 2\n#   output\n```\n```toml\nk = 1\n```\n";
    assert_eq!(readme_commands(text), vec!["magpie a --x 1".to_string(), "magpie b --y 2".to_string()]);
}

#[test]
fn every_readme_command_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("README.md")).unwrap();
    let commands: Vec<String> = readme_commands(&text).into_iter().filter(|c| !skipped(c)).collect();
    assert!(commands.len() >= 20, "README commands found: {commands:?}");
    assert!(commands.iter().all(|c| c.starts_with("magpie")), "a README command that is not magpie's: {commands:?}");

    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_magpie"), bin.join("magpie")).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::os::unix::fs::symlink(root.join("sample_data"), work.join("sample_data")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());

    for cmd in &commands {
        let t0 = std::time::Instant::now();
        let out = Command::new("bash")
            .args(["-c", cmd])
            .current_dir(&work)
            .env("PATH", &path)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "README command failed ({:?}): {cmd}\n{stderr}", out.status.code());
        assert!(!out.stderr.contains(&0x1b), "escape codes in piped stderr of: {cmd}\n{stderr}");
        eprintln!("ok ({:.1} s): {cmd}", t0.elapsed().as_secs_f64());
    }
    // What the commands promise to write is there.
    for f in ["truth.mdf", "truth.png", "sm.mdf", "meas.mdf", "reco.mdf", "reco.png", "frames.mdf", "magpie.bash"] {
        assert!(work.join(f).exists(), "{f} missing after the README commands");
    }
    assert!(work.join("cal/report.md").exists() && work.join("cal2/report.md").exists());
}
