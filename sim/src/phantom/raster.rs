//! Volume rasterisation: how much of a convex body lies in each voxel of a grid.
//!
//! The volume of body ∩ voxel is integrated **exactly along z** (the chord of a line through a convex body is one
//! interval, known in closed form, see `Body::line_interval`) and numerically over y and x:
//!
//! * **y** (inner): the integrand y ↦ |chord ∩ z-cell| is smooth except at points that are all known in closed
//!   form for a quadric cut by planes: where the line becomes tangent (a discriminant's roots), where the chord's
//!   end switches from the quadric to a cap plane, where an end crosses a z-plane of the grid, and the y-planes of
//!   the grid. Between these break points each piece is integrated by 8-point Gauss–Legendre after the
//!   substitution y = m − h·cos θ, which removes the square-root behaviour at the ends of a piece (a sphere's
//!   chord 2√(r² − y²) becomes smooth in θ), bisected in θ until the integrals of the chord and of its first
//!   moment agree between two levels to 1e-12 of their largest possible value.
//! * **x** (outer): the cross-section integrals have kinks at positions that are not computed (for example where
//!   a section's outline touches a grid plane), so x is integrated adaptively in the same way (8 points in θ,
//!   bisected until two levels agree, on the whole vector of voxel contributions, to 1e-9 of the body's volume
//!   in proportion to the interval) between the x-planes of the grid and the body's exact x-extent.
//!
//! Every flat face of a convex body parallel to an axis lies at the body's extreme along that axis, so the only
//! jumps of the integrands are at break points. The integrated volumes agree with the closed forms to ~1e-15
//! (the tests require 1e-9), far below the 1e-6 the ground truth needs; the result is then normalised by the
//! integrated total volume (in and out of the grid), so a body inside the grid is distributed with its exact total.
//!
//! Rounding is kept out of the way: chords are computed about the vertex of the line's quadratic in a frame of
//! the body (see `Quadric::line_set`), break points closer than 1e-13 of the body's extent are merged, and each
//! bisection has a depth limit and a work budget, so that noise can cost time only in bounded amounts.
//!
//! Axes with a single voxel (`shape[d] == 1`) are projection axes: that voxel is unbounded, so a 2-D grid counts
//! the whole thickness of a sample (see the documentation of the `phantom` module).

use std::sync::OnceLock;

use magpie_core::Grid;
use rayon::prelude::*;

use super::body::Body;

/// Relative tolerance of the adaptive x-integration (fraction of the body's volume).
const REL_TOL: f64 = 1e-9;
/// Deepest bisection of an x-interval.
const MAX_DEPTH: usize = 48;
const INNER_NODES: usize = 8;
/// Tolerance of the inner (y) integration relative to the largest possible value, z-extent × piece length.
const INNER_TOL: f64 = 1e-12;
const INNER_MAX_DEPTH: usize = 30;
const INNER_BUDGET: usize = 2000;
const OUTER_BUDGET: usize = 20000;
const OUTER_NODES: usize = 8;

/// Gauss–Legendre nodes and weights on [−1, 1] (Newton iteration on the Legendre recurrence).
fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, x);
            for k in 2..=n {
                let p2 = ((2 * k - 1) as f64 * x * p1 - (k - 1) as f64 * p0) / k as f64;
                p0 = p1;
                p1 = p2;
            }
            dp = n as f64 * (x * p1 - p0) / (x * x - 1.0);
            let dx = p1 / dp;
            x -= dx;
            if dx.abs() < 1e-16 {
                break;
            }
        }
        out.push((x, 2.0 / ((1.0 - x * x) * dp * dp)));
    }
    out
}

fn inner_rule() -> &'static [(f64, f64)] {
    static R: OnceLock<Vec<(f64, f64)>> = OnceLock::new();
    R.get_or_init(|| gauss_legendre(INNER_NODES))
}

/// The chord (lo, hi) along z and its y-weight at the nodes of one Gauss rule, with the integrals of the chord
/// and of its first moment (chord × centre / z-extent).
#[derive(Clone, Copy)]
struct Nodes {
    node: [(f64, f64, f64); INNER_NODES],
    len: usize,
    int_chord: f64,
    int_moment: f64,
}

/// Integrates over y ∈ [a, c] at fixed x (substituting y = m − h·cos θ), adaptively in θ until the integrals of
/// the chord and of its moment are stable to `tol`, and hands each accepted node's (y-weight, lo, hi) to `sink`.
/// Together these two fix the integrals of lo and hi, hence of every clipped overlap on a piece between break
/// points; unlike lo and hi themselves they vanish continuously where the chord does (a break point computed
/// a few ulps off would otherwise look like a jump).
fn inner_piece(b: &Body, x: f64, a: f64, c: f64, tol: f64, mut sink: impl FnMut(f64, f64, f64)) {
    let m = 0.5 * (a + c);
    let h = 0.5 * (c - a);
    let moment_scale = 1.0 / (b.bbox[2][1] - b.bbox[2][0]);
    let eval = |t0: f64, t1: f64| {
        let mut n = Nodes { node: [(0.0, 0.0, 0.0); INNER_NODES], len: 0, int_chord: 0.0, int_moment: 0.0 };
        let (tm, th) = (0.5 * (t0 + t1), 0.5 * (t1 - t0));
        for &(s, ws) in inner_rule() {
            let theta = tm + th * s;
            let y = m - h * theta.cos();
            let wy = ws * th * h * theta.sin();
            if let Some((lo, hi)) = b.axis_interval([x, y, 0.0], 2) {
                if hi > lo {
                    n.node[n.len] = (wy, lo, hi);
                    n.len += 1;
                    n.int_chord += wy * (hi - lo);
                    n.int_moment += wy * (hi - lo) * (hi + lo) * moment_scale;
                }
            }
        }
        n
    };
    let pi = std::f64::consts::PI;
    let mut stack = vec![(0.0, pi, eval(0.0, pi), 0usize)];
    // A budget of bisections bounds the work should rounding noise ever exceed the tolerance.
    let mut budget = INNER_BUDGET;
    while let Some((t0, t1, coarse, depth)) = stack.pop() {
        let tm = 0.5 * (t0 + t1);
        let (left, right) = (eval(t0, tm), eval(tm, t1));
        let err = (left.int_chord + right.int_chord - coarse.int_chord).abs()
            + (left.int_moment + right.int_moment - coarse.int_moment).abs();
        budget = budget.saturating_sub(1);
        if err <= tol * (t1 - t0) / pi || depth >= INNER_MAX_DEPTH || budget == 0 {
            for n in [left, right] {
                for &(wy, lo, hi) in &n.node[..n.len] {
                    sink(wy, lo, hi);
                }
            }
        } else {
            stack.push((t0, tm, left, depth + 1));
            stack.push((tm, t1, right, depth + 1));
        }
    }
}

fn outer_rule() -> &'static [(f64, f64)] {
    static R: OnceLock<Vec<(f64, f64)>> = OnceLock::new();
    R.get_or_init(|| gauss_legendre(OUTER_NODES))
}

/// The cells of one grid axis in local coordinates of a body.
#[derive(Debug, Clone)]
pub(crate) struct AxisCells {
    /// Single voxel: the axis is a projection axis, the cell is unbounded.
    pub unbounded: bool,
    /// Lower edge of cell 0 (local) [m].
    pub start: f64,
    /// Cell width [m].
    pub width: f64,
    /// Number of cells.
    pub n: usize,
}

impl AxisCells {
    /// Axis `d` of `grid` relative to `origin_d`. `None` when the axis is unusable (no voxel, or several voxels
    /// with a non-positive or non-finite extent).
    pub fn new(grid: &Grid, d: usize, origin_d: f64) -> Option<AxisCells> {
        let n = grid.shape[d];
        if n == 0 {
            return None;
        }
        if n == 1 {
            return Some(AxisCells { unbounded: true, start: 0.0, width: f64::INFINITY, n: 1 });
        }
        let width = grid.fov_m[d] / n as f64;
        let start = grid.center_m[d] - 0.5 * grid.fov_m[d] - origin_d;
        (width > 0.0 && width.is_finite() && start.is_finite()).then_some(AxisCells {
            unbounded: false,
            start,
            width,
            n,
        })
    }

    fn plane(&self, i: usize) -> f64 {
        self.start + i as f64 * self.width
    }

    /// The cell containing `v` (cells are half-open [lo, hi)), if any.
    pub fn cell(&self, v: f64) -> Option<usize> {
        if self.unbounded {
            return Some(0);
        }
        let t = (v - self.start) / self.width;
        (t >= 0.0 && t < self.n as f64).then(|| (t as usize).min(self.n - 1))
    }

    /// The grid planes strictly inside (a, b).
    fn planes_in(&self, a: f64, b: f64, out: &mut Vec<f64>) {
        if self.unbounded {
            return;
        }
        let i0 = ((a - self.start) / self.width).floor().max(0.0) as usize;
        let i1 = (((b - self.start) / self.width).ceil().max(0.0) as usize).min(self.n);
        for i in i0..=i1 {
            let p = self.plane(i);
            if p > a && p < b {
                out.push(p);
            }
        }
    }

    /// The range of cells overlapping [a, b], if any.
    fn range(&self, a: f64, b: f64) -> Option<(usize, usize)> {
        if self.unbounded {
            return Some((0, 0));
        }
        let lo = ((a - self.start) / self.width).floor();
        let hi = ((b - self.start) / self.width).floor();
        if hi < 0.0 || lo >= self.n as f64 {
            return None;
        }
        Some((lo.max(0.0) as usize, (hi.max(0.0) as usize).min(self.n - 1)))
    }

    /// Adds `w·|[lo, hi] ∩ cell|` for every cell in `range` to `out[base + (i − range.0)]`.
    fn distribute(&self, lo: f64, hi: f64, w: f64, range: (usize, usize), out: &mut [f64], base: usize) {
        if self.unbounded {
            out[base] += w * (hi - lo);
            return;
        }
        let first = (((lo - self.start) / self.width).floor().max(range.0 as f64)) as usize;
        for i in first..=range.1 {
            let a = self.plane(i).max(lo);
            let b = self.plane(i + 1).min(hi);
            if b > a {
                out[base + i - range.0] += w * (b - a);
            } else if self.plane(i) >= hi {
                break;
            }
        }
    }
}

/// Roots of a2·s² + a1·s + a0 (and the vertex) strictly inside (lo, hi).
fn push_roots(c: [f64; 3], lo: f64, hi: f64, out: &mut Vec<f64>) {
    let [a2, a1, a0] = c;
    let mut push = |v: f64| {
        if v.is_finite() && v > lo && v < hi {
            out.push(v);
        }
    };
    if a2 == 0.0 {
        if a1 != 0.0 {
            push(-a0 / a1);
        }
        return;
    }
    push(-a1 / (2.0 * a2));
    let disc = a1 * a1 - 4.0 * a2 * a0;
    if disc >= 0.0 {
        let q = -0.5 * (a1 + if a1 >= 0.0 { 1.0 } else { -1.0 } * disc.sqrt());
        push(q / a2);
        if q != 0.0 {
            push(a0 / q);
        }
    }
}

/// Break points in y (local) of the z-chord integrand at fixed x, inside (ya, yb): see the module docs.
fn y_breaks(body: &Body, x: f64, z_planes: &[f64], ya: f64, yb: f64, out: &mut Vec<f64>) {
    if let Some(q) = &body.quadric {
        // Q(x, y, t) = α t² + β(y) t + γ(y): β(y) = β0 + β1·y, γ(y) = g0 y² + g1 y + g2.
        let [alpha, beta0, _] = q.on_line([x, 0.0, 0.0], [0.0, 0.0, 1.0]);
        let beta1 = q.bilinear([0.0, 1.0, 0.0], [0.0, 0.0, 1.0]);
        let g = q.on_line([x, 0.0, 0.0], [0.0, 1.0, 0.0]);
        // Tangency of the z-line: discriminant of α t² + β(y) t + γ(y) in t.
        let disc = [
            beta1 * beta1 - 4.0 * alpha * g[0],
            2.0 * beta0 * beta1 - 4.0 * alpha * g[1],
            beta0 * beta0 - 4.0 * alpha * g[2],
        ];
        push_roots(disc, ya, yb, out);
        // Degenerate cases (α = 0: the line parallel to a cylinder's axis): roots of γ and β.
        push_roots(g, ya, yb, out);
        push_roots([0.0, beta1, beta0], ya, yb, out);
        for &zj in z_planes {
            push_roots(q.on_line([x, 0.0, zj], [0.0, 1.0, 0.0]), ya, yb, out);
        }
    }
    for (k, h) in body.planes.iter().enumerate() {
        let [nx, ny, nz] = h.n;
        if ny != 0.0 {
            let v = (h.d - nx * x) / ny;
            if v > ya && v < yb {
                out.push(v);
            }
        }
        if nz == 0.0 {
            continue;
        }
        // The plane as z = s0 + s1·y on this x.
        let s0 = (h.d - nx * x) / nz;
        let s1 = -ny / nz;
        if let Some(q) = &body.quadric {
            push_roots(q.on_line([x, 0.0, s0], [0.0, 1.0, s1]), ya, yb, out);
        }
        if s1 != 0.0 {
            for &zj in z_planes {
                let v = (zj - s0) / s1;
                if v > ya && v < yb {
                    out.push(v);
                }
            }
        }
        for h2 in &body.planes[k + 1..] {
            if h2.n[2] == 0.0 {
                continue;
            }
            let t0 = (h2.d - h2.n[0] * x) / h2.n[2];
            let t1 = -h2.n[1] / h2.n[2];
            if t1 != s1 {
                let v = (t0 - s0) / (s1 - t1);
                if v.is_finite() && v > ya && v < yb {
                    out.push(v);
                }
            }
        }
    }
}

/// Everything the integration of one body over one grid needs.
struct Ctx<'a> {
    body: &'a Body,
    cells: [AxisCells; 3],
    /// Grid planes crossing the body's y- and z-extent (local).
    y_planes: Vec<f64>,
    z_planes: Vec<f64>,
}

impl<'a> Ctx<'a> {
    fn new(body: &'a Body, cells: [AxisCells; 3]) -> Self {
        let mut y_planes = Vec::new();
        cells[1].planes_in(body.bbox[1][0], body.bbox[1][1], &mut y_planes);
        let mut z_planes = Vec::new();
        cells[2].planes_in(body.bbox[2][0], body.bbox[2][1], &mut z_planes);
        Ctx { body, cells, y_planes, z_planes }
    }
}

/// The cells an x-interval contributes to: its x-cell and the ranges of y- and z-cells the body can reach.
type Target = (usize, (usize, usize), (usize, usize));

/// One x-interval between break points, within one x-cell (or outside the grid).
struct XPiece {
    xa: f64,
    xb: f64,
    /// Cells (ix, y-range, z-range) when the piece can contribute to the grid.
    target: Option<Target>,
}

impl XPiece {
    fn len(&self) -> usize {
        1 + self.target.map_or(0, |(_, ry, rz)| (ry.1 - ry.0 + 1) * (rz.1 - rz.0 + 1))
    }
}

impl Ctx<'_> {
    /// Adds w·∫ (chord, and its overlap with every (iy, iz) cell of the piece's target) dy at x to `out`.
    fn section(&self, x: f64, w: f64, piece: &XPiece, out: &mut [f64], scratch: &mut Vec<f64>) {
        let b = self.body;
        let [ya, yb] = b.bbox[1];
        let z_planes: &[f64] = if piece.target.is_some() { &self.z_planes } else { &[] };
        scratch.clear();
        scratch.push(ya);
        scratch.push(yb);
        if piece.target.is_some() {
            scratch.extend_from_slice(&self.y_planes);
        }
        y_breaks(b, x, z_planes, ya, yb, scratch);
        scratch.sort_by(f64::total_cmp);
        // Break points closer than ~1e-13 of the extent (near-double roots) only make slivers whose integrand is
        // rounding noise.
        let merge = 1e-13 * (yb - ya);
        scratch.dedup_by(|b2, b1| *b2 - *b1 <= merge);
        let z_extent = b.bbox[2][1] - b.bbox[2][0];
        let min_width = 1e-6 * (yb - ya);
        for seg in scratch.windows(2) {
            let (a, c) = (seg[0], seg[1]);
            // The chord vanishes only at break points, so the middle of a piece tells whether the line meets the
            // body anywhere on it (most pieces of a thin oblique tube's bounding box miss it).
            if c <= a || b.axis_interval([x, 0.5 * (a + c), 0.0], 2).is_none() {
                continue;
            }
            let cell = piece.target.and_then(|(_, ry, rz)| {
                self.cells[1].cell(0.5 * (a + c)).filter(|iy| (ry.0..=ry.1).contains(iy)).map(|iy| (iy, ry, rz))
            });
            inner_piece(b, x, a, c, INNER_TOL * z_extent * (c - a).max(min_width), |wy, lo, hi| {
                let wy = w * wy;
                out[0] += wy * (hi - lo);
                if let Some((iy, ry, rz)) = cell {
                    let nz = rz.1 - rz.0 + 1;
                    self.cells[2].distribute(lo, hi, wy, rz, out, 1 + (iy - ry.0) * nz);
                }
            });
        }
    }

    /// Gauss rule over θ ∈ [t0, t1] for x = m − h·cos θ.
    fn x_rule(&self, piece: &XPiece, t0: f64, t1: f64, out: &mut [f64], scratch: &mut Vec<f64>) {
        out.fill(0.0);
        let m = 0.5 * (piece.xa + piece.xb);
        let h = 0.5 * (piece.xb - piece.xa);
        let tm = 0.5 * (t0 + t1);
        let th = 0.5 * (t1 - t0);
        for &(s, ws) in outer_rule() {
            let theta = tm + th * s;
            let x = m - h * theta.cos();
            self.section(x, ws * th * h * theta.sin(), piece, out, scratch);
        }
    }

    /// Adaptive integral over the piece: [total volume, per-cell volumes...].
    fn integrate(&self, piece: &XPiece, tol: f64) -> Vec<f64> {
        let n = piece.len();
        let mut result = vec![0.0; n];
        let mut scratch = Vec::new();
        let pi = std::f64::consts::PI;
        let mut coarse = vec![0.0; n];
        self.x_rule(piece, 0.0, pi, &mut coarse, &mut scratch);
        let mut stack = vec![(0.0, pi, coarse, 0usize)];
        let mut budget = OUTER_BUDGET;
        while let Some((t0, t1, coarse, depth)) = stack.pop() {
            budget = budget.saturating_sub(1);
            let tm = 0.5 * (t0 + t1);
            let mut left = vec![0.0; n];
            let mut right = vec![0.0; n];
            self.x_rule(piece, t0, tm, &mut left, &mut scratch);
            self.x_rule(piece, tm, t1, &mut right, &mut scratch);
            let err: f64 = (0..n).map(|i| (left[i] + right[i] - coarse[i]).abs()).sum();
            if err <= tol * (t1 - t0) / pi || depth >= MAX_DEPTH || budget == 0 {
                for i in 0..n {
                    result[i] += left[i] + right[i];
                }
            } else {
                stack.push((t0, tm, left, depth + 1));
                stack.push((tm, t1, right, depth + 1));
            }
        }
        result
    }
}

/// Volume of `body` in every voxel of `grid` that it touches, as (flat index, volume [m³]) in ascending index
/// order, and the integrated volume of the whole body (inside and outside the grid) [m³]. `None` for an unusable
/// grid (see [`AxisCells::new`]). `volume_m3` (the exact volume) sets the tolerance.
pub(crate) fn body_volumes(body: &Body, grid: &Grid, volume_m3: f64) -> Option<(Vec<(usize, f64)>, f64)> {
    let cells: [AxisCells; 3] = [
        AxisCells::new(grid, 0, body.origin[0])?,
        AxisCells::new(grid, 1, body.origin[1])?,
        AxisCells::new(grid, 2, body.origin[2])?,
    ];
    let ctx = Ctx::new(body, cells);
    let [xa, xb] = body.bbox[0];
    let mut xs = vec![xa, xb];
    ctx.cells[0].planes_in(xa, xb, &mut xs);
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let ry = ctx.cells[1].range(body.bbox[1][0], body.bbox[1][1]);
    let rz = ctx.cells[2].range(body.bbox[2][0], body.bbox[2][1]);
    let pieces: Vec<XPiece> = xs
        .windows(2)
        .filter(|s| s[1] > s[0])
        .map(|s| {
            let ix = ctx.cells[0].cell(0.5 * (s[0] + s[1]));
            let target = match (ix, ry, rz) {
                (Some(ix), Some(ry), Some(rz)) => Some((ix, ry, rz)),
                _ => None,
            };
            XPiece { xa: s[0], xb: s[1], target }
        })
        .collect();
    let width = xb - xa;
    let tol_total = REL_TOL * volume_m3;
    let results: Vec<Vec<f64>> =
        pieces.par_iter().map(|p| ctx.integrate(p, tol_total * (p.xb - p.xa).max(1e-6 * width) / width)).collect();
    let mut total = 0.0;
    let mut map = std::collections::BTreeMap::<usize, f64>::new();
    for (p, r) in pieces.iter().zip(&results) {
        total += r[0];
        if let Some((ix, ry, rz)) = p.target {
            let nz = rz.1 - rz.0 + 1;
            for (k, v) in r[1..].iter().enumerate() {
                if *v != 0.0 {
                    let iy = ry.0 + k / nz;
                    let iz = rz.0 + k % nz;
                    *map.entry(grid.flatten([ix, iy, iz])).or_insert(0.0) += v;
                }
            }
        }
    }
    Some((map.into_iter().collect(), total))
}

/// ∫ (extent of `body` along local axis 2) d(local axis 1) at local axis-0 coordinate `x`: the area of the
/// body's cross-section perpendicular to axis 0 [m²].
pub(crate) fn section_area(body: &Body, x: f64) -> f64 {
    let cells = [
        AxisCells { unbounded: true, start: 0.0, width: f64::INFINITY, n: 1 },
        AxisCells { unbounded: true, start: 0.0, width: f64::INFINITY, n: 1 },
        AxisCells { unbounded: true, start: 0.0, width: f64::INFINITY, n: 1 },
    ];
    let ctx = Ctx::new(body, cells);
    let piece = XPiece { xa: x, xb: x, target: None };
    let mut out = [0.0];
    ctx.section(x, 1.0, &piece, &mut out, &mut Vec::new());
    out[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        for n in [2, 5, 8, 10] {
            let r = gauss_legendre(n);
            for deg in 0..2 * n {
                let got: f64 = r.iter().map(|(x, w)| w * x.powi(deg as i32)).sum();
                let want = if deg % 2 == 1 { 0.0 } else { 2.0 / (deg as f64 + 1.0) };
                assert!((got - want).abs() < 1e-14, "n {n} deg {deg}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn section_areas_of_sphere_and_tilted_cylinder() {
        let s = Body::sphere([0.3, -0.2, 0.1], 2.0);
        for x in [-1.9, -1.0, 0.0, 0.5, 1.99] {
            let want = std::f64::consts::PI * (4.0 - x * x);
            assert!((section_area(&s, x) - want).abs() < 1e-12 * want.max(1e-3), "{x}");
        }
        // A cylinder along y (radius 1, length 4): every section perpendicular to x is a rectangle 4 × chord.
        let c = Body::frustum([0.0, -2.0, 0.0], 1.0, [0.0, 2.0, 0.0], 1.0);
        for x in [-0.99, -0.5, 0.0, 0.7] {
            let want = 4.0 * 2.0 * (1.0f64 - x * x).sqrt();
            assert!((section_area(&c, x) - want).abs() < 1e-12 * want, "{x}");
        }
    }
}
