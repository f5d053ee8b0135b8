//! System-matrix reconstruction: **plan** (pure data from parameters and file metadata: rows, grid, delta
//! sample) → **build** (the selected system-matrix rows loaded and pre-processed once, held as one
//! complex-f32 [`SystemMatrix`]) → **run** (many frames reconstructed with the same state, a batch at a time).
//!
//! Callers go through [`crate::facade`], which checks the files against each other, estimates the memory
//! before anything large is read, times the stages and caches built states; `build` and `run` are reachable
//! only from there.
//!
//! The built state holds the matrix once: background subtraction, SNR screening, transfer-function division
//! and row weights are applied in place to the buffer the row reader filled, rows are compacted in place, and
//! the solvers run on it directly: Kaczmarz, CGNR and FISTA on the complex engine
//! ([`crate::solvers::fast`]), TV on a real view of it ([`RealView`]), and only the direct solver's dense SVD
//! materialises the real-stacked form ([`RealSystem`]), for systems small enough to factorise.

pub mod frames;
pub mod freqsel;
pub mod params;

use std::sync::{Arc, Mutex, OnceLock};

use magpie_core::mdf::{MdfFile, RowId, SystemMatrixRows};
use magpie_core::Grid;
use ndarray::{Array2, ArrayView2};
use num_complex::{Complex32, Complex64};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use serde::Serialize;

use crate::engine::{Parallelism, SystemMatrix};
use crate::solvers::fast::cgnr::{self as fast_cgnr, BatchedCgnrParams};
use crate::solvers::fast::fista::{self as fast_fista, BatchedFistaParams};
use crate::solvers::fast::kaczmarz::{BlockedKaczmarz, BlockedKaczmarzParams, KaczmarzWorkspace, DEFAULT_BLOCK_ROWS};
use crate::solvers::{tv, SolveInfo};
#[cfg(feature = "lapack")]
use crate::system::RealSystem;
use crate::system::{RealInput, RealView};
use crate::RecoError;
use frames::{FrameSource, Pick};
use params::{AutoLambda, BackgroundMode, FrequencyParams, Lambda, RecoParams, SolverParams};

/// Safety factor τ of the discrepancy principle ‖A x_λ − b‖ = τ·δ.
pub const DISCREPANCY_TAU: f64 = 1.2;

/// Largest memory the direct solver's dense SVD may take [bytes] (the stacked matrix, its thin factors and
/// LAPACK's copy); larger systems are refused before anything is materialised.
pub const DIRECT_SVD_MAX_BYTES: u64 = 8_000_000_000;

/// What will be done, from parameters and metadata only.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The parameters.
    pub params: RecoParams,
    /// The reconstruction grid (the calibration grid).
    pub grid: Grid,
    /// Rows to load from the system matrix, in stored (j, c, k) order.
    pub rows: Vec<RowId>,
    /// rFFT bin of each row.
    pub bins: Vec<usize>,
    /// SNR of each row from `/calibration/snr` (None: to be estimated from the background frames).
    pub snr: Option<Vec<f64>>,
    /// Rows that passed every criterion before `max_rows` (equal to `rows.len()` without it).
    pub rows_passing: usize,
    /// SNR has to be estimated from the rows' background frames (the file has no `/calibration/snr`).
    pub needs_snr_estimate: bool,
    /// Iron in the delta sample [ng].
    pub delta_iron_ng: f64,
    /// Sampling points per period V of the calibration.
    pub samples_per_period: usize,
    /// Averages of the calibration measurements.
    pub sm_averages: f64,
    /// Voxels (foreground frames) of the system matrix.
    pub voxels: usize,
    /// Background frames of the system matrix.
    pub background_frames: usize,
    /// UUID of the system-matrix file.
    pub sm_uuid: String,
}

/// Keeps the `max` entries of highest `snr` (ties: the earlier row), returned in ascending order.
fn highest_snr(snr: &[f64], candidates: &[usize], max: usize) -> Vec<usize> {
    let mut order = candidates.to_vec();
    order.sort_by(|&a, &b| snr[b].total_cmp(&snr[a]).then(a.cmp(&b)));
    order.truncate(max);
    order.sort_unstable();
    order
}

impl Plan {
    /// Plans a reconstruction with the system matrix whose metadata is `sm` (its data need not be loaded).
    ///
    /// # Errors
    /// A system matrix without calibration grid, no row left after selection, no delta-sample iron, or a
    /// transfer-function correction asked for without a transfer function.
    pub fn new(params: &RecoParams, sm: &MdfFile) -> Result<Self, RecoError> {
        let _span = tracing::info_span!("plan").entered();
        let cal = sm.calibration.as_ref().ok_or_else(|| RecoError::Input {
            what: "system matrix".into(),
            message: "the file has no /calibration group (is it a measurement?)".into(),
        })?;
        let size = cal.size.ok_or_else(|| RecoError::Input {
            what: "/calibration/size".into(),
            message: "needed for the reconstruction grid".into(),
        })?;
        let fov = cal.field_of_view_m.ok_or_else(|| RecoError::Input {
            what: "/calibration/fieldOfView".into(),
            message: "needed for the reconstruction grid".into(),
        })?;
        let grid = Grid::new(size, fov, cal.field_of_view_center_m.unwrap_or([0.0; 3]));
        let fp = &params.frequency;
        let (mut rows, needs_snr_estimate) = freqsel::select_rows(sm, fp);
        let layout = sm.measurement.as_ref().map(|m| &m.layout);
        let v = sm.acquisition.receiver.num_sampling_points.max(0) as usize;
        let stored: Vec<usize> = layout
            .and_then(|l| l.frequency_selection.clone().filter(|_| l.is_frequency_selection))
            .unwrap_or_else(|| (0..v / 2 + 1).collect());
        // Rows where the transfer function vanishes cannot be corrected: screened here, from the metadata, so
        // that `max_rows` counts only usable rows and they are never read.
        if params.preprocessing.transfer_function {
            if sm.measurement.as_ref().is_some_and(|m| m.layout.is_transfer_function_corrected) {
                return Err(RecoError::Input {
                    what: "/measurement/isTransferFunctionCorrected".into(),
                    message: "the system matrix is already transfer-function corrected; correcting it again \
                              (transfer_function = true, --tf) is refused"
                        .into(),
                });
            }
            let tf = sm.acquisition.receiver.transfer_function.as_ref().ok_or_else(|| RecoError::Input {
                what: "/acquisition/receiver/transferFunction".into(),
                message: "transfer-function correction asked for, but the system matrix has none".into(),
            })?;
            let before = rows.len();
            rows.retain(|r| tf.get((r.channel, stored[r.k])).is_some_and(|h| h.norm() > 1e-12));
            if rows.len() < before {
                tracing::info!("{} rows dropped where the transfer function vanishes", before - rows.len());
            }
        }
        if rows.is_empty() {
            return Err(RecoError::Input {
                what: "frequency selection".into(),
                message: format!(
                    "no system-matrix row passes (SNR ≥ {}, {} Hz ≤ f{}); lower --snr-threshold or --min-freq-khz",
                    fp.snr_threshold,
                    fp.min_frequency_hz,
                    fp.max_frequency_hz.map_or(String::new(), |m| format!(" ≤ {m} Hz"))
                ),
            });
        }
        let snr_table = cal.snr.as_ref();
        let mut snr: Option<Vec<f64>> = snr_table.map(|t| rows.iter().map(|r| t[[r.period, r.channel, r.k]]).collect());
        let rows_passing = rows.len();
        if let (Some(max), Some(values)) = (fp.max_rows, snr.as_mut()) {
            if max == 0 {
                return Err(RecoError::Input { what: "max_rows".into(), message: "must be at least 1".into() });
            }
            if rows.len() > max {
                let keep = highest_snr(values, &(0..rows.len()).collect::<Vec<_>>(), max);
                tracing::info!(
                    "max_rows {max}: kept the {max} rows of highest SNR of {} (SNR ≥ {:.2})",
                    rows.len(),
                    keep.iter().map(|&i| values[i]).fold(f64::INFINITY, f64::min)
                );
                rows = keep.iter().map(|&i| rows[i]).collect();
                *values = keep.iter().map(|&i| values[i]).collect();
            }
        }
        let bins = rows.iter().map(|r| stored[r.k]).collect();
        let delta_iron_ng = match params.quantification.delta_iron_ng {
            Some(x) => x,
            None => {
                let size_m = cal.delta_sample_size_m.ok_or_else(|| RecoError::Input {
                    what: "/calibration/deltaSampleSize".into(),
                    message: "missing: give the delta sample's iron with --delta-iron-ng".into(),
                })?;
                let conc =
                    sm.tracer.as_ref().and_then(|t| t.concentration_mol_per_l.first().copied()).ok_or_else(|| {
                        RecoError::Input {
                            what: "/tracer/concentration".into(),
                            message: "missing: give --delta-iron-ng".into(),
                        }
                    })?;
                let kg = magpie_core::units::iron_mass_kg_from_concentration(conc, size_m.iter().product());
                kg / magpie_core::units::KG_PER_NG
            }
        };
        let (voxels, background_frames) = layout.map_or((0, 0), |l| {
            let e = l.is_background_frame.iter().filter(|b| **b).count();
            (l.num_frames() - e, e)
        });
        tracing::info!(
            "{} rows of {} (SNR ≥ {}, f ≥ {:.0} kHz{}{}), grid {}×{}×{} over {:.1}×{:.1}×{:.1} mm, delta sample {:.4} µg Fe",
            rows.len(),
            sm.num_periods() * sm.acquisition.receiver.num_channels.max(0) as usize * stored.len(),
            fp.snr_threshold,
            fp.min_frequency_hz / 1e3,
            if needs_snr_estimate { ", SNR estimated from background frames" } else { "" },
            fp.max_rows.map_or(String::new(), |m| format!(", at most {m}")),
            size[0],
            size[1],
            size[2],
            fov[0] * 1e3,
            fov[1] * 1e3,
            fov[2] * 1e3,
            delta_iron_ng * 1e-3
        );
        Ok(Plan {
            params: params.clone(),
            grid,
            rows,
            bins,
            snr,
            rows_passing,
            needs_snr_estimate,
            delta_iron_ng,
            samples_per_period: v,
            sm_averages: sm.acquisition.num_averages.max(1) as f64,
            voxels,
            background_frames,
            sm_uuid: sm.uuid.clone(),
        })
    }

    /// The key of the state `build` makes: the system-matrix file and every parameter that
    /// changes the built matrix (row selection, system-matrix pre-processing, row order, threads), and nothing
    /// that concerns only the measurement or the solver's λ and iterations. Equal keys give equal states.
    pub fn build_key(&self) -> String {
        build_key(&self.sm_uuid, &self.params)
    }

    /// Builds the reconstructor from the planned rows' data as the row reader returns them (complex f32,
    /// foreground `[R, O]` and background `[R, E]` row-major), consuming them: every step works in place on
    /// that buffer. `transfer_function` is the calibration's [C, K_full] transfer function, used only when the
    /// parameters ask for correction.
    ///
    /// # Errors
    /// Rows that do not match the plan, an SNR that cannot be estimated, no row left, or a requested
    /// transfer-function correction without one.
    pub(crate) fn build(
        self,
        data: SystemMatrixRows<Complex32>,
        transfer_function: Option<&Array2<Complex64>>,
        parallelism: Parallelism,
    ) -> Result<Reconstructor, RecoError> {
        let _span = tracing::info_span!("build", rows = self.rows.len()).entered();
        if data.rows != self.rows {
            return Err(RecoError::Input {
                what: "system matrix rows".into(),
                message: "the rows loaded are not the planned rows".into(),
            });
        }
        let mut plan = self;
        let key = plan.build_key();
        let (r, n) = data.foreground.dim();
        let e = data.background.ncols();
        let fg = standard_vec(data.foreground);
        let bg = standard_vec(data.background);
        let pre = plan.params.preprocessing.clone();
        if pre.system_matrix_background && e == 0 {
            tracing::warn!("system-matrix background correction asked for, but the file has no background frames");
        }
        let tf_rows: Option<Vec<Complex64>> = if pre.transfer_function {
            let tf = transfer_function.ok_or_else(|| RecoError::Input {
                what: "/acquisition/receiver/transferFunction".into(),
                message: "transfer-function correction asked for, but the system matrix has none".into(),
            })?;
            Some(plan.rows.iter().zip(&plan.bins).map(|(id, &bin)| tf[[id.channel, bin]]).collect())
        } else {
            None
        };
        let mut fg = fg;
        // One pass over each row, in parallel: the background mean (subtracted) and spread (the row's noise),
        // the signal level after subtraction (its SNR), and the transfer-function division.
        let stats: Vec<RowStats> = parallelism.install(|| {
            let rows_fg = fg.par_chunks_mut(n.max(1));
            let rows_bg: Vec<&[Complex32]> = if e > 0 { bg.chunks(e).collect() } else { vec![&[][..]; r] };
            rows_fg
                .zip(rows_bg.into_par_iter())
                .enumerate()
                .map(|(i, (row, b))| process_row(row, b, pre.system_matrix_background, tf_rows.as_ref().map(|t| t[i])))
                .collect()
        });
        drop(bg);
        if tf_rows.is_some() {
            tracing::info!("transfer-function correction applied to the system matrix (asked for)");
        }
        let mut keep: Vec<usize> = (0..r).filter(|&i| stats[i].norm_sq > 0.0).collect();
        if keep.len() < r {
            tracing::debug!("{} rows without energy dropped", r - keep.len());
        }
        if plan.needs_snr_estimate {
            if e < 2 {
                return Err(RecoError::Input {
                    what: "/calibration/snr".into(),
                    message: "missing and not estimable (fewer than 2 background frames); use --snr-threshold 0".into(),
                });
            }
            let thr = plan.params.frequency.snr_threshold;
            let before = keep.len();
            keep.retain(|&i| stats[i].sigma > 0.0 && stats[i].snr >= thr);
            tracing::info!(
                "SNR estimated from {e} background frames: {} of {before} rows pass SNR ≥ {thr}",
                keep.len()
            );
            plan.rows_passing = keep.len();
            if let Some(max) = plan.params.frequency.max_rows.filter(|m| keep.len() > *m) {
                let snr: Vec<f64> = stats.iter().map(|s| s.snr).collect();
                let kept = highest_snr(&snr, &keep, max.max(1));
                tracing::info!(
                    "max_rows {max}: kept the {} rows of highest SNR of {} (SNR ≥ {:.2})",
                    kept.len(),
                    keep.len(),
                    kept.iter().map(|&i| snr[i]).fold(f64::INFINITY, f64::min)
                );
                keep = kept;
            }
            plan.snr = Some(keep.iter().map(|&i| stats[i].snr).collect());
        } else if let Some(snr) = &plan.snr {
            plan.snr = Some(keep.iter().map(|&i| snr[i]).collect());
        }
        if keep.is_empty() {
            return Err(RecoError::Input {
                what: "frequency selection".into(),
                message: "no row passes the SNR threshold".into(),
            });
        }
        compact_rows(&mut fg, n, &keep);
        let mut sigma: Vec<f64> = keep.iter().map(|&i| stats[i].sigma).collect();
        let norms: Vec<f64> = keep.iter().map(|&i| stats[i].norm_sq).collect();
        plan.rows = keep.iter().map(|&i| plan.rows[i]).collect();
        plan.bins = keep.iter().map(|&i| plan.bins[i]).collect();
        // Row weights: whitening (min σ / σ_r, MPIReco) and/or row normalisation (1/‖s_r‖), in place.
        let mut weights = vec![1.0; keep.len()];
        if pre.whitening {
            let min = sigma.iter().copied().filter(|v| *v > 0.0).fold(f64::INFINITY, f64::min);
            if min.is_finite() {
                for (w, sg) in weights.iter_mut().zip(&sigma) {
                    *w *= if *sg > 0.0 { min / sg } else { 1.0 };
                }
            } else {
                tracing::warn!(
                    "whitening asked for, but the system matrix has no noise estimate (fewer than 2 background frames)"
                );
            }
        }
        if pre.row_normalization {
            for (w, nsq) in weights.iter_mut().zip(&norms) {
                *w /= nsq.sqrt();
            }
        }
        if weights.iter().any(|w| *w != 1.0) {
            parallelism.install(|| {
                fg.par_chunks_mut(n.max(1)).zip(weights.par_iter()).for_each(|(row, w)| {
                    let w = *w as f32;
                    row.iter_mut().for_each(|z| *z *= w);
                })
            });
        }
        // A randomised Kaczmarz order is a fixed, seeded permutation of the rows: applied to the matrix once,
        // so that every solver sees the same rows and the sweep reads them contiguously.
        if let Some(seed) = row_order_seed(&plan.params) {
            let mut order: Vec<usize> = (0..plan.rows.len()).collect();
            order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
            permute_rows(&mut fg, n, &order);
            plan.rows = order.iter().map(|&i| plan.rows[i]).collect();
            plan.bins = order.iter().map(|&i| plan.bins[i]).collect();
            weights = order.iter().map(|&i| weights[i]).collect();
            sigma = order.iter().map(|&i| sigma[i]).collect();
            plan.snr = plan.snr.map(|s| order.iter().map(|&i| s[i]).collect());
            tracing::info!("rows in a random order (seed {seed})");
        }
        let rows = plan.rows.len();
        let system = SystemMatrix::from_row_major(fg, rows, n, parallelism)
            .map_err(|e| RecoError::Input { what: "system matrix".into(), message: e.to_string() })?;
        tracing::info!(
            "system: {rows} complex rows × {n} voxels, complex f32 ({:.2} GB), ‖S‖²_F = {:.3e}",
            system.bytes() as f64 / 1e9,
            system.frobenius_sq()
        );
        Ok(Reconstructor::from_parts(plan, Arc::new(system), weights, sigma, key))
    }
}

/// A row-major array's buffer without copying (the row reader returns standard layout; anything else is
/// copied once).
fn standard_vec<T: Clone>(a: Array2<T>) -> Vec<T> {
    if a.is_standard_layout() {
        let (v, offset) = a.into_raw_vec_and_offset();
        if offset.unwrap_or(0) == 0 {
            return v;
        }
        // A sliced array: copy (never happens for arrays the reader made).
        return v[offset.unwrap_or(0)..].to_vec();
    }
    a.as_standard_layout().iter().cloned().collect()
}

#[derive(Debug, Clone, Copy)]
struct RowStats {
    /// Complex standard deviation of the row's background frames (one calibration measurement's noise).
    sigma: f64,
    /// RMS of the (corrected) row over the voxels ÷ σ.
    snr: f64,
    /// ‖s‖² of the processed row.
    norm_sq: f64,
}

fn process_row(row: &mut [Complex32], bg: &[Complex32], subtract: bool, tf: Option<Complex64>) -> RowStats {
    let e = bg.len();
    let mean: Complex64 =
        if e > 0 { bg.iter().map(|z| z.to_c64()).sum::<Complex64>() / e as f64 } else { Complex64::default() };
    let sigma = if e >= 2 {
        (bg.iter().map(|z| (z.to_c64() - mean).norm_sqr()).sum::<f64>() / (e - 1) as f64).sqrt()
    } else {
        0.0
    };
    if subtract && e > 0 {
        let m = Complex32::new(mean.re as f32, mean.im as f32);
        row.iter_mut().for_each(|z| *z -= m);
    }
    let signal_sq: f64 = row.iter().map(|z| z.to_c64().norm_sqr()).sum();
    let snr = if sigma > 0.0 { (signal_sq / row.len().max(1) as f64).sqrt() / sigma } else { 0.0 };
    let mut norm_sq = signal_sq;
    if let Some(h) = tf {
        let inv = Complex64::new(1.0, 0.0) / h;
        let inv = Complex32::new(inv.re as f32, inv.im as f32);
        row.iter_mut().for_each(|z| *z *= inv);
        norm_sq = row.iter().map(|z| z.to_c64().norm_sqr()).sum();
    }
    RowStats { sigma, snr, norm_sq }
}

trait ToC64 {
    fn to_c64(&self) -> Complex64;
}

impl ToC64 for Complex32 {
    fn to_c64(&self) -> Complex64 {
        Complex64::new(f64::from(self.re), f64::from(self.im))
    }
}

/// Moves rows `keep` (ascending) to the front of the row-major buffer, in order, and frees the rest: no copy
/// of the matrix, one row moved at a time.
fn compact_rows<T: Copy>(data: &mut Vec<T>, cols: usize, keep: &[usize]) {
    debug_assert!(keep.windows(2).all(|w| w[0] < w[1]));
    for (new, &old) in keep.iter().enumerate() {
        if new != old {
            data.copy_within(old * cols..(old + 1) * cols, new * cols);
        }
    }
    let len = keep.len() * cols;
    if len < data.len() {
        data.truncate(len);
        // Returns the tail to the allocator (a large buffer is remapped in place by realloc, not copied).
        data.shrink_to_fit();
    }
}

/// Reorders the rows of a row-major buffer in place so that new row i is old row `order[i]`, following the
/// permutation's cycles with one row of scratch.
fn permute_rows<T: Copy + Default>(data: &mut [T], cols: usize, order: &[usize]) {
    let mut done = vec![false; order.len()];
    let mut tmp = vec![T::default(); cols];
    for start in 0..order.len() {
        if done[start] || order[start] == start {
            done[start] = true;
            continue;
        }
        tmp.copy_from_slice(&data[start * cols..(start + 1) * cols]);
        let mut i = start;
        loop {
            done[i] = true;
            let src = order[i];
            if src == start {
                data[i * cols..(i + 1) * cols].copy_from_slice(&tmp);
                break;
            }
            data.copy_within(src * cols..(src + 1) * cols, i * cols);
            i = src;
        }
    }
}

/// The seed of the row order when the solver visits rows in a random order.
fn row_order_seed(p: &RecoParams) -> Option<u64> {
    match &p.solver {
        SolverParams::Kaczmarz(k) if k.randomized => Some(k.seed),
        _ => None,
    }
}

#[derive(Serialize)]
struct BuildSpec<'a> {
    frequency: &'a FrequencyParams,
    system_matrix_background: bool,
    transfer_function: bool,
    whitening: bool,
    row_normalization: bool,
    delta_iron_ng: Option<f64>,
    row_order_seed: Option<u64>,
    threads: usize,
}

/// See [`Plan::build_key`].
pub fn build_key(sm_uuid: &str, p: &RecoParams) -> String {
    let spec = BuildSpec {
        frequency: &p.frequency,
        system_matrix_background: p.preprocessing.system_matrix_background,
        transfer_function: p.preprocessing.transfer_function,
        whitening: p.preprocessing.whitening,
        row_normalization: p.preprocessing.row_normalization,
        delta_iron_ng: p.quantification.delta_iron_ng,
        row_order_seed: row_order_seed(p),
        threads: p.engine.threads,
    };
    format!("{sm_uuid}\n{}", toml::to_string(&spec).unwrap_or_default())
}

/// Inputs from the measurement file.
#[derive(Clone, Copy)]
pub struct MeasurementInput<'a> {
    /// The measurement's frames (e.g. [`frames::MdfFrames`] of a file, or canonical spectra).
    pub frames: &'a dyn FrameSource,
    /// The transfer function [C, K_full] to divide the measurement by: the file's own, or an external one on
    /// the measurement's grid.
    pub transfer_function: Option<&'a Array2<Complex64>>,
    /// Divide by `transfer_function` (the parameters' `transfer_function`, or an external transfer function).
    pub correct_transfer_function: bool,
    /// An external empty measurement (same frequency layout) whose mean over all frames is the background,
    /// for `background = "external"`.
    pub external_background: Option<&'a dyn FrameSource>,
    /// Block averages of the measurement (for the noise level).
    pub averages: f64,
}

impl std::fmt::Debug for MeasurementInput<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MeasurementInput({} frames, {} averages)", self.frames.frame_count(), self.averages)
    }
}

/// How a run reports on itself.
#[derive(Default, Clone, Copy)]
pub struct RunOptions<'a> {
    /// Compute the residual ‖S x − b‖ of the first frame after each iteration (extra products; off by
    /// default).
    pub residuals: bool,
    /// Called with (output frames done, output frames in all) before the first batch (0 done) and after each.
    pub progress: Option<&'a (dyn Fn(usize, usize) + Sync)>,
}

impl std::fmt::Debug for RunOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RunOptions(residuals {})", self.residuals)
    }
}

/// A reconstruction.
#[derive(Debug, Clone)]
pub struct RecoResult {
    /// Iron per voxel [ng], [Q, P] (frames × voxels, x fastest).
    pub iron_ng: Array2<f64>,
    /// The foreground frames (acquisition indices) averaged into each output frame.
    pub frames: Vec<Vec<usize>>,
    /// Effective λ used.
    pub lambda_eff: f64,
    /// λ relative to ‖S‖²_F/N.
    pub lambda_relative: f64,
    /// Rows used.
    pub rows_used: usize,
    /// Solver report (iterations; residuals of the first frame when asked for).
    pub info: SolveInfo,
    /// Expected noise norm of the weighted data (first frame) used by the discrepancy principle.
    pub noise_norm: f64,
    /// Wall time of the solves alone [s] (frame preparation excluded).
    pub solve_s: f64,
    /// Wall time of reading and preparing the frames [s].
    pub prepare_s: f64,
}

#[cfg(feature = "lapack")]
type SvdCache = crate::solvers::direct::TikhonovSvd;
#[cfg(not(feature = "lapack"))]
type SvdCache = ();

/// What every frame needs, computed once: the plan and the pre-processed system matrix, plus solver states
/// made on first use and kept (the blocked Kaczmarz triangles per λ, the Lipschitz constant, the SVD).
pub struct Reconstructor {
    plan: Plan,
    system: Arc<SystemMatrix<Complex32>>,
    weights: Vec<f64>,
    sm_sigma: Vec<f64>,
    key: String,
    kaczmarz: Mutex<Vec<(u64, Arc<BlockedKaczmarz<Complex32>>)>>,
    lipschitz: OnceLock<f64>,
    #[cfg_attr(not(feature = "lapack"), allow(dead_code))]
    svd: OnceLock<Result<SvdCache, String>>,
}

impl std::fmt::Debug for Reconstructor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reconstructor({} rows × {} voxels)", self.system.rows(), self.system.cols())
    }
}

/// Batch data prepared for the solver, and what describes it.
struct FramePrep {
    picks: Vec<Pick>,
    groups: Vec<Vec<usize>>,
    background: Background,
    tf_inverse: Option<Vec<Complex64>>,
    noise_sq: f64,
}

enum Background {
    None,
    Constant(Vec<Complex64>),
    /// Blocks of consecutive background frames: (mean frame index, mean per row).
    Blocks(Vec<(f64, Vec<Complex64>)>),
}

impl Reconstructor {
    /// A state from its parts (a fresh build, or the on-disk cache).
    pub(crate) fn from_parts(
        plan: Plan,
        system: Arc<SystemMatrix<Complex32>>,
        weights: Vec<f64>,
        sm_sigma: Vec<f64>,
        key: String,
    ) -> Self {
        Reconstructor {
            plan,
            system,
            weights,
            sm_sigma,
            key,
            kaczmarz: Mutex::new(Vec::new()),
            lipschitz: OnceLock::new(),
            svd: OnceLock::new(),
        }
    }

    /// The plan (rows after SNR estimation and transfer-function screening, in the matrix's row order).
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The pre-processed system matrix.
    pub fn system(&self) -> &Arc<SystemMatrix<Complex32>> {
        &self.system
    }

    /// Row weights applied to system and data.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// Noise of one calibration measurement per row (complex standard deviation, before weighting).
    pub fn sm_sigma(&self) -> &[f64] {
        &self.sm_sigma
    }

    /// The build key ([`Plan::build_key`]) of the state.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Bytes held (matrix and solver states made so far, not counting the SVD).
    pub fn bytes(&self) -> u64 {
        let k = self.kaczmarz.lock().map_or(0, |v| v.len() as u64);
        self.system.bytes() as u64 + k * self.system.rows() as u64 * DEFAULT_BLOCK_ROWS as u64 * 8
    }

    /// λ_eff for the parameters' relative λ (None for an automatic λ, which depends on the data).
    fn lambda_relative_eff(&self, p: &RecoParams) -> Option<f64> {
        match &p.lambda {
            Lambda::Relative(l) => Some(self.system.lambda_eff(*l)),
            Lambda::Auto(_) => None,
        }
    }

    /// Makes the solver state the parameters need ahead of the first frame (the blocked Kaczmarz triangles,
    /// FISTA's Lipschitz constant, the SVD of the direct solver), so that it is timed as part of the build.
    ///
    /// # Errors
    /// Solver parameters the solver refuses; an SVD too large for memory.
    pub(crate) fn prepare_solver(&self, p: &RecoParams) -> Result<(), RecoError> {
        match &p.solver {
            SolverParams::Kaczmarz(_) => {
                if let Some(l) = self.lambda_relative_eff(p) {
                    self.kaczmarz_state(l)?;
                }
            }
            SolverParams::Fista(_) => {
                self.lipschitz();
            }
            SolverParams::Direct { .. } => {
                #[cfg(feature = "lapack")]
                self.svd()?;
            }
            SolverParams::Cgnr(_) | SolverParams::Tv(_) => {}
        }
        Ok(())
    }

    fn kaczmarz_state(&self, lambda_eff: f64) -> Result<Arc<BlockedKaczmarz<Complex32>>, RecoError> {
        let mut states = self.kaczmarz.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, s)) = states.iter().find(|(l, _)| *l == lambda_eff.to_bits()) {
            return Ok(s.clone());
        }
        let _s = tracing::debug_span!("kaczmarz_blocks", rows = self.system.rows()).entered();
        let state = Arc::new(BlockedKaczmarz::build(self.system.clone(), lambda_eff, DEFAULT_BLOCK_ROWS)?);
        states.push((lambda_eff.to_bits(), state.clone()));
        Ok(state)
    }

    /// ‖A‖₂² of the real-input operator (the stacked real system's), by power iteration, once.
    fn lipschitz(&self) -> f64 {
        *self.lipschitz.get_or_init(|| fast_fista::spectral_norm_sq(&RealInput::new(&self.system), 100))
    }

    /// Reconstructs the (selected, averaged, background-corrected) frames of a measurement with the
    /// parameters `p` (whose build key must be this state's), a batch of `p.engine.batch_frames` output frames
    /// at a time.
    ///
    /// # Errors
    /// Other build parameters; mismatching periods/channels/frequencies, missing background frames or
    /// transfer function, solver errors.
    pub(crate) fn run(&self, m: MeasurementInput, p: &RecoParams, opts: &RunOptions) -> Result<RecoResult, RecoError> {
        let _span = tracing::info_span!("solve", solver = p.solver.name()).entered();
        if build_key(&self.plan.sm_uuid, p) != self.key {
            return Err(RecoError::Input {
                what: "parameters".into(),
                message: "they select or pre-process the system matrix differently from the built state".into(),
            });
        }
        let t_prep = std::time::Instant::now();
        let prep = self.prepare(m, p)?;
        let (rows, n) = (self.system.rows(), self.system.cols());
        let q = prep.groups.len();
        let scale = self.system.frobenius_sq() / n.max(1) as f64;
        let batch = p.engine.batch_frames.max(1);
        let mut iron_ng = Array2::<f64>::zeros((q, n));
        let mut info = SolveInfo::default();
        let mut lambda_eff = f64::NAN;
        let mut noise_norm = prep.noise_sq.sqrt();
        let mut prepare_s = t_prep.elapsed().as_secs_f64();
        let mut solve_s = 0.0;
        let mut b = Vec::new();
        let mut frame = vec![Complex64::default(); rows];
        let mut ws: Option<(usize, KaczmarzWorkspace<Complex32>)> = None;
        if let Some(cb) = opts.progress {
            cb(0, q);
        }
        for first in (0..q).step_by(batch) {
            let f = batch.min(q - first);
            let t0 = std::time::Instant::now();
            self.batch_data(&prep, m.frames, &prep.groups[first..first + f], &mut b, &mut frame)?;
            prepare_s += t0.elapsed().as_secs_f64();
            let t1 = std::time::Instant::now();
            if first == 0 {
                lambda_eff = match &p.lambda {
                    Lambda::Relative(l) => l * scale,
                    Lambda::Auto(method) => self.auto_lambda(*method, &b[..rows], noise_norm)?,
                };
                noise_norm = prep.noise_sq.sqrt();
                tracing::info!(
                    "λ = {:.3e} (relative {:.3e}), noise norm {:.3e}",
                    lambda_eff,
                    lambda_eff / scale,
                    noise_norm
                );
            }
            let (x, batch_info) = self.solve_batch(p, &b, f, lambda_eff, opts.residuals, &mut ws)?;
            solve_s += t1.elapsed().as_secs_f64();
            if first == 0 {
                info = batch_info;
            }
            for (k, col) in x.chunks(n).enumerate() {
                for (o, v) in iron_ng.row_mut(first + k).iter_mut().zip(col) {
                    *o = v * self.plan.delta_iron_ng;
                }
            }
            if let Some(cb) = opts.progress {
                cb(first + f, q);
            }
        }
        let res = info.residual_history.last().copied();
        tracing::info!(
            "{}: {} iterations{}, {q} frame(s) in {solve_s:.3} s ({:.1} frames/s)",
            p.solver.name(),
            info.iterations,
            res.map_or(String::new(), |r| format!(", residual {r:.3e}")),
            q as f64 / solve_s.max(1e-12)
        );
        Ok(RecoResult {
            iron_ng,
            frames: prep.groups,
            lambda_eff,
            lambda_relative: lambda_eff / scale,
            rows_used: rows,
            info,
            noise_norm,
            solve_s,
            prepare_s,
        })
    }

    /// Solves one batch; returns x (real part, voxels × frames, column-major) and the report.
    fn solve_batch(
        &self,
        p: &RecoParams,
        b: &[Complex32],
        frames: usize,
        lambda_eff: f64,
        residuals: bool,
        ws: &mut Option<(usize, KaczmarzWorkspace<Complex32>)>,
    ) -> Result<(Vec<f64>, SolveInfo), RecoError> {
        let sys = &*self.system;
        let n = sys.cols();
        let re = |x: &[Complex32]| x.iter().map(|z| f64::from(z.re)).collect::<Vec<f64>>();
        match &p.solver {
            SolverParams::Kaczmarz(kp) => {
                let state = self.kaczmarz_state(lambda_eff)?;
                let mut bp = BlockedKaczmarzParams::with_sweeps(kp.iterations);
                bp.non_negative = kp.non_negative;
                bp.residuals = residuals;
                // The workspace is reused across batches of the same size (no allocation per batch).
                if ws.as_ref().is_none_or(|(f, _)| *f != frames) {
                    *ws = Some((frames, state.workspace(frames)));
                }
                let w = &mut ws.as_mut().expect("made above").1;
                let mut x = vec![Complex32::default(); n * frames];
                let i = state.solve_into(b, frames, &bp, &mut x, w)?;
                Ok((re(&x), SolveInfo { iterations: i.sweeps, residual_history: i.residual_history }))
            }
            SolverParams::Cgnr(cp) => {
                let mut bp = BatchedCgnrParams::with_iterations(cp.iterations);
                bp.tolerance = cp.tolerance;
                bp.non_negative = cp.non_negative;
                bp.residuals = residuals;
                let (x, i) = fast_cgnr::solve(&RealInput::new(sys), b, frames, lambda_eff, &bp)?;
                Ok((re(&x), SolveInfo { iterations: i.iterations, residual_history: i.residual_history }))
            }
            SolverParams::Fista(fp) => {
                let mut bp = BatchedFistaParams::with_iterations(fp.iterations);
                bp.non_negative = fp.non_negative;
                bp.lipschitz = Some(self.lipschitz());
                let op = RealInput::new(sys);
                let (x, i) = fast_fista::solve(&op, b, frames, lambda_eff, &bp)?;
                let x = re(&x);
                let residual_history = if residuals { vec![self.residual(&x[..n], &b[..sys.rows()])] } else { vec![] };
                Ok((x, SolveInfo { iterations: i.iterations, residual_history }))
            }
            SolverParams::Tv(tp) => {
                let bs = stack(b, sys.rows(), frames);
                let (x, info) = tv::solve(&RealView::new(sys), bs.view(), lambda_eff, self.plan.grid.shape, tp)?;
                let info =
                    if residuals { info } else { SolveInfo { iterations: info.iterations, residual_history: vec![] } };
                Ok((column_major(x.view()), info))
            }
            SolverParams::Direct { non_negative } => {
                let bs = stack(b, sys.rows(), frames);
                let x = self.direct(bs.view(), lambda_eff, *non_negative)?;
                let x = column_major(x.view());
                let residual_history = if residuals { vec![self.residual(&x[..n], &b[..sys.rows()])] } else { vec![] };
                Ok((x, SolveInfo { iterations: 1, residual_history }))
            }
        }
    }

    /// ‖S x − b‖ for a real x.
    fn residual(&self, x: &[f64], b: &[Complex32]) -> f64 {
        let xc: Vec<Complex32> = x.iter().map(|v| Complex32::new(*v as f32, 0.0)).collect();
        let mut y = vec![Complex32::default(); self.system.rows()];
        use magpie_core::operator::LinearOperator;
        self.system.forward_unchecked(&xc, &mut y);
        y.iter().zip(b).map(|(a, bb)| (*a - *bb).to_c64().norm_sqr()).sum::<f64>().sqrt()
    }

    /// Row → column of the measurement, frame groups, background model, transfer function and noise level.
    fn prepare(&self, m: MeasurementInput, p: &RecoParams) -> Result<FramePrep, RecoError> {
        let src = m.frames;
        let n = src.frame_count();
        let (j, c) = src.periods_channels();
        let pre = &p.preprocessing;
        let column_of = |bin: usize, freqs: &[usize]| freqs.iter().position(|f| *f == bin);
        let mut picks = Vec::with_capacity(self.plan.rows.len());
        for (row, &bin) in self.plan.rows.iter().zip(&self.plan.bins) {
            if row.period >= j || row.channel >= c {
                return Err(RecoError::Input {
                    what: "measurement".into(),
                    message: format!(
                        "has J={j} periods and C={c} channels; the system matrix row {row:?} does not fit"
                    ),
                });
            }
            let k = column_of(bin, src.frequencies()).ok_or_else(|| RecoError::Input {
                what: "measurement".into(),
                message: format!("frequency bin {bin} of the system matrix is not in the measurement (different V or frequency selection?)"),
            })?;
            picks.push(Pick { period: row.period, channel: row.channel, column: k });
        }
        let mask = src.is_background_frame();
        let fg: Vec<usize> = (0..n).filter(|i| !mask[*i]).collect();
        let bgf: Vec<usize> = (0..n).filter(|i| mask[*i]).collect();
        if fg.is_empty() {
            return Err(RecoError::Input {
                what: "/measurement/isBackgroundFrame".into(),
                message: "no foreground frame".into(),
            });
        }
        let fg: Vec<usize> = match pre.frames {
            Some([a, b]) => {
                if a >= b || b > fg.len() {
                    return Err(RecoError::Input {
                        what: "frames".into(),
                        message: format!("range {a}:{b} is outside the {} foreground frames", fg.len()),
                    });
                }
                fg[a..b].to_vec()
            }
            None => fg,
        };
        let need_bg = matches!(pre.background, BackgroundMode::Mean | BackgroundMode::Interpolate);
        if need_bg && bgf.is_empty() {
            return Err(RecoError::Input {
                what: "/measurement/isBackgroundFrame".into(),
                message: format!(
                    "background correction \"{}\" needs background frames, the measurement has none (use --background none or external)",
                    match pre.background {
                        BackgroundMode::Mean => "mean",
                        _ => "interpolate",
                    }
                ),
            });
        }
        let r_n = picks.len();
        // One pass over the background frames: the mean of each block of consecutive frames, and the mean and
        // spread of them all (Welford's update, numerically stable in one pass).
        let mut buf = vec![Complex64::default(); r_n];
        let mut mean = vec![Complex64::default(); r_n];
        let mut m2 = vec![0.0f64; r_n];
        let mut blocks: Vec<(f64, Vec<Complex64>)> = Vec::new();
        let mut block_frames: Vec<usize> = Vec::new();
        let close_block =
            |block_frames: &mut Vec<usize>, sum: &mut Vec<Complex64>, blocks: &mut Vec<(f64, Vec<Complex64>)>| {
                if block_frames.is_empty() {
                    return;
                }
                let len = block_frames.len() as f64;
                let t = block_frames.iter().sum::<usize>() as f64 / len;
                blocks.push((t, sum.iter().map(|z| z / len).collect()));
                block_frames.clear();
                sum.iter_mut().for_each(|z| *z = Complex64::default());
            };
        let mut block_sum =
            vec![Complex64::default(); if pre.background == BackgroundMode::Interpolate { r_n } else { 0 }];
        for (count, &f) in bgf.iter().enumerate() {
            src.read_frame(f, &picks, &mut buf)?;
            let k = (count + 1) as f64;
            for ((mu, s2), z) in mean.iter_mut().zip(m2.iter_mut()).zip(&buf) {
                let d = z - *mu;
                *mu += d / k;
                *s2 += (d.conj() * (z - *mu)).re;
            }
            if pre.background == BackgroundMode::Interpolate {
                if block_frames.last().is_some_and(|l| *l + 1 != f) {
                    close_block(&mut block_frames, &mut block_sum, &mut blocks);
                }
                block_frames.push(f);
                for (s, z) in block_sum.iter_mut().zip(&buf) {
                    *s += z;
                }
            }
        }
        close_block(&mut block_frames, &mut block_sum, &mut blocks);
        let background = match pre.background {
            BackgroundMode::None => Background::None,
            BackgroundMode::Mean => Background::Constant(mean.clone()),
            BackgroundMode::Interpolate => {
                tracing::debug!("{} background blocks", blocks.len());
                Background::Blocks(blocks)
            }
            BackgroundMode::External => {
                let e = m.external_background.ok_or_else(|| RecoError::Input {
                    what: "background".into(),
                    message: "external background asked for, but no empty measurement given".into(),
                })?;
                let epicks: Vec<Pick> = picks
                    .iter()
                    .zip(&self.plan.bins)
                    .map(|(pk, &bin)| {
                        column_of(bin, e.frequencies()).map(|col| Pick { column: col, ..*pk }).ok_or_else(|| {
                            RecoError::Input {
                                what: "empty measurement".into(),
                                message: format!("frequency bin {bin} is not in the empty measurement"),
                            }
                        })
                    })
                    .collect::<Result<_, _>>()?;
                let frames = e.frame_count();
                if frames == 0 {
                    return Err(RecoError::Input { what: "empty measurement".into(), message: "has no frame".into() });
                }
                let mut sum = vec![Complex64::default(); r_n];
                for f in 0..frames {
                    e.read_frame(f, &epicks, &mut buf)?;
                    sum.iter_mut().zip(&buf).for_each(|(s, z)| *s += z);
                }
                Background::Constant(sum.into_iter().map(|z| z / frames as f64).collect())
            }
        };
        // Output frames: blocks of `average` foreground frames (0 = all).
        let block = if pre.average == 0 { fg.len() } else { pre.average };
        let groups: Vec<Vec<usize>> = fg.chunks(block).map(|c| c.to_vec()).collect();
        if let Some(last) = groups.last() {
            if groups.len() > 1 && last.len() < block {
                tracing::warn!("the last output frame averages only {} of {} frames", last.len(), block);
            }
        }
        let tf_inverse = if m.correct_transfer_function {
            let tf = m.transfer_function.ok_or_else(|| RecoError::Input {
                what: "/acquisition/receiver/transferFunction".into(),
                message: "transfer-function correction asked for, but the measurement has none".into(),
            })?;
            tracing::info!("transfer-function correction applied to the measurement (asked for)");
            Some(
                self.plan
                    .rows
                    .iter()
                    .zip(&self.plan.bins)
                    .map(|(row, &bin)| {
                        let h = tf[[row.channel, bin]];
                        if h.norm() > 1e-12 {
                            Complex64::new(1.0, 0.0) / h
                        } else {
                            Complex64::new(1.0, 0.0)
                        }
                    })
                    .collect(),
            )
        } else {
            None
        };
        // Expected noise of the first output frame: from the measurement's background frames when it has at
        // least two, else from the calibration's noise scaled by the ratio of averages.
        let g0 = groups[0].len() as f64;
        let noise_sq: f64 = (0..r_n)
            .map(|r| {
                let var = if bgf.len() >= 2 {
                    m2[r] / (bgf.len() - 1) as f64
                } else {
                    self.sm_sigma[r].powi(2) * self.plan.sm_averages / m.averages.max(1.0)
                };
                self.weights[r].powi(2) * var / g0
            })
            .sum();
        Ok(FramePrep { picks, groups, background, tf_inverse, noise_sq })
    }

    /// b (rows × groups, column-major, complex f32) of a batch of output frames: each the mean of its frames
    /// minus their background, transfer-function corrected and weighted.
    fn batch_data(
        &self,
        prep: &FramePrep,
        src: &dyn FrameSource,
        groups: &[Vec<usize>],
        b: &mut Vec<Complex32>,
        frame: &mut [Complex64],
    ) -> Result<(), RecoError> {
        let r_n = prep.picks.len();
        b.clear();
        b.resize(r_n * groups.len(), Complex32::default());
        let mut acc = vec![Complex64::default(); r_n];
        for (q, g) in groups.iter().enumerate() {
            acc.iter_mut().for_each(|z| *z = Complex64::default());
            for &f in g {
                src.read_frame(f, &prep.picks, frame)?;
                match &prep.background {
                    Background::None => acc.iter_mut().zip(frame.iter()).for_each(|(a, z)| *a += z),
                    Background::Constant(bg) => {
                        acc.iter_mut().zip(frame.iter()).zip(bg).for_each(|((a, z), m)| *a += z - m)
                    }
                    Background::Blocks(blocks) => {
                        let t = f as f64;
                        let before = blocks.iter().rev().find(|(bt, _)| *bt <= t);
                        let after = blocks.iter().find(|(bt, _)| *bt >= t);
                        match (before, after) {
                            (Some((t0, b0)), Some((t1, b1))) if t1 > t0 => {
                                let w = (t - t0) / (t1 - t0);
                                for (((a, z), x0), x1) in acc.iter_mut().zip(frame.iter()).zip(b0).zip(b1) {
                                    *a += z - (x0 * (1.0 - w) + x1 * w);
                                }
                            }
                            (Some((_, bb)), _) | (None, Some((_, bb))) => {
                                acc.iter_mut().zip(frame.iter()).zip(bb).for_each(|((a, z), m)| *a += z - m)
                            }
                            (None, None) => acc.iter_mut().zip(frame.iter()).for_each(|(a, z)| *a += z),
                        }
                    }
                }
            }
            let len = g.len() as f64;
            for (r, (o, a)) in b[q * r_n..(q + 1) * r_n].iter_mut().zip(&acc).enumerate() {
                let mut z = a / len;
                if let Some(inv) = &prep.tf_inverse {
                    z *= inv[r];
                }
                z *= self.weights[r];
                *o = Complex32::new(z.re as f32, z.im as f32);
            }
        }
        Ok(())
    }

    #[cfg(feature = "lapack")]
    fn svd(&self) -> Result<&SvdCache, RecoError> {
        let cached = self.svd.get_or_init(|| {
            let (m, n) = (2 * self.system.rows(), self.system.cols());
            let k = m.min(n) as u64;
            let (mu, nu) = (m as u64, n as u64);
            let bytes = 8 * (mu * k + k * nu + mu * nu) + RealSystem::bytes_for(self.system.rows(), n);
            if bytes > DIRECT_SVD_MAX_BYTES {
                return Err(format!(
                    "a {m} × {n} system needs {:.1} GB for its SVD; use an iterative solver (kaczmarz, cgnr, fista) or fewer rows (--max-rows)",
                    bytes as f64 / 1e9
                ));
            }
            let _s = tracing::info_span!("svd", rows = m, cols = n).entered();
            // The stacked real form exists only for the factorisation, and is freed right after it.
            let a = RealSystem::from_system_matrix(&self.system);
            crate::solvers::direct::TikhonovSvd::new(a.a.view()).map_err(|e| e.to_string())
        });
        cached
            .as_ref()
            .map_err(|e| RecoError::Solve(crate::solvers::SolveError::Backend { solver: "direct", message: e.clone() }))
    }

    #[cfg(feature = "lapack")]
    fn direct(&self, b: ArrayView2<f64>, lambda: f64, non_negative: bool) -> Result<Array2<f64>, RecoError> {
        let svd = self.svd()?;
        let mut x = Array2::zeros((self.system.cols(), b.ncols()));
        for (f, col) in b.columns().into_iter().enumerate() {
            let mut xf = svd.solve(col, lambda)?;
            if non_negative {
                xf.mapv_inplace(|v| v.max(0.0));
            }
            x.column_mut(f).assign(&xf);
        }
        Ok(x)
    }

    #[cfg(not(feature = "lapack"))]
    fn direct(&self, _: ArrayView2<f64>, _: f64, _: bool) -> Result<Array2<f64>, RecoError> {
        Err(RecoError::Unsupported("the direct solver needs magpie-reconstruct's `lapack` feature".into()))
    }

    #[cfg(feature = "lapack")]
    fn auto_lambda(&self, method: AutoLambda, b: &[Complex32], noise_norm: f64) -> Result<f64, RecoError> {
        let svd = self.svd()?;
        let bs = stack(b, b.len(), 1);
        let col = bs.column(0);
        let l = match method {
            // τ > 1 as the theory of the discrepancy principle requires (Engl, Hanke & Neubauer 1996): the noise
            // estimate misses the calibration's own noise and the background estimate's.
            AutoLambda::Discrepancy => svd.lambda_discrepancy(col, noise_norm, DISCREPANCY_TAU)?,
            AutoLambda::Gcv => svd.lambda_gcv(col)?,
            AutoLambda::Lcurve => svd.lambda_lcurve(col)?,
        };
        tracing::info!("automatic λ ({method:?}): {l:.3e}");
        Ok(l)
    }

    #[cfg(not(feature = "lapack"))]
    fn auto_lambda(&self, _: AutoLambda, _: &[Complex32], _: f64) -> Result<f64, RecoError> {
        Err(RecoError::Unsupported("automatic λ needs magpie-reconstruct's `lapack` feature".into()))
    }
}

/// The stacked real data [2R, F] (rows interleaved Re, Im) of column-major complex b (R × F).
fn stack(b: &[Complex32], rows: usize, frames: usize) -> Array2<f64> {
    Array2::from_shape_fn((2 * rows, frames), |(i, f)| {
        let z = b[f * rows + i / 2];
        f64::from(if i % 2 == 0 { z.re } else { z.im })
    })
}

/// x [N, F] as a column-major buffer.
fn column_major(x: ArrayView2<f64>) -> Vec<f64> {
    x.t().iter().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_compacted_and_permuted_in_place() {
        let cols = 3;
        let mut d: Vec<u32> = (0..6 * cols as u32).collect();
        compact_rows(&mut d, cols, &[1, 2, 4]);
        assert_eq!(d, vec![3, 4, 5, 6, 7, 8, 12, 13, 14]);
        let mut p: Vec<u32> = (0..5 * cols as u32).collect();
        let order = [3, 0, 4, 1, 2];
        permute_rows(&mut p, cols, &order);
        for (i, &o) in order.iter().enumerate() {
            assert_eq!(&p[i * cols..(i + 1) * cols], &[3 * o as u32, 3 * o as u32 + 1, 3 * o as u32 + 2]);
        }
        assert_eq!(highest_snr(&[1.0, 5.0, 3.0, 5.0, 0.5], &[0, 1, 2, 3, 4], 3), vec![1, 2, 3]);
        assert_eq!(highest_snr(&[1.0, 5.0, 3.0, 5.0], &[0, 2], 1), vec![2]);
    }
}
