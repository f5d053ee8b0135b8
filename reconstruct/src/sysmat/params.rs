//! Parameters of system-matrix reconstruction: plain serde structs (`deny_unknown_fields`, so a typo in a
//! preset fails loudly) with named TOML presets in `sample_data/reco/`. Every default is stated here and logged
//! when used.

use serde::{Deserialize, Serialize};

use crate::solvers::cgnr::CgnrParams;
use crate::solvers::fista::FistaParams;
use crate::solvers::kaczmarz::KaczmarzParams;
use crate::solvers::tv::TvParams;

/// All parameters, `pre → reco → post` as in MPIReco's parameter tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RecoParams {
    /// Row (frequency × channel) selection.
    pub frequency: FrequencyParams,
    /// Pre-processing of measurement and system matrix.
    pub preprocessing: PreprocessingParams,
    /// The solver.
    pub solver: SolverParams,
    /// Regularisation.
    pub lambda: Lambda,
    /// Conversion to iron and cells.
    pub quantification: QuantificationParams,
    /// How the engine runs (threads, frames per batch); results do not depend on it.
    pub engine: EngineParams,
}

/// How the reconstruction engine runs. Neither field changes the result (beyond f32 rounding for the batch
/// size, which only regroups frames into matrix–matrix products).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineParams {
    /// Threads of the engine's products and of the row reader (0: one per available core).
    pub threads: usize,
    /// Output frames solved together in one batch (frames in flight); memory grows by
    /// batch_frames × (rows + voxels) × 8 B.
    pub batch_frames: usize,
}

impl Default for EngineParams {
    fn default() -> Self {
        EngineParams { threads: 0, batch_frames: 64 }
    }
}

/// Which system-matrix rows enter the reconstruction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FrequencyParams {
    /// Keep rows with SNR ≥ this (from `/calibration/snr`, or estimated from background frames).
    pub snr_threshold: f64,
    /// Lowest frequency [Hz] (80 kHz removes the drive fundamentals and their low harmonics on Bruker data).
    pub min_frequency_hz: f64,
    /// Highest frequency [Hz] (None: the receive bandwidth).
    pub max_frequency_hz: Option<f64>,
    /// Receive channels to use (0-based; None: all).
    pub channels: Option<Vec<usize>>,
    /// Maximum mixing order |m_x|+|m_y|+|m_z| of a row's lowest-order representation (None: any).
    pub max_mixing_order: Option<u32>,
    /// Frequency bands [Hz] to exclude, each [low, high].
    pub stop_bands_hz: Vec<[f64; 2]>,
    /// Keep at most this many rows, those of highest SNR, after every other criterion (None: all that pass).
    pub max_rows: Option<usize>,
}

impl Default for FrequencyParams {
    fn default() -> Self {
        FrequencyParams {
            snr_threshold: 2.0,
            min_frequency_hz: 80e3,
            max_frequency_hz: None,
            channels: None,
            max_mixing_order: None,
            stop_bands_hz: Vec::new(),
            max_rows: None,
        }
    }
}

/// Background handling of the measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackgroundMode {
    /// No correction.
    None,
    /// Subtract the mean of all background frames of the measurement.
    Mean,
    /// Subtract the background interpolated linearly in time between the blocks of background frames.
    Interpolate,
    /// Subtract the mean spectrum of an external empty measurement (path given to the plan).
    External,
}

/// Pre-processing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PreprocessingParams {
    /// Foreground frames to use, [first, last) in foreground-frame numbering (None: all).
    pub frames: Option<[usize; 2]>,
    /// Average this many consecutive frames into one (0: all selected frames into one).
    pub average: usize,
    /// Background correction of the measurement.
    pub background: BackgroundMode,
    /// Subtract the system matrix's own background frames from its rows.
    pub system_matrix_background: bool,
    /// Divide by the receive transfer function (only when asked: never implicit).
    pub transfer_function: bool,
    /// Whiten rows by the noise level estimated from background frames.
    pub whitening: bool,
    /// Normalise rows to unit norm (with λ = 0 equal to plain Kaczmarz on normalised rows).
    pub row_normalization: bool,
}

impl Default for PreprocessingParams {
    fn default() -> Self {
        PreprocessingParams {
            frames: None,
            average: 0,
            background: BackgroundMode::Interpolate,
            system_matrix_background: true,
            transfer_function: false,
            whitening: false,
            row_normalization: false,
        }
    }
}

/// The solver and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SolverParams {
    /// Regularised Kaczmarz (MPIReco's default).
    Kaczmarz(KaczmarzParams),
    /// Conjugate gradients on the normal equations.
    Cgnr(CgnrParams),
    /// FISTA with L1 and non-negativity (λ weights the L1 term).
    Fista(FistaParams),
    /// Total variation by primal–dual iterations (λ weights TV).
    Tv(TvParams),
    /// Tikhonov through the SVD (cached; needs the `lapack` feature).
    Direct {
        /// Clip negative voxels after the solve.
        #[serde(default = "yes")]
        non_negative: bool,
    },
}

fn yes() -> bool {
    true
}

impl Default for SolverParams {
    fn default() -> Self {
        SolverParams::Kaczmarz(KaczmarzParams::default())
    }
}

impl SolverParams {
    /// Short name.
    pub fn name(&self) -> &'static str {
        match self {
            SolverParams::Kaczmarz(_) => "kaczmarz",
            SolverParams::Cgnr(_) => "cgnr",
            SolverParams::Fista(_) => "fista",
            SolverParams::Tv(_) => "tv",
            SolverParams::Direct { .. } => "direct",
        }
    }
}

/// The regularisation weight: relative (scaled by ‖A‖²_F/N as in MPIReco) or chosen automatically.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Lambda {
    /// A relative value.
    Relative(f64),
    /// "discrepancy", "gcv" or "lcurve" (from the SVD of the system; needs `lapack`).
    Auto(AutoLambda),
}

impl Default for Lambda {
    fn default() -> Self {
        Lambda::Relative(1e-3)
    }
}

/// Automatic λ methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AutoLambda {
    /// Morozov's discrepancy principle with the noise level from background frames.
    Discrepancy,
    /// Generalised cross-validation.
    Gcv,
    /// Corner of the L-curve.
    Lcurve,
}

/// Quantification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct QuantificationParams {
    /// Iron in the calibration delta sample [ng] (None: from `/calibration/deltaSampleSize` × `/tracer`).
    pub delta_iron_ng: Option<f64>,
    /// Iron per labelled cell [pg] for cell maps (None: no cell map).
    pub pg_fe_per_cell: Option<f64>,
}

const PRESETS: [(&str, &str); 4] = [
    ("default", include_str!("../../../sample_data/reco/default.toml")),
    ("openmpidata", include_str!("../../../sample_data/reco/openmpidata.toml")),
    ("quantitative", include_str!("../../../sample_data/reco/quantitative.toml")),
    ("sparse", include_str!("../../../sample_data/reco/sparse.toml")),
];

/// Errors of parameter files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParamsError {
    /// TOML error (names the field).
    #[error("reconstruction parameters {origin}: {message}")]
    Parse {
        /// File or preset.
        origin: String,
        /// Parser message.
        message: String,
    },
    /// Unknown preset.
    #[error("unknown reconstruction preset {name:?}; known presets: {known}")]
    UnknownPreset {
        /// Asked for.
        name: String,
        /// Known.
        known: String,
    },
}

impl RecoParams {
    /// Parses TOML.
    ///
    /// # Errors
    /// Syntax errors and unknown fields.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, ParamsError> {
        let p: Self =
            toml::from_str(text).map_err(|e| ParamsError::Parse { origin: origin.into(), message: e.to_string() })?;
        p.check().map_err(|message| ParamsError::Parse { origin: origin.into(), message })?;
        Ok(p)
    }

    /// Range checks of every number (also after command-line overrides): a value that makes nonsense or
    /// exhausts memory is refused with the field's name, rather than giving an empty or absurd map.
    ///
    /// # Errors
    /// The first value out of range, named by its field.
    pub fn check(&self) -> Result<(), String> {
        let f = &self.frequency;
        let nonneg = |what: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(format!("{what} must be a finite number ≥ 0, found {v}"))
            }
        };
        let positive = |what: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{what} must be a finite number > 0, found {v}"))
            }
        };
        nonneg("frequency.snr_threshold", f.snr_threshold)?;
        nonneg("frequency.min_frequency_hz", f.min_frequency_hz)?;
        if let Some(m) = f.max_frequency_hz {
            positive("frequency.max_frequency_hz", m)?;
        }
        for [lo, hi] in &f.stop_bands_hz {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return Err(format!(
                    "frequency.stop_bands_hz: a band must be finite with low ≤ high, found [{lo}, {hi}]"
                ));
            }
        }
        if f.max_rows == Some(0) {
            return Err("frequency.max_rows must be at least 1".into());
        }
        if f.channels.as_ref().is_some_and(|c| c.is_empty()) {
            return Err("frequency.channels: give at least one channel (or leave it out for all)".into());
        }
        let iterations = match &self.solver {
            SolverParams::Kaczmarz(k) => Some(k.iterations),
            SolverParams::Cgnr(c) => {
                nonneg("solver.tolerance", c.tolerance)?;
                Some(c.iterations)
            }
            SolverParams::Fista(x) => Some(x.iterations),
            SolverParams::Tv(t) => Some(t.iterations),
            SolverParams::Direct { .. } => None,
        };
        // 10⁶ sweeps is days of work on any matrix: a typo, not a plan.
        if let Some(n) = iterations {
            if !(1..=1_000_000).contains(&n) {
                return Err(format!("solver.iterations must be in 1..=1000000, found {n}"));
            }
        }
        if let Lambda::Relative(l) = self.lambda {
            nonneg("lambda", l)?;
        }
        if let Some(d) = self.quantification.delta_iron_ng {
            positive("quantification.delta_iron_ng", d)?;
        }
        if let Some(pg) = self.quantification.pg_fe_per_cell {
            positive("quantification.pg_fe_per_cell", pg)?;
        }
        Ok(())
    }

    /// A named preset.
    ///
    /// # Errors
    /// Unknown name.
    pub fn preset(name: &str) -> Result<Self, ParamsError> {
        PRESETS.iter().find(|(n, _)| *n == name).map(|(n, t)| Self::from_toml_str(t, n)).unwrap_or_else(|| {
            Err(ParamsError::UnknownPreset { name: name.into(), known: Self::preset_names().join(", ") })
        })
    }

    /// Preset names.
    pub fn preset_names() -> Vec<&'static str> {
        PRESETS.iter().map(|(n, _)| *n).collect()
    }

    /// The parameters as TOML (provenance).
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_typos_fail_loudly() {
        for n in RecoParams::preset_names() {
            RecoParams::preset(n).unwrap_or_else(|e| panic!("{e}"));
        }
        let e = RecoParams::from_toml_str("[frequency]\nsnr_treshold = 3.0", "x.toml").unwrap_err().to_string();
        assert!(e.contains("snr_treshold"), "{e}");
        let p = RecoParams::from_toml_str("lambda = \"gcv\"\n[solver]\nkind = \"direct\"", "x").unwrap();
        assert_eq!(p.lambda, Lambda::Auto(AutoLambda::Gcv));
        let round = RecoParams::from_toml_str(&p.to_toml(), "round").unwrap();
        assert_eq!(round, p);
        let p = RecoParams::from_toml_str("[frequency]\nmax_rows = 3000\n[engine]\nthreads = 2", "x").unwrap();
        assert_eq!((p.frequency.max_rows, p.engine.threads, p.engine.batch_frames), (Some(3000), 2, 64));
    }
}
