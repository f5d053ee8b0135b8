//! A calibration series of measured files described in TOML, and its analysis into a [`Report`].
//!
//! ```toml
//! description = "Perimag dilution series, Bruker 2-D, 1000 averages"
//! sample_position_mm = [0.0, 0.0, 0.0]
//! roi_radius_mm = 4.0
//! pg_fe_per_cell = 7.0                  # optional: limits in cells too
//! system_matrix = "system_matrix.mdf"   # optional: image-domain statistic by system-matrix reconstruction
//! tracer = "perimag_like"               # optional: image-domain statistic by x-space
//! roc_amount_ng = 10.0                  # optional (default: the smallest amount in the series)
//!
//! [[blanks]]
//! file = "data/blank_000.mdf"
//!
//! [[samples]]
//! file = "data/sample_005.0ng_0.mdf"
//! iron_ng = 5.0                         # or: cells = 700 (needs pg_fe_per_cell)
//! ```
//! Paths are relative to the manifest's folder.

use std::path::{Path, PathBuf};

use magpie_core::mdf::{read_mdf, MdfFile};
use magpie_core::tracer::TracerModel;
use magpie_reconstruct::quantify::Region;
use serde::{Deserialize, Serialize};

use crate::detect::{matched_filter_series, ImageDetector};
use crate::report::{DetectorReport, Domain, Report};
use crate::stats::{bootstrap, limits, roc};
use crate::CalibrationError;

/// A blank (empty-scanner or unlabelled-sample) measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlankEntry {
    /// MDF file.
    pub file: PathBuf,
}

/// A measurement of a known amount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleEntry {
    /// MDF file.
    pub file: PathBuf,
    /// Iron [ng].
    #[serde(default)]
    pub iron_ng: Option<f64>,
    /// Labelled cells (with `pg_fe_per_cell`).
    #[serde(default)]
    pub cells: Option<f64>,
}

/// The manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Where the sample sits [mm].
    #[serde(default)]
    pub sample_position_mm: [f64; 3],
    /// Radius of the image-domain region around it [mm].
    #[serde(default = "four")]
    pub roi_radius_mm: f64,
    /// Iron per labelled cell [pg].
    #[serde(default)]
    pub pg_fe_per_cell: Option<f64>,
    /// System matrix for the image-domain statistic.
    #[serde(default)]
    pub system_matrix: Option<PathBuf>,
    /// Tracer (preset or TOML) for the x-space statistic.
    #[serde(default)]
    pub tracer: Option<String>,
    /// Amount for the ROC curve [ng].
    #[serde(default)]
    pub roc_amount_ng: Option<f64>,
    /// Bootstrap resamples.
    #[serde(default = "thousand")]
    pub bootstrap: usize,
    /// Seed of the bootstrap.
    #[serde(default = "one")]
    pub seed: u64,
    /// Blank measurements.
    pub blanks: Vec<BlankEntry>,
    /// Measurements of known amounts.
    pub samples: Vec<SampleEntry>,
}

fn four() -> f64 {
    4.0
}
fn thousand() -> usize {
    1000
}
fn one() -> u64 {
    1
}

impl Manifest {
    /// Reads a manifest.
    ///
    /// # Errors
    /// Unreadable or invalid TOML.
    pub fn load(path: &Path) -> Result<Self, CalibrationError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CalibrationError::Invalid(format!("reading {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| CalibrationError::Invalid(format!("{}: {e}", path.display())))
    }

    /// The known iron of a sample [ng].
    ///
    /// # Errors
    /// Neither or both amounts given, or cells without `pg_fe_per_cell`.
    pub fn iron_ng(&self, s: &SampleEntry) -> Result<f64, CalibrationError> {
        match (s.iron_ng, s.cells, self.pg_fe_per_cell) {
            (Some(ng), None, _) => Ok(ng),
            (None, Some(c), Some(pg)) => Ok(c * pg * 1e-3),
            (None, Some(_), None) => Err(CalibrationError::Invalid(format!(
                "{}: cells given but no pg_fe_per_cell in the manifest",
                s.file.display()
            ))),
            _ => Err(CalibrationError::Invalid(format!("{}: give exactly one of iron_ng and cells", s.file.display()))),
        }
    }
}

/// Progress callback: (stage, done, total). A series runs in stages (simulating the files, scoring them, the
/// scaling study), each counted from 1 to its own total.
pub type Progress<'a> = &'a (dyn Fn(&str, usize, usize) + Sync);

/// Analyses the series of a manifest in `dir` (the manifest's folder).
///
/// # Errors
/// Unreadable files, too few blanks or amounts, failing reconstructions.
pub fn analyse(m: &Manifest, dir: &Path, progress: Progress) -> Result<Report, CalibrationError> {
    let _span = tracing::info_span!("calibrate", blanks = m.blanks.len(), samples = m.samples.len()).entered();
    let read = |p: &Path| -> Result<MdfFile, CalibrationError> {
        read_mdf(dir.join(p)).map_err(|e| CalibrationError::Invalid(format!("{}: {e}", dir.join(p).display())))
    };
    let total = m.blanks.len() + m.samples.len();
    let mut files = Vec::with_capacity(total);
    let mut amounts = Vec::with_capacity(m.samples.len());
    for b in &m.blanks {
        files.push(read(&b.file)?);
    }
    for s in &m.samples {
        amounts.push(m.iron_ng(s)?);
        files.push(read(&s.file)?);
    }
    if m.blanks.len() < 2 || amounts.iter().filter(|a| **a > 0.0).count() < 2 {
        return Err(CalibrationError::Invalid(format!(
            "need ≥ 2 blanks and ≥ 2 samples with iron, found {} and {}",
            m.blanks.len(),
            amounts.len()
        )));
    }
    let nb = m.blanks.len();
    // Data domain.
    let kinds: Vec<Option<f64>> = std::iter::repeat_n(None, nb).chain(amounts.iter().map(|a| Some(*a))).collect();
    let (mf_stats, selected) = matched_filter_series(&files.iter().collect::<Vec<_>>(), &kinds)?;
    let mut stats: Vec<(String, String, Domain, Vec<f64>)> =
        vec![("matched_filter".into(), format!("matched filter ({selected} harmonics)"), Domain::Data, mf_stats)];
    // Image domain.
    let region = Region::Sphere { center_m: m.sample_position_mm.map(|v| v * 1e-3), radius_m: m.roi_radius_mm * 1e-3 };
    let mut detectors = Vec::new();
    if let Some(sm) = &m.system_matrix {
        let sm = read(sm)?;
        detectors.push(ImageDetector::system_matrix(&sm, region)?);
    }
    if let Some(t) = &m.tracer {
        let tracer = TracerModel::load(t).map_err(|e| CalibrationError::Invalid(format!("tracer {t}: {e}")))?;
        detectors.push(ImageDetector::xspace(tracer, region));
    }
    let steps = total * detectors.len();
    let mut done = 0;
    for d in &mut detectors {
        let mut v = Vec::with_capacity(total);
        for (i, f) in files.iter().enumerate() {
            // One block of reconstruction log per measurement is detail: the binary shows it with -v
            // (span name `magpie_core::ITEM_SPAN`).
            let _item = tracing::info_span!("item", detector = d.key(), measurement = i).entered();
            v.push(d.statistic(f)?);
            done += 1;
            progress("scoring", done, steps);
        }
        stats.push((d.key().into(), d.name().into(), Domain::Image, v));
    }
    // Limits per detector.
    let positive: Vec<f64> = amounts.iter().copied().filter(|a| *a > 0.0).collect();
    let roc_amount = m.roc_amount_ng.unwrap_or_else(|| positive.iter().copied().fold(f64::INFINITY, f64::min));
    let mut out = Vec::new();
    for (key, name, domain, v) in stats {
        let blanks = v[..nb].to_vec();
        let samples: Vec<(f64, f64)> = amounts.iter().copied().zip(v[nb..].iter().copied()).collect();
        // The calibration line runs through the blanks (amount 0) and every sample.
        let x: Vec<f64> = std::iter::repeat_n(0.0, nb).chain(amounts.iter().copied()).collect();
        let (fit, mut lim) = limits(&x, &v, &blanks)?;
        bootstrap(&x, &v, &blanks, &mut lim, m.bootstrap, m.seed);
        let at: Vec<f64> = samples
            .iter()
            .filter(|(a, _)| (*a - roc_amount).abs() <= 1e-9 * roc_amount.max(1.0))
            .map(|s| s.1)
            .collect();
        let roc = if at.is_empty() { None } else { Some(roc(roc_amount, &blanks, &at)) };
        out.push(DetectorReport { key, name, domain, blanks, samples, fit, limits: lim, roc });
    }
    Ok(Report {
        description: m.description.clone(),
        pg_fe_per_cell: m.pg_fe_per_cell,
        blanks: nb,
        samples: amounts.len(),
        detectors: out,
        scaling: None,
        context: Default::default(),
    })
}
