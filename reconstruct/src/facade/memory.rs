//! The memory a plan needs, estimated before anything large is allocated, and the memory the machine has.

use magpie_core::mdf::MdfFile;

use crate::sysmat::params::SolverParams;
use crate::sysmat::Plan;

/// Environment variable that sets the memory a reconstruction may use [bytes], instead of `MemAvailable`
/// (for tests, and for machines shared with other jobs).
pub const MEMORY_LIMIT_ENV: &str = "MAGPIE_MEMORY_LIMIT_BYTES";

/// Fixed allowance of every plan [bytes]: the program, its libraries and thread stacks, the measurement's
/// per-frame buffers, the output image.
pub const FIXED_ALLOWANCE_BYTES: u64 = 96 << 20;

/// Rows per block of the blocked Kaczmarz state (its triangles are block_rows² entries per block).
const KACZMARZ_BLOCK: u64 = crate::solvers::fast::kaczmarz::DEFAULT_BLOCK_ROWS as u64;

/// What the plan's memory consists of [bytes], with the row and voxel counts it was computed for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MemoryEstimate {
    /// Rows read (R).
    pub rows: usize,
    /// Voxels (N).
    pub voxels: usize,
    /// Background frames of the system matrix (E), read with the rows.
    pub background_frames: usize,
    /// Output frames solved together (F).
    pub frames_in_flight: usize,
    /// The matrix: R × N × 8 B (complex f32).
    pub matrix_bytes: u64,
    /// Its background frames: R × E × 8 B (freed after the build).
    pub background_bytes: u64,
    /// The reader's staging and transient buffers.
    pub staging_bytes: u64,
    /// Frames in flight: F × (R + N) × 8 B (data and images).
    pub frames_bytes: u64,
    /// The solver's own state and scratch.
    pub solver_bytes: u64,
    /// A fixed allowance for the process (code, thread stacks, allocator, HDF5 library): 96 MiB.
    pub fixed_bytes: u64,
    /// Sum of the above.
    pub total_bytes: u64,
    /// The issue-12 bound on the peak of a reconstruction: 1.25 × R × N × 8 B + F × (R + N) × 8 B + 300 MB.
    pub bound_bytes: u64,
    #[serde(skip)]
    solver: SolverKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum SolverKind {
    #[default]
    Kaczmarz,
    Cgnr,
    Fista,
    Tv,
    Direct,
}

impl MemoryEstimate {
    /// The estimate for `plan` with `frames_in_flight` output frames per batch (staging still 0: the caller
    /// adds the reader's figure and calls [`finish`](Self::finish)).
    pub fn for_plan(plan: &Plan, frames_in_flight: usize) -> Self {
        let solver = match plan.params.solver {
            SolverParams::Kaczmarz(_) => SolverKind::Kaczmarz,
            SolverParams::Cgnr(_) => SolverKind::Cgnr,
            SolverParams::Fista(_) => SolverKind::Fista,
            SolverParams::Tv(_) => SolverKind::Tv,
            SolverParams::Direct { .. } => SolverKind::Direct,
        };
        let mut e = MemoryEstimate {
            rows: plan.rows.len(),
            voxels: plan.voxels,
            background_frames: plan.background_frames,
            frames_in_flight: frames_in_flight.max(1),
            matrix_bytes: 0,
            background_bytes: 0,
            staging_bytes: 0,
            frames_bytes: 0,
            solver_bytes: 0,
            fixed_bytes: FIXED_ALLOWANCE_BYTES,
            total_bytes: 0,
            bound_bytes: 0,
            solver,
        };
        e.finish();
        e
    }

    /// Recomputes the sums from the counts and `staging_bytes`.
    pub fn finish(&mut self) {
        let (r, n, e, f) =
            (self.rows as u64, self.voxels as u64, self.background_frames as u64, self.frames_in_flight as u64);
        self.matrix_bytes = r * n * 8;
        self.background_bytes = r * e * 8;
        self.frames_bytes = f * (r + n) * 8;
        self.solver_bytes = match self.solver {
            // Triangles (block² complex f32 per block), v (R × F), and the f64 Gram of one block while building.
            SolverKind::Kaczmarz => r * KACZMARZ_BLOCK * 8 + r * f * 8 + KACZMARZ_BLOCK * n * 16,
            // x, r, Ap, p (N × F each) and S p (R × F).
            SolverKind::Cgnr => 4 * n * f * 8 + r * f * 8,
            // x, y, gradient (N × F) and A y (R × F).
            SolverKind::Fista => 3 * n * f * 8 + r * f * 8,
            // Stacked f64 data and, per frame, the primal–dual vectors in f64.
            SolverKind::Tv => 2 * r * f * 8 + f * (4 * r * 8 + 16 * n * 8),
            // The stacked f64 matrix, the thin SVD factors and LAPACK's copy (m = 2R, k = min(m, N)).
            SolverKind::Direct => {
                let m = 2 * r;
                let k = m.min(n);
                16 * r * n + 8 * (m * k + k * n + m * n) + 2 * r * f * 8
            }
        };
        self.total_bytes = self.matrix_bytes
            + self.background_bytes
            + self.staging_bytes
            + self.frames_bytes
            + self.solver_bytes
            + self.fixed_bytes;
        self.bound_bytes = (1.25 * self.matrix_bytes as f64) as u64 + self.frames_bytes + 300_000_000;
    }

    /// The same plan with `rows` rows.
    fn with_rows(&self, rows: usize) -> Self {
        let mut e = self.clone();
        e.rows = rows;
        e.finish();
        e
    }

    /// The largest number of rows whose estimate fits in `limit_bytes` (0 if none).
    pub fn max_rows_within(&self, limit_bytes: u64) -> usize {
        if self.with_rows(0).total_bytes > limit_bytes {
            return 0;
        }
        // The estimate grows with the row count (quadratically only for the direct solver): bisect.
        let (mut lo, mut hi) = (0usize, self.rows.max(1));
        while self.with_rows(hi).total_bytes <= limit_bytes && hi < usize::MAX / 4 {
            lo = hi;
            hi *= 2;
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.with_rows(mid).total_bytes <= limit_bytes {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// Bytes of the transient complex-f64 copy of every row that a system matrix held in memory is expanded to
/// before the planned rows are taken from it.
pub(crate) fn in_memory_transient_bytes(sm: &MdfFile) -> u64 {
    let Some(m) = &sm.measurement else { return 0 };
    let frames = m.layout.num_frames() as u64;
    let v = sm.acquisition.receiver.num_sampling_points.max(0) as u64;
    let k = m
        .layout
        .frequency_selection
        .as_ref()
        .filter(|_| m.layout.is_frequency_selection)
        .map_or(v / 2 + 1, |s| s.len() as u64);
    let rows = sm.num_periods() as u64 * sm.acquisition.receiver.num_channels.max(0) as u64 * k;
    rows * frames * 16
}

/// Where a memory limit comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitOrigin {
    /// [`super::SessionOptions::memory_limit_bytes`].
    Option,
    /// The environment variable [`MEMORY_LIMIT_ENV`].
    Environment,
    /// `MemAvailable` of `/proc/meminfo`.
    MemAvailable,
    /// Nothing known: no limit.
    Unknown,
}

impl std::fmt::Display for LimitOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitOrigin::Option => "the session's memory limit",
            LimitOrigin::Environment => MEMORY_LIMIT_ENV,
            LimitOrigin::MemAvailable => "90 % of MemAvailable in /proc/meminfo",
            LimitOrigin::Unknown => "no limit known",
        })
    }
}

/// The memory a reconstruction may use [bytes] and where the figure comes from: `option`, else
/// [`MEMORY_LIMIT_ENV`], else 90 % of `MemAvailable`, else unlimited.
pub fn available_memory(option: Option<u64>) -> (u64, LimitOrigin) {
    if let Some(l) = option {
        return (l, LimitOrigin::Option);
    }
    if let Some(l) = std::env::var(MEMORY_LIMIT_ENV).ok().and_then(|v| v.trim().parse::<u64>().ok()) {
        return (l, LimitOrigin::Environment);
    }
    match magpie_core::mem::mem_available_kib() {
        // A tenth stays for the rest of the system: a plan that fits MemAvailable exactly would leave the
        // machine no page cache and nothing for other processes.
        Some(kib) => (kib * 1024 / 10 * 9, LimitOrigin::MemAvailable),
        None => (u64::MAX, LimitOrigin::Unknown),
    }
}

/// Peak resident memory of this process so far (`VmHWM` of `/proc/self/status`) [bytes].
pub fn peak_rss_bytes() -> Option<u64> {
    proc_kib("/proc/self/status", "VmHWM:").map(|k| k * 1024)
}

/// A "Key:   123 kB" line of a /proc file, in KiB.
fn proc_kib(file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(file).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// A plan that does not fit in the memory available.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryError {
    /// The estimate.
    pub estimate: MemoryEstimate,
    /// The memory available [bytes].
    pub available_bytes: u64,
    /// Where that figure comes from.
    pub origin: LimitOrigin,
    /// The largest `max_rows` that would fit.
    pub max_rows: usize,
    /// Rows that pass the SNR threshold and the other criteria.
    pub rows_passing: usize,
    /// The SNR threshold of the plan.
    pub snr_threshold: f64,
}

impl MemoryError {
    pub(crate) fn new(estimate: &MemoryEstimate, plan: &Plan, available_bytes: u64, origin: LimitOrigin) -> Self {
        MemoryError {
            estimate: estimate.clone(),
            available_bytes,
            origin,
            max_rows: estimate.max_rows_within(available_bytes),
            rows_passing: plan.rows_passing,
            snr_threshold: plan.params.frequency.snr_threshold,
        }
    }
}

impl std::fmt::Display for MemoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = &self.estimate;
        let gb = |b: u64| b as f64 / 1e9;
        write!(
            f,
            "the reconstruction needs ≈ {:.2} GB ({} rows × {} voxels × 8 B = {:.2} GB for the system matrix, {:.2} GB for its {} background frames, {:.2} GB for the solver, {:.2} GB for {} frames in flight, {:.2} GB staging and allowance), but {:.2} GB are available ({}); ",
            gb(e.total_bytes),
            e.rows,
            e.voxels,
            gb(e.matrix_bytes),
            gb(e.background_bytes),
            e.background_frames,
            gb(e.solver_bytes),
            gb(e.frames_bytes),
            e.frames_in_flight,
            gb(e.staging_bytes + e.fixed_bytes),
            gb(self.available_bytes),
            self.origin
        )?;
        if self.max_rows > 0 {
            write!(
                f,
                "keep fewer rows: --max-rows {} fits (TOML frequency.max_rows), or raise --snr-threshold (now {})",
                self.max_rows, self.snr_threshold
            )
        } else {
            write!(f, "not even one row fits: free memory or lower engine.batch_frames")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_grow_with_rows_and_max_rows_fits_the_limit() {
        let mut e = MemoryEstimate {
            rows: 62_000,
            voxels: 6859,
            background_frames: 10,
            frames_in_flight: 1,
            matrix_bytes: 0,
            background_bytes: 0,
            staging_bytes: 2 << 20,
            frames_bytes: 0,
            solver_bytes: 0,
            fixed_bytes: FIXED_ALLOWANCE_BYTES,
            total_bytes: 0,
            bound_bytes: 0,
            solver: SolverKind::Kaczmarz,
        };
        e.finish();
        assert_eq!(e.matrix_bytes, 62_000 * 6859 * 8);
        assert!(e.total_bytes > e.matrix_bytes && e.total_bytes < e.bound_bytes, "{e:?}");
        let limit = 2_000_000_000;
        let m = e.max_rows_within(limit);
        assert!(e.with_rows(m).total_bytes <= limit && e.with_rows(m + 1).total_bytes > limit);
        assert_eq!(e.max_rows_within(1000), 0);
        let d = MemoryEstimate { solver: SolverKind::Direct, ..e.clone() }.with_rows(3000);
        assert!(d.solver_bytes > 16 * 3000 * 6859);
    }

    #[test]
    fn limits_come_from_the_option_first() {
        assert_eq!(available_memory(Some(123)), (123, LimitOrigin::Option));
        let (l, o) = available_memory(None);
        assert!(l > 0 && o != LimitOrigin::Option);
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(peak_rss_bytes().is_some_and(|b| b > 1 << 20));
        }
    }
}
