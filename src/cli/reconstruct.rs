//! `magpie reconstruct`: a measurement MDF (+ a system matrix) → a quantitative iron map (ng Fe per voxel) as
//! MDF `/reconstruction` and PNG. Every choice is logged; the parameters used are written into the output.

use anyhow::{bail, Context};
use magpie_core::mdf::{
    measurement_spectra, read_mdf, write_mdf, MdfFile, NumArray, ParamValue, Reconstruction, WriteOptions,
};
use magpie_core::tracer::TracerModel;
use magpie_core::Grid;
use magpie_reconstruct::facade::{self, Request, Session, SessionOptions};
use magpie_reconstruct::quantify::{cells_from_iron_ng, region_total, Region};
use magpie_reconstruct::solvers::{cgnr::CgnrParams, fista::FistaParams, kaczmarz::KaczmarzParams, tv::TvParams};
use magpie_reconstruct::sysmat::params::{AutoLambda, BackgroundMode, Lambda, RecoParams, SolverParams};
use magpie_reconstruct::xspace::{RelaxationCorrection, XSpaceParams};
use ndarray::{ArrayD, IxDyn};
use std::path::{Path, PathBuf};

use super::common;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum SolverArg {
    Kaczmarz,
    Cgnr,
    Fista,
    Tv,
    Direct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// System-matrix reconstruction (needs --system-matrix).
    SystemMatrix,
    /// x-space: no calibration scan; needs the tracer model for quantitation.
    Xspace,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum BackgroundArg {
    None,
    Mean,
    Interpolate,
    External,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Measurement MDF file.
    pub measurement: PathBuf,
    /// Reconstruction method.
    #[arg(long, value_enum, default_value = "system-matrix")]
    pub method: MethodArg,
    /// System matrix (calibration MDF), measured or from `magpie sysmat` (system-matrix method).
    #[arg(long = "system-matrix", short = 's', required_if_eq("method", "system-matrix"))]
    pub system_matrix: Option<PathBuf>,
    /// x-space: tracer preset or TOML file (default: the tracer recorded by magpie in the file, else an error).
    #[arg(long)]
    pub tracer: Option<String>,
    /// x-space: deconvolve the point response (Tikhonov, λ from the noise level).
    #[arg(long)]
    pub deconvolve: bool,
    /// x-space: voxel edge [mm] (default: automatic from the PSF and the trajectory's coverage).
    #[arg(long, value_parser = common::positive_arg)]
    pub voxel_mm: Option<f64>,
    /// x-space: relaxation time τ [µs] to correct, or auto|none (default auto).
    #[arg(long)]
    pub tau_us: Option<String>,
    /// x-space: receive-coil sensitivity B/I [mT/A] when the file has no inductionFactor.
    #[arg(long = "coil-sensitivity-mt-per-a", conflicts_with = "coil_sensitivity", value_parser = common::positive_arg)]
    pub coil_sensitivity_mt_per_a: Option<f64>,
    /// Former spelling, in T/A.
    #[arg(long, hide = true)]
    pub coil_sensitivity: Option<f64>,
    /// Named parameter preset (default, openmpidata, quantitative, sparse).
    #[arg(long, conflicts_with = "config")]
    pub preset: Option<String>,
    /// Parameter file (TOML, see sample_data/reco/).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Solver (overrides the preset).
    #[arg(long, value_enum)]
    pub solver: Option<SolverArg>,
    /// Relative λ (scaled by ‖S‖²_F/N), or auto|discrepancy|gcv|lcurve.
    #[arg(long)]
    pub lambda: Option<String>,
    /// Iterations of the iterative solvers.
    #[arg(long, value_parser = common::count_arg)]
    pub iterations: Option<usize>,
    /// SNR threshold for row selection (TOML: frequency.snr_threshold).
    #[arg(long, value_parser = common::non_negative_arg)]
    pub snr_threshold: Option<f64>,
    /// Lowest frequency [kHz] (TOML: frequency.min_frequency_hz; presets: 80).
    #[arg(long = "min-freq-khz", conflicts_with = "min_freq_hz", value_parser = common::non_negative_arg)]
    pub min_freq_khz: Option<f64>,
    /// Highest frequency [kHz] (TOML: frequency.max_frequency_hz; default: the receive bandwidth).
    #[arg(long = "max-freq-khz", conflicts_with = "max_freq_hz", value_parser = common::positive_arg)]
    pub max_freq_khz: Option<f64>,
    /// Former spelling of --min-freq-khz, in Hz.
    #[arg(long = "min-freq", hide = true, value_parser = common::non_negative_arg)]
    pub min_freq_hz: Option<f64>,
    /// Former spelling of --max-freq-khz, in Hz.
    #[arg(long = "max-freq", hide = true, value_parser = common::positive_arg)]
    pub max_freq_hz: Option<f64>,
    /// Receive channels to use, 0-based, comma-separated, e.g. 0,1 (TOML: frequency.channels; MPIReco's
    /// recChannels count from 1). Default: all.
    #[arg(long, value_delimiter = ',')]
    pub channels: Option<Vec<usize>>,
    /// Keep only rows whose mixing order |m_x|+|m_y|+|m_z| is at most this (TOML: frequency.max_mixing_order).
    #[arg(long)]
    pub max_mixing_order: Option<u32>,
    /// Exclude the band LOW:HIGH [kHz]; repeatable (TOML: frequency.stop_bands_hz).
    #[arg(long = "stop-band", value_parser = common::band_khz_arg)]
    pub stop_bands_hz: Vec<[f64; 2]>,
    /// Foreground frames A:B, 0-based and B exclusive (0:1 is the first frame; "A" alone is one frame).
    /// Default: all.
    #[arg(long, value_parser = common::frames_arg, conflicts_with = "frames_1based")]
    pub frames: Option<[usize; 2]>,
    /// Foreground frames A:B in MPIReco's convention, 1-based and B inclusive (1:1 is the first frame).
    #[arg(long = "frames-1based", value_parser = common::frames_1based_arg)]
    pub frames_1based: Option<[usize; 2]>,
    /// Average this many frames into one (0 = all).
    #[arg(long, value_parser = common::count_arg)]
    pub average: Option<usize>,
    /// Background correction of the measurement.
    #[arg(long, value_enum)]
    pub background: Option<BackgroundArg>,
    /// Empty-scanner measurement for --background external.
    #[arg(long)]
    pub empty: Option<PathBuf>,
    /// Apply transfer-function correction (never implicit): each file divided by the function stored in it.
    #[arg(long)]
    pub tf: bool,
    /// Divide the measurement by a measured receive transfer function (.h5 in MPIFiles.jl's form, or a
    /// Touchstone .s1p/.s2p whose S21 is taken), interpolated onto its frequencies; the system matrix is used
    /// as it is. Every frequency used must lie in the file's measured band. A separate option rather than a
    /// value of --tf, so that `--tf MEAS.mdf` keeps meaning what it did.
    #[arg(long, value_name = "FILE", conflicts_with = "tf")]
    pub tf_file: Option<PathBuf>,
    /// Iron in the calibration delta sample [ng] (default: from the system matrix file).
    #[arg(long, value_parser = common::positive_arg)]
    pub delta_iron_ng: Option<f64>,
    /// Iron per labelled cell [pg] → cell maps and cell counts.
    #[arg(long, alias = "cells-per-pg", value_parser = common::positive_arg)]
    pub pg_per_cell: Option<f64>,
    /// Regions to report totals for: sphere:x,y,z,r or box:x,y,z,sx,sy,sz (mm); repeatable.
    #[arg(long)]
    pub roi: Vec<String>,
    /// Output reconstruction MDF.
    #[arg(short, long)]
    pub out: PathBuf,
    /// Also write a PNG (slices/MIPs in mm, colour bar in ng Fe or cells).
    #[arg(long)]
    pub png: Option<PathBuf>,
    /// Keep at most N system-matrix rows, those of highest SNR, after the other criteria (TOML:
    /// frequency.max_rows). Lowers memory and time.
    #[arg(long, value_parser = common::count_arg)]
    pub max_rows: Option<usize>,
    /// Threads of the engine and the row reader, 0 = one per core (TOML: engine.threads); results do not
    /// depend on it.
    #[arg(long, value_parser = common::count_arg)]
    pub threads: Option<usize>,
    /// Output frames solved together per batch (TOML: engine.batch_frames; default 64).
    #[arg(long, value_parser = common::count_arg)]
    pub batch_frames: Option<usize>,
    /// Write a JSON report: rows, voxels, frames, solver, iterations, stage timings, peak memory, iron per
    /// frame and region.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Folder of the on-disk cache of built system matrices (reused by later runs with the same file and
    /// row selection).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Reconstruct even when the two files describe different scanners in a way the rows can still be paired
    /// across: drive-field amplitudes or selection gradients that differ by more than 1 %, other waveforms,
    /// other receive channels of the same count, fields of view that are shifted or do not overlap. Different
    /// drive frequencies, sample counts or channel counts are refused regardless.
    #[arg(long)]
    pub allow_mismatch: bool,
}

/// --frames or --frames-1based, as a 0-based end-exclusive range.
fn frames(a: &Args) -> Option<[usize; 2]> {
    a.frames.or(a.frames_1based)
}

/// --min-freq-khz, or the former --min-freq in Hz (with a note).
fn min_frequency_hz(a: &Args) -> Option<f64> {
    if a.min_freq_hz.is_some() {
        tracing::warn!("--min-freq [Hz] is now --min-freq-khz [kHz]");
    }
    a.min_freq_khz.map(|f| f * 1e3).or(a.min_freq_hz)
}

/// --max-freq-khz, or the former --max-freq in Hz (with a note).
fn max_frequency_hz(a: &Args) -> Option<f64> {
    if a.max_freq_hz.is_some() {
        tracing::warn!("--max-freq [Hz] is now --max-freq-khz [kHz]");
    }
    a.max_freq_khz.map(|f| f * 1e3).or(a.max_freq_hz)
}

fn params(a: &Args) -> anyhow::Result<RecoParams> {
    let mut p = match (&a.preset, &a.config) {
        (Some(name), _) => RecoParams::preset(name)?,
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            RecoParams::from_toml_str(&text, &path.display().to_string())?
        }
        (None, None) => {
            tracing::info!("no --preset/--config: using preset \"default\"");
            RecoParams::preset("default")?
        }
    };
    if let Some(s) = a.solver {
        let iters = a.iterations;
        p.solver = match s {
            SolverArg::Kaczmarz => {
                SolverParams::Kaczmarz(KaczmarzParams { iterations: iters.unwrap_or(10), ..Default::default() })
            }
            SolverArg::Cgnr => SolverParams::Cgnr(CgnrParams { iterations: iters.unwrap_or(50), ..Default::default() }),
            SolverArg::Fista => {
                SolverParams::Fista(FistaParams { iterations: iters.unwrap_or(100), ..Default::default() })
            }
            SolverArg::Tv => SolverParams::Tv(TvParams { iterations: iters.unwrap_or(300), ..Default::default() }),
            SolverArg::Direct => SolverParams::Direct { non_negative: true },
        };
    } else if let Some(n) = a.iterations {
        match &mut p.solver {
            SolverParams::Kaczmarz(k) => k.iterations = n,
            SolverParams::Cgnr(k) => k.iterations = n,
            SolverParams::Fista(k) => k.iterations = n,
            SolverParams::Tv(k) => k.iterations = n,
            SolverParams::Direct { .. } => tracing::warn!("--iterations has no effect on the direct solver"),
        }
    }
    if let Some(l) = &a.lambda {
        p.lambda = match l.as_str() {
            "auto" | "discrepancy" => Lambda::Auto(AutoLambda::Discrepancy),
            "gcv" => Lambda::Auto(AutoLambda::Gcv),
            "lcurve" | "l-curve" => Lambda::Auto(AutoLambda::Lcurve),
            x => Lambda::Relative(
                x.parse::<f64>().with_context(|| format!("--lambda {x:?}: a number or auto|discrepancy|gcv|lcurve"))?,
            ),
        };
    }
    if let Some(s) = a.snr_threshold {
        p.frequency.snr_threshold = s;
    }
    if let Some(f) = min_frequency_hz(a) {
        p.frequency.min_frequency_hz = f;
    }
    if let Some(f) = max_frequency_hz(a) {
        p.frequency.max_frequency_hz = Some(f);
    }
    if let Some(c) = &a.channels {
        p.frequency.channels = Some(c.clone());
    }
    if let Some(m) = a.max_mixing_order {
        p.frequency.max_mixing_order = Some(m);
    }
    if !a.stop_bands_hz.is_empty() {
        p.frequency.stop_bands_hz = a.stop_bands_hz.clone();
    }
    if let Some(fr) = frames(a) {
        p.preprocessing.frames = Some(fr);
    }
    if let Some(n) = a.average {
        p.preprocessing.average = n;
    }
    if let Some(b) = a.background {
        p.preprocessing.background = match b {
            BackgroundArg::None => BackgroundMode::None,
            BackgroundArg::Mean => BackgroundMode::Mean,
            BackgroundArg::Interpolate => BackgroundMode::Interpolate,
            BackgroundArg::External => BackgroundMode::External,
        };
    }
    if a.tf {
        p.preprocessing.transfer_function = true;
    }
    if a.delta_iron_ng.is_some() {
        p.quantification.delta_iron_ng = a.delta_iron_ng;
    }
    if a.pg_per_cell.is_some() {
        p.quantification.pg_fe_per_cell = a.pg_per_cell;
    }
    if let Some(n) = a.max_rows {
        if n == 0 {
            return Err(super::UsageError("--max-rows must be at least 1".into()).into());
        }
        p.frequency.max_rows = Some(n);
    }
    if let Some(n) = a.threads {
        p.engine.threads = n;
    }
    if let Some(n) = a.batch_frames {
        if n == 0 {
            return Err(super::UsageError("--batch-frames must be at least 1".into()).into());
        }
        p.engine.batch_frames = n;
    }
    p.check().map_err(|e| super::UsageError(format!("reconstruction parameters: {e}")))?;
    tracing::info!(
        "parameters: solver {}, λ {:?}, SNR ≥ {}, f ≥ {} kHz, background {:?}, system-matrix background {}, TF correction {}, average {}",
        p.solver.name(),
        p.lambda,
        p.frequency.snr_threshold,
        p.frequency.min_frequency_hz / 1e3,
        p.preprocessing.background,
        p.preprocessing.system_matrix_background,
        p.preprocessing.transfer_function,
        p.preprocessing.average
    );
    Ok(p)
}

/// Writes a reconstruction MDF: the measurement's metadata plus `/reconstruction` in ng Fe per voxel.
pub fn write_reconstruction(
    out: &Path,
    inputs: &[&Path],
    meas: &MdfFile,
    grid: &Grid,
    iron_ng: &ndarray::Array2<f64>,
    params: std::collections::BTreeMap<String, ParamValue>,
    provenance: &[(&str, String)],
) -> anyhow::Result<()> {
    let mut file = meas.clone();
    file.uuid = magpie_core::new_uuid();
    file.time = magpie_core::utc_now();
    file.measurement = None;
    file.calibration = None;
    let (q, p) = iron_ng.dim();
    file.reconstruction = Some(Reconstruction {
        data: NumArray::F32(ArrayD::from_shape_vec(IxDyn(&[q, p, 1]), iron_ng.iter().map(|v| *v as f32).collect())?),
        field_of_view_m: Some(grid.fov_m),
        field_of_view_center_m: Some(grid.center_m),
        is_overscan_region: None,
        order: Some("xyz".into()),
        positions_m: None,
        size: Some(grid.shape),
        parameters: params,
    });
    file.provenance.insert("unit".into(), "ng Fe per voxel".into());
    for (k, v) in provenance {
        file.provenance.insert((*k).into(), v.clone());
    }
    write_mdf(out, &file, &WriteOptions { inputs: inputs.iter().map(|p| p.to_path_buf()).collect() })
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// The files a reconstruction writes, by option.
fn outputs(a: &Args) -> Vec<(&'static str, &Path)> {
    let mut o: Vec<(&str, &Path)> = vec![("-o", &a.out)];
    o.extend(a.png.as_deref().map(|p| ("--png", p)));
    o.extend(a.report.as_deref().map(|p| ("--report", p)));
    o
}

pub fn run(a: Args) -> anyhow::Result<()> {
    if a.method == MethodArg::Xspace {
        return run_xspace(a);
    }
    let sm_path = a.system_matrix.clone().context("--system-matrix is required by the system-matrix method")?;
    let mut inputs: Vec<(&str, &Path)> = vec![("measurement", &a.measurement), ("system matrix", &sm_path)];
    inputs.extend(a.empty.as_deref().map(|p| ("empty measurement", p)));
    inputs.extend(a.tf_file.as_deref().map(|p| ("transfer function", p)));
    common::prepare_outputs(&outputs(&a), &inputs)?;
    let p = params(&a)?;
    let regions: Vec<Region> =
        a.roi.iter().map(|r| Region::parse_mm(r).map_err(anyhow::Error::msg)).collect::<anyhow::Result<_>>()?;
    let session =
        Session::new(SessionOptions::default().with_cache_dir(a.cache.clone()).with_allow_mismatch(a.allow_mismatch));
    let progress = SolveProgress::new();
    let on_progress = |done: usize, total: usize| progress.update(done, total);
    let mut req = Request::new(&p).with_progress(&on_progress).with_residuals(tracing::enabled!(tracing::Level::DEBUG));
    if let Some(e) = &a.empty {
        req = req.with_empty_file(e);
    }
    let tf = read_tf_file(&a)?;
    if let Some(tf) = &tf {
        req = req.with_transfer_function(tf);
    }
    let result = std::thread::scope(|scope| {
        scope.spawn(|| progress.show_after(std::time::Duration::from_secs(1)));
        // Finished on every way out, a panic included: the scope joins the progress thread, which would
        // otherwise wait for the end of the solve for ever (a hang instead of the panic's exit).
        let _finish = FinishOnDrop(&progress);
        session.reconstruct_files(&a.measurement, &sm_path, &req)
    })
    .with_context(|| format!("reconstructing {} with {}", a.measurement.display(), sm_path.display()))?;
    let grid = result.grid;
    let summary = summarize(&result.iron_ng, &grid, &regions, &a.roi, p.quantification.pg_fe_per_cell);
    print_summary(&summary, p.quantification.pg_fe_per_cell);
    let t_write = std::time::Instant::now();
    // The output file copies the measurement's metadata (not its data); its header is cheap to read again.
    let meas = magpie_core::mdf::MdfReader::open(&a.measurement)
        .with_context(|| format!("reading measurement {}", a.measurement.display()))?
        .header;
    let mut params = std::collections::BTreeMap::new();
    params.insert("summary_json".into(), ParamValue::Text(serde_json::to_string(&summary)?));
    params.insert("solver".into(), ParamValue::Text(p.solver.name().into()));
    params.insert("lambda_effective".into(), ParamValue::Float(result.lambda_eff));
    params.insert("lambda_relative".into(), ParamValue::Float(result.lambda_relative));
    params.insert("iterations".into(), ParamValue::Int(result.iterations as i64));
    params.insert("rows_used".into(), ParamValue::Int(result.rows_selected as i64));
    params.insert("delta_iron_ng".into(), ParamValue::Float(result.delta_iron_ng));
    params.insert("parameters_toml".into(), ParamValue::Text(p.to_toml()));
    params.insert("system_matrix".into(), ParamValue::Text(sm_path.display().to_string()));
    let mut prov = vec![("method", "system matrix".to_string())];
    if let Some(pg) = p.quantification.pg_fe_per_cell {
        prov.push(("pg_fe_per_cell", pg.to_string()));
    }
    let input_paths: Vec<&Path> = inputs.iter().map(|(_, p)| *p).collect();
    write_reconstruction(&a.out, &input_paths, &meas, &grid, &result.iron_ng, params, &prov)?;
    tracing::info!("wrote {}", a.out.display());
    if let Some(png) = &a.png {
        write_png(
            png,
            &grid,
            &result.iron_ng.row(0).to_vec(),
            p.quantification.pg_fe_per_cell,
            "system-matrix reconstruction",
        )?;
        tracing::info!("wrote {}", png.display());
    }
    let write_s = t_write.elapsed().as_secs_f64();
    let t = &result.timings;
    tracing::info!(
        "stages: plan {:.2} s, load {:.2} s, build {:.2} s, solve {:.2} s ({:.1} frames/s), write {:.2} s; peak memory {}",
        t.plan_s,
        t.load_s,
        t.build_s,
        t.solve_s,
        result.frames_per_s(),
        write_s,
        facade::peak_rss_bytes().map_or("unknown".into(), |b| format!("{:.2} GB", b as f64 / 1e9))
    );
    if let Some(path) = &a.report {
        let report = report_json(&result, &summary, write_s, &a.measurement, &sm_path);
        common::write_atomic(path, serde_json::to_string_pretty(&report)?.as_bytes())?;
        tracing::info!("wrote {}", path.display());
    }
    Ok(())
}

/// The `--report` JSON: what was reconstructed, how long each stage took, the memory it used and the iron found.
fn report_json(
    r: &facade::Reconstruction,
    summary: &[FrameSummary],
    write_s: f64,
    measurement: &Path,
    system_matrix: &Path,
) -> serde_json::Value {
    let t = &r.timings;
    serde_json::json!({
        "measurement": measurement.display().to_string(),
        "system_matrix": system_matrix.display().to_string(),
        "rows_selected": r.rows_selected,
        "rows_passing": r.rows_passing,
        "voxels": r.voxels,
        "frames": r.iron_ng.nrows(),
        "solver": r.solver,
        "iterations": r.iterations,
        "lambda_effective": r.lambda_eff,
        "lambda_relative": r.lambda_relative,
        "threads": r.params.engine.threads,
        "batch_frames": r.params.engine.batch_frames,
        "timings_s": {
            "plan": t.plan_s,
            "load": t.load_s,
            "load_measurement": t.measurement_s,
            "build": t.build_s,
            "solve": t.solve_s,
            "write": write_s,
        },
        "solve_frames_s": t.frames_s,
        "frames_per_s": r.frames_per_s(),
        "loaded_bytes": r.loaded_bytes,
        "load_gb_per_s": r.load_gb_per_s(),
        "cache": r.cache,
        "peak_rss_bytes": facade::peak_rss_bytes(),
        "memory_estimate": r.memory,
        "residual_history": r.residual_history,
        "total_iron_ng": summary.iter().map(|f| f.total_iron_ng).collect::<Vec<_>>(),
        "summary": summary,
    })
}

/// The solve's progress bar: shown on a terminal only when the solve lasts longer than a delay, so that quick
/// reconstructions print nothing but their log.
struct SolveProgress {
    state: std::sync::Mutex<ProgressState>,
    changed: std::sync::Condvar,
}

#[derive(Default)]
struct ProgressState {
    started: Option<std::time::Instant>,
    done: usize,
    total: usize,
    finished: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl SolveProgress {
    fn new() -> Self {
        SolveProgress { state: Default::default(), changed: std::sync::Condvar::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ProgressState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// (frames done, frames in all), from the facade.
    fn update(&self, done: usize, total: usize) {
        let mut s = self.lock();
        s.started.get_or_insert_with(std::time::Instant::now);
        s.done = done;
        s.total = total;
        if let Some(pb) = &s.bar {
            pb.set_length(total as u64);
            pb.set_position(done as u64);
        }
        self.changed.notify_all();
    }

    /// Waits (on its own thread) until the solve has run for `delay`, then shows the bar, unless it finished.
    fn show_after(&self, delay: std::time::Duration) {
        let mut s = self.lock();
        loop {
            if s.finished {
                return;
            }
            match s.started {
                Some(t0) if t0.elapsed() >= delay => break,
                Some(t0) => {
                    s = self
                        .changed
                        .wait_timeout(s, delay.saturating_sub(t0.elapsed()))
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0)
                }
                None => s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner()),
            }
        }
        let pb = common::progress(s.total as u64, "solve (frames)");
        pb.set_position(s.done as u64);
        pb.enable_steady_tick(std::time::Duration::from_millis(200));
        s.bar = Some(pb);
    }

    fn finish(&self) {
        // Also called while unwinding from a panic: a poisoned lock still holds the state.
        let mut s = self.lock();
        s.finished = true;
        if let Some(pb) = s.bar.take() {
            pb.finish_and_clear();
        }
        self.changed.notify_all();
    }
}

/// PNG of frame 0: iron, and cells beside it when pg Fe per cell is known.
pub fn write_png(png: &Path, grid: &Grid, iron: &[f64], pg_per_cell: Option<f64>, title: &str) -> anyhow::Result<()> {
    let cells: Option<Vec<f64>> = pg_per_cell.map(|pg| iron.iter().map(|v| cells_from_iron_ng(*v, pg)).collect());
    let t_iron = format!("{title}: iron");
    let t_cells = format!("{title}: cells");
    let mut maps = vec![crate::plot::MapPlot { title: &t_iron, values: iron, grid, unit: "ng Fe per voxel" }];
    if let Some(c) = &cells {
        maps.push(crate::plot::MapPlot { title: &t_cells, values: c, grid, unit: "cells per voxel" });
    }
    crate::plot::write_maps_png(png, &maps, crate::plot::MapView::Auto)
}

/// What one frame holds: total iron, peak concentration, cells, and the totals of the regions asked for.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FrameSummary {
    /// Frame index in the output (0-based).
    pub frame: usize,
    /// Iron in the whole field of view [ng Fe].
    pub total_iron_ng: f64,
    /// Highest voxel concentration [mg Fe/mL].
    pub peak_mg_fe_per_ml: f64,
    /// Cells in the field of view, when pg Fe per cell is known.
    pub cells: Option<f64>,
    /// Per-region totals, in the order of `--roi`.
    pub regions: Vec<RegionSummary>,
}

/// The iron (and cells) in one region of one frame.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RegionSummary {
    /// The region as given (`--roi`), in mm.
    pub region: String,
    /// Iron in it [ng Fe].
    pub iron_ng: f64,
    /// Cells in it, when pg Fe per cell is known.
    pub cells: Option<f64>,
}

/// Total iron, peak concentration, cells and region totals per frame.
pub fn summarize(
    iron_ng: &ndarray::Array2<f64>,
    grid: &Grid,
    regions: &[Region],
    specs: &[String],
    pg_per_cell: Option<f64>,
) -> Vec<FrameSummary> {
    let cells = |ng: f64| pg_per_cell.map(|pg| cells_from_iron_ng(ng, pg));
    iron_ng
        .outer_iter()
        .enumerate()
        .map(|(q, frame)| {
            let total: f64 = frame.sum();
            let values = frame.to_vec();
            let regions = regions
                .iter()
                .zip(specs)
                .map(|(r, spec)| {
                    let t = region_total(&values, grid, r);
                    RegionSummary { region: spec.clone(), iron_ng: t, cells: cells(t) }
                })
                .collect();
            FrameSummary {
                frame: q,
                total_iron_ng: total,
                // ng per voxel → mg Fe per mL: divide by the voxel volume in mL (1 mL = 1e-6 m³) and by 1e6 ng/mg.
                peak_mg_fe_per_ml: frame.iter().fold(0.0f64, |m, v| m.max(*v)) / (grid.voxel_volume_m3() * 1e6) * 1e-6,
                cells: cells(total),
                regions,
            }
        })
        .collect()
}

/// Prints the summary of every frame on stdout (the figures also go into the output file, `summary_json`).
fn print_summary(frames: &[FrameSummary], pg_per_cell: Option<f64>) {
    for f in frames {
        let mut line = format!(
            "frame {}: total iron in the FOV {:.2} ng, peak {:.4} mg Fe/mL",
            f.frame, f.total_iron_ng, f.peak_mg_fe_per_ml
        );
        if let (Some(c), Some(pg)) = (f.cells, pg_per_cell) {
            line += &format!(" ≈ {c:.0} cells at {pg} pg Fe/cell");
        }
        println!("{line}");
        for r in &f.regions {
            let mut line = format!("  region {}: {:.2} ng Fe", r.region, r.iron_ng);
            if let Some(c) = r.cells {
                line += &format!(" ≈ {c:.0} cells");
            }
            println!("{line}");
        }
    }
}

/// The transfer function of --tf-file, if given.
fn read_tf_file(a: &Args) -> anyhow::Result<Option<magpie_core::tf::TransferFunction>> {
    a.tf_file
        .as_deref()
        .map(|p| {
            magpie_core::tf::TransferFunction::read(p).with_context(|| format!("reading --tf-file {}", p.display()))
        })
        .transpose()
}

/// The tracer model for x-space: --tracer, else the one magpie's simulator recorded in the file.
fn xspace_tracer(a: &Args, meas: &MdfFile) -> anyhow::Result<TracerModel> {
    if let Some(t) = &a.tracer {
        return TracerModel::load(t).with_context(|| format!("--tracer {t}"));
    }
    if let Some(text) = meas.provenance.get("tracer") {
        let t = TracerModel::from_toml_str(text, "/_magpie/tracer")?;
        tracing::info!("tracer model {} (recorded by magpie's simulator in the file)", t.name);
        return Ok(t);
    }
    let name = meas.tracer.as_ref().and_then(|t| t.name.first().cloned()).unwrap_or_default();
    bail!(
        "x-space quantitation needs a tracer model: the file names tracer {name:?}; give --tracer PRESET|FILE \
         (presets: {})",
        TracerModel::preset_names().join(", ")
    )
}

fn xspace_params(a: &Args) -> anyhow::Result<XSpaceParams> {
    let mut p = XSpaceParams { deconvolve: a.deconvolve, ..Default::default() };
    p.voxel_size_m = a.voxel_mm.map(|v| v * 1e-3);
    p.coil_sensitivity_t_per_a = a.coil_sensitivity_mt_per_a.map(|v| v * 1e-3).or(a.coil_sensitivity);
    p.transfer_function = a.tf;
    if let Some(t) = &a.tau_us {
        p.relaxation = match t.as_str() {
            "auto" => RelaxationCorrection::Auto,
            "none" | "0" => RelaxationCorrection::None,
            x => {
                let tau_us = x.parse::<f64>().with_context(|| format!("--tau-us {x:?}: a number or auto|none"))?;
                if !(tau_us.is_finite() && tau_us >= 0.0) {
                    return Err(super::UsageError(format!("--tau-us must be a finite time ≥ 0 µs, found {x}")).into());
                }
                RelaxationCorrection::Fixed { tau_s: tau_us * 1e-6 }
            }
        };
    }
    if let Some(fr) = frames(a) {
        p.frames = Some(fr);
    }
    if let Some(n) = a.average {
        p.average = n;
    }
    if let Some(b) = a.background {
        p.background = match b {
            BackgroundArg::None => false,
            BackgroundArg::Mean | BackgroundArg::Interpolate => true,
            BackgroundArg::External => bail!("--background external is not available for x-space yet"),
        };
    }
    for (set, flag) in [
        (a.preset.is_some() || a.config.is_some(), "--preset/--config"),
        (a.solver.is_some(), "--solver"),
        (a.lambda.is_some(), "--lambda"),
        (a.iterations.is_some(), "--iterations"),
        (a.snr_threshold.is_some(), "--snr-threshold"),
        (min_frequency_hz(a).is_some() || max_frequency_hz(a).is_some(), "--min-freq-khz/--max-freq-khz"),
        (a.channels.is_some(), "--channels"),
        (a.max_mixing_order.is_some(), "--max-mixing-order"),
        (!a.stop_bands_hz.is_empty(), "--stop-band"),
        (a.delta_iron_ng.is_some(), "--delta-iron-ng"),
    ] {
        if set {
            tracing::warn!("{flag} applies to the system-matrix method only; ignored");
        }
    }
    Ok(p)
}

fn run_xspace(a: Args) -> anyhow::Result<()> {
    let mut checked: Vec<(&str, &Path)> = vec![("measurement", &a.measurement)];
    checked.extend(a.tf_file.as_deref().map(|p| ("transfer function", p)));
    common::prepare_outputs(&outputs(&a), &checked)?;
    let inputs: Vec<&Path> = vec![a.measurement.as_path()];
    let regions: Vec<Region> =
        a.roi.iter().map(|r| Region::parse_mm(r).map_err(anyhow::Error::msg)).collect::<anyhow::Result<_>>()?;
    let t0 = std::time::Instant::now();
    let meas = read_mdf(&a.measurement).with_context(|| format!("reading measurement {}", a.measurement.display()))?;
    let tracer = xspace_tracer(&a, &meas)?;
    let params = xspace_params(&a)?;
    let spectra = measurement_spectra(&meas).context("reading measurement spectra")?;
    let tf = read_tf_file(&a)?;
    let r = magpie_reconstruct::xspace::reconstruct_with_transfer_function(
        &meas,
        &spectra,
        &tracer,
        &params,
        None,
        tf.as_ref(),
    )?;
    tracing::info!(
        "x-space: {} frame(s) in {:.2} s, τ = {:.3} µs, noise {:.3e} ng per voxel",
        r.iron_ng.nrows(),
        t0.elapsed().as_secs_f64(),
        r.tau_s * 1e6,
        r.noise_ng
    );
    let summary = summarize(&r.iron_ng, &r.grid, &regions, &a.roi, a.pg_per_cell);
    print_summary(&summary, a.pg_per_cell);
    let mut out = std::collections::BTreeMap::new();
    out.insert("summary_json".into(), ParamValue::Text(serde_json::to_string(&summary)?));
    out.insert("method".into(), ParamValue::Text("x-space".into()));
    out.insert("tracer".into(), ParamValue::Text(tracer.name.clone()));
    out.insert("tau_s".into(), ParamValue::Float(r.tau_s));
    out.insert("noise_ng_per_voxel".into(), ParamValue::Float(r.noise_ng));
    out.insert("point_response_sum".into(), ParamValue::Float(r.point_response_sum));
    if let Ok(t) = toml::to_string(&params) {
        out.insert("parameters_toml".into(), ParamValue::Text(t));
    }
    let mut prov = vec![("method", "x-space".to_string())];
    if let Some(pg) = a.pg_per_cell {
        prov.push(("pg_fe_per_cell", pg.to_string()));
    }
    write_reconstruction(&a.out, &inputs, &meas, &r.grid, &r.iron_ng, out, &prov)?;
    tracing::info!("wrote {}", a.out.display());
    if let Some(png) = &a.png {
        write_png(png, &r.grid, &r.iron_ng.row(0).to_vec(), a.pg_per_cell, "x-space reconstruction")?;
        tracing::info!("wrote {}", png.display());
    }
    Ok(())
}

/// Calls [`SolveProgress::finish`] when dropped.
struct FinishOnDrop<'a>(&'a SolveProgress);

impl Drop for FinishOnDrop<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}
