//! A detection-limit experiment simulated end to end: blanks and a dilution series of a point-like sample
//! (a labelled-cell pellet) on a scanner preset, written as MDF files with a manifest — so that the analysis of
//! `--simulate` and of `--manifest` on those files is one and the same — plus a scaling study of the limit
//! against acquisition time, tracer and gradient.

use std::path::{Path, PathBuf};

use magpie_core::mdf::{write_mdf, MdfFile, WriteOptions};
use magpie_core::scanner::ScannerConfig;
use magpie_core::tracer::TracerModel;
use magpie_core::Grid;
use magpie_sim::forward::{Engine, PointMass};
use magpie_sim::measurement::{simulate_measurement, MeasurementSpec};
use magpie_sim::sysmat::{simulate_system_matrix, SystemMatrixSpec};
use serde::{Deserialize, Serialize};

use crate::detect::matched_filter_series;
use crate::manifest::{BlankEntry, Manifest, Progress, SampleEntry};
use crate::report::{Scaling, ScalingRow};
use crate::stats::{limits, Method};
use crate::CalibrationError;

/// The system matrix for the image-domain statistic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemMatrixGrid {
    /// Voxels per axis.
    pub shape: [usize; 3],
    /// Field of view [mm].
    pub fov_mm: [f64; 3],
    /// Averages of the calibration scan.
    #[serde(default = "thousand")]
    pub averages: u32,
}

/// The scaling study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScalingSpec {
    /// Averages as multiples of the series' averages.
    pub averages_factors: Vec<f64>,
    /// Tracer presets compared.
    pub tracers: Vec<String>,
    /// Gradient strengths as multiples of the scanner's.
    pub gradient_factors: Vec<f64>,
    /// Blanks per point of the study.
    pub blanks: usize,
}

impl Default for ScalingSpec {
    fn default() -> Self {
        ScalingSpec {
            averages_factors: vec![0.25, 1.0, 4.0],
            tracers: TracerModel::preset_names().iter().map(|s| s.to_string()).collect(),
            gradient_factors: vec![0.5, 1.0, 2.0],
            blanks: 30,
        }
    }
}

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationSpec {
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Scanner preset or TOML file.
    #[serde(default = "bruker")]
    pub scanner: String,
    /// Tracer preset or TOML file.
    #[serde(default = "perimag")]
    pub tracer: String,
    /// Sample position [mm].
    #[serde(default)]
    pub sample_position_mm: [f64; 3],
    /// Amounts of the dilution series [ng Fe] (ignored when `cells` is given).
    #[serde(default = "amounts")]
    pub amounts_ng: Vec<f64>,
    /// Amounts as labelled cells (needs `pg_fe_per_cell`).
    #[serde(default)]
    pub cells: Option<Vec<f64>>,
    /// Iron per labelled cell [pg].
    #[serde(default)]
    pub pg_fe_per_cell: Option<f64>,
    /// Blank measurements.
    #[serde(default = "twenty")]
    pub blanks: usize,
    /// Measurements per amount.
    #[serde(default = "five")]
    pub repetitions: usize,
    /// Block averages per measurement (default: the scanner preset's).
    #[serde(default)]
    pub averages: Option<u32>,
    /// Receive noise density [V/√Hz] (default: the scanner preset's).
    #[serde(default)]
    pub noise_v_per_sqrt_hz: Option<f64>,
    /// Seed.
    #[serde(default = "one")]
    pub seed: u64,
    /// Radius of the image-domain region [mm].
    #[serde(default = "four")]
    pub roi_radius_mm: f64,
    /// System matrix for the image-domain statistic (None: none).
    #[serde(default)]
    pub system_matrix: Option<SystemMatrixGrid>,
    /// Also compute the x-space statistic.
    #[serde(default = "yes")]
    pub xspace: bool,
    /// Amount of the ROC curve [ng] (default: the smallest).
    #[serde(default)]
    pub roc_amount_ng: Option<f64>,
    /// Bootstrap resamples.
    #[serde(default = "thousand_usize")]
    pub bootstrap: usize,
    /// Scaling study (None: skipped).
    #[serde(default)]
    pub scaling: Option<ScalingSpec>,
}

fn bruker() -> String {
    "bruker_2d".into()
}
fn perimag() -> String {
    "perimag_like".into()
}
fn amounts() -> Vec<f64> {
    vec![2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
}
fn twenty() -> usize {
    20
}
fn five() -> usize {
    5
}
fn one() -> u64 {
    1
}
fn four() -> f64 {
    4.0
}
fn yes() -> bool {
    true
}
fn thousand() -> u32 {
    1000
}
fn thousand_usize() -> usize {
    1000
}

impl SimulationSpec {
    /// Parses a TOML description.
    ///
    /// # Errors
    /// Invalid TOML or unknown fields.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, CalibrationError> {
        toml::from_str(text).map_err(|e| CalibrationError::Invalid(format!("{origin}: {e}")))
    }

    /// The series' amounts [ng Fe].
    ///
    /// # Errors
    /// Cells without pg Fe per cell.
    pub fn iron_amounts_ng(&self) -> Result<Vec<f64>, CalibrationError> {
        match (&self.cells, self.pg_fe_per_cell) {
            (Some(c), Some(pg)) => Ok(c.iter().map(|n| n * pg * 1e-3).collect()),
            (Some(_), None) => Err(CalibrationError::Invalid("cells given without pg_fe_per_cell".into())),
            (None, _) => Ok(self.amounts_ng.clone()),
        }
    }

    fn scanner_config(&self) -> Result<ScannerConfig, CalibrationError> {
        let mut s = ScannerConfig::load(&self.scanner).map_err(|e| CalibrationError::Invalid(e.to_string()))?;
        if let Some(n) = self.noise_v_per_sqrt_hz {
            s.noise_v_per_sqrt_hz = n;
        }
        if let Some(a) = self.averages {
            s.averages = a;
        }
        Ok(s)
    }
}

/// Measurements of the series: blanks first, then every amount `repetitions` times (amount, file).
fn series(
    engine: &Engine,
    position_m: [f64; 3],
    amounts_ng: &[f64],
    blanks: usize,
    repetitions: usize,
    seed: u64,
) -> Result<Vec<(Option<f64>, MdfFile)>, CalibrationError> {
    let mut out = Vec::with_capacity(blanks + amounts_ng.len() * repetitions);
    let mut n = 0u64;
    let mut one = |points: &[PointMass]| -> Result<MdfFile, CalibrationError> {
        n += 1;
        let spec = MeasurementSpec {
            frames: 1,
            background_frames_before: 2,
            background_frames_after: 2,
            seed: seed.wrapping_mul(1_000_003).wrapping_add(n),
            ..Default::default()
        };
        Ok(simulate_measurement(engine, points, &spec, "magpie calibration series")?)
    };
    for _ in 0..blanks {
        out.push((None, one(&[])?));
    }
    for &a in amounts_ng {
        let p = [PointMass { position_m, iron_kg: a * 1e-12 }];
        for _ in 0..repetitions {
            out.push((Some(a), one(&p)?));
        }
    }
    Ok(out)
}

/// Writes the series (and the system matrix) under `dir/data/` and the manifest `dir/manifest.toml`; returns
/// the manifest's path.
///
/// # Errors
/// Invalid spec, simulation or write failures.
pub fn write_series(spec: &SimulationSpec, dir: &Path, progress: Progress) -> Result<PathBuf, CalibrationError> {
    let scanner = spec.scanner_config()?;
    let tracer = TracerModel::load(&spec.tracer).map_err(|e| CalibrationError::Invalid(e.to_string()))?;
    let engine = Engine::new(&scanner, &tracer)?;
    let amounts = spec.iron_amounts_ng()?;
    let data = dir.join("data");
    std::fs::create_dir_all(&data).map_err(|e| CalibrationError::Invalid(format!("{}: {e}", data.display())))?;
    let position_m = spec.sample_position_mm.map(|v| v * 1e-3);
    let files = series(&engine, position_m, &amounts, spec.blanks, spec.repetitions, spec.seed)?;
    let mut blanks = Vec::new();
    let mut samples = Vec::new();
    let total = files.len();
    for (i, (amount, file)) in files.iter().enumerate() {
        let name = match amount {
            None => format!("blank_{i:03}.mdf"),
            Some(a) => format!("sample_{i:03}_{a}ng.mdf"),
        };
        write_mdf(data.join(&name), file, &WriteOptions::default())?;
        let rel = PathBuf::from("data").join(&name);
        match amount {
            None => blanks.push(BlankEntry { file: rel }),
            Some(a) => samples.push(match (&spec.cells, spec.pg_fe_per_cell) {
                (Some(_), Some(pg)) => SampleEntry { file: rel, iron_ng: None, cells: Some(a * 1e3 / pg) },
                _ => SampleEntry { file: rel, iron_ng: Some(*a), cells: None },
            }),
        }
        progress("writing the series", i + 1, total);
    }
    let system_matrix = match &spec.system_matrix {
        Some(g) => {
            let sm_spec = SystemMatrixSpec {
                grid: Grid::new(g.shape, g.fov_mm.map(|v| v * 1e-3), [0.0; 3]),
                delta_size_m: None,
                delta_concentration_mol_per_l: 0.1,
                delta_subsamples: 1,
                background_frames: 10,
                averages: g.averages,
                noise: true,
                background: true,
                max_frequency_hz: None,
                seed: spec.seed + 7,
            };
            let sm = simulate_system_matrix(&engine, &sm_spec, &|_| {})?;
            write_mdf(data.join("system_matrix.mdf"), &sm, &WriteOptions::default())?;
            Some(PathBuf::from("data").join("system_matrix.mdf"))
        }
        None => None,
    };
    let spatial = scanner.gradient_t_per_m.iter().any(|r| r.iter().any(|v| *v != 0.0));
    let manifest = Manifest {
        description: if spec.description.is_empty() {
            format!(
                "Simulated with magpie: {} scanner, {} tracer, {} averages",
                scanner.name, tracer.name, scanner.averages
            )
        } else {
            spec.description.clone()
        },
        sample_position_mm: spec.sample_position_mm,
        roi_radius_mm: spec.roi_radius_mm,
        pg_fe_per_cell: spec.pg_fe_per_cell,
        system_matrix,
        tracer: if spec.xspace && spatial { Some(spec.tracer.clone()) } else { None },
        roc_amount_ng: spec.roc_amount_ng,
        bootstrap: spec.bootstrap,
        seed: spec.seed,
        blanks,
        samples,
    };
    let path = dir.join("manifest.toml");
    let text = toml::to_string(&manifest).map_err(|e| CalibrationError::Invalid(e.to_string()))?;
    std::fs::write(&path, format!("# magpie calibration manifest, written by `magpie calibrate --simulate`\n{text}"))
        .map_err(|e| CalibrationError::Invalid(format!("{}: {e}", path.display())))?;
    Ok(path)
}

/// Matched-filter Currie LOD [ng] of an in-memory series.
fn matched_filter_lod(files: &[(Option<f64>, MdfFile)]) -> Result<f64, CalibrationError> {
    let amounts: Vec<Option<f64>> = files.iter().map(|(a, _)| *a).collect();
    let (y, _) = matched_filter_series(&files.iter().map(|(_, f)| f).collect::<Vec<_>>(), &amounts)?;
    let x: Vec<f64> = amounts.iter().map(|a| a.unwrap_or(0.0)).collect();
    let b: Vec<f64> = amounts.iter().zip(&y).filter(|(a, _)| a.is_none()).map(|(_, v)| *v).collect();
    let (_, lim) = limits(&x, &y, &b)?;
    Ok(lim.iter().find(|l| l.method == Method::Currie).map(|l| l.lod_ng).unwrap_or(f64::NAN))
}

/// The matched-filter LOD for `averages` block averages (the time-scaling building block).
///
/// # Errors
/// Invalid spec or simulation failures.
pub fn lod_at_averages(spec: &SimulationSpec, averages: u32, blanks: usize) -> Result<f64, CalibrationError> {
    let mut scanner = spec.scanner_config()?;
    scanner.averages = averages;
    let tracer = TracerModel::load(&spec.tracer).map_err(|e| CalibrationError::Invalid(e.to_string()))?;
    let engine = Engine::new(&scanner, &tracer)?;
    let files = series(
        &engine,
        spec.sample_position_mm.map(|v| v * 1e-3),
        &spec.iron_amounts_ng()?,
        blanks,
        spec.repetitions,
        spec.seed,
    )?;
    matched_filter_lod(&files)
}

/// The scaling study (matched filter, Currie L_D).
///
/// # Errors
/// Invalid spec or simulation failures.
pub fn scaling(spec: &SimulationSpec, study: &ScalingSpec, progress: Progress) -> Result<Scaling, CalibrationError> {
    let base = spec.scanner_config()?;
    let frame_s = |s: &ScannerConfig| s.cycle_s() * s.periods_per_frame() as f64 * s.averages as f64;
    let amounts = spec.iron_amounts_ng()?;
    let pos = spec.sample_position_mm.map(|v| v * 1e-3);
    let total = study.averages_factors.len() + study.tracers.len() + study.gradient_factors.len();
    let mut done = 0;
    let mut step = || {
        done += 1;
        progress("scaling study", done, total);
    };
    let tracer0 = TracerModel::load(&spec.tracer).map_err(|e| CalibrationError::Invalid(e.to_string()))?;
    let mut out = Scaling::default();
    for f in &study.averages_factors {
        let mut s = base.clone();
        s.averages = ((base.averages as f64 * f).round() as u32).max(1);
        let files = series(&Engine::new(&s, &tracer0)?, pos, &amounts, study.blanks, spec.repetitions, spec.seed)?;
        out.time.push(ScalingRow {
            parameter: "averages".into(),
            value: s.averages.to_string(),
            acquisition_s: frame_s(&s),
            lod_ng: matched_filter_lod(&files)?,
        });
        step();
    }
    if out.time.len() >= 2 {
        let lx: Vec<f64> = out.time.iter().map(|r| r.acquisition_s.ln()).collect();
        let ly: Vec<f64> = out.time.iter().map(|r| r.lod_ng.ln()).collect();
        if lx.len() >= 3 {
            out.time_exponent = crate::stats::linear_fit(&lx, &ly).ok().map(|f| f.slope);
        } else {
            out.time_exponent = Some((ly[1] - ly[0]) / (lx[1] - lx[0]));
        }
    }
    for t in &study.tracers {
        let tr = TracerModel::load(t).map_err(|e| CalibrationError::Invalid(e.to_string()))?;
        let files = series(&Engine::new(&base, &tr)?, pos, &amounts, study.blanks, spec.repetitions, spec.seed)?;
        out.tracer.push(ScalingRow {
            parameter: "tracer".into(),
            value: tr.name.clone(),
            acquisition_s: frame_s(&base),
            lod_ng: matched_filter_lod(&files)?,
        });
        step();
    }
    for f in &study.gradient_factors {
        let mut s = base.clone();
        for row in s.gradient_t_per_m.iter_mut() {
            for v in row.iter_mut() {
                *v *= f;
            }
        }
        let files = series(&Engine::new(&s, &tracer0)?, pos, &amounts, study.blanks, spec.repetitions, spec.seed)?;
        out.gradient.push(ScalingRow {
            parameter: "gradient".into(),
            value: format!("{:.2} T/m (×{f})", s.gradient_t_per_m[0][0].abs()),
            acquisition_s: frame_s(&s),
            lod_ng: matched_filter_lod(&files)?,
        });
        step();
    }
    Ok(out)
}

/// Context lines for the report: scanner, tracer, noise and how it was derived.
pub fn context(spec: &SimulationSpec) -> Result<std::collections::BTreeMap<String, String>, CalibrationError> {
    let s = spec.scanner_config()?;
    let t = TracerModel::load(&spec.tracer).map_err(|e| CalibrationError::Invalid(e.to_string()))?;
    let mut m = std::collections::BTreeMap::new();
    m.insert("scanner".into(), format!("{} — {}", s.name, s.reference));
    m.insert("tracer".into(), format!("{} — {}", t.name, t.reference));
    m.insert(
        "receive noise".into(),
        format!(
            "{:.2} nV/√Hz per channel (white, over the receive bandwidth f_s/2: σ per sample = density·√(f_s/2)/√averages), {} averages, {:.3} s per measurement",
            s.noise_v_per_sqrt_hz * 1e9,
            s.averages,
            s.cycle_s() * s.periods_per_frame() as f64 * s.averages as f64
        ),
    );
    m.insert("sample".into(), format!("point-like pellet at {:?} mm", spec.sample_position_mm));
    Ok(m)
}
