//! The calibration report: per detector the series, the calibration line, the limits of every method (ng Fe and
//! cells) with bootstrap intervals and the ROC; optionally the scaling study. Serialisable to JSON; rendered
//! as Markdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::stats::{Limit, LinearFit, Method, Roc};

/// Where a statistic is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    /// On the measured harmonics (matched filter).
    Data,
    /// On a reconstructed image (region total).
    Image,
}

/// One detector's results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorReport {
    /// Key ("matched_filter", "system_matrix", "xspace").
    pub key: String,
    /// Name.
    pub name: String,
    /// Domain.
    pub domain: Domain,
    /// Statistic of every blank [ng].
    pub blanks: Vec<f64>,
    /// (known iron [ng], statistic [ng]) per sample.
    pub samples: Vec<(f64, f64)>,
    /// The calibration line (blanks at 0 ng included).
    pub fit: LinearFit,
    /// Limits per method.
    pub limits: Vec<Limit>,
    /// ROC at one amount.
    pub roc: Option<Roc>,
}

impl DetectorReport {
    /// The limit of one method.
    pub fn limit(&self, m: Method) -> Option<&Limit> {
        self.limits.iter().find(|l| l.method == m)
    }
}

/// LOD against a varied parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingRow {
    /// What was varied and its value, e.g. "averages" = "4000".
    pub parameter: String,
    /// Value as text.
    pub value: String,
    /// Acquisition time of one measurement [s].
    pub acquisition_s: f64,
    /// Matched-filter Currie LOD [ng Fe].
    pub lod_ng: f64,
}

/// Results of the scaling study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Scaling {
    /// LOD against averages (acquisition time).
    pub time: Vec<ScalingRow>,
    /// Fitted exponent p of LOD ∝ t^p (expected −1/2).
    pub time_exponent: Option<f64>,
    /// LOD per tracer preset.
    pub tracer: Vec<ScalingRow>,
    /// LOD per gradient strength.
    pub gradient: Vec<ScalingRow>,
}

/// A calibration report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Description.
    pub description: String,
    /// Iron per cell [pg].
    pub pg_fe_per_cell: Option<f64>,
    /// Blank measurements.
    pub blanks: usize,
    /// Sample measurements.
    pub samples: usize,
    /// One entry per detector, the matched filter first.
    pub detectors: Vec<DetectorReport>,
    /// Scaling study (simulations only).
    pub scaling: Option<Scaling>,
    /// Context lines (scanner, tracer, noise) for the Markdown.
    pub context: BTreeMap<String, String>,
}

fn cells(ng: f64, pg: Option<f64>) -> String {
    pg.map(|pg| format!("{:.0}", ng * 1e3 / pg)).unwrap_or_else(|| "–".into())
}

impl Report {
    /// The detector with this key.
    pub fn detector(&self, key: &str) -> Option<&DetectorReport> {
        self.detectors.iter().find(|d| d.key == key)
    }

    /// Markdown text (figures referenced by file name).
    pub fn to_markdown(&self, figures: &[(&str, &str)]) -> String {
        let mut s = String::from("# magpie calibration: detection limits\n\n");
        if !self.description.is_empty() {
            let _ = writeln!(s, "{}\n", self.description);
        }
        for (k, v) in &self.context {
            let _ = writeln!(s, "* {k}: {v}");
        }
        let _ = writeln!(
            s,
            "* series: {} blanks, {} samples of known iron{}\n",
            self.blanks,
            self.samples,
            self.pg_fe_per_cell.map(|p| format!("; {p} pg Fe per cell")).unwrap_or_default()
        );
        s += "## Detection limits\n\n| statistic | method | LOD (ng Fe) | 95 % CI (ng Fe) | LOD (cells) | LOQ (ng Fe) |\n|---|---|---|---|---|---|\n";
        for d in &self.detectors {
            for l in &d.limits {
                let ci = l.lod_ci95_ng.map(|[a, b]| format!("{a:.3} – {b:.3}")).unwrap_or_else(|| "–".into());
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.3} | {} | {} | {} |",
                    d.name,
                    l.method.label(),
                    l.lod_ng,
                    ci,
                    cells(l.lod_ng, self.pg_fe_per_cell),
                    l.loq_ng.map(|v| format!("{v:.3}")).unwrap_or_else(|| "–".into())
                );
            }
        }
        s += "\n## Calibration lines\n\n| statistic | slope | intercept (ng) | r² | residual SD (ng) | blank SD (ng) | ROC |\n|---|---|---|---|---|---|---|\n";
        for d in &self.detectors {
            let (_, sd) = crate::stats::mean_sd(&d.blanks);
            let roc = d.roc.as_ref().map(|r| format!("AUC {:.3} at {} ng", r.auc, r.amount_ng)).unwrap_or_default();
            let _ = writeln!(
                s,
                "| {} | {:.4} | {:.3} | {:.4} | {:.3} | {:.3} | {} |",
                d.name, d.fit.slope, d.fit.intercept, d.fit.r2, d.fit.residual_sd, sd, roc
            );
        }
        s += "\nEvery statistic is an estimate of the iron in ng (slope ≈ 1 when unbiased). The matched filter works \
              on the measured harmonics and bounds what any reconstruction can reach on the same data; image-domain \
              statistics sum the reconstructed iron in a sphere around the sample. Methods: ICH Q2(R1) \
              (LOD = 3.3 σ/S, LOQ = 10 σ/S from the calibration line's residual SD), blank mean + 3 s, Currie's L_D \
              for α = β = 0.05 (3.29 σ₀/S), and the Rose criterion (SNR ≥ 5); intervals by bootstrap.\n";
        if let Some(sc) = &self.scaling {
            s += "\n## Scaling study (matched filter, Currie L_D)\n\n| parameter | value | acquisition (s) | LOD (ng Fe) | LOD (cells) |\n|---|---|---|---|---|\n";
            for r in sc.time.iter().chain(&sc.tracer).chain(&sc.gradient) {
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.3} | {:.3} | {} |",
                    r.parameter,
                    r.value,
                    r.acquisition_s,
                    r.lod_ng,
                    cells(r.lod_ng, self.pg_fe_per_cell)
                );
            }
            if let Some(p) = sc.time_exponent {
                let _ = writeln!(s, "\nLOD ∝ t^{p:.3} over the averages studied (white noise: t^−0.5).");
            }
        }
        if !figures.is_empty() {
            s += "\n## Figures\n\n";
            for (file, caption) in figures {
                let _ = writeln!(s, "![{caption}]({file})\n");
            }
        }
        s += "\n*Research software, not for diagnostic use.*\n";
        s
    }
}
