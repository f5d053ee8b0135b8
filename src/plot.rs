//! PNG figures: voxel maps (iron, cells, errors) and line/scatter charts (calibration lines, ROC curves, detection
//! limits against time, PSF profiles).
//!
//! Drawing uses plotters' bitmap backend with the bundled DejaVu Sans font (`assets/fonts/`, Bitstream Vera
//! licence), so figures look the same on every machine and no system font library is needed. Every writer
//! renders in memory, writes a temporary file next to the target and renames it, so a figure is either complete
//! or absent. Odd data never panics: missing values (NaN, ±inf) are grey, an all-zero map gets the range [0, 1].
//!
//! Colour maps: a sequential dark-indigo-to-yellow map for non-negative maps, and a blue–white–red map centred on
//! zero as soon as a map has negative values (difference images); see [`colormap`].

// The subcommands of later issues (reconstruct, compare, calibrate) call these writers; until then only the
// tests do.
#![allow(dead_code)]

mod chart;
mod colormap;
mod maps;

use anyhow::{bail, Context, Result};
use plotters::prelude::*;
use plotters::style::FontStyle;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// A scalar map on a voxel grid, flat values x fastest (p = ix + nx·(iy + ny·iz)).
#[derive(Debug, Clone, Copy)]
pub struct MapPlot<'a> {
    /// Panel title, e.g. "Reconstruction".
    pub title: &'a str,
    /// One value per voxel of `grid`, x fastest.
    pub values: &'a [f64],
    pub grid: &'a magpie_core::Grid,
    /// Unit of the values, shown on the colour bar, e.g. "ng Fe", "cells", "ng Fe (error)".
    pub unit: &'a str,
}

/// Which planes of a 3-D map are drawn. 2-D grids (one z-slice) always show their x–y image, 1-D grids a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapView {
    /// Maximum-intensity projections for 3-D grids (the one informative plane if x or y has a single voxel).
    #[default]
    Auto,
    /// Maximum-intensity projections onto the x–y, x–z and y–z planes. For maps with negative values the value
    /// of largest magnitude along each ray is shown, so that negative differences stay visible.
    Mip,
    /// The x–y, x–z and y–z slices through the central voxel.
    CentralSlices,
    /// The x–y slice at this z index.
    SliceZ(usize),
}

/// How a chart series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesStyle {
    Line,
    Points,
    LineAndPoints,
}

/// One data series of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text; an empty label keeps the series out of the legend.
    pub label: String,
    /// (x, y) points in drawing order. Points an axis cannot show (NaN, ±inf, ≤ 0 on a log axis) are skipped
    /// and break the line.
    pub points: Vec<(f64, f64)>,
    pub style: SeriesStyle,
}

/// A dashed reference line: vertical at `x` and/or horizontal at `y` (e.g. LOD, LOQ, a threshold).
#[derive(Debug, Clone)]
pub struct Marker {
    /// Legend text, e.g. "LOD = 12.3 ng Fe".
    pub label: String,
    pub x: Option<f64>,
    pub y: Option<f64>,
}

/// A line/scatter chart.
#[derive(Debug, Clone)]
pub struct ChartSpec<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    /// Logarithmic x axis (values ≤ 0 are not drawn).
    pub log_x: bool,
    /// Logarithmic y axis (values ≤ 0 are not drawn).
    pub log_y: bool,
    pub series: Vec<Series>,
    pub markers: Vec<Marker>,
}

/// Writes one figure of one or more maps side by side (e.g. truth | reconstruction | difference), one column
/// per map. Each image panel has axes in mm, its own colour bar labelled with the map's unit, and a title.
/// 2-D grids: the x–y image; 1-D grids: value against position; 3-D grids: three projections or slices per map
/// (one below the other), as chosen by `view`. Voxels are drawn nearest-neighbour with the FOV's aspect ratio,
/// the longest image side being 400 px.
pub fn write_maps_png(path: &Path, maps: &[MapPlot], view: MapView) -> Result<()> {
    let columns = maps::plan(maps, &view)?;
    let (widths, heights) = maps::layout(&columns);
    let size = (widths.iter().sum(), heights.iter().sum());
    write_png(path, size, |root| maps::draw(&columns, root))
}

/// Writes a line/scatter chart (820 × 560 px) with optional log axes, dashed reference markers and a legend in
/// the corner with the least data.
pub fn write_chart_png(path: &Path, spec: &ChartSpec) -> Result<()> {
    write_png(path, (chart::CHART_W, chart::CHART_H), |root| chart::draw(spec, root))
}

/// Writes charts one below the other in one figure (820 × 560 px each), e.g. magnitude over phase.
pub fn write_charts_png(path: &Path, specs: &[ChartSpec]) -> Result<()> {
    if specs.is_empty() {
        bail!("no chart to draw");
    }
    let n = specs.len() as u32;
    write_png(path, (chart::CHART_W, chart::CHART_H * n), |root| {
        for (spec, area) in specs.iter().zip(root.split_evenly((specs.len(), 1))) {
            chart::draw(spec, &area)?;
        }
        Ok(())
    })
}

/// The drawing surface every figure is rendered on (an in-memory RGB bitmap).
pub(crate) type Surface<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// Family name the bundled font is registered under (plotters' default family, so every text uses it).
const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// Registers the bundled font with plotters, once per process.
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    if *REGISTERED.get_or_init(|| plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()) {
        Ok(())
    } else {
        bail!("the bundled font assets/fonts/DejaVuSans.ttf could not be loaded")
    }
}

/// Black text of `size` px in the bundled font.
fn font(size: f64) -> TextStyle<'static> {
    TextStyle::from((FONT, size))
}

/// How far to move a vertically centred label down so that it looks centred [px]. Plotters' ab_glyph text
/// layout centres the line box (ascent and descent) on the anchor, which puts digits and lower-case letters
/// about a fifth of the font size too high.
fn centre_drop(size: f64) -> i32 {
    (0.2 * size).round() as i32
}

/// Fits `text` into `max_w` px: the font shrinks from `size` down to 11 px, then the text is shortened with "…".
fn fit_text(text: &str, size: f64, max_w: f64) -> (String, f64) {
    let width = |t: &str, s: f64| font(s).font.box_size(t).map(|b| b.0 as f64).unwrap_or(0.0);
    let mut s = size;
    while s > 11.0 && width(text, s) > max_w {
        s -= 1.0;
    }
    if width(text, s) <= max_w {
        return (text.to_string(), s);
    }
    let chars: Vec<char> = text.chars().collect();
    for keep in (0..chars.len()).rev() {
        let t: String = chars[..keep].iter().chain(std::iter::once(&'…')).collect();
        if width(&t, s) <= max_w {
            return (t, s);
        }
    }
    (String::new(), s)
}

/// Largest figure side we render [px]; a larger request is a caller error (thousands of maps in one figure).
const MAX_SIDE: u32 = 16_384;

/// Renders a `size` figure with `draw` in memory, then writes it as PNG to a temporary file in the target's
/// folder and renames it over `path`.
fn write_png(path: &Path, size: (u32, u32), draw: impl FnOnce(&Surface) -> Result<()>) -> Result<()> {
    ensure_font()?;
    let (w, h) = size;
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        bail!("figure of {w} × {h} px is empty or too large (at most {MAX_SIDE} px a side)");
    }
    let mut rgb = vec![255u8; 3 * w as usize * h as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root).with_context(|| format!("drawing {}", path.display()))?;
        root.present()?;
    }

    let name = path.file_name().with_context(|| format!("{} is not a file path", path.display()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    let serial = SERIAL.fetch_add(1, Ordering::Relaxed);
    // The bitmap encoder picks the format from the extension, so the temporary name ends in ".png".
    let tmp = dir.join(format!(".{}.{}-{serial}.tmp.png", name.to_string_lossy(), std::process::id()));
    let _registered = magpie_core::tempfiles::TempFile::register(&tmp);
    let written = (|| -> Result<()> {
        let mut file = BitMapBackend::new(&tmp, (w, h));
        file.blit_bitmap((0, 0), (w, h), &rgb)?;
        file.present()?;
        Ok(())
    })()
    .and_then(|()| std::fs::rename(&tmp, path).map_err(anyhow::Error::from));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("writing {}", path.display())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::maps::{BOTTOM, COLOUR_BAR_W, IMAGE_LEFT, LINE_H, LINE_LEFT, LINE_RIGHT, LINE_W, MARGIN, TITLE_H};
    use super::*;
    use magpie_core::Grid;
    use std::path::PathBuf;

    /// Width and height from a PNG's IHDR chunk, after checking the signature, the IHDR and the final IEND chunk.
    fn png_size(path: &Path) -> (u32, u32) {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(bytes.len() > 45, "{} is too short for a PNG", path.display());
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature of {}", path.display());
        assert_eq!(&bytes[8..16], b"\0\0\0\x0dIHDR", "IHDR chunk of {}", path.display());
        assert_eq!(&bytes[bytes.len() - 12..bytes.len() - 4], b"\0\0\0\0IEND", "IEND chunk of {}", path.display());
        let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        (be(16), be(20))
    }

    /// Cell size of a 2-D image panel whose image is `w × h` px (h ≥ the colour bar's minimum height).
    fn image_cell(w: u32, h: u32) -> (u32, u32) {
        (2 * MARGIN + IMAGE_LEFT + w + COLOUR_BAR_W, 2 * MARGIN + TITLE_H + h + BOTTOM)
    }

    fn gaussian(grid: &Grid, centre_m: [f64; 3], sigma_m: f64, peak: f64) -> Vec<f64> {
        (0..grid.len())
            .map(|p| {
                let r = grid.position_m(p);
                let d2: f64 = (0..3).map(|d| (r[d] - centre_m[d]).powi(2)).sum();
                peak * (-0.5 * d2 / (sigma_m * sigma_m)).exp()
            })
            .collect()
    }

    fn grid_2d() -> Grid {
        Grid::new([64, 64, 1], [40e-3, 40e-3, 1e-3], [0.0; 3])
    }

    fn grid_3d() -> Grid {
        Grid::new([32, 32, 16], [40e-3, 40e-3, 20e-3], [0.0, 0.0, 5e-3])
    }

    /// Truth, reconstruction and their difference (with a few missing voxels) on a 48 × 48 grid over 30 mm.
    fn comparison() -> (Grid, Vec<f64>, Vec<f64>, Vec<f64>) {
        let g = Grid::new([48, 48, 1], [30e-3, 30e-3, 1e-3], [0.0; 3]);
        let truth: Vec<f64> = gaussian(&g, [-5e-3, 3e-3, 0.0], 2e-3, 120.0)
            .iter()
            .zip(gaussian(&g, [6e-3, -4e-3, 0.0], 3e-3, 60.0))
            .map(|(a, b)| a + b)
            .collect();
        let mut reco: Vec<f64> = gaussian(&g, [-5e-3, 3e-3, 0.0], 2.6e-3, 95.0)
            .iter()
            .zip(gaussian(&g, [6.5e-3, -4e-3, 0.0], 3.2e-3, 55.0))
            .map(|(a, b)| a + b)
            .collect();
        reco[0] = f64::NAN;
        reco[47] = f64::NAN;
        let diff = reco.iter().zip(&truth).map(|(r, t)| r - t).collect();
        (g, truth, reco, diff)
    }

    fn chart_spec() -> ChartSpec<'static> {
        let t: Vec<f64> = (0..13).map(|i| 10f64.powf(-1.0 + i as f64 / 4.0)).collect();
        ChartSpec {
            title: "Detection limit against acquisition time",
            x_label: "acquisition time (s)",
            y_label: "LOD (ng Fe)",
            log_x: true,
            log_y: true,
            series: vec![
                Series {
                    label: "simulated".into(),
                    points: t.iter().map(|&t| (t, 40.0 / t.sqrt() * (1.0 + 0.1 * (7.0 * t).sin()))).collect(),
                    style: SeriesStyle::Points,
                },
                Series {
                    label: "∝ 1/√t fit".into(),
                    points: t.iter().map(|&t| (t, 40.0 / t.sqrt())).collect(),
                    style: SeriesStyle::Line,
                },
                Series {
                    label: "with NaN and ≤ 0 points".into(),
                    points: vec![(0.2, 5.0), (1.0, f64::NAN), (2.0, 3.0), (4.0, 0.0), (8.0, 1.5), (16.0, 1.0)],
                    style: SeriesStyle::LineAndPoints,
                },
            ],
            markers: vec![
                Marker { label: "target LOD = 10 ng Fe".into(), x: None, y: Some(10.0) },
                Marker { label: "scan time 60 s".into(), x: Some(60.0), y: None },
            ],
        }
    }

    /// Writes every example figure into `dir`; returns (file, expected width × height).
    fn write_examples(dir: &Path) -> Vec<(PathBuf, (u32, u32))> {
        let mut out = Vec::new();

        let g2 = grid_2d();
        let v2 = gaussian(&g2, [4e-3, -2e-3, 0.0], 5e-3, 250.0);
        let p = dir.join("map_2d_gaussian.png");
        write_maps_png(&p, &[MapPlot { title: "Iron map", values: &v2, grid: &g2, unit: "ng Fe" }], MapView::Auto)
            .unwrap();
        out.push((p, image_cell(384, 384)));

        // 3-D: 12 px per voxel in x and y (32 over 40 mm) and z (16 over 20 mm): 384 × 384, 384 × 192 images.
        let g3 = grid_3d();
        let v3: Vec<f64> = gaussian(&g3, [-8e-3, 6e-3, 8e-3], 3e-3, 30.0)
            .iter()
            .zip(gaussian(&g3, [10e-3, -5e-3, 0.0], 4e-3, 18.0))
            .map(|(a, b)| a + b)
            .collect();
        let flat = (2 * MARGIN + IMAGE_LEFT + 384 + COLOUR_BAR_W, 2 * MARGIN + TITLE_H + 192 + BOTTOM);
        for (name, view) in [("map_3d_mip.png", MapView::Mip), ("map_3d_central_slices.png", MapView::CentralSlices)] {
            let p = dir.join(name);
            write_maps_png(&p, &[MapPlot { title: "Cells", values: &v3, grid: &g3, unit: "cells" }], view).unwrap();
            out.push((p, (flat.0, image_cell(384, 384).1 + 2 * flat.1)));
        }
        let p = dir.join("map_3d_slice_z.png");
        let one = [MapPlot { title: "Cells", values: &v3, grid: &g3, unit: "cells" }];
        write_maps_png(&p, &one, MapView::SliceZ(12)).unwrap();
        out.push((p, image_cell(384, 384)));

        // A single y-slice of a 3-D grid: Auto shows the x–z plane (10 px per voxel, 400 × 300 px).
        let gxz = Grid::new([40, 1, 30], [40e-3, 2e-3, 30e-3], [0.0; 3]);
        let vxz = gaussian(&gxz, [5e-3, 0.0, -4e-3], 6e-3, 1.0);
        let p = dir.join("map_xz_plane.png");
        write_maps_png(&p, &[MapPlot { title: "Coronal plane", values: &vxz, grid: &gxz, unit: "" }], MapView::Auto)
            .unwrap();
        out.push((p, image_cell(400, 300)));

        let g1 = Grid::new([50, 1, 1], [50e-3, 1e-3, 1e-3], [0.0; 3]);
        let mut v1 = gaussian(&g1, [3e-3, 0.0, 0.0], 4e-3, 2.5e-3);
        v1[10] = f64::NAN;
        let p = dir.join("map_1d_profile.png");
        write_maps_png(&p, &[MapPlot { title: "PSF profile", values: &v1, grid: &g1, unit: "ng Fe" }], MapView::Auto)
            .unwrap();
        out.push((p, (2 * MARGIN + LINE_LEFT + LINE_W + LINE_RIGHT, 2 * MARGIN + TITLE_H + LINE_H + BOTTOM)));

        // 48 voxels over 30 mm at 400/30 px/mm: 8 px per voxel, 384 px.
        let (gc, truth, reco, diff) = comparison();
        let p = dir.join("map_difference.png");
        let d = [MapPlot { title: "Reconstruction − truth", values: &diff, grid: &gc, unit: "ng Fe (error)" }];
        write_maps_png(&p, &d, MapView::Auto).unwrap();
        out.push((p, image_cell(384, 384)));

        let p = dir.join("maps_truth_reco_difference.png");
        let three = [
            MapPlot { title: "Truth", values: &truth, grid: &gc, unit: "ng Fe" },
            MapPlot { title: "Reconstruction", values: &reco, grid: &gc, unit: "ng Fe" },
            MapPlot { title: "Reconstruction − truth", values: &diff, grid: &gc, unit: "ng Fe (error)" },
        ];
        write_maps_png(&p, &three, MapView::Auto).unwrap();
        let cell = image_cell(384, 384);
        out.push((p, (3 * cell.0, cell.1)));

        let zeros = vec![0.0; g2.len()];
        let missing = vec![f64::NAN; g2.len()];
        let p = dir.join("map_degenerate.png");
        let degenerate = [
            MapPlot { title: "All zero", values: &zeros, grid: &g2, unit: "ng Fe" },
            MapPlot { title: "All missing", values: &missing, grid: &g2, unit: "ng Fe" },
        ];
        write_maps_png(&p, &degenerate, MapView::Auto).unwrap();
        out.push((p, (2 * cell.0, image_cell(384, 384).1)));

        let p = dir.join("chart_lod_loglog.png");
        write_chart_png(&p, &chart_spec()).unwrap();
        out.push((p, (chart::CHART_W, chart::CHART_H)));

        let p = dir.join("chart_calibration.png");
        let mass: Vec<f64> = (0..10).map(|i| i as f64 * 25.0).collect();
        let calibration = ChartSpec {
            title: "Calibration line",
            x_label: "iron mass (ng Fe)",
            y_label: "signal (a.u.)",
            log_x: false,
            log_y: false,
            series: vec![
                Series {
                    label: "dilution series".into(),
                    points: mass.iter().map(|&m| (m, 0.8 + 0.0312 * m + 0.3 * (m * 0.7).sin())).collect(),
                    style: SeriesStyle::Points,
                },
                Series {
                    label: "linear fit".into(),
                    points: vec![(0.0, 0.8), (225.0, 0.8 + 0.0312 * 225.0)],
                    style: SeriesStyle::Line,
                },
            ],
            markers: vec![
                Marker { label: "LOD = 18.2 ng Fe".into(), x: Some(18.2), y: None },
                Marker { label: "LOQ = 55.1 ng Fe".into(), x: Some(55.1), y: None },
            ],
        };
        write_chart_png(&p, &calibration).unwrap();
        out.push((p, (chart::CHART_W, chart::CHART_H)));

        let p = dir.join("chart_roc.png");
        let roc = ChartSpec {
            title: "ROC",
            x_label: "false-positive rate",
            y_label: "true-positive rate",
            log_x: false,
            log_y: false,
            series: vec![
                Series {
                    label: "10 ng Fe".into(),
                    points: (0..=20).map(|i| i as f64 / 20.0).map(|f| (f, f.powf(0.25))).collect(),
                    style: SeriesStyle::LineAndPoints,
                },
                Series { label: "chance".into(), points: vec![(0.0, 0.0), (1.0, 1.0)], style: SeriesStyle::Line },
            ],
            markers: vec![],
        };
        write_chart_png(&p, &roc).unwrap();
        out.push((p, (chart::CHART_W, chart::CHART_H)));

        // Less than a decade on the log axis, millions on the linear one.
        let p = dir.join("chart_narrow_log.png");
        let narrow = ChartSpec {
            title: "Narrow log range",
            x_label: "particles",
            y_label: "SNR",
            log_x: false,
            log_y: true,
            series: vec![Series {
                label: "SNR".into(),
                points: (1..=10).map(|i| (i as f64 * 2.5e6, 2.0 + 0.3 * i as f64)).collect(),
                style: SeriesStyle::LineAndPoints,
            }],
            markers: vec![Marker { label: "threshold".into(), x: Some(1.2e7), y: Some(3.0) }],
        };
        write_chart_png(&p, &narrow).unwrap();
        out.push((p, (chart::CHART_W, chart::CHART_H)));

        let p = dir.join("chart_empty.png");
        let empty = ChartSpec {
            title: "No data",
            x_label: "x",
            y_label: "y",
            log_x: true,
            log_y: false,
            series: vec![Series { label: "only ≤ 0".into(), points: vec![(0.0, 1.0)], style: SeriesStyle::Line }],
            markers: vec![Marker { label: String::new(), x: Some(-1.0), y: Some(f64::NAN) }],
        };
        write_chart_png(&p, &empty).unwrap();
        out.push((p, (chart::CHART_W, chart::CHART_H)));
        out
    }

    #[test]
    fn figures_are_written_as_pngs_of_the_planned_size() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_examples(dir.path());
        for (path, expected) in &written {
            assert_eq!(png_size(path), *expected, "size of {}", path.display());
        }
        // Atomic writes leave no temporary files behind.
        let mut names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        names.sort();
        assert_eq!(names.len(), written.len(), "unexpected files: {names:?}");
        assert!(names.iter().all(|n| !n.starts_with('.')), "temporary files left: {names:?}");
    }

    #[test]
    fn an_existing_figure_is_replaced_and_a_bad_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("chart.png");
        std::fs::write(&p, b"old").unwrap();
        write_chart_png(&p, &chart_spec()).unwrap();
        assert_eq!(png_size(&p), (chart::CHART_W, chart::CHART_H));
        let missing_dir = dir.path().join("no/such/folder/chart.png");
        assert!(write_chart_png(&missing_dir, &chart_spec()).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file may remain");
    }

    #[test]
    fn long_titles_shrink_or_are_shortened() {
        ensure_font().unwrap();
        let (t, s) = fit_text("short", 18.0, 300.0);
        assert_eq!((t.as_str(), s), ("short", 18.0));
        let long = "a very long title that cannot possibly fit into a narrow panel of a figure";
        let (t, s) = fit_text(long, 18.0, 200.0);
        assert_eq!(s, 11.0);
        assert!(t.ends_with('…') && t.chars().count() < long.chars().count());
    }

    #[test]
    fn extreme_values_and_malformed_grids_do_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        let extreme = [f64::MAX, -f64::MAX, f64::MIN_POSITIVE, 0.0, f64::NAN, f64::INFINITY, 1.0, -1.0];
        let g = Grid::new([4, 2, 1], [f64::NAN, 0.0, 1e-3], [f64::INFINITY, 0.0, 0.0]);
        let line = Grid::new([8, 1, 1], [-1.0, 1e-3, 1e-3], [0.0; 3]);
        let voxel = Grid::new([1, 1, 1], [1e-3; 3], [0.0; 3]);
        let maps = [
            MapPlot { title: "extreme", values: &extreme, grid: &g, unit: "" },
            MapPlot { title: "line", values: &extreme, grid: &line, unit: "a.u." },
            MapPlot { title: "one voxel", values: &[2.0], grid: &voxel, unit: "a.u." },
        ];
        for view in [MapView::Auto, MapView::Mip, MapView::CentralSlices, MapView::SliceZ(0)] {
            write_maps_png(&dir.path().join("extreme.png"), &maps, view).unwrap();
        }
        let thin = Grid::new([40, 1, 30], [40e-3, 1e-3, 30e-3], [0.0; 3]);
        let v = vec![1.0; thin.len()];
        for view in [MapView::Auto, MapView::Mip, MapView::CentralSlices, MapView::SliceZ(29)] {
            write_maps_png(
                &dir.path().join("thin.png"),
                &[MapPlot { title: "x–z", values: &v, grid: &thin, unit: "u" }],
                view,
            )
            .unwrap();
        }
        let spec = ChartSpec {
            title: "extreme",
            x_label: "x",
            y_label: "y",
            log_x: false,
            log_y: false,
            series: vec![Series {
                label: "e".into(),
                points: extreme.iter().map(|&v| (v, v)).collect(),
                style: SeriesStyle::LineAndPoints,
            }],
            markers: vec![Marker { label: "m".into(), x: Some(f64::MAX), y: Some(-f64::MAX) }],
        };
        for (log_x, log_y) in [(false, false), (true, false), (false, true), (true, true)] {
            write_chart_png(&dir.path().join("extreme_chart.png"), &ChartSpec { log_x, log_y, ..spec.clone() })
                .unwrap();
        }
    }

    /// Renders the examples into `$MAGPIE_PLOT_EXAMPLES` (default /tmp/plot-examples) to look at them:
    /// `cargo test --bin magpie plot::tests::render_examples -- --ignored`.
    #[test]
    #[ignore]
    fn render_examples() {
        let dir = std::env::var_os("MAGPIE_PLOT_EXAMPLES").map(PathBuf::from).unwrap_or("/tmp/plot-examples".into());
        std::fs::create_dir_all(&dir).unwrap();
        for (path, expected) in write_examples(&dir) {
            assert_eq!(png_size(&path), expected);
            println!("{}", path.display());
        }
    }
}
