//! Point masses for the simulator: a uniform solid sampled on the sub-voxel lattice of the simulation grid.

use magpie_core::Grid;

use super::body::Body;
use super::raster::section_area;

/// Whether axis `d` of `grid` is collapsed: a single voxel (2-D grids collapse z), or no usable voxel width.
pub(crate) fn collapsed(grid: &Grid, d: usize) -> bool {
    let n = grid.shape[d];
    n <= 1 || {
        let h = grid.fov_m[d] / n as f64;
        !(h > 0.0 && h.is_finite())
    }
}

/// Positions along a collapsed axis: the centres of `ss` sub-layers of the slab when it has a thickness,
/// else its centre plane.
fn layers(grid: &Grid, d: usize, ss: usize) -> Vec<f64> {
    let (c, t) = (grid.center_m[d], grid.fov_m[d]);
    if grid.shape[d] == 1 && t > 0.0 && t.is_finite() {
        (0..ss).map(|k| c - 0.5 * t + (k as f64 + 0.5) * t / ss as f64).collect()
    } else {
        vec![if c.is_finite() { c } else { 0.0 }]
    }
}

/// A point on a grid with collapsed axes: its coordinate along such an axis is kept when it lies within the
/// slab, else it is moved to the slab's centre plane.
pub(crate) fn project_point(grid: &Grid, p: [f64; 3]) -> [f64; 3] {
    std::array::from_fn(|d| {
        if grid.shape[d] == 1 {
            let (c, t) = (grid.center_m[d], grid.fov_m[d]);
            if t > 0.0 && (p[d] - c).abs() <= 0.5 * t {
                p[d]
            } else if c.is_finite() {
                c
            } else {
                p[d]
            }
        } else {
            p[d]
        }
    })
}

/// Sub-voxel lattice coordinates (world) of axis `d` within [lo, hi] (world).
fn lattice(grid: &Grid, d: usize, ss: usize, lo: f64, hi: f64) -> Vec<f64> {
    let delta = grid.fov_m[d] / (grid.shape[d] * ss) as f64;
    let g0 = grid.center_m[d] - 0.5 * grid.fov_m[d];
    let i0 = ((lo - g0) / delta - 0.5).ceil();
    let i1 = ((hi - g0) / delta - 0.5).floor();
    if !(i0.is_finite() && i1.is_finite()) || i1 < i0 {
        return vec![];
    }
    (i0 as i64..=i1 as i64).map(|i| g0 + (i as f64 + 0.5) * delta).filter(|x| *x >= lo && *x <= hi).collect()
}

/// Weighted sample points (world position, weight ∝ represented volume) of a uniform body on the sub-voxel
/// lattice of `grid` refined `ss` times per axis, extended beyond the grid to the whole body. Collapsed axes
/// carry the body's extent along them as weight (a projection) and place the points on their layers. Empty when
/// no lattice point falls inside.
pub(crate) fn sample_body(body: &Body, grid: &Grid, ss: usize) -> Vec<([f64; 3], f64)> {
    let ss = ss.max(1);
    let free: Vec<usize> = (0..3).filter(|&d| !collapsed(grid, d)).collect();
    let coll: Vec<usize> = (0..3).filter(|&d| collapsed(grid, d)).collect();
    let perm: [usize; 3] = std::array::from_fn(|i| if i < free.len() { free[i] } else { coll[i - free.len()] });
    let pb = body.permuted(perm);
    // Lattice coordinates of the free axes, local to the (permuted) body.
    let lat: Vec<Vec<f64>> = free
        .iter()
        .enumerate()
        .map(|(j, &d)| {
            let o = pb.origin[j];
            lattice(grid, d, ss, pb.bbox[j][0] + o, pb.bbox[j][1] + o).into_iter().map(|x| x - o).collect()
        })
        .collect();
    let coll_layers: Vec<Vec<f64>> = coll.iter().map(|&d| layers(grid, d, ss)).collect();
    let combos: usize = coll_layers.iter().map(Vec::len).product();
    let mut out = Vec::new();
    let mut emit = |local_free: &[f64], w: f64| {
        if w.is_nan() || w <= 0.0 {
            return;
        }
        let mut p = [0.0; 3];
        for (j, &d) in free.iter().enumerate() {
            p[d] = local_free[j] + pb.origin[j];
        }
        let wc = w / combos as f64;
        for k in 0..combos {
            let mut r = k;
            for (c, &d) in coll.iter().enumerate() {
                let l = &coll_layers[c];
                p[d] = l[r % l.len()];
                r /= l.len();
            }
            out.push((p, wc));
        }
    };
    match free.len() {
        3 => {
            let z0 = grid.center_m[2] - 0.5 * grid.fov_m[2] - pb.origin[2];
            let dz = grid.fov_m[2] / (grid.shape[2] * ss) as f64;
            for &x in &lat[0] {
                for &y in &lat[1] {
                    let Some((lo, hi)) = pb.axis_interval([x, y, 0.0], 2) else { continue };
                    let k0 = ((lo - z0) / dz - 0.5).ceil() as i64;
                    let k1 = ((hi - z0) / dz - 0.5).floor() as i64;
                    for k in k0..=k1 {
                        let z = z0 + (k as f64 + 0.5) * dz;
                        if z >= lo && z <= hi {
                            emit(&[x, y, z], 1.0);
                        }
                    }
                }
            }
        }
        2 => {
            for &x in &lat[0] {
                for &y in &lat[1] {
                    if let Some((lo, hi)) = pb.axis_interval([x, y, 0.0], 2) {
                        emit(&[x, y], hi - lo);
                    }
                }
            }
        }
        1 => {
            for &x in &lat[0] {
                emit(&[x], section_area(&pb, x));
            }
        }
        _ => emit(&[], 1.0),
    }
    out
}
