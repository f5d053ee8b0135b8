//! System-matrix reconstruction: **plan** (pure data from parameters and file metadata: rows, grid, delta
//! sample) → **build** (the selected system-matrix rows loaded and pre-processed once) → **run** (many frames
//! reconstructed with the same state).

pub mod freqsel;
pub mod params;

use magpie_core::mdf::{MdfFile, RowId, Spectra, SystemMatrixRows};
use magpie_core::Grid;
use ndarray::{Array1, Array2, Axis};
use num_complex::Complex64;
use std::sync::OnceLock;

use crate::solvers::{cgnr, fista, kaczmarz, tv, SolveInfo};
use crate::system::RealSystem;
use crate::RecoError;
use params::{AutoLambda, BackgroundMode, Lambda, RecoParams, SolverParams};

/// Safety factor τ of the discrepancy principle ‖A x_λ − b‖ = τ·δ.
pub const DISCREPANCY_TAU: f64 = 1.2;

/// What will be done, from parameters and metadata only.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The parameters.
    pub params: RecoParams,
    /// The reconstruction grid (the calibration grid).
    pub grid: Grid,
    /// Rows to load from the system matrix.
    pub rows: Vec<RowId>,
    /// rFFT bin of each row.
    pub bins: Vec<usize>,
    /// SNR has to be estimated from the rows' background frames (the file has no `/calibration/snr`).
    pub needs_snr_estimate: bool,
    /// Iron in the delta sample [ng].
    pub delta_iron_ng: f64,
    /// Sampling points per period V of the calibration.
    pub samples_per_period: usize,
    /// Averages of the calibration measurements.
    pub sm_averages: f64,
}

impl Plan {
    /// Plans a reconstruction with the system matrix whose metadata is `sm` (its data need not be loaded).
    ///
    /// # Errors
    /// A system matrix without calibration grid, no row left after selection, or no delta-sample iron.
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
        let (rows, needs_snr_estimate) = freqsel::select_rows(sm, &params.frequency);
        if rows.is_empty() {
            return Err(RecoError::Input {
                what: "frequency selection".into(),
                message: format!(
                    "no system-matrix row passes (SNR ≥ {}, {} Hz ≤ f{}); lower --snr-threshold or --min-freq",
                    params.frequency.snr_threshold,
                    params.frequency.min_frequency_hz,
                    params.frequency.max_frequency_hz.map_or(String::new(), |m| format!(" ≤ {m} Hz"))
                ),
            });
        }
        let layout = sm.measurement.as_ref().map(|m| &m.layout);
        let v = sm.acquisition.receiver.num_sampling_points.max(0) as usize;
        let stored: Vec<usize> = layout
            .and_then(|l| l.frequency_selection.clone().filter(|_| l.is_frequency_selection))
            .unwrap_or_else(|| (0..v / 2 + 1).collect());
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
        tracing::info!(
            "{} rows of {} (SNR ≥ {}, f ≥ {:.0} kHz{}), grid {}×{}×{} over {:.1}×{:.1}×{:.1} mm, delta sample {:.4} µg Fe",
            rows.len(),
            sm.num_periods() * sm.acquisition.receiver.num_channels.max(0) as usize * stored.len(),
            params.frequency.snr_threshold,
            params.frequency.min_frequency_hz / 1e3,
            if needs_snr_estimate { ", SNR estimated from background frames" } else { "" },
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
            needs_snr_estimate,
            delta_iron_ng,
            samples_per_period: v,
            sm_averages: sm.acquisition.num_averages.max(1) as f64,
        })
    }

    /// Builds the reconstructor from the planned rows' data (loaded by the caller, e.g. with
    /// `MdfReader::system_matrix_rows(&plan.rows)`). `transfer_function` is the calibration's [C, K_full]
    /// transfer function, used only when the parameters ask for correction.
    ///
    /// # Errors
    /// Rows that do not match the plan, or a requested transfer-function correction without one.
    pub fn build(
        self,
        data: SystemMatrixRows,
        transfer_function: Option<&Array2<Complex64>>,
    ) -> Result<Reconstructor, RecoError> {
        let _span = tracing::info_span!("build", rows = self.rows.len()).entered();
        if data.rows != self.rows {
            return Err(RecoError::Input {
                what: "system matrix rows".into(),
                message: "the rows loaded are not the planned rows".into(),
            });
        }
        let mut plan = self;
        let mut s = data.foreground;
        let bg = data.background;
        let e = bg.ncols();
        // Background of the system matrix: mean of its background frames, subtracted from every column.
        let bg_mean: Array1<Complex64> = if e > 0 {
            bg.mean_axis(Axis(1)).unwrap_or_else(|| Array1::zeros(s.nrows()))
        } else {
            Array1::zeros(s.nrows())
        };
        if plan.params.preprocessing.system_matrix_background {
            if e == 0 {
                tracing::warn!("system-matrix background correction asked for, but the file has no background frames");
            } else {
                for (mut row, m) in s.axis_iter_mut(Axis(0)).zip(bg_mean.iter()) {
                    row.mapv_inplace(|z| z - m);
                }
            }
        }
        // Per-row noise of one calibration measurement, from the spread of its background frames.
        let sigma: Vec<f64> = (0..s.nrows())
            .map(|r| {
                if e >= 2 {
                    (bg.row(r).iter().map(|z| (z - bg_mean[r]).norm_sqr()).sum::<f64>() / (e - 1) as f64).sqrt()
                } else {
                    0.0
                }
            })
            .collect();
        let mut keep: Vec<usize> = (0..s.nrows()).collect();
        if plan.needs_snr_estimate {
            if e < 2 {
                return Err(RecoError::Input {
                    what: "/calibration/snr".into(),
                    message: "missing and not estimable (fewer than 2 background frames); use --snr-threshold 0".into(),
                });
            }
            let thr = plan.params.frequency.snr_threshold;
            keep.retain(|&r| {
                let sig = (s.row(r).iter().map(|z| z.norm_sqr()).sum::<f64>() / s.ncols() as f64).sqrt();
                sigma[r] > 0.0 && sig / sigma[r] >= thr
            });
            tracing::info!(
                "SNR estimated from {e} background frames: {} of {} rows pass SNR ≥ {thr}",
                keep.len(),
                s.nrows()
            );
            if keep.is_empty() {
                return Err(RecoError::Input {
                    what: "frequency selection".into(),
                    message: "no row passes the SNR threshold".into(),
                });
            }
        }
        if plan.params.preprocessing.transfer_function {
            let tf = transfer_function.ok_or_else(|| RecoError::Input {
                what: "/acquisition/receiver/transferFunction".into(),
                message: "transfer-function correction asked for, but the system matrix has none".into(),
            })?;
            keep.retain(|&r| tf[[plan.rows[r].channel, plan.bins[r]]].norm() > 1e-12);
            for &r in &keep {
                let h = tf[[plan.rows[r].channel, plan.bins[r]]];
                s.row_mut(r).mapv_inplace(|z| z / h);
            }
            tracing::info!("transfer-function correction applied to the system matrix (asked for)");
        }
        let s = s.select(Axis(0), &keep);
        let sigma: Vec<f64> = keep.iter().map(|&r| sigma[r]).collect();
        plan.rows = keep.iter().map(|&r| plan.rows[r]).collect();
        plan.bins = keep.iter().map(|&r| plan.bins[r]).collect();
        // Row weights: whitening (min σ / σ_r, MPIReco) and/or row normalisation (1/‖s_r‖).
        let mut weights = vec![1.0; s.nrows()];
        if plan.params.preprocessing.whitening {
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
        if plan.params.preprocessing.row_normalization {
            for (w, row) in weights.iter_mut().zip(s.axis_iter(Axis(0))) {
                let n = row.iter().map(|z| z.norm_sqr()).sum::<f64>().sqrt();
                if n > 0.0 {
                    *w /= n;
                }
            }
        }
        let mut sw = s.clone();
        for (mut row, w) in sw.axis_iter_mut(Axis(0)).zip(&weights) {
            row.mapv_inplace(|z| z * *w);
        }
        let system = RealSystem::from_complex(sw.view());
        tracing::info!(
            "system: {} complex rows × {} voxels ({} real rows), ‖A‖²_F = {:.3e}",
            sw.nrows(),
            sw.ncols(),
            system.a.nrows(),
            system.frobenius_sq()
        );
        Ok(Reconstructor { plan, system, weights, sm_sigma: sigma, svd: OnceLock::new() })
    }
}

/// Prepared data: U [rows, Q], the frames averaged into each column, the squared noise norm of column 0.
type Prepared = (Array2<Complex64>, Vec<Vec<usize>>, f64);

/// What every frame needs, computed once.
#[derive(Debug)]
pub struct Reconstructor {
    /// The plan (rows after SNR estimation and transfer-function screening).
    pub plan: Plan,
    /// The weighted, real-stacked system.
    pub system: RealSystem,
    /// Row weights applied to system and data.
    pub weights: Vec<f64>,
    /// Noise of one calibration measurement per row (complex standard deviation, before weighting).
    pub sm_sigma: Vec<f64>,
    #[cfg_attr(not(feature = "lapack"), allow(dead_code))]
    svd: OnceLock<Result<SvdCache, String>>,
}

#[cfg(feature = "lapack")]
type SvdCache = crate::solvers::direct::TikhonovSvd;
#[cfg(not(feature = "lapack"))]
type SvdCache = ();

/// Inputs from the measurement file.
#[derive(Debug, Clone, Copy)]
pub struct MeasurementInput<'a> {
    /// Canonical spectra [N, J, C, K] with frequencies and background mask.
    pub spectra: &'a Spectra,
    /// The measurement's transfer function [C, K_full], if the file has one.
    pub transfer_function: Option<&'a Array2<Complex64>>,
    /// Mean spectrum [J, C, K] of an external empty measurement (same frequency layout), for
    /// `background = "external"`.
    pub external_background: Option<&'a ndarray::Array3<Complex64>>,
    /// Block averages of the measurement (for the noise level).
    pub averages: f64,
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
    /// λ relative to ‖A‖²_F/N.
    pub lambda_relative: f64,
    /// Rows used.
    pub rows_used: usize,
    /// Solver report.
    pub info: SolveInfo,
    /// Expected noise norm of the weighted data (first frame) used by the discrepancy principle.
    pub noise_norm: f64,
}

impl Reconstructor {
    /// Reconstructs the (selected, averaged, background-corrected) frames of a measurement.
    ///
    /// # Errors
    /// Mismatching periods/channels/frequencies, missing background frames or transfer function, solver errors.
    pub fn run(&self, m: MeasurementInput) -> Result<RecoResult, RecoError> {
        let _span = tracing::info_span!("solve", solver = self.plan.params.solver.name()).entered();
        let (u, frames, noise_sq) = self.prepare(m)?;
        let b = RealSystem::stack_data(u.view());
        let noise_norm = noise_sq.sqrt();
        let n = self.system.a.ncols() as f64;
        let scale = self.system.frobenius_sq() / n;
        let lambda_eff = match &self.plan.params.lambda {
            Lambda::Relative(l) => l * scale,
            Lambda::Auto(method) => self.auto_lambda(*method, b.column(0), noise_norm)?,
        };
        tracing::info!("λ = {:.3e} (relative {:.3e}), noise norm {:.3e}", lambda_eff, lambda_eff / scale, noise_norm);
        let (x, info) = match &self.plan.params.solver {
            SolverParams::Kaczmarz(p) => kaczmarz::solve(self.system.a.view(), b.view(), lambda_eff, p)?,
            SolverParams::Cgnr(p) => cgnr::solve(&self.system, b.view(), lambda_eff, p)?,
            SolverParams::Fista(p) => fista::solve(&self.system, b.view(), lambda_eff, p)?,
            SolverParams::Tv(p) => tv::solve(&self.system, b.view(), lambda_eff, self.plan.grid.shape, p)?,
            SolverParams::Direct { non_negative } => self.direct(b.view(), lambda_eff, *non_negative)?,
        };
        let res = info.residual_history.last().copied().unwrap_or(f64::NAN);
        tracing::info!("{}: {} iterations, residual {:.3e}", self.plan.params.solver.name(), info.iterations, res);
        let iron_ng = x.t().mapv(|v| v * self.plan.delta_iron_ng);
        Ok(RecoResult {
            iron_ng,
            frames,
            lambda_eff,
            lambda_relative: lambda_eff / scale,
            rows_used: self.plan.rows.len(),
            info,
            noise_norm,
        })
    }

    /// Data matrix U [rows, Q] (weighted, background-corrected, averaged), the frames per output frame, and
    /// the expected squared noise norm of the first column.
    fn prepare(&self, m: MeasurementInput) -> Result<Prepared, RecoError> {
        let sp = m.spectra;
        let (n, j, c, _) = sp.data.dim();
        let pre = &self.plan.params.preprocessing;
        // Row → column of the measurement's spectra.
        let mut cols = Vec::with_capacity(self.plan.rows.len());
        for (row, &bin) in self.plan.rows.iter().zip(&self.plan.bins) {
            if row.period >= j || row.channel >= c {
                return Err(RecoError::Input {
                    what: "measurement".into(),
                    message: format!(
                        "has J={j} periods and C={c} channels; the system matrix row {row:?} does not fit"
                    ),
                });
            }
            let k = sp.frequencies.iter().position(|f| *f == bin).ok_or_else(|| RecoError::Input {
                what: "measurement".into(),
                message: format!("frequency bin {bin} of the system matrix is not in the measurement (different V or frequency selection?)"),
            })?;
            cols.push(k);
        }
        let value = |f: usize, r: usize| sp.data[[f, self.plan.rows[r].period, self.plan.rows[r].channel, cols[r]]];
        let r_n = self.plan.rows.len();
        let fg: Vec<usize> = (0..n).filter(|i| !sp.is_background_frame[*i]).collect();
        let bgf: Vec<usize> = (0..n).filter(|i| sp.is_background_frame[*i]).collect();
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
        // Background estimate per frame.
        let mean_of = |frames: &[usize]| -> Array1<Complex64> {
            Array1::from_shape_fn(r_n, |r| frames.iter().map(|&f| value(f, r)).sum::<Complex64>() / frames.len() as f64)
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
        // Blocks of consecutive background frames with their mean time (frame index).
        let mut blocks: Vec<(f64, Array1<Complex64>)> = Vec::new();
        if pre.background == BackgroundMode::Interpolate {
            let mut start = 0;
            while start < bgf.len() {
                let mut end = start + 1;
                while end < bgf.len() && bgf[end] == bgf[end - 1] + 1 {
                    end += 1;
                }
                let block = &bgf[start..end];
                blocks.push((block.iter().sum::<usize>() as f64 / block.len() as f64, mean_of(block)));
                start = end;
            }
            tracing::debug!("{} background blocks", blocks.len());
        }
        let global_bg = if bgf.is_empty() { Array1::zeros(r_n) } else { mean_of(&bgf) };
        let external = match (pre.background, m.external_background) {
            (BackgroundMode::External, Some(e)) => {
                Some(Array1::from_shape_fn(r_n, |r| e[[self.plan.rows[r].period, self.plan.rows[r].channel, cols[r]]]))
            }
            (BackgroundMode::External, None) => {
                return Err(RecoError::Input {
                    what: "background".into(),
                    message: "external background asked for, but no empty measurement given".into(),
                })
            }
            _ => None,
        };
        let background_at = |f: usize| -> Array1<Complex64> {
            match pre.background {
                BackgroundMode::None => Array1::zeros(r_n),
                BackgroundMode::Mean => global_bg.clone(),
                BackgroundMode::External => external.clone().unwrap_or_else(|| Array1::zeros(r_n)),
                BackgroundMode::Interpolate => {
                    let t = f as f64;
                    let before = blocks.iter().rev().find(|(bt, _)| *bt <= t);
                    let after = blocks.iter().find(|(bt, _)| *bt >= t);
                    match (before, after) {
                        (Some((t0, b0)), Some((t1, b1))) if t1 > t0 => {
                            let w = (t - t0) / (t1 - t0);
                            b0 * Complex64::new(1.0 - w, 0.0) + b1 * Complex64::new(w, 0.0)
                        }
                        (Some((_, b)), _) | (None, Some((_, b))) => b.clone(),
                        (None, None) => Array1::zeros(r_n),
                    }
                }
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
        let mut u = Array2::<Complex64>::zeros((r_n, groups.len()));
        for (q, g) in groups.iter().enumerate() {
            for &f in g {
                let bgv = background_at(f);
                for r in 0..r_n {
                    u[[r, q]] += (value(f, r) - bgv[r]) / g.len() as f64;
                }
            }
        }
        if pre.transfer_function {
            let tf = m.transfer_function.ok_or_else(|| RecoError::Input {
                what: "/acquisition/receiver/transferFunction".into(),
                message: "transfer-function correction asked for, but the measurement has none".into(),
            })?;
            for r in 0..r_n {
                let h = tf[[self.plan.rows[r].channel, self.plan.bins[r]]];
                if h.norm() > 1e-12 {
                    u.row_mut(r).mapv_inplace(|z| z / h);
                }
            }
            tracing::info!("transfer-function correction applied to the measurement (asked for)");
        }
        for (mut row, w) in u.axis_iter_mut(Axis(0)).zip(&self.weights) {
            row.mapv_inplace(|z| z * *w);
        }
        // Expected noise of the first output frame: from the measurement's background frames when it has at
        // least two, else from the calibration's noise scaled by the ratio of averages.
        let g0 = groups[0].len() as f64;
        let noise_sq: f64 = (0..r_n)
            .map(|r| {
                let var = if bgf.len() >= 2 {
                    let mean = global_bg[r];
                    bgf.iter().map(|&f| (value(f, r) - mean).norm_sqr()).sum::<f64>() / (bgf.len() - 1) as f64
                } else {
                    self.sm_sigma[r].powi(2) * self.plan.sm_averages / m.averages.max(1.0)
                };
                self.weights[r].powi(2) * var / g0
            })
            .sum();
        Ok((u, groups, noise_sq))
    }

    #[cfg(feature = "lapack")]
    fn svd(&self) -> Result<&SvdCache, RecoError> {
        let cached = self.svd.get_or_init(|| {
            let _s = tracing::info_span!("svd", rows = self.system.a.nrows(), cols = self.system.a.ncols()).entered();
            crate::solvers::direct::TikhonovSvd::new(self.system.a.view()).map_err(|e| e.to_string())
        });
        cached
            .as_ref()
            .map_err(|e| RecoError::Solve(crate::solvers::SolveError::Backend { solver: "direct", message: e.clone() }))
    }

    #[cfg(feature = "lapack")]
    fn direct(
        &self,
        b: ndarray::ArrayView2<f64>,
        lambda: f64,
        non_negative: bool,
    ) -> Result<(Array2<f64>, SolveInfo), RecoError> {
        let svd = self.svd()?;
        let mut x = Array2::zeros((self.system.a.ncols(), b.ncols()));
        for (f, col) in b.columns().into_iter().enumerate() {
            let mut xf = svd.solve(col, lambda)?;
            if non_negative {
                xf.mapv_inplace(|v| v.max(0.0));
            }
            x.column_mut(f).assign(&xf);
        }
        let r = self.system.a.dot(&x.column(0)) - b.column(0);
        Ok((x, SolveInfo { iterations: 1, residual_history: vec![r.dot(&r).sqrt()] }))
    }

    #[cfg(not(feature = "lapack"))]
    fn direct(&self, _: ndarray::ArrayView2<f64>, _: f64, _: bool) -> Result<(Array2<f64>, SolveInfo), RecoError> {
        Err(RecoError::Unsupported("the direct solver needs magpie-reconstruct's `lapack` feature".into()))
    }

    #[cfg(feature = "lapack")]
    fn auto_lambda(&self, method: AutoLambda, b: ndarray::ArrayView1<f64>, noise_norm: f64) -> Result<f64, RecoError> {
        let svd = self.svd()?;
        let l = match method {
            // τ > 1 as the theory of the discrepancy principle requires (Engl, Hanke & Neubauer 1996): the noise
            // estimate misses the calibration's own noise and the background estimate's.
            AutoLambda::Discrepancy => svd.lambda_discrepancy(b, noise_norm, DISCREPANCY_TAU)?,
            AutoLambda::Gcv => svd.lambda_gcv(b)?,
            AutoLambda::Lcurve => svd.lambda_lcurve(b)?,
        };
        tracing::info!("automatic λ ({method:?}): {l:.3e}");
        Ok(l)
    }

    #[cfg(not(feature = "lapack"))]
    fn auto_lambda(&self, _: AutoLambda, _: ndarray::ArrayView1<f64>, _: f64) -> Result<f64, RecoError> {
        Err(RecoError::Unsupported("automatic λ needs magpie-reconstruct's `lapack` feature".into()))
    }
}
