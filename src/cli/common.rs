//! Argument types shared by the subcommands: grids, vectors in mm, progress bars, output paths.

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use magpie_core::Grid;
use std::path::Path;

/// A finite number > 0 (clap value parser).
pub fn positive_arg(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("expected a number, found {s:?}"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("must be a finite number > 0, found {s}"))
    }
}

/// A finite number ≥ 0 (clap value parser).
pub fn non_negative_arg(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("expected a number, found {s:?}"))?;
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!("must be a finite number ≥ 0, found {s}"))
    }
}

/// A count ≥ 1 (clap value parser).
pub fn count_arg(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1, found 0".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("expected a whole number ≥ 1, found {s:?}")),
    }
}

/// Delta-sample points per axis (1..=16: the cube of it is the work per voxel).
pub fn subsamples_arg(s: &str) -> Result<usize, String> {
    let n = count_arg(s)?;
    if n > 16 {
        return Err(format!("must be in 1..=16 (n³ points per voxel), found {n}"));
    }
    Ok(n)
}

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

/// Value parser for `--grid`: "NxNyNz" (usage errors exit with 2).
pub fn grid_shape_arg(s: &str) -> Result<[usize; 3], String> {
    parse_shape(s).map_err(|e| format!("{e:#}"))
}

/// Value parser for vectors in mm (`--fov-mm`, `--center-mm`, `--delta-mm`): the value in metres.
pub fn mm3_arg(s: &str) -> Result<[f64; 3], String> {
    parse_mm3(s).map_err(|e| format!("{e:#}"))
}

/// The grid of `phantom` and `sysmat`: the options given, else the scanner's default grid (logged), so that the
/// default outputs of the two commands lie on the same voxels.
pub fn grid_or_default(
    scanner: &magpie_core::scanner::ScannerConfig,
    shape: Option<[usize; 3]>,
    fov_m: Option<[f64; 3]>,
    center_m: [f64; 3],
) -> anyhow::Result<Grid> {
    let default = scanner.default_grid.unwrap_or(magpie_core::scanner::DefaultGrid::FALLBACK);
    let g = Grid::new(shape.unwrap_or(default.shape), fov_m.unwrap_or(default.fov_m), center_m);
    if g.fov_m.iter().any(|v| !v.is_finite() || *v <= 0.0) {
        return Err(super::UsageError(format!(
            "the field of view must be positive on every axis, found {:?} mm",
            g.fov_m.map(|v| v * 1e3)
        ))
        .into());
    }
    if shape.is_none() || fov_m.is_none() {
        tracing::info!(
            "grid {}×{}×{} over {:.1}×{:.1}×{:.1} mm ({} of scanner {}; --grid/--fov-mm change it)",
            g.shape[0],
            g.shape[1],
            g.shape[2],
            g.fov_m[0] * 1e3,
            g.fov_m[1] * 1e3,
            g.fov_m[2] * 1e3,
            if scanner.default_grid.is_some() { "the default grid" } else { "no default grid: OpenMPIData's 2-D grid" },
            scanner.name
        );
    }
    Ok(g)
}

/// Parses a frame range: "A:B" (or a single frame "A"). `one_based`: MPIReco's form, 1-based and B inclusive;
/// otherwise 0-based and B exclusive. Returns the 0-based, end-exclusive range.
pub fn parse_frames(s: &str, one_based: bool) -> Result<[usize; 2], String> {
    let form = if one_based { "1-based, B inclusive, e.g. 1:10" } else { "0-based, B exclusive, e.g. 0:10" };
    let num = |t: &str| t.trim().parse::<usize>().map_err(|_| format!("frames {s:?}: expected A:B ({form})"));
    let (a, b) = match s.split_once(':') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let a = num(s)?;
            (a, if one_based { a } else { a + 1 })
        }
    };
    let range = if one_based {
        if a == 0 {
            return Err(format!("frames {s:?}: 1-based frames start at 1 (use --frames for 0-based ranges)"));
        }
        [a - 1, b]
    } else {
        [a, b]
    };
    if range[1] <= range[0] {
        return Err(format!("frames {s:?}: the range is empty ({form})"));
    }
    Ok(range)
}

/// Value parser for `--frames` (0-based, end exclusive).
pub fn frames_arg(s: &str) -> Result<[usize; 2], String> {
    parse_frames(s, false)
}

/// Value parser for `--frames-1based` (MPIReco's 1-based, inclusive ranges).
pub fn frames_1based_arg(s: &str) -> Result<[usize; 2], String> {
    parse_frames(s, true)
}

/// Value parser for `--stop-band LOW:HIGH` in kHz: the band in Hz.
pub fn band_khz_arg(s: &str) -> Result<[f64; 2], String> {
    let err = || format!("stop band {s:?}: expected LOW:HIGH in kHz, e.g. 73:79");
    let (a, b) = s.split_once(':').ok_or_else(err)?;
    let (a, b): (f64, f64) = (a.trim().parse().map_err(|_| err())?, b.trim().parse().map_err(|_| err())?);
    if !(a.is_finite() && b.is_finite() && 0.0 <= a && a < b) {
        return Err(format!("stop band {s:?}: needs 0 ≤ LOW < HIGH"));
    }
    Ok([a * 1e3, b * 1e3])
}

/// Files above this size are announced before they are written.
pub const LARGE_FILE_BYTES: u64 = 1 << 30;

/// Logs, before a file of `bytes` is written, its size and the option that makes it smaller (above
/// [`LARGE_FILE_BYTES`] only; smaller files are not worth a line).
pub fn announce_large_file(path: &Path, bytes: u64, smaller: &str) {
    if bytes > LARGE_FILE_BYTES {
        tracing::info!("writing {} ({:.2} GB); {smaller}", path.display(), bytes as f64 / 1e9);
    }
}

/// A progress bar on stderr, hidden when stderr is not a terminal or logging is quiet; log lines suspend it
/// (see [`crate::logging::bars`]).
pub fn progress(len: u64, what: &str) -> ProgressBar {
    let pb = crate::logging::bars().add(ProgressBar::new(len));
    pb.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// A progress bar for work that runs in named stages, each counted from 1 to its own total: a stage gets a bar
/// of its own when it starts, so a bar never jumps back.
pub struct StagedProgress {
    current: std::sync::Mutex<Option<(String, ProgressBar)>>,
}

impl StagedProgress {
    /// No stage started yet.
    pub fn new() -> Self {
        StagedProgress { current: std::sync::Mutex::new(None) }
    }

    /// Reports `done` of `total` steps of `stage`.
    pub fn update(&self, stage: &str, done: usize, total: usize) {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if cur.as_ref().is_none_or(|(s, _)| s != stage) {
            if let Some((_, pb)) = cur.take() {
                pb.finish_and_clear();
            }
            *cur = Some((stage.to_string(), progress(total as u64, stage)));
        }
        if let Some((_, pb)) = cur.as_ref() {
            pb.set_length(total as u64);
            pb.set_position(done as u64);
        }
    }

    /// Clears the last bar.
    pub fn finish(&self) {
        if let Some((_, pb)) = self.current.lock().unwrap_or_else(|e| e.into_inner()).take() {
            pb.finish_and_clear();
        }
    }
}

/// `p` made absolute with its symlinks resolved: the file itself when it exists, else its folder (resolved)
/// joined with its name — so that a file about to be created is compared by where it will land.
fn resolved(p: &Path) -> Option<std::path::PathBuf> {
    if let Ok(c) = std::fs::canonicalize(p) {
        return Some(c);
    }
    let name = p.file_name()?;
    let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::canonicalize(dir).ok().map(|d| d.join(name))
}

/// Whether two paths name the same file: the same device and inode when both exist (symlinks and hard links
/// included), otherwise the same resolved location.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    match (resolved(a), resolved(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// The input files of a command that may be given as a preset name or a file: the file when it exists.
pub fn preset_file(name_or_path: &str) -> Option<&Path> {
    let p = Path::new(name_or_path);
    p.is_file().then_some(p)
}

/// [`check_paths`], then creates the outputs' folders.
pub fn prepare_outputs(outputs: &[(&str, &Path)], inputs: &[(&str, &Path)]) -> anyhow::Result<()> {
    check_paths(outputs, inputs)?;
    for (_, out) in outputs {
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
        }
    }
    Ok(())
}

/// Refuses outputs that would overwrite an input (MDF, TOML preset or configuration, manifest — through
/// symlinks and hard links too) or each other (`-o X --png X`), before any work. Each item is (option, path),
/// so that the message names both options. Writes nothing.
pub fn check_paths(outputs: &[(&str, &Path)], inputs: &[(&str, &Path)]) -> anyhow::Result<()> {
    for (i, (what, out)) in outputs.iter().enumerate() {
        if let Some((input, p)) = inputs.iter().find(|(_, p)| same_file(out, p)) {
            bail!(
                "{what} {} is the {input} {}: magpie never overwrites an input; choose another file name",
                out.display(),
                p.display()
            );
        }
        if let Some((other, p)) = outputs[..i].iter().find(|(_, p)| same_file(out, p)) {
            bail!(
                "{what} {} and {other} {} name the same file; give each output its own name",
                out.display(),
                p.display()
            );
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
    let _registered = magpie_core::tempfiles::TempFile::register(&tmp);
    if let Err(e) = std::fs::write(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", tmp.display()));
    }
    magpie_core::tempfiles::test_delay();
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_ranges_in_both_conventions() {
        assert_eq!(parse_frames("0:1", false).unwrap(), [0, 1]);
        assert_eq!(parse_frames("1:1", true).unwrap(), [0, 1]);
        assert_eq!(parse_frames("3:10", true).unwrap(), [2, 10]);
        assert_eq!(parse_frames("4", false).unwrap(), [4, 5]);
        assert_eq!(parse_frames("4", true).unwrap(), [3, 4]);
        assert!(parse_frames("0:3", true).unwrap_err().contains("start at 1"));
        assert!(parse_frames("2:2", false).unwrap_err().contains("empty"));
        assert!(parse_frames("a:b", false).is_err());
        assert_eq!(band_khz_arg("73:79").unwrap(), [73e3, 79e3]);
        assert!(band_khz_arg("79:73").is_err() && band_khz_arg("73").is_err());
    }

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
