//! Argument types shared by the subcommands: grids, vectors in mm, progress bars, output paths.

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use magpie_core::Grid;
use std::path::Path;

/// Parses "NxNyNz" (e.g. "19x19x1") or a single "N" (N×N×1).
pub fn parse_shape(s: &str) -> anyhow::Result<[usize; 3]> {
    let parts: Vec<&str> = s.split(['x', 'X', ',']).collect();
    let nums: Vec<usize> = parts
        .iter()
        .map(|p| p.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("grid {s:?}: expected NxNyNz, e.g. 19x19x1"))?;
    let shape = match nums.as_slice() {
        [n] => [*n, *n, 1],
        [a, b] => [*a, *b, 1],
        [a, b, c] => [*a, *b, *c],
        _ => bail!("grid {s:?}: expected NxNyNz, e.g. 19x19x1"),
    };
    if shape.contains(&0) {
        bail!("grid {s:?}: every axis needs at least one voxel");
    }
    Ok(shape)
}

/// Parses "a,b,c" in millimetres into metres.
pub fn parse_mm3(s: &str) -> anyhow::Result<[f64; 3]> {
    let nums: Vec<f64> = s
        .split([',', 'x', 'X'])
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("{s:?}: expected three numbers in mm, e.g. 38,38,1"))?;
    match nums.as_slice() {
        [a, b, c] if nums.iter().all(|v| v.is_finite()) => Ok([a * 1e-3, b * 1e-3, c * 1e-3]),
        _ => bail!("{s:?}: expected three finite numbers in mm, e.g. 38,38,1"),
    }
}

/// A grid from its textual parts.
pub fn grid(shape: &str, fov_mm: &str, center_mm: &str) -> anyhow::Result<Grid> {
    let g = Grid::new(parse_shape(shape)?, parse_mm3(fov_mm)?, parse_mm3(center_mm)?);
    if g.fov_m.iter().any(|v| *v < 0.0) {
        bail!("field of view must not be negative: {fov_mm}");
    }
    Ok(g)
}

/// A progress bar on stderr, hidden when stderr is not a terminal or logging is quiet.
pub fn progress(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    pb
}

/// Refuses an output path equal to an input.
pub fn check_output(out: &Path, inputs: &[&Path]) -> anyhow::Result<()> {
    for i in inputs {
        let same = match (std::fs::canonicalize(out), std::fs::canonicalize(i)) {
            (Ok(a), Ok(b)) => a == b,
            _ => out == *i,
        };
        if same {
            bail!("output {} is one of the inputs; choose another file name", out.display());
        }
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename (never a half-written
/// report).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grids_and_millimetres() {
        assert_eq!(parse_shape("19x19x1").unwrap(), [19, 19, 1]);
        assert_eq!(parse_shape("32").unwrap(), [32, 32, 1]);
        assert!(parse_shape("0x3x1").is_err());
        assert!(parse_shape("ax3").is_err());
        let v = parse_mm3("38,38,1").unwrap();
        assert!((v[0] - 0.038).abs() < 1e-15 && (v[2] - 0.001).abs() < 1e-15);
        assert!(parse_mm3("1,2").is_err());
    }
}
