//! x-space reconstruction: no calibration scan, the image is the velocity-compensated signal laid onto the
//! FFP trajectory (Goodwill & Conolly 2010, 2011; physics.md §2).
//!
//! Pipeline per output frame (every step logged):
//! 1. frame selection and averaging, background subtraction (mean of the file's background frames);
//! 2. the drive-frequency bins are zeroed (they hold feed-through on real scanners and nothing of the particle
//!    signal after the band-stop filter);
//! 3. Debye relaxation is undone by multiplying harmonic f by 1 + 2πi f τ, with τ given or estimated as the
//!    value that makes the images of the two sweep directions agree (Croft et al., IEEE TMI 31(12), 2012);
//! 4. the spectra are brought back to time samples (band-limited upsampling) and each sample's native value
//!    is gridded onto the voxel of the FFP ([`gridding`]);
//! 5. the components the band-stop removed are recovered from overlap continuity and a zero baseline at the
//!    outer edges ([`dc`]);
//! 6. quantitation: the native image divided by the summed model image of 1 kg of tracer at the centre (in
//!    1-D exactly the PSF area 2/(βG) per voxel width) gives kg Fe per voxel; optional deconvolution of that
//!    point response ([`deconv`]).

pub mod dc;
pub mod deconv;
pub mod gridding;
pub mod sequence;

use std::sync::Arc;

use magpie_core::mdf::{MdfFile, Spectra};
use magpie_core::tracer::TracerModel;
use magpie_core::Grid;
use ndarray::Array2;
use num_complex::Complex64;
use rayon::prelude::*;
use rustfft::{Fft, FftPlanner};
use serde::{Deserialize, Serialize};

use crate::RecoError;
use gridding::{model_point_image, Magnetization, SampleTable};
use sequence::Sequence;

/// How Debye relaxation is treated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum RelaxationCorrection {
    /// No correction (adiabatic particles).
    None,
    /// Correct with this time constant.
    Fixed {
        /// τ [s].
        tau_s: f64,
    },
    /// Estimate τ from the two sweep directions.
    #[default]
    Auto,
}

/// Parameters of x-space reconstruction (TOML-serialisable, unknown fields refused).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct XSpaceParams {
    /// Voxel edge [m] (isotropic); None: the smallest of FWHM/4 × 1.25ᵏ at which ≥ 98 % of the voxels of the
    /// trajectory's bounding box are visited.
    pub voxel_size_m: Option<f64>,
    /// Band-limited upsampling of the time signal (denser trajectory sampling).
    pub upsampling: usize,
    /// Samples whose FFP speed is below this fraction of the maximum are not used.
    pub speed_threshold: f64,
    /// Zero the drive-frequency bins before imaging.
    pub remove_drive_bins: bool,
    /// Recover the components the band-stop filter removed (continuity + zero baseline).
    pub dc_recovery: bool,
    /// Depth of the zero-baseline band at the outer edges [m] (None: one normal FWHM, at least a voxel).
    pub edge_band_m: Option<f64>,
    /// Debye relaxation correction.
    pub relaxation: RelaxationCorrection,
    /// Deconvolve the point response (Tikhonov, λ from the noise level by the discrepancy principle).
    pub deconvolve: bool,
    /// Foreground frames [first, last) (None: all).
    pub frames: Option<[usize; 2]>,
    /// Average this many consecutive frames into one (0: all into one).
    pub average: usize,
    /// Subtract the mean of the file's background frames (when it has any).
    pub background: bool,
    /// Divide by the file's receive transfer function.
    pub transfer_function: bool,
    /// Receive-coil sensitivity B/I [T/A] replacing the file's inductionFactor.
    pub coil_sensitivity_t_per_a: Option<f64>,
}

impl Default for XSpaceParams {
    fn default() -> Self {
        XSpaceParams {
            voxel_size_m: None,
            upsampling: 4,
            speed_threshold: 0.05,
            remove_drive_bins: true,
            dc_recovery: true,
            edge_band_m: None,
            relaxation: RelaxationCorrection::Auto,
            deconvolve: false,
            frames: None,
            average: 0,
            background: true,
            transfer_function: false,
            coil_sensitivity_t_per_a: None,
        }
    }
}

/// An x-space reconstruction.
#[derive(Debug, Clone)]
pub struct XSpaceResult {
    /// The image grid.
    pub grid: Grid,
    /// Iron per voxel [ng], [Q, P] (frames × voxels, x fastest).
    pub iron_ng: Array2<f64>,
    /// The native image [kg/T] before quantitation, [Q, P].
    pub native_kg_per_t: Array2<f64>,
    /// Voxels the trajectory visits.
    pub covered: Vec<bool>,
    /// Foreground frames averaged into each output frame.
    pub frames: Vec<Vec<usize>>,
    /// Relaxation time used [s] (0: none).
    pub tau_s: f64,
    /// Native images [kg/T] of the forward and backward sweeps of output frame 0 (after the τ correction,
    /// without offset recovery).
    pub sweep_images_kg_per_t: [Vec<f64>; 2],
    /// Sum of the model native image of 1 kg of tracer [1/T per kg]: native / this = kg per voxel.
    pub point_response_sum: f64,
    /// Estimated noise standard deviation of the iron map [ng per voxel].
    pub noise_ng: f64,
    /// Recovered drive-frequency amplitudes per output frame [V].
    pub offsets_v: Vec<Vec<f64>>,
}

fn input(what: &str, message: String) -> RecoError {
    RecoError::Input { what: what.into(), message }
}

/// The default image grid: the trajectory's bounding box at the automatic (or given) voxel size.
pub fn default_grid(seq: &Sequence, tracer: &TracerModel, params: &XSpaceParams) -> Grid {
    let bb = seq.coverage_m();
    let axes = seq.drive_axes();
    let g_min = axes.iter().map(|&d| seq.gradient_t_per_m[d].abs()).fold(f64::INFINITY, f64::min);
    let fwhm = if g_min.is_finite() { tracer.fwhm_normal_m(g_min) } else { 1e-3 };
    let make = |s: f64| {
        let mut shape = [1usize; 3];
        let mut fov = [s; 3];
        let mut centre = [0.0; 3];
        for d in 0..3 {
            let ext = bb[d][1] - bb[d][0];
            centre[d] = 0.5 * (bb[d][0] + bb[d][1]);
            if ext > 0.5 * s {
                shape[d] = (ext / s).round().max(1.0) as usize;
                fov[d] = shape[d] as f64 * s;
            }
        }
        Grid::new(shape, fov, centre)
    };
    if let Some(s) = params.voxel_size_m {
        return make(s);
    }
    let mut s = fwhm / 4.0;
    for _ in 0..40 {
        let grid = make(s);
        let t = SampleTable::new(seq, &grid, params.upsampling, params.speed_threshold, 1.0);
        let covered = (0..grid.len()).filter(|&p| t.covered(p)).count();
        if covered as f64 >= 0.98 * grid.len() as f64 {
            tracing::info!(
                "x-space grid: {:?} voxels of {:.3} mm (FWHM {:.3} mm; {:.1} % visited)",
                grid.shape,
                s * 1e3,
                fwhm * 1e3,
                100.0 * covered as f64 / grid.len() as f64
            );
            return grid;
        }
        s *= 1.25;
    }
    make(s)
}

/// Spectra of one output frame: [J][C][K_full].
type FrameSpectra = Vec<Vec<Vec<Complex64>>>;

/// Reconstructs the measurement `spectra` (canonical, from `header`) with the tracer model `tracer`.
/// `grid`: the image grid (None: [`default_grid`]).
///
/// # Errors
/// Inconsistent files (see [`Sequence::from_mdf`]), no foreground frame, an invalid frame range.
pub fn reconstruct(
    header: &MdfFile,
    spectra: &Spectra,
    tracer: &TracerModel,
    params: &XSpaceParams,
    grid: Option<Grid>,
) -> Result<XSpaceResult, RecoError> {
    reconstruct_with_transfer_function(header, spectra, tracer, params, grid, None)
}

/// As [`reconstruct`], dividing the measurement by the measured receive transfer function `tf` (interpolated
/// onto the measurement's bins) when given. Every imaged bin (the stored bins but DC and the zeroed drive bins)
/// must lie in its measured band; DC is left uncorrected when outside it (an induced voltage has no DC
/// component, û_k ∝ f_k).
///
/// # Errors
/// As [`reconstruct`]; [`RecoError::TransferFunction`] for an imaged bin outside the band or channels that do
/// not fit; a measurement flagged `isTransferFunctionCorrected`, or `params.transfer_function` set as well.
pub fn reconstruct_with_transfer_function(
    header: &MdfFile,
    spectra: &Spectra,
    tracer: &TracerModel,
    params: &XSpaceParams,
    grid: Option<Grid>,
    tf: Option<&magpie_core::tf::TransferFunction>,
) -> Result<XSpaceResult, RecoError> {
    let _span = tracing::info_span!("xspace").entered();
    let seq = Sequence::from_mdf(header, params.coil_sensitivity_t_per_a)?;
    let (n, j, c, k) = spectra.data.dim();
    let v = seq.samples_per_period;
    let k_full = v / 2 + 1;
    if j != seq.num_periods() || c != seq.coil_t_per_a.len() {
        return Err(input(
            "/measurement/data",
            format!(
                "expected J = {} periods and C = {} channels from /acquisition, found [N, J, C, K] = [{n}, {j}, {c}, {k}]",
                seq.num_periods(),
                seq.coil_t_per_a.len()
            ),
        ));
    }
    if let Some(bad) = spectra.frequencies.iter().find(|f| **f >= k_full) {
        return Err(input("/measurement/frequencySelection", format!("bin {bad} is beyond V/2 = {}", v / 2)));
    }
    if !(params.speed_threshold >= 0.0 && params.speed_threshold < 1.0) || params.upsampling == 0 {
        return Err(input("x-space parameters", "need 0 ≤ speed_threshold < 1 and upsampling ≥ 1".into()));
    }
    let clock = std::time::Instant::now();
    let lap = |what: &str| tracing::debug!("{what}: {:.1} ms", clock.elapsed().as_secs_f64() * 1e3);
    let grid = grid.unwrap_or_else(|| default_grid(&seq, tracer, params));
    let msat = tracer.saturation_moment_per_kg_fe();
    let table = SampleTable::new(&seq, &grid, params.upsampling, params.speed_threshold, msat);
    let covered: Vec<bool> = (0..grid.len()).map(|p| table.covered(p)).collect();
    let n_cov = covered.iter().filter(|c| **c).count();
    if n_cov == 0 {
        return Err(input("grid", "the FFP trajectory does not visit any voxel of the grid".into()));
    }
    tracing::info!(
        "x-space: {} periods × {} samples ({}× upsampled), {} of {} voxels visited, speed threshold {}",
        table.periods,
        table.samples,
        params.upsampling,
        n_cov,
        grid.len(),
        params.speed_threshold
    );

    lap("sample table");
    // 1. Frames.
    let groups = frame_groups(spectra, params)?;
    let bg_frames: Vec<usize> = (0..n).filter(|f| spectra.is_background_frame[*f]).collect();
    let subtract_bg = params.background && !bg_frames.is_empty();
    if params.background && bg_frames.is_empty() {
        tracing::info!("no background frames in the measurement: no background subtraction");
    } else if subtract_bg {
        tracing::info!("subtracting the mean of {} background frames", bg_frames.len());
    }
    let mean_of = |frames: &[usize]| -> FrameSpectra {
        let mut out = vec![vec![vec![Complex64::default(); k_full]; c]; j];
        for &f in frames {
            for (jj, per) in out.iter_mut().enumerate() {
                for (cc, row) in per.iter_mut().enumerate() {
                    for (kk, bin) in spectra.frequencies.iter().enumerate() {
                        row[*bin] += spectra.data[[f, jj, cc, kk]] / frames.len() as f64;
                    }
                }
            }
        }
        out
    };
    let bg = if subtract_bg { Some(mean_of(&bg_frames)) } else { None };

    // 2. Static spectral weights: drive bins, transfer function.
    let mut weight = vec![vec![Complex64::new(1.0, 0.0); k_full]; c];
    if params.remove_drive_bins {
        let bins: Vec<usize> = seq
            .drive
            .iter()
            .filter(|d| d.amplitude_t != 0.0)
            .map(|d| (d.frequency_hz * seq.cycle_s).round() as usize)
            .filter(|b| *b < k_full)
            .collect();
        tracing::info!("zeroing the drive-frequency bins {bins:?} (feed-through; removed by the band-stop filter)");
        for w in &mut weight {
            for b in &bins {
                w[*b] = Complex64::default();
            }
        }
    }
    let corrected = header.measurement.as_ref().is_some_and(|m| m.layout.is_transfer_function_corrected);
    if corrected && (params.transfer_function || tf.is_some()) {
        return Err(input(
            "/measurement/isTransferFunctionCorrected",
            "the measurement is already transfer-function corrected; correcting it again is refused".into(),
        ));
    }
    if let Some(tf) = tf {
        if params.transfer_function {
            return Err(input(
                "transfer function",
                "both the file's own transfer function and an external one were asked for; choose one".into(),
            ));
        }
        let rx = &header.acquisition.receiver;
        let stored: std::collections::HashSet<usize> = spectra.frequencies.iter().copied().collect();
        for (cc, w) in weight.iter_mut().enumerate() {
            let src = tf.channel_for(cc, c)?;
            for (kk, x) in w.iter_mut().enumerate() {
                if kk == 0 || !stored.contains(&kk) || x.norm() == 0.0 {
                    continue;
                }
                let f = rx.frequency_hz(kk);
                let h = tf.at(src, f)?;
                *x = if h.norm() > 1e-12 { *x / h } else { Complex64::default() };
            }
        }
        let (lo, hi) = tf.band_hz();
        tracing::info!(
            "dividing by the transfer function {} ({} points, {:.3} – {:.3} kHz)",
            tf.source_name(),
            tf.frequency_hz().len(),
            lo / 1e3,
            hi / 1e3
        );
    }
    match (&header.acquisition.receiver.transfer_function, params.transfer_function) {
        (Some(tf), true) => {
            tracing::info!("dividing by the receive transfer function of the file");
            for (cc, w) in weight.iter_mut().enumerate() {
                for (kk, x) in w.iter_mut().enumerate() {
                    let h = tf.get((cc, kk)).copied().unwrap_or(Complex64::new(1.0, 0.0));
                    *x = if h.norm() > 1e-12 { *x / h } else { Complex64::default() };
                }
            }
        }
        (None, true) => {
            return Err(input("/acquisition/receiver/transferFunction", "absent, but correction was asked for".into()))
        }
        (Some(_), false) if tf.is_none() => {
            tracing::info!("the file has a transfer function; not applied (ask for it explicitly)")
        }
        (Some(_), false) => {}
        (None, false) => {}
    }
    let mut model_weight = vec![vec![Complex64::new(1.0, 0.0); k_full]; c];
    for (m, w) in model_weight.iter_mut().zip(&weight) {
        for (x, y) in m.iter_mut().zip(w) {
            if y.norm() == 0.0 {
                *x = Complex64::default();
            }
        }
    }
    let mut planner = FftPlanner::new();
    let fft = planner.plan_fft_inverse(table.samples);
    let fft_forward = planner.plan_fft_forward(table.samples);
    let ctx = Ctx {
        seq: &seq,
        table: &table,
        weight: &weight,
        model_weight: &model_weight,
        fft,
        fft_forward,
        v,
        c,
        grid: &grid,
        msat,
    };

    let prepared: Vec<FrameSpectra> = groups
        .iter()
        .map(|g| {
            let mut s = mean_of(g);
            if let Some(b) = &bg {
                for (x, y) in s.iter_mut().flatten().flatten().zip(b.iter().flatten().flatten()) {
                    *x -= *y;
                }
            }
            s
        })
        .collect();

    lap("frames and weights");
    // 3. Relaxation.
    let tau_s = match params.relaxation {
        RelaxationCorrection::None => 0.0,
        RelaxationCorrection::Fixed { tau_s } => {
            tracing::info!("relaxation correction with τ = {:.3} µs (given)", tau_s * 1e6);
            tau_s
        }
        RelaxationCorrection::Auto => {
            let mut mean = prepared[0].clone();
            for other in &prepared[1..] {
                for (x, y) in mean.iter_mut().flatten().flatten().zip(other.iter().flatten().flatten()) {
                    *x += *y;
                }
            }
            let t = estimate_tau(&ctx, &mean);
            tracing::info!("relaxation: τ = {:.3} µs estimated from the two sweep directions", t * 1e6);
            t
        }
    };

    lap("relaxation");
    // 4–5. Native images, with the model of 1 kg of tracer at the centre through the same steps.
    let mag = Magnetization::new(tracer);
    let centre = table_centre(&seq, &grid);
    let response_raw: f64 = model_point_image(&table, &seq, &mag, centre).iter().sum();
    if !(response_raw.is_finite() && response_raw > 0.0) {
        return Err(input("grid", "the model point response vanishes on this grid".into()));
    }
    // Zero-baseline band: one normal FWHM deep unless given (averages the noisy turning-point voxels).
    let axis0 = seq.drive_axes().first().copied().unwrap_or(0);
    let band_m = params.edge_band_m.unwrap_or_else(|| tracer.fwhm_normal_m(seq.gradient_t_per_m[axis0]));
    // At most an eighth of the grid, so that the prior stays about the edges.
    let band = ((band_m / grid.voxel_size_m()[axis0]).round() as usize).min(grid.shape[axis0] / 8).max(1);
    let recovery = if params.dc_recovery { dc::OffsetRecovery::new(&seq, &grid, &table, band) } else { None };
    match &recovery {
        Some(r) => tracing::info!(
            "offset recovery: {} unknowns, {} zero-baseline voxels (band {band}), {} overlap equations, tails predicted in {} passes",
            r.unknowns.len(),
            r.anchors,
            r.overlaps,
            TAIL_PASSES
        ),
        None if params.dc_recovery => tracing::warn!("offset recovery impossible here (no edge or overlap)"),
        None => tracing::info!("offset recovery off"),
    }
    // Noise: the two sweep directions see the same object; their difference is noise (σ_img² ≈ var(diff)/4).
    let sweep = ctx.sweep_images(&prepared[0], tau_s);
    let (mut d2, mut nd) = (0.0, 0usize);
    for p in 0..grid.len() {
        if sweep.1[0][p] > 0.0 && sweep.1[1][p] > 0.0 {
            d2 += (sweep.0[0][p] - sweep.0[1][p]).powi(2);
            nd += 1;
        }
    }
    let noise_native = if nd > 0 { (d2 / nd as f64 / 4.0).sqrt() } else { 0.0 };
    lap("offset recovery set-up and sweep images");
    let imager = Imager { ctx: &ctx, recovery: recovery.as_ref(), mag: &mag, response_raw, noise_native };
    let outputs: Vec<(Vec<f64>, Vec<f64>)> =
        prepared.par_iter().map(|s| imager.image(&ctx.time_signals(s, tau_s, true))).collect();

    lap("native images");
    // 6. Quantitation.
    let model = ctx.model_spectra(&mag, centre);
    // Without offset recovery the filtered model's sum is meaningless (the lost constant spans the grid).
    let response: f64 = if recovery.is_some() || !params.remove_drive_bins {
        imager.image(&ctx.time_signals(&model, 0.0, false)).0.iter().sum()
    } else {
        response_raw
    };
    if !(response.is_finite() && response > 0.0) {
        return Err(input("grid", "the processed model point response vanishes on this grid".into()));
    }
    tracing::info!(
        "quantitation: the tracer model's point response sums to {:.4e} /T per kg over the grid ({:.4e} before the \
         receive chain and offset recovery; 1-D: PSF area 2/(βG) per voxel width)",
        response,
        response_raw
    );
    lap("model point response");
    let q = outputs.len();
    let mut native = Array2::zeros((q, grid.len()));
    for (qq, (img, _)) in outputs.iter().enumerate() {
        native.row_mut(qq).assign(&ndarray::ArrayView1::from(&img[..]));
    }
    let kg_to_ng = 1.0 / magpie_core::units::KG_PER_NG;
    let mut iron_ng = native.mapv(|x| x / response * kg_to_ng);
    let noise_ng = noise_native / response * kg_to_ng;
    if params.deconvolve {
        let kernel_point = grid.position_m(grid.flatten(std::array::from_fn(|d| grid.shape[d] / 2)));
        let kernel = imager.image(&ctx.time_signals(&ctx.model_spectra(&mag, kernel_point), 0.0, false)).0;
        for mut row in iron_ng.outer_iter_mut() {
            let (out, lambda) = deconv::deconvolve(&grid, &kernel, row.as_slice().unwrap_or(&[]), noise_ng, &covered);
            tracing::info!("deconvolution: Tikhonov λ = {lambda:.3e} (discrepancy, noise {noise_ng:.3e} ng)");
            row.assign(&ndarray::ArrayView1::from(&out[..]));
        }
    }
    Ok(XSpaceResult {
        grid,
        iron_ng,
        native_kg_per_t: native,
        covered,
        frames: groups,
        tau_s,
        sweep_images_kg_per_t: sweep.0,
        point_response_sum: response,
        noise_ng,
        offsets_v: outputs.into_iter().map(|(_, t)| t).collect(),
    })
}

/// Centre of the visited region, projected on planar grids.
fn table_centre(seq: &Sequence, grid: &Grid) -> [f64; 3] {
    let bb = seq.coverage_m();
    std::array::from_fn(|d| if grid.shape[d] == 1 { grid.center_m[d] } else { 0.5 * (bb[d][0] + bb[d][1]) })
}

/// Foreground frames per output frame.
fn frame_groups(spectra: &Spectra, params: &XSpaceParams) -> Result<Vec<Vec<usize>>, RecoError> {
    let fg: Vec<usize> = (0..spectra.data.dim().0).filter(|f| !spectra.is_background_frame[*f]).collect();
    if fg.is_empty() {
        return Err(input("/measurement/isBackgroundFrame", "no foreground frame".into()));
    }
    let fg = match params.frames {
        Some([a, b]) if a < b && b <= fg.len() => fg[a..b].to_vec(),
        Some([a, b]) => {
            return Err(input("frames", format!("range {a}:{b} is outside the {} foreground frames", fg.len())))
        }
        None => fg,
    };
    let size = if params.average == 0 { fg.len() } else { params.average };
    Ok(fg.chunks(size).map(|c| c.to_vec()).collect())
}

/// Shared state of the per-frame work.
struct Ctx<'a> {
    seq: &'a Sequence,
    table: &'a SampleTable,
    weight: &'a [Vec<Complex64>],
    model_weight: &'a [Vec<Complex64>],
    fft: Arc<dyn Fft<f64>>,
    fft_forward: Arc<dyn Fft<f64>>,
    v: usize,
    c: usize,
    grid: &'a Grid,
    msat: f64,
}

/// Passes of the tail-predicted baseline in the offset recovery.
const TAIL_PASSES: usize = 3;

/// Native imaging with offset recovery.
struct Imager<'a> {
    ctx: &'a Ctx<'a>,
    recovery: Option<&'a dc::OffsetRecovery>,
    mag: &'a Magnetization,
    /// Sum of the raw model point image (native → kg for the tail prediction).
    response_raw: f64,
    /// Noise standard deviation of the native image per voxel [kg/T].
    noise_native: f64,
}

/// Largest change of `img` to a neighbouring voxel along `axes`, per voxel (half the central difference).
fn local_step(grid: &Grid, img: &[f64], axes: &[usize]) -> Vec<f64> {
    (0..grid.len())
        .map(|p| {
            let i = grid.unflatten(p);
            axes.iter()
                .map(|&d| {
                    let at = |k: usize| {
                        let mut n = i;
                        n[d] = k;
                        img[grid.flatten(n)]
                    };
                    let lo = if i[d] > 0 { at(i[d] - 1) } else { img[p] };
                    let hi = if i[d] + 1 < grid.shape[d] { at(i[d] + 1) } else { img[p] };
                    (0.5 * (hi - lo)).abs().max((img[p] - lo).abs().max((hi - img[p]).abs()) * 0.5)
                })
                .fold(0.0, f64::max)
        })
        .collect()
}

impl Imager<'_> {
    /// Native image [kg/T] (voxel means over all periods) and the recovered drive-bin amplitudes θ [V] of the
    /// time signals `u[j][c][i]`. The zero-baseline prior at the edges is refined by predicting the PSF tails
    /// of the significant voxels (> 5 % of the maximum and > 4σ, at most 200) at the anchors.
    fn image(&self, u: &[Vec<Vec<f64>>]) -> (Vec<f64>, Vec<f64>) {
        let table = self.ctx.table;
        let grid = self.ctx.grid;
        let mut sums = vec![vec![0.0; grid.len()]; table.periods];
        for (jj, sum) in sums.iter_mut().enumerate() {
            table.accumulate(jj, &u[jj], None, sum);
        }
        let combine = |sums: &[Vec<f64>]| -> Vec<f64> {
            let mut img = vec![0.0; grid.len()];
            for sum in sums {
                for (i, x) in img.iter_mut().zip(sum) {
                    *i += x;
                }
            }
            for (i, cnt) in img.iter_mut().zip(&table.total_counts) {
                if *cnt > 0.0 {
                    *i /= *cnt;
                }
            }
            img
        };
        let Some(rec) = self.recovery else {
            return (combine(&sums), Vec::new());
        };
        let base = sums.clone();
        let mut theta = rec.apply(table, &mut sums, None, None);
        let eq_voxels = rec.equation_voxels();
        let anchors = rec.anchor_equations();
        for _ in 0..TAIL_PASSES {
            let img = combine(&sums);
            let max = img.iter().fold(0.0f64, |m, v| m.max(*v));
            if max <= 0.0 {
                break;
            }
            // Only voxels clearly above the noise: positive noise excursions would bias the baseline upwards.
            let thr = (0.05 * max).max(4.0 * self.noise_native);
            let mut sig: Vec<usize> = (0..img.len()).filter(|&p| img[p] > thr).collect();
            sig.sort_by(|a, b| img[*b].total_cmp(&img[*a]));
            sig.truncate(200);
            let sources: Vec<([f64; 3], f64)> =
                sig.iter().map(|&p| (grid.position_m(p), img[p] / self.response_raw)).collect();
            let targets = rec.anchor_targets(self.ctx.seq, table, self.mag, &sources);
            // Weights: continuity and baseline hold up to the sub-voxel sampling differences between periods,
            // which grow with the local image gradient, up to the tail prediction (10 %), and up to noise.
            let grad = local_step(grid, &img, &self.ctx.seq.drive_axes());
            let floor = (self.noise_native.powi(2)).max((1e-6 * max).powi(2));
            let mut weights: Vec<f64> = eq_voxels.iter().map(|&v| 1.0 / (floor + (0.2 * grad[v]).powi(2))).collect();
            for (a, t) in anchors.iter().zip(&targets) {
                weights[*a] = 1.0 / (floor + (0.2 * grad[eq_voxels[*a]]).powi(2) + (0.1 * t).powi(2));
            }
            sums = base.clone();
            theta = rec.apply(table, &mut sums, Some(&targets), Some(&weights));
        }
        (combine(&sums), theta)
    }
}

impl Ctx<'_> {
    /// Time signals u[j][c][i] [V] at the upsampled times, after the spectral weights and the relaxation
    /// correction 1 + 2πi f τ.
    /// `data`: apply the data's spectral weights (transfer function); the model only loses the drive bins.
    fn time_signals(&self, s: &FrameSpectra, tau_s: f64, data: bool) -> Vec<Vec<Vec<f64>>> {
        let weight = if data { self.weight } else { self.model_weight };
        let n = self.table.samples;
        let v = self.v;
        let mut buf = vec![Complex64::default(); n];
        let mut scratch = vec![Complex64::default(); self.fft.get_inplace_scratch_len()];
        s.iter()
            .map(|per| {
                (0..self.c)
                    .map(|cc| {
                        buf.fill(Complex64::default());
                        for (k, y) in per[cc].iter().enumerate() {
                            let f = k as f64 / self.seq.cycle_s;
                            let z = *y * weight[cc][k] * Complex64::new(1.0, std::f64::consts::TAU * f * tau_s);
                            if k == 0 {
                                buf[0] = z;
                            } else if 2 * k == v {
                                // Nyquist bin: split between ±V/2 when upsampling.
                                if n == v {
                                    buf[k] = z;
                                } else {
                                    buf[k] += z * 0.5;
                                    buf[n - k] += z.conj() * 0.5;
                                }
                            } else {
                                buf[k] = z;
                                buf[n - k] = z.conj();
                            }
                        }
                        self.fft.process_with_scratch(&mut buf, &mut scratch);
                        buf.iter().map(|z| z.re / v as f64).collect()
                    })
                    .collect()
            })
            .collect()
    }

    /// Spectra [J][C][K_full] of 1 kg of tracer at `point_m` as the receive coils would see it before the
    /// receive chain: u_c = (B/I)_c M_sat (J_f(B) w)_c, band-limited to the receiver's V/2 bins.
    fn model_spectra(&self, mag: &Magnetization, point_m: [f64; 3]) -> FrameSpectra {
        let seq = self.seq;
        let n = self.table.samples;
        let os = (n / self.v) as f64;
        let g = seq.gradient_t_per_m;
        let mut buf = vec![Complex64::default(); n];
        (0..self.table.periods)
            .map(|j| {
                (0..self.c)
                    .map(|cc| {
                        for (i, z) in buf.iter_mut().enumerate() {
                            let t = self.table.times_s[i];
                            let r = seq.ffp_m(j, t);
                            let w = seq.sweep_rate_t_per_s(t);
                            let b: [f64; 3] = std::array::from_fn(|d| g[d] * (point_m[d] - r[d]));
                            let bm = (b[0] * b[0] + b[1] * b[1] + b[2] * b[2]).sqrt();
                            // (J_f w)_c = f'·(B̂·w) B̂_c + f/|B| (w_c − (B̂·w) B̂_c).
                            let val = if bm == 0.0 {
                                mag.normal(0.0) * w[cc]
                            } else {
                                let bh = [b[0] / bm, b[1] / bm, b[2] / bm];
                                let bw = bh[0] * w[0] + bh[1] * w[1] + bh[2] * w[2];
                                mag.normal(bm) * bw * bh[cc] + mag.tangential(bm) * (w[cc] - bw * bh[cc])
                            };
                            let s = if cc < 3 { seq.coil_t_per_a[cc] * self.msat * val } else { 0.0 };
                            *z = Complex64::new(s, 0.0);
                        }
                        self.fft_forward.process(&mut buf);
                        buf[..self.v / 2 + 1].iter().map(|z| *z / os).collect()
                    })
                    .collect()
            })
            .collect()
    }

    /// Native images of the forward and backward sweeps (all periods, no offset recovery) and their counts.
    fn sweep_images(&self, s: &FrameSpectra, tau_s: f64) -> ([Vec<f64>; 2], [Vec<f64>; 2]) {
        let u = self.time_signals(s, tau_s, true);
        let p = self.grid.len();
        let mut imgs = [vec![0.0; p], vec![0.0; p]];
        let mut counts = [vec![0.0; p], vec![0.0; p]];
        let n = self.table.samples;
        for (d, dir) in [true, false].into_iter().enumerate() {
            for (jj, uj) in u.iter().enumerate() {
                self.table.accumulate(jj, uj, Some(dir), &mut imgs[d]);
                for i in 0..n {
                    let vx = self.table.voxel[jj * n + i];
                    if vx != gridding::NONE && self.table.forward[i] == dir {
                        counts[d][vx as usize] += self.table.weight[i];
                    }
                }
            }
            for (x, cnt) in imgs[d].iter_mut().zip(&counts[d]) {
                if *cnt > 0.0 {
                    *x /= *cnt;
                }
            }
        }
        (imgs, counts)
    }
}

/// Relative mismatch between the two sweep directions' images for a candidate τ.
fn sweep_mismatch(ctx: &Ctx, s: &FrameSpectra, tau_s: f64) -> f64 {
    let ([a, b], [ca, cb]) = ctx.sweep_images(s, tau_s);
    let (mut num, mut den) = (0.0, 0.0);
    for p in 0..a.len() {
        if ca[p] > 0.0 && cb[p] > 0.0 {
            num += (a[p] - b[p]).powi(2);
            den += (0.5 * (a[p] + b[p])).powi(2);
        }
    }
    if den > 0.0 {
        num / den
    } else {
        0.0
    }
}

/// τ minimising the sweep mismatch: a scan over 0 and 10 ns … 100 µs (8 per decade), refined by golden-section
/// search in log τ.
fn estimate_tau(ctx: &Ctx, s: &FrameSpectra) -> f64 {
    let cands: Vec<f64> = std::iter::once(0.0).chain((0..=32).map(|i| 1e-8 * 10f64.powf(i as f64 / 8.0))).collect();
    let vals: Vec<f64> = cands.iter().map(|t| sweep_mismatch(ctx, s, *t)).collect();
    let best = vals.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i).unwrap_or(0);
    if best == 0 {
        return 0.0;
    }
    let lo = cands[best - 1].max(cands[1] / 10f64.powf(1.0 / 8.0)).ln();
    let hi = cands.get(best + 1).copied().unwrap_or(cands[best]).ln();
    let (mut a, mut b) = (lo, hi);
    let gr = (5f64.sqrt() - 1.0) / 2.0;
    let f = |x: f64| sweep_mismatch(ctx, s, x.exp());
    let mut x1 = b - gr * (b - a);
    let mut x2 = a + gr * (b - a);
    let (mut f1, mut f2) = (f(x1), f(x2));
    for _ in 0..30 {
        if f1 < f2 {
            b = x2;
            x2 = x1;
            f2 = f1;
            x1 = b - gr * (b - a);
            f1 = f(x1);
        } else {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + gr * (b - a);
            f2 = f(x2);
        }
    }
    (0.5 * (a + b)).exp()
}
