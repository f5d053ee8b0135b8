//! Figures of scalar voxel maps: images with colour bars (2-D and 3-D grids) and line plots (1-D grids).
//!
//! A figure is a table of panels: one column per map, one row per view of that map (three for the projections
//! or central slices of a 3-D map, otherwise one). Every panel's size is planned first ([`Panel::cell_size`]),
//! so the figure size is known before anything is drawn and tests can predict it.

use super::colormap::{format_sig3, linear_tick_formatter, ColourScale, MISSING_COLOUR};
use super::{centre_drop, fit_text, font, MapPlot, MapView, Surface};
use anyhow::{bail, Result};
use magpie_core::Grid;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;

/// Outer margin of every panel [px].
pub(crate) const MARGIN: u32 = 10;
/// Height of the panel title row [px].
pub(crate) const TITLE_H: u32 = 30;
/// Width of the area left of an image for the y tick labels and axis label [px].
pub(crate) const IMAGE_LEFT: u32 = 66;
/// Height of the area below a plot for the x tick labels and axis label [px].
pub(crate) const BOTTOM: u32 = 48;
/// Width of the colour-bar column right of an image: gap, bar, ticks, labels and the rotated unit [px].
pub(crate) const COLOUR_BAR_W: u32 = 150;
/// Gap between the image and its colour bar, and the bar's width [px].
const BAR_GAP: u32 = 18;
const BAR_W: u32 = 18;
/// Minimum colour-bar height (a flat image still gets a readable bar) [px].
pub(crate) const BAR_MIN_H: u32 = 160;
/// Room below the colour bar for the "no data" swatch [px].
pub(crate) const BAR_FOOT: u32 = 30;
/// Longest image side [px]; the other follows the field of view's aspect ratio.
pub(crate) const IMAGE_MAX: u32 = 400;
/// Shortest image side [px], so that very flat fields of view stay visible (their aspect is then exaggerated).
pub(crate) const IMAGE_MIN: u32 = 48;
/// Plot area of a 1-D line panel and the room left of it (wider tick labels than mm coordinates) [px].
pub(crate) const LINE_W: u32 = 400;
pub(crate) const LINE_H: u32 = 280;
pub(crate) const LINE_LEFT: u32 = 86;
/// Room right of a line plot for the last x tick label [px].
pub(crate) const LINE_RIGHT: u32 = 24;

const AXIS_NAMES: [&str; 3] = ["x (mm)", "y (mm)", "z (mm)"];
const AXIS_LETTERS: [&str; 3] = ["x", "y", "z"];

/// How a plane is obtained from a 3-D map.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reduction {
    /// Maximum-intensity projection along the third axis (for signed maps the value of largest magnitude).
    Projection,
    /// The slice at this index of the third axis.
    Slice(usize),
}

/// Extent of axis `d` [mm] (voxel edges). Falls back to 1 mm per voxel when the FOV is not a positive number,
/// so that a malformed grid is still drawn.
fn extent_mm(grid: &Grid, d: usize) -> (f64, f64) {
    let n = grid.shape[d].max(1) as f64;
    let fov = grid.fov_m[d] * 1e3;
    let c = if grid.center_m[d].is_finite() { grid.center_m[d] * 1e3 } else { 0.0 };
    let width = if fov.is_finite() && fov > 0.0 { fov } else { n };
    (c - 0.5 * width, c + 0.5 * width)
}

/// Voxel-centre coordinate of index `i` along axis `d` [mm].
fn coord_mm(grid: &Grid, d: usize, i: usize) -> f64 {
    let x = grid.coord_m(d, i) * 1e3;
    if x.is_finite() && grid.fov_m[d] > 0.0 {
        x
    } else {
        let (lo, hi) = extent_mm(grid, d);
        lo + (i as f64 + 0.5) * (hi - lo) / grid.shape[d].max(1) as f64
    }
}

/// An image panel: a plane of one map, horizontal axis `h`, vertical axis `v` (upwards).
pub(crate) struct ImagePanel {
    title: String,
    unit: String,
    h: usize,
    v: usize,
    h_range: (f64, f64),
    v_range: (f64, f64),
    nh: usize,
    nv: usize,
    /// Plane values, `data[ih + nh * iv]`.
    data: Vec<f64>,
    scale: ColourScale,
    has_missing: bool,
    /// Image size on screen [px].
    pub(crate) w_px: u32,
    pub(crate) h_px: u32,
}

/// A line panel: value against position along one axis.
pub(crate) struct LinePanel {
    title: String,
    unit: String,
    axis: usize,
    range: (f64, f64),
    points: Vec<(f64, f64)>,
}

pub(crate) enum Panel {
    Image(ImagePanel),
    Line(LinePanel),
}

impl Panel {
    /// Size of the panel's cell in the figure [px].
    pub(crate) fn cell_size(&self) -> (u32, u32) {
        match self {
            Panel::Image(p) => {
                let bar_h = p.h_px.max(BAR_MIN_H);
                let content_h = (p.h_px + BOTTOM).max(bar_h + BAR_FOOT);
                (2 * MARGIN + IMAGE_LEFT + p.w_px + COLOUR_BAR_W, 2 * MARGIN + TITLE_H + content_h)
            }
            Panel::Line(_) => (2 * MARGIN + LINE_LEFT + LINE_W + LINE_RIGHT, 2 * MARGIN + TITLE_H + LINE_H + BOTTOM),
        }
    }

    fn draw(&self, cell: &Surface) -> Result<()> {
        match self {
            Panel::Image(p) => draw_image_panel(p, cell),
            Panel::Line(p) => draw_line_panel(p, cell),
        }
    }
}

/// Image size [px] along an axis of `n` voxels spanning `extent` mm at `scale` px/mm. When voxels are at least
/// a pixel wide each gets the same whole number of pixels (nearest neighbour without uneven voxel widths).
fn image_side(n: usize, extent: f64, scale: f64) -> u32 {
    let n_f = n.max(1) as f64;
    let voxel_px = scale * extent / n_f;
    let natural = if voxel_px >= 1.0 { voxel_px.floor() * n_f } else { (scale * extent).round() };
    if !natural.is_finite() {
        IMAGE_MAX
    } else if natural >= IMAGE_MIN as f64 {
        natural.min(IMAGE_MAX as f64) as u32
    } else if n <= IMAGE_MIN as usize {
        // The smallest whole number of pixels per voxel that reaches IMAGE_MIN (< 2·IMAGE_MIN ≤ IMAGE_MAX).
        (IMAGE_MIN as usize).div_ceil(n.max(1)) as u32 * n.max(1) as u32
    } else {
        IMAGE_MIN
    }
}

/// Extracts the (h, v) plane of a map.
fn plane(values: &[f64], grid: &Grid, h: usize, v: usize, reduction: Reduction, signed: bool) -> Vec<f64> {
    let a = 3 - h - v;
    let (nh, nv, na) = (grid.shape[h], grid.shape[v], grid.shape[a]);
    let mut out = vec![f64::NAN; nh * nv];
    for iv in 0..nv {
        for ih in 0..nh {
            let at = |ia: usize| {
                let mut idx = [0usize; 3];
                idx[h] = ih;
                idx[v] = iv;
                idx[a] = ia;
                values[grid.flatten(idx)]
            };
            out[ih + nh * iv] = match reduction {
                Reduction::Slice(k) => at(k.min(na.saturating_sub(1))),
                Reduction::Projection => {
                    let mut best = f64::NAN;
                    for x in (0..na).map(at).filter(|x| x.is_finite()) {
                        let better = if signed { x.abs() > best.abs() } else { x > best };
                        if best.is_nan() || better {
                            best = x;
                        }
                    }
                    best
                }
            };
        }
    }
    out
}

/// Plans the panels of one map.
fn map_panels(map: &MapPlot, view: &MapView) -> Result<Vec<Panel>> {
    let grid = map.grid;
    if grid.is_empty() {
        bail!("map '{}': the grid {:?} has no voxels", map.title, grid.shape);
    }
    if map.values.len() != grid.len() {
        bail!(
            "map '{}': {} values for a grid of {:?} = {} voxels",
            map.title,
            map.values.len(),
            grid.shape,
            grid.len()
        );
    }
    let [nx, ny, nz] = grid.shape;
    let long_axes: Vec<usize> = (0..3).filter(|&d| grid.shape[d] > 1).collect();

    if long_axes.len() <= 1 {
        if let MapView::SliceZ(k) = view {
            if *k >= nz {
                bail!("map '{}': slice z = {k} is outside the grid's {nz} z-slice(s)", map.title);
            }
        }
        let axis = long_axes.first().copied().unwrap_or(0);
        let points = (0..grid.shape[axis])
            .map(|i| {
                let mut idx = [0; 3];
                idx[axis] = i;
                (coord_mm(grid, axis, i), map.values[grid.flatten(idx)])
            })
            .collect();
        return Ok(vec![Panel::Line(LinePanel {
            title: map.title.to_string(),
            unit: map.unit.to_string(),
            axis,
            range: extent_mm(grid, axis),
            points,
        })]);
    }

    let scale_all = ColourScale::for_values(map.values);
    let signed = scale_all.lo < 0.0;
    let has_missing = map.values.iter().any(|v| !v.is_finite());
    let z_mm = |k: usize| format_sig3(coord_mm(grid, 2, k));

    // (h, v, reduction, title suffix) of each view.
    let views: Vec<(usize, usize, Reduction, String)> = if nz == 1 {
        if let MapView::SliceZ(k) = view {
            if *k > 0 {
                bail!("map '{}': slice z = {k} requested but the grid is 2-D (one z-slice)", map.title);
            }
        }
        vec![(0, 1, Reduction::Slice(0), String::new())]
    } else {
        match view {
            MapView::Auto if nx == 1 || ny == 1 => {
                let (h, v) = (long_axes[0], long_axes[1]);
                vec![(h, v, Reduction::Slice(0), String::new())]
            }
            MapView::Auto | MapView::Mip => [(0, 1), (0, 2), (1, 2)]
                .into_iter()
                .map(|(h, v)| (h, v, Reduction::Projection, format!("{}–{} MIP", AXIS_LETTERS[h], AXIS_LETTERS[v])))
                .collect(),
            MapView::CentralSlices => [(0, 1), (0, 2), (1, 2)]
                .into_iter()
                .map(|(h, v)| {
                    let a = 3 - h - v;
                    let k = grid.shape[a] / 2;
                    let at = format_sig3(coord_mm(grid, a, k));
                    let name = format!("{}–{} slice, {} = {at} mm", AXIS_LETTERS[h], AXIS_LETTERS[v], AXIS_LETTERS[a]);
                    (h, v, Reduction::Slice(k), name)
                })
                .collect(),
            MapView::SliceZ(k) => {
                if *k >= nz {
                    bail!("map '{}': slice z = {k} is outside the grid's {nz} z-slices", map.title);
                }
                vec![(0, 1, Reduction::Slice(*k), format!("x–y slice, z = {} mm", z_mm(*k)))]
            }
        }
    };

    // One scale [px/mm] for all views of a map, so that the projections of a 3-D map line up.
    let max_extent = views
        .iter()
        .flat_map(|(h, v, _, _)| [*h, *v])
        .map(|d| {
            let (lo, hi) = extent_mm(grid, d);
            hi - lo
        })
        .fold(0.0, f64::max);
    let px_per_mm = IMAGE_MAX as f64 / max_extent;

    Ok(views
        .into_iter()
        .map(|(h, v, reduction, suffix)| {
            let (h_range, v_range) = (extent_mm(grid, h), extent_mm(grid, v));
            let title = if suffix.is_empty() { map.title.to_string() } else { format!("{}: {suffix}", map.title) };
            Panel::Image(ImagePanel {
                title,
                unit: map.unit.to_string(),
                h,
                v,
                h_range,
                v_range,
                nh: grid.shape[h],
                nv: grid.shape[v],
                data: plane(map.values, grid, h, v, reduction, signed),
                scale: scale_all,
                has_missing,
                w_px: image_side(grid.shape[h], h_range.1 - h_range.0, px_per_mm),
                h_px: image_side(grid.shape[v], v_range.1 - v_range.0, px_per_mm),
            })
        })
        .collect())
}

/// The panels of a figure, as columns (one per map) of rows (views).
pub(crate) fn plan(maps: &[MapPlot], view: &MapView) -> Result<Vec<Vec<Panel>>> {
    if maps.is_empty() {
        bail!("no maps to plot");
    }
    maps.iter().map(|m| map_panels(m, view)).collect()
}

/// Column widths and row heights of a planned figure [px].
pub(crate) fn layout(columns: &[Vec<Panel>]) -> (Vec<u32>, Vec<u32>) {
    let rows = columns.iter().map(Vec::len).max().unwrap_or(0);
    let widths = columns.iter().map(|c| c.iter().map(|p| p.cell_size().0).max().unwrap_or(0)).collect();
    let heights = (0..rows)
        .map(|r| columns.iter().filter_map(|c| c.get(r)).map(|p| p.cell_size().1).max().unwrap_or(0))
        .collect();
    (widths, heights)
}

/// Draws a planned figure on `root` (which has the size given by [`layout`]).
pub(crate) fn draw(columns: &[Vec<Panel>], root: &Surface) -> Result<()> {
    let (widths, heights) = layout(columns);
    let mut x = 0;
    for (column, &w) in columns.iter().zip(&widths) {
        let mut y = 0;
        for (panel, &h) in column.iter().zip(&heights) {
            let (cw, ch) = panel.cell_size();
            // Centre the panel horizontally in its column; keep it at the top of its row.
            let cell = root.clone().shrink((x + (w - cw) / 2, y), (cw, ch));
            panel.draw(&cell)?;
            y += h;
        }
        x += w;
    }
    Ok(())
}

fn draw_title(cell: &Surface, title: &str) -> Result<()> {
    let (w, _) = cell.dim_in_pixel();
    let (text, size) = fit_text(title, 18.0, w.saturating_sub(2 * MARGIN) as f64);
    let style = font(size).pos(Pos::new(HPos::Center, VPos::Center));
    cell.draw(&Text::new(text, ((w / 2) as i32, (MARGIN + TITLE_H / 2) as i32 + centre_drop(size)), style))?;
    Ok(())
}

fn draw_image_panel(p: &ImagePanel, cell: &Surface) -> Result<()> {
    draw_title(cell, &p.title)?;
    let (w, h) = (p.w_px, p.h_px);
    let chart_area = cell.clone().shrink((MARGIN, MARGIN + TITLE_H), (IMAGE_LEFT + w, h + BOTTOM));
    let mut chart = ChartBuilder::on(&chart_area)
        .x_label_area_size(BOTTOM)
        .y_label_area_size(IMAGE_LEFT)
        .build_cartesian_2d(p.h_range.0..p.h_range.1, p.v_range.0..p.v_range.1)?;
    let fx = linear_tick_formatter(p.h_range.0, p.h_range.1);
    let fy = linear_tick_formatter(p.v_range.0, p.v_range.1);
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(6)
        .y_labels(6)
        .label_style(font(13.0))
        .y_label_offset(centre_drop(13.0))
        .axis_desc_style(font(15.0))
        .x_desc(AXIS_NAMES[p.h])
        .y_desc(AXIS_NAMES[p.v])
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .draw()?;

    // Nearest neighbour: pixel (px, py) shows the voxel whose cell contains the pixel centre. Row 0 is the top,
    // i.e. the largest coordinate of the vertical axis.
    let plot = chart.plotting_area().strip_coord_spec();
    let (pw, ph) = plot.dim_in_pixel();
    let mut rgb = Vec::with_capacity(3 * pw as usize * ph as usize);
    for py in 0..ph as usize {
        let iv = p.nv - 1 - (((py as f64 + 0.5) * p.nv as f64 / ph as f64) as usize).min(p.nv - 1);
        for px in 0..pw as usize {
            let ih = (((px as f64 + 0.5) * p.nh as f64 / pw as f64) as usize).min(p.nh - 1);
            rgb.extend_from_slice(&p.scale.colour(p.data[ih + p.nh * iv]));
        }
    }
    if pw > 0 && ph > 0 {
        let image = BitMapElement::with_owned_buffer((0, 0), (pw, ph), rgb)
            .ok_or_else(|| anyhow::anyhow!("image buffer of the wrong size"))?;
        plot.draw(&image)?;
        plot.draw(&Rectangle::new([(0, 0), (pw as i32 - 1, ph as i32 - 1)], BLACK.stroke_width(1)))?;
    }

    let bar_x = (MARGIN + IMAGE_LEFT + w + BAR_GAP) as i32;
    let bar_y = (MARGIN + TITLE_H) as i32;
    draw_colour_bar(cell, p, (bar_x, bar_y), h.max(BAR_MIN_H))
}

fn draw_colour_bar(cell: &Surface, p: &ImagePanel, (x0, y0): (i32, i32), bar_h: u32) -> Result<()> {
    let s = p.scale;
    let bar_h = bar_h as i32;
    let x1 = x0 + BAR_W as i32;
    let mut rgb = Vec::with_capacity(3 * (BAR_W as usize) * bar_h as usize);
    for r in 0..bar_h {
        let colour = s.colour_at(1.0 - (r as f64 + 0.5) / bar_h as f64);
        (0..BAR_W).for_each(|_| rgb.extend_from_slice(&colour));
    }
    let bar = BitMapElement::with_owned_buffer((x0, y0), (BAR_W, bar_h as u32), rgb)
        .ok_or_else(|| anyhow::anyhow!("colour bar buffer of the wrong size"))?;
    cell.draw(&bar)?;
    cell.draw(&Rectangle::new([(x0, y0), (x1 - 1, y0 + bar_h - 1)], BLACK.stroke_width(1)))?;

    let label_font = font(13.0);
    let mut label_w = 0u32;
    for i in 0..=4 {
        let f = i as f64 / 4.0;
        let value = s.lo + f * (s.hi - s.lo);
        let y = y0 + ((1.0 - f) * (bar_h - 1) as f64).round() as i32;
        cell.draw(&PathElement::new(vec![(x1, y), (x1 + 5, y)], BLACK.stroke_width(1)))?;
        let text = format_sig3(value);
        label_w = label_w.max(label_font.font.box_size(&text).map(|b| b.0).unwrap_or(60));
        let at = (x1 + 8, y + centre_drop(13.0));
        cell.draw(&Text::new(text, at, label_font.pos(Pos::new(HPos::Left, VPos::Center))))?;
    }
    if !p.unit.is_empty() {
        let (text, size) = fit_text(&p.unit, 15.0, bar_h as f64);
        let x = x1 + 8 + label_w as i32 + 14;
        let style = font(size).transform(FontTransform::Rotate270).pos(Pos::new(HPos::Center, VPos::Center));
        cell.draw(&Text::new(text, (x, y0 + bar_h / 2), style))?;
    }
    if p.has_missing {
        let y = y0 + bar_h + 10;
        let [r, g, b] = MISSING_COLOUR;
        cell.draw(&Rectangle::new([(x0, y), (x1 - 1, y + 12)], RGBColor(r, g, b).filled()))?;
        cell.draw(&Rectangle::new([(x0, y), (x1 - 1, y + 12)], BLACK.stroke_width(1)))?;
        let at = (x1 + 8, y + 6 + centre_drop(13.0));
        cell.draw(&Text::new("no data", at, label_font.pos(Pos::new(HPos::Left, VPos::Center))))?;
    }
    Ok(())
}

fn draw_line_panel(p: &LinePanel, cell: &Surface) -> Result<()> {
    draw_title(cell, &p.title)?;
    let chart_area = cell.clone().shrink((MARGIN, MARGIN + TITLE_H), (LINE_LEFT + LINE_W, LINE_H + BOTTOM));
    // Values beyond ±1e300 count as missing: padding the range around them would overflow.
    let shown = |v: f64| v.is_finite() && v.abs() <= 1e300;
    let finite: Vec<f64> = p.points.iter().map(|q| q.1).filter(|v| shown(*v)).collect();
    let (min, max) = finite.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let (y_lo, y_hi) = if finite.is_empty() || (min == 0.0 && max == 0.0) {
        (0.0, 1.0)
    } else if min >= 0.0 {
        (0.0, max * 1.05)
    } else if min == max {
        (min * 1.1, -min * 0.1)
    } else {
        let pad = 0.05 * (max - min);
        (min - pad, max + pad)
    };
    let mut chart = ChartBuilder::on(&chart_area)
        .x_label_area_size(BOTTOM)
        .y_label_area_size(LINE_LEFT)
        .build_cartesian_2d(p.range.0..p.range.1, y_lo..y_hi)?;
    let fx = linear_tick_formatter(p.range.0, p.range.1);
    let fy = linear_tick_formatter(y_lo, y_hi);
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .bold_line_style(BLACK.mix(0.12))
        .x_labels(6)
        .y_labels(6)
        .label_style(font(13.0))
        .y_label_offset(centre_drop(13.0))
        .axis_desc_style(font(15.0))
        .x_desc(AXIS_NAMES[p.axis])
        .y_desc(p.unit.as_str())
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .draw()?;
    let colour = RGBColor(30, 70, 160);
    // Missing values break the line.
    for segment in p.points.split(|q| !shown(q.1)).filter(|s| !s.is_empty()) {
        chart.draw_series(LineSeries::new(segment.iter().copied(), colour.stroke_width(2)))?;
    }
    if p.points.len() <= 64 {
        let dots = p.points.iter().filter(|q| shown(q.1)).map(|&q| Circle::new(q, 3, colour.filled()));
        chart.draw_series(dots)?;
    }
    let plot = chart.plotting_area().strip_coord_spec();
    let (pw, ph) = plot.dim_in_pixel();
    plot.draw(&Rectangle::new([(0, 0), (pw as i32 - 1, ph as i32 - 1)], BLACK.stroke_width(1)))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projections_keep_the_largest_magnitude_and_skip_missing() {
        let g = Grid::new([2, 1, 3], [2e-3, 1e-3, 3e-3], [0.0; 3]);
        // (ix, iz): (0,0)=1 (1,0)=-5 (0,1)=NaN (1,1)=2 (0,2)=3 (1,2)=NaN
        let v = [1.0, -5.0, f64::NAN, 2.0, 3.0, f64::NAN];
        assert_eq!(plane(&v, &g, 0, 1, Reduction::Projection, false), vec![3.0, 2.0]);
        assert_eq!(plane(&v, &g, 0, 1, Reduction::Projection, true), vec![3.0, -5.0]);
        let xz = plane(&v, &g, 0, 2, Reduction::Slice(0), true);
        assert_eq!(xz[0], 1.0);
        assert!(xz[2].is_nan());
        let all_missing = plane(&[f64::NAN; 6], &g, 0, 1, Reduction::Projection, false);
        assert!(all_missing.iter().all(|x| x.is_nan()));
    }

    #[test]
    fn image_sides_follow_the_fov_with_whole_pixels_per_voxel() {
        // 64 voxels over 40 mm, longest side 40 mm: 6 px per voxel.
        assert_eq!(image_side(64, 40.0, 10.0), 384);
        // Half the extent: half the size.
        assert_eq!(image_side(32, 20.0, 10.0), 192);
        // More voxels than pixels: the full size, sampled.
        assert_eq!(image_side(1000, 40.0, 10.0), 400);
        // Very flat: at least IMAGE_MIN, in whole pixels per voxel.
        assert_eq!(image_side(4, 1.0, 10.0), 48);
        assert_eq!(image_side(5, 1.0, 10.0), 50);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let g = Grid::new([4, 4, 1], [4e-3; 3], [0.0; 3]);
        let short = MapPlot { title: "t", values: &[0.0; 3], grid: &g, unit: "u" };
        assert!(plan(&[short], &MapView::Auto).is_err());
        let ok = MapPlot { title: "t", values: &[0.0; 16], grid: &g, unit: "u" };
        assert!(plan(&[ok], &MapView::SliceZ(1)).is_err());
        assert!(plan(&[], &MapView::Auto).is_err());
        let empty = Grid::new([0, 4, 1], [4e-3; 3], [0.0; 3]);
        assert!(plan(&[MapPlot { title: "t", values: &[], grid: &empty, unit: "u" }], &MapView::Auto).is_err());
    }
}
