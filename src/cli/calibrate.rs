//! `magpie calibrate`: detection limits in ng Fe and in cells from a manifest of measured files or from a
//! simulated series; writes report.md, report.json and PNG figures (calibration lines with LOD and LOQ, ROC,
//! LOD against acquisition time).

use anyhow::{bail, Context};
use magpie_calibration::manifest::{analyse, Manifest};
use magpie_calibration::report::Report;
use magpie_calibration::simulate::SimulationSpec;
use magpie_calibration::stats::Method;
use std::path::{Path, PathBuf};

use super::common;
use crate::plot::{write_chart_png, ChartSpec, Marker, Series, SeriesStyle};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Manifest (TOML) of measured blanks and samples of known iron or cells.
    #[arg(long, conflicts_with = "simulate", required_unless_present = "simulate")]
    pub manifest: Option<PathBuf>,
    /// Simulation spec (TOML, see sample_data/calibration/): simulate the series, write it with its manifest
    /// into the report folder, and analyse it.
    #[arg(long)]
    pub simulate: Option<PathBuf>,
    /// Iron per labelled cell [pg] (overrides the file's value) → limits in cells too.
    #[arg(long, alias = "cells-per-pg", value_parser = common::positive_arg)]
    pub pg_per_cell: Option<f64>,
    /// Report folder.
    #[arg(short, long)]
    pub out: PathBuf,
}

/// The manifest and every file it names (resolved against the manifest's folder), by role.
fn manifest_inputs(path: &Path, m: &Manifest) -> Vec<(&'static str, PathBuf)> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut v = vec![("manifest", path.to_path_buf())];
    v.extend(m.system_matrix.iter().map(|p| ("system matrix of the manifest", dir.join(p))));
    v.extend(m.blanks.iter().map(|b| ("blank of the manifest", dir.join(&b.file))));
    v.extend(m.samples.iter().map(|s| ("sample of the manifest", dir.join(&s.file))));
    v
}

pub fn run(a: Args) -> anyhow::Result<()> {
    // Nothing is written (not even the report folder) before the input has been read and accepted.
    let stages = common::StagedProgress::new();
    let progress = |stage: &str, done: usize, total: usize| stages.update(stage, done, total);
    let report = match (&a.manifest, &a.simulate) {
        (Some(path), _) => {
            let mut m = Manifest::load(path)?;
            if a.pg_per_cell.is_some() {
                m.pg_fe_per_cell = a.pg_per_cell;
            }
            let inputs = manifest_inputs(path, &m);
            let inputs: Vec<(&str, &Path)> = inputs.iter().map(|(w, p)| (*w, p.as_path())).collect();
            let outputs = [a.out.join("report.md"), a.out.join("report.json")];
            common::check_paths(&outputs.iter().map(|p| ("--out", p.as_path())).collect::<Vec<_>>(), &inputs)?;
            // Figures are PNG files in the report folder: an input there with that extension could be one.
            if let Some((w, p)) = inputs.iter().find(|(_, p)| {
                p.extension().is_some_and(|e| e == "png") && p.parent().is_some_and(|d| common::same_file(d, &a.out))
            }) {
                bail!(
                    "the {w} {} is a PNG file inside the report folder {}: choose another --out",
                    p.display(),
                    a.out.display()
                );
            }
            let dir = path.parent().unwrap_or(Path::new("."));
            let report = analyse(&m, dir, &progress)?;
            std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
            report
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let mut spec = SimulationSpec::from_toml_str(&text, &path.display().to_string())?;
            if a.pg_per_cell.is_some() {
                spec.pg_fe_per_cell = a.pg_per_cell;
            }
            // The simulated series (files and manifest) is written into the report folder: the spec must not
            // live there.
            if path.parent().is_some_and(|d| {
                let d = if d.as_os_str().is_empty() { Path::new(".") } else { d };
                common::same_file(d, &a.out)
            }) {
                bail!(
                    "the simulation spec {} lies in the report folder {}, where the simulated series is written: \
                     choose another --out",
                    path.display(),
                    a.out.display()
                );
            }
            std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
            tracing::info!(
                "simulating {} blanks and {} × {} samples on {} with {}",
                spec.blanks,
                spec.iron_amounts_ng()?.len(),
                spec.repetitions,
                spec.scanner,
                spec.tracer
            );
            magpie_calibration::run_simulation(&spec, &a.out, &progress)?
        }
        (None, None) => bail!("give --manifest FILE or --simulate SPEC.toml"),
    };
    stages.finish();
    let md = write_report(&report, &a.out)?;
    // Summary on stdout.
    println!("detection limits (Currie L_D, α = β = 0.05):");
    for d in &report.detectors {
        if let Some(l) = d.limit(Method::Currie) {
            let ci = l.lod_ci95_ng.map(|[x, y]| format!(" (95 % CI {x:.3} – {y:.3})")).unwrap_or_default();
            let cells =
                report.pg_fe_per_cell.map(|pg| format!(" = {:.0} cells at {pg} pg Fe/cell", l.lod_ng * 1e3 / pg));
            println!("  {:<40} {:>9.3} ng Fe{ci}{}", d.name, l.lod_ng, cells.unwrap_or_default());
        }
    }
    if let Some(sc) = &report.scaling {
        if let Some(p) = sc.time_exponent {
            println!("  LOD ∝ t^{p:.3} with acquisition time (white noise: t^-0.5)");
        }
    }
    println!("report: {}", md.display());
    Ok(())
}

/// Writes `report.md` (with its figures) and `report.json` into `dir`; returns the path of `report.md`.
pub fn write_report(report: &Report, dir: &Path) -> anyhow::Result<PathBuf> {
    let figures = write_figures(report, dir)?;
    let refs: Vec<(&str, &str)> = figures.iter().map(|(f, c)| (f.as_str(), c.as_str())).collect();
    let md = dir.join("report.md");
    common::write_atomic(&md, report.to_markdown(&refs).as_bytes())?;
    common::write_atomic(&dir.join("report.json"), serde_json::to_string_pretty(report)?.as_bytes())?;
    Ok(md)
}

/// Calibration lines with LOD/LOQ, ROC curves, and LOD against acquisition time.
fn write_figures(r: &Report, dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for d in &r.detectors {
        let mut pts: Vec<(f64, f64)> = d.blanks.iter().map(|b| (0.0, *b)).collect();
        pts.extend(d.samples.iter().copied());
        let xmax = pts.iter().map(|p| p.0).fold(0.0, f64::max);
        let line = vec![(0.0, d.fit.intercept), (xmax, d.fit.intercept + d.fit.slope * xmax)];
        let mut markers = Vec::new();
        if let Some(l) = d.limit(Method::CalibrationLine) {
            markers.push(Marker { label: format!("LOD (3.3σ/S) = {:.3} ng", l.lod_ng), x: Some(l.lod_ng), y: None });
            if let Some(q) = l.loq_ng {
                markers.push(Marker { label: format!("LOQ (10σ/S) = {q:.3} ng"), x: Some(q), y: None });
            }
        }
        if let Some(l) = d.limit(Method::Currie) {
            markers.push(Marker { label: format!("Currie L_D = {:.3} ng", l.lod_ng), x: Some(l.lod_ng), y: None });
        }
        let file = format!("calibration_{}.png", d.key);
        let title = format!("calibration line: {}", d.name);
        write_chart_png(
            &dir.join(&file),
            &ChartSpec {
                title: &title,
                x_label: "known iron (ng Fe)",
                y_label: "statistic (ng Fe)",
                log_x: false,
                log_y: false,
                series: vec![
                    Series { label: "measurements".into(), points: pts, style: SeriesStyle::Points },
                    Series {
                        label: format!("fit: slope {:.3}, r² {:.4}", d.fit.slope, d.fit.r2),
                        points: line,
                        style: SeriesStyle::Line,
                    },
                ],
                markers,
            },
        )?;
        out.push((file, format!("calibration line, {}", d.name)));
    }
    let rocs: Vec<Series> = r
        .detectors
        .iter()
        .filter_map(|d| {
            d.roc.as_ref().map(|roc| Series {
                label: format!("{} (AUC {:.3})", d.name, roc.auc),
                points: roc.points.clone(),
                style: SeriesStyle::Line,
            })
        })
        .collect();
    if let Some(amount) = r.detectors.iter().find_map(|d| d.roc.as_ref().map(|x| x.amount_ng)) {
        let title = format!("ROC at {amount} ng Fe");
        let mut series = rocs;
        series.push(Series { label: "chance".into(), points: vec![(0.0, 0.0), (1.0, 1.0)], style: SeriesStyle::Line });
        write_chart_png(
            &dir.join("roc.png"),
            &ChartSpec {
                title: &title,
                x_label: "false-positive rate",
                y_label: "true-positive rate",
                log_x: false,
                log_y: false,
                series,
                markers: vec![],
            },
        )?;
        out.push(("roc.png".into(), title));
    }
    if let Some(sc) = &r.scaling {
        if !sc.time.is_empty() {
            let pts: Vec<(f64, f64)> = sc.time.iter().map(|row| (row.acquisition_s, row.lod_ng)).collect();
            let (t0, l0) = pts[0];
            let ideal: Vec<(f64, f64)> = pts.iter().map(|(t, _)| (*t, l0 * (t0 / t).sqrt())).collect();
            write_chart_png(
                &dir.join("lod_vs_time.png"),
                &ChartSpec {
                    title: "detection limit against acquisition time (matched filter, Currie)",
                    x_label: "acquisition time (s)",
                    y_label: "LOD (ng Fe)",
                    log_x: true,
                    log_y: true,
                    series: vec![
                        Series { label: "simulated".into(), points: pts, style: SeriesStyle::LineAndPoints },
                        Series { label: "∝ 1/√t".into(), points: ideal, style: SeriesStyle::Line },
                    ],
                    markers: vec![],
                },
            )?;
            out.push(("lod_vs_time.png".into(), "LOD against acquisition time".into()));
        }
    }
    Ok(out)
}
