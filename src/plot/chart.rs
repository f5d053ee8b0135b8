//! Line and scatter charts with optional logarithmic axes, reference markers and a legend placed in the emptiest
//! corner.

use super::colormap::{format_tick, linear_tick_formatter};
use super::{centre_drop, fit_text, font, ChartSpec, SeriesStyle, Surface};
use anyhow::Result;
use plotters::chart::SeriesAnno;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Size of a chart figure [px].
pub(crate) const CHART_W: u32 = 820;
pub(crate) const CHART_H: u32 = 560;
const TITLE_H: u32 = 44;
const LEFT: u32 = 96;
const BOTTOM: u32 = 58;
const RIGHT: u32 = 30;
const BOTTOM_MARGIN: u32 = 8;
const LEFT_MARGIN: u32 = 10;
const LEGEND_FONT: f64 = 14.0;

/// Series colours, chosen to be distinguishable from each other and from the markers.
const PALETTE: [RGBColor; 8] = [
    RGBColor(24, 88, 176),
    RGBColor(214, 60, 30),
    RGBColor(20, 140, 80),
    RGBColor(140, 70, 180),
    RGBColor(222, 140, 0),
    RGBColor(0, 150, 180),
    RGBColor(110, 110, 110),
    RGBColor(180, 50, 120),
];
/// Marker (reference line) colours; markers are dashed.
const MARKER_COLOURS: [RGBColor; 4] =
    [RGBColor(40, 40, 40), RGBColor(190, 30, 30), RGBColor(30, 110, 60), RGBColor(100, 50, 160)];

/// One axis: its range and whether it is logarithmic.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

impl Axis {
    /// Whether `v` can be shown on this axis. Magnitudes beyond 1e300 (1e-300 on a log axis) are refused:
    /// padding the range around them would overflow, and plotters' pixel mapping overflows for points far
    /// outside the range.
    fn accepts(&self, v: f64) -> bool {
        if self.log {
            (1e-300..=1e300).contains(&v)
        } else {
            v.is_finite() && v.abs() <= 1e300
        }
    }

    /// The axis over `values` (those it cannot show are ignored), padded by 5 % (of the decades when
    /// logarithmic); a single value gets a range around it, no value [0, 1] or [1, 10].
    fn fit(values: impl Iterator<Item = f64>, log: bool) -> Self {
        let probe = Axis { lo: 0.0, hi: 1.0, log };
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.filter(|v| probe.accepts(*v)) {
            let v = if log { v.log10() } else { v };
            lo = lo.min(v);
            hi = hi.max(v);
        }
        let (lo, hi) = if lo > hi {
            (0.0, 1.0)
        } else if lo == hi {
            let pad = if log {
                0.5
            } else if lo == 0.0 {
                1.0
            } else {
                0.1 * lo.abs()
            };
            (lo - pad, hi + pad)
        } else {
            let pad = 0.05 * (hi - lo);
            (lo - pad, hi + pad)
        };
        // Data within ±1e300 (10^±300) stays inside the clamped range.
        let limit = if log { 301.0 } else { 1.05e300 };
        let (lo, hi) = (lo.max(-limit), hi.min(limit));
        if log {
            // Plotters labels only the powers of 10 on a log axis: make sure there are at least two.
            let (lo, hi) =
                if hi.floor() - lo.ceil() < 1.0 { (lo.floor(), hi.ceil().max(lo.floor() + 1.0)) } else { (lo, hi) };
            Axis { lo: 10f64.powf(lo), hi: 10f64.powf(hi), log }
        } else {
            Axis { lo, hi, log }
        }
    }

    /// Tick labels: decades of a log axis one by one, a linear axis with one format for all ticks.
    fn tick_formatter(&self) -> Box<dyn Fn(&f64) -> String> {
        if self.log {
            Box::new(|v: &f64| format_tick(*v))
        } else {
            Box::new(linear_tick_formatter(self.lo, self.hi))
        }
    }

    /// Position of `v` along the axis in [0, 1] (linear in log10 v for a log axis).
    fn unit(&self, v: f64) -> f64 {
        if self.log {
            (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        }
    }
}

/// Splits a series into runs of points both axes can show (a line breaks at the others).
fn runs(points: &[(f64, f64)], x: Axis, y: Axis) -> Vec<Vec<(f64, f64)>> {
    points.split(|&(a, b)| !(x.accepts(a) && y.accepts(b))).filter(|r| !r.is_empty()).map(|r| r.to_vec()).collect()
}

/// Picks the legend corner covering the fewest data: points, samples along lines and along markers, in
/// unit plot coordinates. `size` is the legend's size as a fraction of the plot area.
fn legend_corner(spec: &ChartSpec, x: Axis, y: Axis, size: (f64, f64)) -> SeriesLabelPosition {
    let mut samples = Vec::new();
    for s in &spec.series {
        for run in runs(&s.points, x, y) {
            let unit: Vec<(f64, f64)> = run.iter().map(|&(a, b)| (x.unit(a), y.unit(b))).collect();
            samples.extend(&unit);
            if s.style != SeriesStyle::Points {
                for w in unit.windows(2) {
                    samples.extend((1..16).map(|k| {
                        let t = k as f64 / 16.0;
                        (w[0].0 + t * (w[1].0 - w[0].0), w[0].1 + t * (w[1].1 - w[0].1))
                    }));
                }
            }
        }
    }
    for m in &spec.markers {
        let steps = (0..=50).map(|k| k as f64 / 50.0);
        if let Some(v) = m.x.filter(|v| x.accepts(*v)) {
            samples.extend(steps.clone().map(|t| (x.unit(v), t)));
        }
        if let Some(v) = m.y.filter(|v| y.accepts(*v)) {
            samples.extend(steps.map(|t| (t, y.unit(v))));
        }
    }
    let (w, h) = size;
    let corners = [
        (SeriesLabelPosition::UpperRight, (1.0 - w, 1.0), (1.0 - h, 1.0)),
        (SeriesLabelPosition::UpperLeft, (0.0, w), (1.0 - h, 1.0)),
        (SeriesLabelPosition::LowerRight, (1.0 - w, 1.0), (0.0, h)),
        (SeriesLabelPosition::LowerLeft, (0.0, w), (0.0, h)),
    ];
    let count = |(x0, x1): (f64, f64), (y0, y1): (f64, f64)| {
        samples.iter().filter(|(a, b)| *a >= x0 && *a <= x1 && *b >= y0 && *b <= y1).count()
    };
    corners
        .into_iter()
        .min_by_key(|(_, xs, ys)| count(*xs, *ys))
        .map(|c| c.0)
        .unwrap_or(SeriesLabelPosition::UpperRight)
}

/// Adds a legend entry for a series: a short line and/or a dot in its style.
fn series_legend<'a>(
    anno: &mut SeriesAnno<'a, BitMapBackend<'a>>,
    label: &str,
    ((with_line, with_dots), (line_style, dot_style)): ((bool, bool), (ShapeStyle, ShapeStyle)),
) {
    if label.is_empty() {
        return;
    }
    anno.label(label).legend(move |(px, py)| {
        let line = PathElement::new(if with_line { vec![(0, 0), (21, 0)] } else { vec![] }, line_style);
        let dot = Circle::new((10, 0), if with_dots { 4 } else { 0 }, dot_style);
        EmptyElement::at((px, py)) + line + dot
    });
}

pub(crate) fn draw(spec: &ChartSpec, root: &Surface) -> Result<()> {
    // A point is only used for the range if the other coordinate is shown as well.
    let x_probe = Axis { lo: 1.0, hi: 10.0, log: spec.log_x };
    let y_probe = Axis { lo: 1.0, hi: 10.0, log: spec.log_y };
    let paired_x = spec.series.iter().flat_map(|s| s.points.iter()).filter(|p| y_probe.accepts(p.1)).map(|p| p.0);
    let paired_y = spec.series.iter().flat_map(|s| s.points.iter()).filter(|p| x_probe.accepts(p.0)).map(|p| p.1);
    let x = Axis::fit(paired_x.chain(spec.markers.iter().filter_map(|m| m.x)), spec.log_x);
    let y = Axis::fit(paired_y.chain(spec.markers.iter().filter_map(|m| m.y)), spec.log_y);

    let (w, _) = root.dim_in_pixel();
    let (title, size) = fit_text(spec.title, 22.0, (w - 2 * RIGHT) as f64);
    let at = ((w / 2) as i32, (TITLE_H / 2 + 2) as i32 + centre_drop(size));
    root.draw(&Text::new(title, at, font(size).pos(Pos::new(HPos::Center, VPos::Center))))?;
    let area = root.clone().margin(TITLE_H, BOTTOM_MARGIN, LEFT_MARGIN, RIGHT);
    match (spec.log_x, spec.log_y) {
        (false, false) => draw_on(spec, &area, x, y, x.lo..x.hi, y.lo..y.hi),
        (true, false) => draw_on(spec, &area, x, y, (x.lo..x.hi).log_scale(), y.lo..y.hi),
        (false, true) => draw_on(spec, &area, x, y, x.lo..x.hi, (y.lo..y.hi).log_scale()),
        (true, true) => draw_on(spec, &area, x, y, (x.lo..x.hi).log_scale(), (y.lo..y.hi).log_scale()),
    }
}

fn draw_on<XS, YS>(spec: &ChartSpec, area: &Surface, x: Axis, y: Axis, x_spec: XS, y_spec: YS) -> Result<()>
where
    XS: AsRangedCoord<Value = f64>,
    YS: AsRangedCoord<Value = f64>,
    XS::CoordDescType: ValueFormatter<f64>,
    YS::CoordDescType: ValueFormatter<f64>,
{
    let mut chart =
        ChartBuilder::on(area).x_label_area_size(BOTTOM).y_label_area_size(LEFT).build_cartesian_2d(x_spec, y_spec)?;
    let fx = x.tick_formatter();
    let fy = y.tick_formatter();
    // Minor grid lines only on log axes, where they mark 2, 3, … 9 of each decade.
    chart
        .configure_mesh()
        .light_line_style(BLACK.mix(0.05))
        .x_max_light_lines(if x.log { 10 } else { 0 })
        .y_max_light_lines(if y.log { 10 } else { 0 })
        .bold_line_style(BLACK.mix(0.15))
        .x_labels(8)
        .y_labels(8)
        .label_style(font(14.0))
        .y_label_offset(centre_drop(14.0))
        .axis_desc_style(font(17.0))
        .x_desc(spec.x_label)
        .y_desc(spec.y_label)
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .draw()?;

    let mut legend_labels = Vec::new();
    for (i, s) in spec.series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let line_style = colour.stroke_width(2);
        let dot_style = colour.filled();
        let runs = runs(&s.points, x, y);
        let with_line = s.style != SeriesStyle::Points;
        let with_dots = s.style != SeriesStyle::Line;
        let mut annotated = false;
        let shape = ((with_line, with_dots), (line_style, dot_style));
        if with_line {
            for run in &runs {
                let anno = chart.draw_series(LineSeries::new(run.iter().copied(), line_style))?;
                if !annotated {
                    series_legend(anno, &s.label, shape);
                    annotated = true;
                }
            }
        }
        if with_dots {
            let dots = runs.iter().flatten().map(|&p| Circle::new(p, 4, dot_style));
            let anno = chart.draw_series(dots)?;
            if !annotated {
                series_legend(anno, &s.label, shape);
                annotated = true;
            }
        }
        if !annotated {
            // Nothing drawable: keep the legend entry so the reader sees the series exists.
            let anno = chart.draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?;
            series_legend(anno, &s.label, shape);
        }
        if !s.label.is_empty() {
            legend_labels.push(s.label.clone());
        }
    }

    // Reference lines on top of the data, after the series in the legend.
    for (i, m) in spec.markers.iter().enumerate() {
        let style = MARKER_COLOURS[i % MARKER_COLOURS.len()].stroke_width(2);
        let mut lines = Vec::new();
        if let Some(v) = m.x.filter(|v| x.accepts(*v)) {
            lines.push(vec![(v, y.lo), (v, y.hi)]);
        }
        if let Some(v) = m.y.filter(|v| y.accepts(*v)) {
            lines.push(vec![(x.lo, v), (x.hi, v)]);
        }
        for (k, line) in lines.into_iter().enumerate() {
            let anno = chart.draw_series(DashedLineSeries::new(line, 9, 5, style))?;
            if k == 0 && !m.label.is_empty() {
                legend_labels.push(m.label.clone());
                anno.label(m.label.as_str()).legend(move |(px, py)| {
                    EmptyElement::at((px, py))
                        + PathElement::new(vec![(0, 0), (8, 0)], style)
                        + PathElement::new(vec![(13, 0), (21, 0)], style)
                });
            }
        }
    }

    let plot = chart.plotting_area().strip_coord_spec();
    let (pw, ph) = plot.dim_in_pixel();
    plot.draw(&Rectangle::new([(0, 0), (pw as i32 - 1, ph as i32 - 1)], BLACK.stroke_width(1)))?;

    if !legend_labels.is_empty() {
        let legend_font = font(LEGEND_FONT);
        let text_w = legend_labels.iter().map(|l| legend_font.font.box_size(l).map(|b| b.0).unwrap_or(200)).max();
        let legend_w = (text_w.unwrap_or(0) + 30 + 20 + 10) as f64;
        let legend_h = (legend_labels.len() as f64) * (LEGEND_FONT * 1.25) + 30.0;
        let corner = legend_corner(spec, x, y, (legend_w / pw.max(1) as f64, legend_h / ph.max(1) as f64));
        chart
            .configure_series_labels()
            .position(corner)
            .margin(8)
            .legend_area_size(26)
            .label_font(legend_font)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.5))
            .draw()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_fit_data_and_survive_degenerate_input() {
        let a = Axis::fit([1.0, 3.0, f64::NAN].into_iter(), false);
        assert!((a.lo - 0.9).abs() < 1e-12 && (a.hi - 3.1).abs() < 1e-12);
        let a = Axis::fit([-1.0, 1e-3, 10.0].into_iter(), true);
        assert!(a.lo < 1e-3 && a.lo > 1e-4 && a.hi > 10.0 && a.hi < 100.0);
        // Less than two powers of 10 inside: whole decades.
        let a = Axis::fit([2.0, 5.0].into_iter(), true);
        assert!((a.lo - 1.0).abs() < 1e-12 && (a.hi - 10.0).abs() < 1e-12);
        let a = Axis::fit([0.5, 3.0].into_iter(), true);
        assert!((a.lo - 0.1).abs() < 1e-12 && (a.hi - 10.0).abs() < 1e-12);
        assert_eq!(Axis::fit(std::iter::empty(), false), Axis { lo: 0.0, hi: 1.0, log: false });
        let a = Axis::fit(std::iter::empty(), true);
        assert!((a.lo - 1.0).abs() < 1e-12 && (a.hi - 10.0).abs() < 1e-12);
        let a = Axis::fit([5.0, 5.0].into_iter(), false);
        assert!(a.lo < 5.0 && a.hi > 5.0);
        let a = Axis::fit([0.0].into_iter(), false);
        assert_eq!((a.lo, a.hi), (-1.0, 1.0));
        for log in [false, true] {
            let a = Axis::fit([-f64::MAX, f64::MAX, f64::MIN_POSITIVE / 8.0].into_iter(), log);
            assert!(a.lo.is_finite() && a.hi.is_finite() && a.hi > a.lo, "{a:?}");
        }
    }

    #[test]
    fn lines_break_at_points_the_axes_cannot_show() {
        let x = Axis { lo: 0.1, hi: 10.0, log: true };
        let y = Axis { lo: 0.0, hi: 1.0, log: false };
        let r = runs(&[(1.0, 0.1), (0.0, 0.2), (2.0, f64::NAN), (3.0, 0.3), (4.0, 0.4)], x, y);
        assert_eq!(r, vec![vec![(1.0, 0.1)], vec![(3.0, 0.3), (4.0, 0.4)]]);
    }
}
