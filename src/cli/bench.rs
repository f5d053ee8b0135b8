//! `magpie bench`: a suite (TOML) of phantoms × scanners × noise levels × methods, simulated with fixed seeds and
//! reconstructed by every method; a table (Markdown, CSV, JSON) of NRMSE, PSNR, SSIM, total-iron error,
//! cell-count error, FWHM and runtime, one PNG panel per case, and an optional regression check against a
//! stored baseline.

use anyhow::{bail, Context};
use magpie_core::mdf::{measurement_spectra, Spectra};
use magpie_core::scanner::ScannerConfig;
use magpie_core::tracer::TracerModel;
use magpie_core::Grid;
use magpie_reconstruct::metrics::compare;
use magpie_reconstruct::quantify::{region_total, Region};
use magpie_reconstruct::solvers::{cgnr::CgnrParams, tv::TvParams};
use magpie_reconstruct::sysmat::params::{AutoLambda, Lambda, RecoParams, SolverParams};
use magpie_sim::forward::Engine;
use magpie_sim::measurement::{phantom_point_masses, simulate_measurement, MeasurementSpec};
use magpie_sim::phantom::Phantom;
use magpie_sim::sysmat::{simulate_system_matrix, SystemMatrixSpec};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::common;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Suite (TOML; default: sample_data/bench/default.toml, built in).
    #[arg(long, conflicts_with = "quick")]
    pub suite: Option<PathBuf>,
    /// The quick suite (under a minute; what CI runs).
    #[arg(long)]
    pub quick: bool,
    /// Fail (exit 3) if an accuracy figure is worse than in this baseline (JSON written by --write-baseline).
    #[arg(long)]
    pub check: Option<PathBuf>,
    /// Write the results as a new baseline.
    #[arg(long)]
    pub write_baseline: Option<PathBuf>,
    /// Output folder.
    #[arg(short, long, default_value = "magpie-bench")]
    pub out: PathBuf,
}

/// One benchmark case: a phantom on a scanner, reconstructed on a grid.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub phantom: String,
    pub scanner: String,
    pub tracer: String,
    /// Reconstruction grid (voxels).
    pub grid: [usize; 3],
    /// Its field of view [mm] (centred at 0).
    pub fov_mm: [f64; 3],
    /// Sub-points per axis of the system matrix's delta samples.
    #[serde(default = "three")]
    pub sm_subsamples: usize,
    /// Receive-noise multipliers of the scanner's density (the noise levels).
    #[serde(default = "unit")]
    pub noise: Vec<f64>,
    /// Methods: xspace, kaczmarz, cgnr, fista, tv, direct, direct_gcv, direct_discrepancy, direct_lcurve.
    pub methods: Vec<String>,
    /// Radius of the per-source regions for cell counts [mm].
    #[serde(default = "roi")]
    pub roi_radius_mm: f64,
    /// Measure the FWHM along x through the brightest voxel (point and line sources).
    #[serde(default)]
    pub resolution: bool,
    /// Spacing of the lattice the phantom is sampled on [mm] (finer than the grid: no inverse crime).
    #[serde(default = "lattice")]
    pub lattice_mm: f64,
    #[serde(default = "one")]
    pub seed: u64,
}

fn three() -> usize {
    3
}
fn unit() -> Vec<f64> {
    vec![1.0]
}
fn roi() -> f64 {
    2.5
}
fn lattice() -> f64 {
    0.25
}
fn one() -> u64 {
    1
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(rename = "case")]
    pub cases: Vec<Case>,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub case: String,
    pub noise: f64,
    pub method: String,
    pub nrmse: f64,
    pub psnr_db: f64,
    pub ssim: f64,
    /// (Σx̂ − Σx)/Σx.
    pub total_iron_error: f64,
    /// Mean |relative error| of the cells counted in a sphere around each labelled source (None: no cells).
    pub cell_count_error: Option<f64>,
    /// FWHM along x through the brightest voxel [mm].
    pub fwhm_mm: Option<f64>,
    pub runtime_s: f64,
}

/// Stored figures and tolerances of the regression check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    /// An NRMSE may exceed the baseline by this fraction plus `nrmse_absolute`.
    pub nrmse_relative: f64,
    pub nrmse_absolute: f64,
    /// |total-iron error| may exceed the baseline's by this much (absolute, as a fraction).
    pub total_error_absolute: f64,
    pub rows: Vec<Row>,
}

const DEFAULT: &str = include_str!("../../sample_data/bench/default.toml");
const QUICK: &str = include_str!("../../sample_data/bench/quick.toml");

fn load_suite(a: &Args) -> anyhow::Result<Suite> {
    let (text, origin) = match (&a.suite, a.quick) {
        (Some(p), _) => {
            (std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?, p.display().to_string())
        }
        (None, true) => (QUICK.to_string(), "quick".into()),
        (None, false) => (DEFAULT.to_string(), "default".into()),
    };
    let s: Suite = toml::from_str(&text).with_context(|| format!("suite {origin}"))?;
    for c in &s.cases {
        for m in &c.methods {
            if sm_params(m).is_none() && m != "xspace" {
                bail!("case {}: unknown method {m:?} (xspace, kaczmarz, cgnr, fista, tv, direct, direct_gcv, direct_discrepancy, direct_lcurve)", c.name);
            }
        }
    }
    Ok(s)
}

/// System-matrix parameters of a method name.
fn sm_params(m: &str) -> Option<RecoParams> {
    let direct = |l: Lambda| {
        let mut p = RecoParams::preset("quantitative").ok()?;
        p.solver = SolverParams::Direct { non_negative: true };
        p.lambda = l;
        Some(p)
    };
    match m {
        "kaczmarz" => RecoParams::preset("default").ok(),
        "fista" => RecoParams::preset("sparse").ok(),
        "cgnr" => {
            let mut p = RecoParams::preset("default").ok()?;
            p.solver = SolverParams::Cgnr(CgnrParams { iterations: 50, ..Default::default() });
            Some(p)
        }
        "tv" => {
            let mut p = RecoParams::preset("default").ok()?;
            p.solver = SolverParams::Tv(TvParams { iterations: 300, ..Default::default() });
            p.lambda = Lambda::Relative(1e-4);
            Some(p)
        }
        "direct" => direct(Lambda::Relative(1e-3)),
        "direct_gcv" => direct(Lambda::Auto(AutoLambda::Gcv)),
        "direct_discrepancy" => direct(Lambda::Auto(AutoLambda::Discrepancy)),
        "direct_lcurve" => direct(Lambda::Auto(AutoLambda::Lcurve)),
        _ => None,
    }
}

/// FWHM [mm] of the x profile through the brightest voxel (linear interpolation), None if it does not fall to
/// half maximum inside the grid.
fn fwhm_x(map: &[f64], grid: &Grid) -> Option<f64> {
    let p = map.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?.0;
    let [_, iy, iz] = grid.unflatten(p);
    let v: Vec<f64> = (0..grid.shape[0]).map(|i| map[grid.flatten([i, iy, iz])]).collect();
    let i = grid.unflatten(p)[0];
    let half = 0.5 * v[i];
    let (mut l, mut r) = (i, i);
    while l > 0 && v[l - 1] > half {
        l -= 1;
    }
    while r + 1 < v.len() && v[r + 1] > half {
        r += 1;
    }
    if l == 0 || r + 1 >= v.len() {
        return None;
    }
    let xl = (l - 1) as f64 + (half - v[l - 1]) / (v[l] - v[l - 1]);
    let xr = r as f64 + (v[r] - half) / (v[r] - v[r + 1]);
    Some((xr - xl) * grid.voxel_size_m()[0] * 1e3)
}

struct Prepared {
    grid: Grid,
    truth: Vec<f64>,
    engine: Engine,
    tracer: TracerModel,
    phantom: Phantom,
    sm: Option<magpie_core::mdf::MdfFile>,
}

fn prepare(c: &Case) -> anyhow::Result<Prepared> {
    let scanner = ScannerConfig::load(&c.scanner)?;
    let tracer = TracerModel::load(&c.tracer)?;
    let phantom = Phantom::load(&c.phantom)?;
    let grid = Grid::new(c.grid, c.fov_mm.map(|v| v * 1e-3), [0.0; 3]);
    let engine = Engine::new(&scanner, &tracer)?;
    // Truth by exact volume integration; planar grids hold the whole phantom's projection.
    let mut tg = grid;
    if grid.shape[2] == 1 {
        tg.fov_m[2] = 1.0;
    }
    let truth = phantom.iron_map_ng(&tg).to_vec();
    let sm = if c.methods.iter().any(|m| m != "xspace") {
        let spec = SystemMatrixSpec {
            grid,
            delta_size_m: None,
            delta_concentration_mol_per_l: 0.1,
            delta_subsamples: c.sm_subsamples,
            background_frames: 10,
            averages: 1000,
            noise: true,
            background: true,
            max_frequency_hz: None,
            seed: c.seed + 100,
        };
        Some(simulate_system_matrix(&engine, &spec, &|_| {})?)
    } else {
        None
    };
    Ok(Prepared { grid, truth, engine, tracer, phantom, sm })
}

fn measure(p: &Prepared, c: &Case, noise: f64) -> anyhow::Result<(magpie_core::mdf::MdfFile, Spectra)> {
    let mut scanner = p.engine.scanner.clone();
    scanner.noise_v_per_sqrt_hz *= noise;
    let engine = Engine::new(&scanner, &p.tracer)?;
    let points = phantom_point_masses(&p.phantom, c.lattice_mm * 1e-3, p.grid.shape[2] == 1)?;
    let spec = MeasurementSpec {
        frames: 1,
        background_frames_before: 2,
        background_frames_after: 2,
        seed: c.seed,
        ..Default::default()
    };
    let file = simulate_measurement(&engine, &points, &spec, "magpie bench")?;
    let spectra = measurement_spectra(&file)?;
    Ok((file, spectra))
}

fn reconstruct(
    p: &Prepared,
    method: &str,
    file: &magpie_core::mdf::MdfFile,
    spectra: &Spectra,
) -> anyhow::Result<Vec<f64>> {
    if method == "xspace" {
        let r = magpie_reconstruct::xspace::reconstruct(
            file,
            spectra,
            &p.tracer,
            &magpie_reconstruct::xspace::XSpaceParams::default(),
            Some(p.grid),
        )?;
        return Ok(r.iron_ng.row(0).to_vec());
    }
    let params = sm_params(method).context("unknown method")?;
    let sm = p.sm.as_ref().context("no system matrix")?;
    // Through the library facade, as every caller: the checks, and the built state shared by the methods of a
    // case that select the same rows (the runtime column then shows the solve, not the build, for them).
    let r = magpie_reconstruct::facade::reconstruct(file, sm, &params)?;
    Ok(r.iron_ng.row(0).to_vec())
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let suite = load_suite(&a)?;
    let mut inputs: Vec<(&str, &Path)> = Vec::new();
    inputs.extend(a.suite.as_deref().map(|p| ("--suite", p)));
    inputs.extend(a.check.as_deref().map(|p| ("--check", p)));
    let tables = ["bench.md", "bench.csv", "bench.json"].map(|f| a.out.join(f));
    let mut outputs: Vec<(&str, &Path)> = tables.iter().map(|p| ("--out", p.as_path())).collect();
    outputs.extend(a.write_baseline.as_deref().map(|p| ("--write-baseline", p)));
    common::prepare_outputs(&outputs, &inputs)?;
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let total: usize = suite.cases.iter().map(|c| c.noise.len() * c.methods.len()).sum();
    let pb = common::progress(total as u64, "bench");
    let t_all = std::time::Instant::now();
    let mut rows = Vec::new();
    let mut figures = Vec::new();
    for c in &suite.cases {
        let p = prepare(c).with_context(|| format!("case {}", c.name))?;
        for &noise in &c.noise {
            let (file, spectra) = measure(&p, c, noise)?;
            let mut maps: Vec<(String, Vec<f64>)> = Vec::new();
            for m in &c.methods {
                let _item = tracing::info_span!("item", case = %c.name, noise, method = %m).entered();
                let t0 = std::time::Instant::now();
                let est =
                    reconstruct(&p, m, &file, &spectra).with_context(|| format!("case {}, method {m}", c.name))?;
                let runtime_s = t0.elapsed().as_secs_f64();
                let cmp = compare(&est, &p.truth, p.grid.shape);
                let errs: Vec<f64> = p
                    .phantom
                    .sources
                    .iter()
                    .filter_map(|s| {
                        let cells = s.cells().filter(|n| *n > 0.0)?;
                        let true_ng = s.iron_kg().ok()? * 1e12;
                        if true_ng <= 0.0 {
                            return None;
                        }
                        let r = Region::Sphere { center_m: s.centroid_m(), radius_m: c.roi_radius_mm * 1e-3 };
                        let est_cells = region_total(&est, &p.grid, &r) / true_ng * cells;
                        Some((est_cells / cells - 1.0).abs())
                    })
                    .collect();
                rows.push(Row {
                    case: c.name.clone(),
                    noise,
                    method: m.clone(),
                    nrmse: cmp.nrmse,
                    psnr_db: cmp.psnr_db,
                    ssim: cmp.ssim,
                    total_iron_error: cmp.total_error,
                    cell_count_error: if errs.is_empty() {
                        None
                    } else {
                        Some(errs.iter().sum::<f64>() / errs.len() as f64)
                    },
                    fwhm_mm: if c.resolution { fwhm_x(&est, &p.grid) } else { None },
                    runtime_s,
                });
                maps.push((m.clone(), est));
                pb.inc(1);
            }
            // Panels: truth and every reconstruction; then the differences.
            let stem = format!("{}_noise{}", c.name, noise);
            let mut panel =
                vec![crate::plot::MapPlot { title: "truth", values: &p.truth, grid: &p.grid, unit: "ng Fe per voxel" }];
            for (m, v) in &maps {
                panel.push(crate::plot::MapPlot { title: m, values: v, grid: &p.grid, unit: "ng Fe per voxel" });
            }
            crate::plot::write_maps_png(&a.out.join(format!("{stem}.png")), &panel, crate::plot::MapView::Auto)?;
            let diffs: Vec<(String, Vec<f64>)> = maps
                .iter()
                .map(|(m, v)| (format!("{m} − truth"), v.iter().zip(&p.truth).map(|(x, t)| x - t).collect()))
                .collect();
            let dpanel: Vec<crate::plot::MapPlot> = diffs
                .iter()
                .map(|(t, v)| crate::plot::MapPlot { title: t, values: v, grid: &p.grid, unit: "ng Fe per voxel" })
                .collect();
            crate::plot::write_maps_png(
                &a.out.join(format!("{stem}_difference.png")),
                &dpanel,
                crate::plot::MapView::Auto,
            )?;
            figures.push(stem);
        }
    }
    pb.finish_and_clear();
    let secs = t_all.elapsed().as_secs_f64();
    write_tables(&a.out, &suite, &rows, &figures, secs)?;
    println!("{}", markdown_table(&rows));
    println!("suite {} in {secs:.1} s; tables and figures in {}", suite.name, a.out.display());
    if let Some(path) = &a.write_baseline {
        let b = Baseline { nrmse_relative: 0.10, nrmse_absolute: 0.01, total_error_absolute: 0.05, rows: rows.clone() };
        common::write_atomic(path, serde_json::to_string_pretty(&b)?.as_bytes())?;
        println!("baseline written to {}", path.display());
    }
    if let Some(path) = &a.check {
        let b: Baseline = serde_json::from_str(
            &std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        )
        .with_context(|| format!("parsing {}", path.display()))?;
        let failures = check(&b, &rows);
        if !failures.is_empty() {
            for f in &failures {
                crate::logging::eprint_line(&format!("regression: {f}"));
            }
            return Err(super::CheckFailed(format!(
                "{} accuracy figure(s) worse than the baseline {}",
                failures.len(),
                path.display()
            ))
            .into());
        }
        println!("regression check against {}: every figure within tolerance", path.display());
    }
    Ok(())
}

/// Accuracy figures worse than the baseline beyond its tolerances.
pub fn check(b: &Baseline, rows: &[Row]) -> Vec<String> {
    let mut out = Vec::new();
    for base in &b.rows {
        let Some(r) = rows.iter().find(|r| r.case == base.case && r.method == base.method && r.noise == base.noise)
        else {
            out.push(format!("{} / {} / noise {}: missing from this run", base.case, base.method, base.noise));
            continue;
        };
        let limit = base.nrmse * (1.0 + b.nrmse_relative) + b.nrmse_absolute;
        if r.nrmse.is_nan() || r.nrmse > limit {
            out.push(format!(
                "{} / {}: NRMSE {:.4} > {:.4} (baseline {:.4})",
                r.case, r.method, r.nrmse, limit, base.nrmse
            ));
        }
        let tl = base.total_iron_error.abs() + b.total_error_absolute;
        if r.total_iron_error.is_nan() || r.total_iron_error.abs() > tl {
            out.push(format!(
                "{} / {}: |total-iron error| {:.3} > {:.3} (baseline {:+.3})",
                r.case,
                r.method,
                r.total_iron_error.abs(),
                tl,
                base.total_iron_error
            ));
        }
    }
    out
}

fn pct(v: f64) -> String {
    format!("{:+.1} %", 100.0 * v)
}

fn markdown_table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| case | noise × | method | NRMSE | PSNR (dB) | SSIM | total iron | cell count (mean abs) | FWHM (mm) | time (s) |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.4} | {:.1} | {:.3} | {} | {} | {} | {:.2} |",
            r.case,
            r.noise,
            r.method,
            r.nrmse,
            r.psnr_db,
            r.ssim,
            pct(r.total_iron_error),
            r.cell_count_error.map(|v| format!("{:.1} %", 100.0 * v)).unwrap_or_else(|| "–".into()),
            r.fwhm_mm.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into()),
            r.runtime_s
        );
    }
    s
}

fn write_tables(dir: &Path, suite: &Suite, rows: &[Row], figures: &[String], secs: f64) -> anyhow::Result<()> {
    let mut md = format!("# magpie bench: suite {}\n\n{}\n\n", suite.name, suite.description);
    md += "NRMSE = ‖x̂ − x‖₂/‖x‖₂ against the phantom's exact iron per voxel; PSNR = 20 log₁₀(max|x|/RMSE); SSIM with \
           a Gaussian window (σ = 1.5 voxels); total iron = (Σx̂ − Σx)/Σx over the FOV; cell count = mean |relative \
           error| of the cells counted in a sphere around each labelled source; FWHM along x through the brightest \
           voxel; time = reconstruction only (system-matrix methods: plan, build and solve).\n\n";
    md += &markdown_table(rows);
    let _ = writeln!(md, "\nSuite run in {secs:.1} s.\n");
    for f in figures {
        let _ = writeln!(md, "![{f}]({f}.png)\n\n![{f} differences]({f}_difference.png)\n");
    }
    common::write_atomic(&dir.join("bench.md"), md.as_bytes())?;
    let mut csv =
        String::from("case,noise,method,nrmse,psnr_db,ssim,total_iron_error,cell_count_error,fwhm_mm,runtime_s\n");
    for r in rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{}",
            r.case,
            r.noise,
            r.method,
            r.nrmse,
            r.psnr_db,
            r.ssim,
            r.total_iron_error,
            r.cell_count_error.map(|v| v.to_string()).unwrap_or_default(),
            r.fwhm_mm.map(|v| v.to_string()).unwrap_or_default(),
            r.runtime_s
        );
    }
    common::write_atomic(&dir.join("bench.csv"), csv.as_bytes())?;
    common::write_atomic(&dir.join("bench.json"), serde_json::to_string_pretty(rows)?.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(method: &str, nrmse: f64, total: f64) -> Row {
        Row {
            case: "c".into(),
            noise: 1.0,
            method: method.into(),
            nrmse,
            psnr_db: 0.0,
            ssim: 0.0,
            total_iron_error: total,
            cell_count_error: None,
            fwhm_mm: None,
            runtime_s: 0.0,
        }
    }

    #[test]
    fn the_regression_check_flags_worse_accuracy_only() {
        let b = Baseline {
            nrmse_relative: 0.1,
            nrmse_absolute: 0.01,
            total_error_absolute: 0.05,
            rows: vec![row("fista", 0.10, 0.02), row("xspace", 0.50, -0.10)],
        };
        // Better or within tolerance: nothing flagged.
        assert!(check(&b, &[row("fista", 0.115, -0.06), row("xspace", 0.2, 0.0)]).is_empty());
        // NRMSE beyond 0.10·1.1 + 0.01 = 0.12, and a total error beyond 0.15.
        let f = check(&b, &[row("fista", 0.125, 0.02), row("xspace", 0.5, 0.16)]);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].contains("NRMSE") && f[1].contains("total-iron"));
        // A missing row is a failure, as is NaN.
        assert_eq!(check(&b, &[row("fista", f64::NAN, 0.0)]).len(), 2);
    }

    #[test]
    fn built_in_suites_parse_and_name_known_methods() {
        for quick in [false, true] {
            let a = Args { suite: None, quick, check: None, write_baseline: None, out: "x".into() };
            let s = load_suite(&a).unwrap();
            assert!(!s.cases.is_empty());
        }
        let methods: Vec<String> =
            toml::from_str::<Suite>(DEFAULT).unwrap().cases.iter().flat_map(|c| c.methods.clone()).collect();
        for m in
            ["xspace", "kaczmarz", "cgnr", "fista", "tv", "direct", "direct_gcv", "direct_discrepancy", "direct_lcurve"]
        {
            assert!(methods.iter().any(|x| x == m), "the default suite lacks {m}");
        }
    }
}
