//! Detection statistics of one measurement, in ng Fe so that every detector shares the slope's unit.
//!
//! * **Data domain — matched filter.** For a sample at a known position the optimal linear detector in white
//!   Gaussian noise correlates the data with the expected signal (Neyman–Pearson; Kay, *Fundamentals of
//!   Statistical Signal Processing* II, ch. 4). Here the template is learned from the series itself — the
//!   least-squares spectrum per ng through the origin of the blank-subtracted samples, ŝ = Σ mᵢ(yᵢ − ȳ₀)/Σ mᵢ²
//!   — and the noise variance per bin from the blanks; only harmonics where the template stands 3 standard
//!   errors above zero enter. T = Re Σ ŝ*·(y − ȳ₀)/σ² / Σ |ŝ|²/σ² is then an estimate of the iron [ng].
//!   No reconstruction can beat it on the same data, so it bounds what the image domain can reach.
//! * **Image domain.** The total of a reconstructed iron map in a sphere around the sample [ng]: system-matrix
//!   reconstruction with a linear solver (Kaczmarz without the non-negativity projection, so that blanks
//!   scatter symmetrically around zero), or x-space.

use magpie_core::mdf::{measurement_spectra, MdfFile};
use magpie_core::tracer::TracerModel;
use magpie_core::Grid;
use magpie_reconstruct::facade::{self, Prepared, Request};
use magpie_reconstruct::quantify::{region_total, Region};
use magpie_reconstruct::solvers::kaczmarz::KaczmarzParams;
use magpie_reconstruct::sysmat::params::{BackgroundMode, Lambda, RecoParams, SolverParams};
use magpie_reconstruct::xspace::{RelaxationCorrection, XSpaceParams};
use num_complex::Complex64;

use crate::CalibrationError;

/// Relative Tikhonov λ of the detection reconstruction: strong, because detection wants a low-variance
/// region total rather than resolution (λ = 1e-3 gives a 40× worse LOD on the Bruker-like series).
const LAMBDA: f64 = 1.0;

/// The background-corrected mean foreground spectrum of a measurement, flattened over [J, C, K], and the
/// frequency bins it holds.
///
/// # Errors
/// Unreadable data or no foreground frame.
pub fn corrected_spectrum(file: &MdfFile) -> Result<(Vec<Complex64>, Vec<usize>), CalibrationError> {
    let sp = measurement_spectra(file)?;
    let (n, j, c, k) = sp.data.dim();
    let fg: Vec<usize> = (0..n).filter(|f| !sp.is_background_frame[*f]).collect();
    let bg: Vec<usize> = (0..n).filter(|f| sp.is_background_frame[*f]).collect();
    if fg.is_empty() {
        return Err(CalibrationError::Invalid("measurement without foreground frame".into()));
    }
    let mut out = vec![Complex64::default(); j * c * k];
    for (idx, o) in out.iter_mut().enumerate() {
        let (jj, cc, kk) = (idx / (c * k), (idx / k) % c, idx % k);
        let mean = |fr: &[usize]| fr.iter().map(|f| sp.data[[*f, jj, cc, kk]]).sum::<Complex64>() / fr.len() as f64;
        *o = mean(&fg) - if bg.is_empty() { Complex64::default() } else { mean(&bg) };
    }
    Ok((out, sp.frequencies))
}

/// A matched filter learned from a calibration series.
#[derive(Debug, Clone)]
pub struct MatchedFilter {
    /// Mean blank spectrum (subtracted first).
    blank_mean: Vec<Complex64>,
    /// Template per ng × 1/σ² on the selected entries, 0 elsewhere.
    weights: Vec<Complex64>,
    /// Σ |ŝ|²/σ² over the selected entries.
    norm: f64,
    /// Entries (period, channel, bin) used.
    pub selected: usize,
}

impl MatchedFilter {
    /// Learns template and noise from `samples` (known iron [ng], spectrum) and `blanks`. `excluded`: entries
    /// never used (the drive-frequency bins).
    ///
    /// # Errors
    /// Fewer than two blanks, no sample with iron, or no harmonic above the noise.
    pub fn fit(
        samples: &[(f64, &[Complex64])],
        blanks: &[&[Complex64]],
        excluded: &[bool],
    ) -> Result<Self, CalibrationError> {
        if blanks.len() < 2 {
            return Err(CalibrationError::Invalid("the matched filter needs ≥ 2 blanks".into()));
        }
        let len = blanks[0].len();
        let nb = blanks.len() as f64;
        let mut blank_mean = vec![Complex64::default(); len];
        for b in blanks {
            for (m, v) in blank_mean.iter_mut().zip(b.iter()) {
                *m += v / nb;
            }
        }
        // Noise variance per entry (complex: E|n|²).
        let mut var = vec![0.0; len];
        for b in blanks {
            for ((v, x), m) in var.iter_mut().zip(b.iter()).zip(&blank_mean) {
                *v += (x - m).norm_sqr() / (nb - 1.0);
            }
        }
        let m2: f64 = samples.iter().map(|(m, _)| m * m).sum();
        if m2 <= 0.0 {
            return Err(CalibrationError::Invalid("the series has no sample with iron".into()));
        }
        let mut template = vec![Complex64::default(); len];
        for (m, y) in samples {
            for ((t, v), b) in template.iter_mut().zip(y.iter()).zip(&blank_mean) {
                *t += (v - b) * (*m / m2);
            }
        }
        // Keep entries where the template is 3 standard errors (σ/√Σm²) above zero.
        let mut weights = vec![Complex64::default(); len];
        let mut norm = 0.0;
        let mut selected = 0;
        for i in 0..len {
            if excluded.get(i).copied().unwrap_or(false) || var[i] <= 0.0 {
                continue;
            }
            let se2 = var[i] / m2;
            if template[i].norm_sqr() > 9.0 * se2 {
                weights[i] = template[i] / var[i];
                norm += template[i].norm_sqr() / var[i];
                selected += 1;
            }
        }
        if selected == 0 {
            return Err(CalibrationError::Invalid(
                "no harmonic of the series stands above the noise: add higher amounts or averages".into(),
            ));
        }
        tracing::debug!("matched filter: {selected} of {len} harmonics × channels × periods above 3 σ");
        Ok(MatchedFilter { blank_mean, weights, norm, selected })
    }

    /// The statistic of a spectrum: estimated iron [ng].
    pub fn statistic(&self, y: &[Complex64]) -> f64 {
        let mut acc = 0.0;
        for ((w, v), b) in self.weights.iter().zip(y).zip(&self.blank_mean) {
            acc += (w.conj() * (v - b)).re;
        }
        acc / self.norm
    }
}

/// The matched-filter statistic [ng] of every measurement of a series, with the filter learned from the series
/// itself (`amounts[i]`: known iron [ng], `None` for a blank), and the number of entries it uses.
///
/// # Errors
/// An empty series, measurements of different layouts, or a filter that cannot be learned.
pub fn matched_filter_series(
    files: &[&MdfFile],
    amounts: &[Option<f64>],
) -> Result<(Vec<f64>, usize), CalibrationError> {
    let Some(first) = files.first() else {
        return Err(CalibrationError::Invalid("the series holds no measurement".into()));
    };
    let mut bins = Vec::new();
    let mut spectra = Vec::with_capacity(files.len());
    for f in files {
        let (s, b) = corrected_spectrum(f)?;
        if spectra.is_empty() {
            bins = b;
        } else if b != bins || s.len() != spectra.first().map_or(0, Vec::len) {
            return Err(CalibrationError::Invalid("the measurements do not share one data layout".into()));
        }
        spectra.push(s);
    }
    let excluded = drive_bins(first, &bins);
    let blanks: Vec<&[Complex64]> =
        amounts.iter().zip(&spectra).filter(|(a, _)| a.is_none()).map(|(_, s)| s.as_slice()).collect();
    let samples: Vec<(f64, &[Complex64])> =
        amounts.iter().zip(&spectra).filter_map(|(a, s)| a.map(|a| (a, s.as_slice()))).collect();
    let mf = MatchedFilter::fit(&samples, &blanks, &excluded)?;
    Ok((spectra.iter().map(|s| mf.statistic(s)).collect(), mf.selected))
}

/// Flags of the drive-frequency bins in a flattened [J, C, K] spectrum (`bins` are the stored frequency bins).
pub fn drive_bins(file: &MdfFile, bins: &[usize]) -> Vec<bool> {
    let df = &file.acquisition.drivefield;
    let drive: Vec<usize> = (0..df.num_channels.max(0) as usize)
        .filter_map(|d| df.divider.get((d, 0)).copied())
        .filter(|div| *div > 0)
        .map(|div| (df.base_frequency_hz / div as f64 * df.cycle_s).round() as usize)
        .collect();
    let j = file.num_periods().max(1);
    let c = file.acquisition.receiver.num_channels.max(0) as usize;
    let mut out = Vec::with_capacity(j * c * bins.len());
    for _ in 0..j * c {
        out.extend(bins.iter().map(|b| *b == 0 || drive.contains(b)));
    }
    out
}

/// Image-domain detector: a reconstruction method and the region summed.
pub enum ImageDetector {
    /// System-matrix reconstruction with a linear solver.
    SystemMatrix {
        /// The built state (through the reconstruction facade, shared with its cache).
        prepared: Box<Prepared>,
        /// The parameters of the detection reconstruction.
        params: Box<RecoParams>,
        /// Region around the sample.
        region: Region,
    },
    /// x-space with the tracer model (relaxation time from the model).
    XSpace {
        /// Tracer.
        tracer: Box<TracerModel>,
        /// Parameters.
        params: Box<XSpaceParams>,
        /// Grid fixed by the first file.
        grid: Option<Grid>,
        /// Region around the sample.
        region: Region,
    },
}

impl std::fmt::Debug for ImageDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl ImageDetector {
    /// Linear system-matrix detector: Kaczmarz, 10 sweeps, relative λ = 1, no non-negativity, mean background.
    ///
    /// # Errors
    /// A system matrix the planner refuses.
    pub fn system_matrix(sm: &MdfFile, region: Region) -> Result<Self, CalibrationError> {
        let params = RecoParams {
            solver: SolverParams::Kaczmarz(KaczmarzParams {
                iterations: 10,
                non_negative: false,
                ..Default::default()
            }),
            lambda: Lambda::Relative(LAMBDA),
            ..RecoParams::default()
        };
        let mut params = params;
        params.preprocessing.background = BackgroundMode::Mean;
        let prepared = facade::session().prepare(sm, &params)?;
        Ok(ImageDetector::SystemMatrix { prepared: Box::new(prepared), params: Box::new(params), region })
    }

    /// x-space detector with τ from the tracer model.
    pub fn xspace(tracer: TracerModel, region: Region) -> Self {
        let tau = tracer.relaxation_time_s();
        let params = XSpaceParams {
            relaxation: match tau {
                Some(t) => RelaxationCorrection::Fixed { tau_s: t },
                None => RelaxationCorrection::None,
            },
            ..Default::default()
        };
        ImageDetector::XSpace { tracer: Box::new(tracer), params: Box::new(params), grid: None, region }
    }

    /// Method name.
    pub fn name(&self) -> &'static str {
        match self {
            ImageDetector::SystemMatrix { .. } => "system matrix (Kaczmarz, linear)",
            ImageDetector::XSpace { .. } => "x-space",
        }
    }

    /// Short key.
    pub fn key(&self) -> &'static str {
        match self {
            ImageDetector::SystemMatrix { .. } => "system_matrix",
            ImageDetector::XSpace { .. } => "xspace",
        }
    }

    /// Iron in the region [ng] of the reconstructed measurement.
    ///
    /// # Errors
    /// Reconstruction errors.
    pub fn statistic(&mut self, file: &MdfFile) -> Result<f64, CalibrationError> {
        match self {
            ImageDetector::SystemMatrix { prepared, params, region } => {
                if !file.measurement.as_ref().is_some_and(|m| m.layout.is_background_frame.iter().any(|b| *b)) {
                    return Err(CalibrationError::Invalid(
                        "image-domain statistics need background frames in every measurement".into(),
                    ));
                }
                let r = facade::session().run(prepared, file, &Request::new(params))?;
                Ok(region_total(&r.iron_ng.row(0).to_vec(), &prepared.grid(), region))
            }
            ImageDetector::XSpace { tracer, params, grid, region } => {
                let spectra = measurement_spectra(file)?;
                let r = magpie_reconstruct::xspace::reconstruct(file, &spectra, tracer, params, *grid)?;
                *grid = Some(r.grid);
                Ok(region_total(&r.iron_ng.row(0).to_vec(), &r.grid, region))
            }
        }
    }
}
