//! Voxel grids: shape, field of view and centre, voxel positions. Flat voxel index is x fastest
//! (p = ix + nx·(iy + ny·iz)), the MDF default order "xyz".

use serde::{Deserialize, Serialize};

/// A regular 3-D voxel grid (a 2-D or 1-D grid has size 1 along the missing axes).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    /// Voxels per axis (x, y, z).
    pub shape: [usize; 3],
    /// Field of view per axis [m] (the extent covered by the voxels, edge to edge).
    pub fov_m: [f64; 3],
    /// Centre of the field of view [m].
    pub center_m: [f64; 3],
}

impl Grid {
    /// A grid of `shape` voxels over `fov_m` centred at `center_m`.
    pub fn new(shape: [usize; 3], fov_m: [f64; 3], center_m: [f64; 3]) -> Self {
        Grid { shape, fov_m, center_m }
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True when some axis has no voxel.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Voxel size per axis [m].
    pub fn voxel_size_m(&self) -> [f64; 3] {
        std::array::from_fn(|d| if self.shape[d] > 0 { self.fov_m[d] / self.shape[d] as f64 } else { 0.0 })
    }

    /// Voxel volume [m³] (axes with a single voxel count their FOV, or 1 m if the FOV is 0).
    pub fn voxel_volume_m3(&self) -> f64 {
        self.voxel_size_m().iter().map(|v| if *v > 0.0 { *v } else { 1.0 }).product()
    }

    /// Centre coordinate of voxel index `i` along axis `d` [m].
    pub fn coord_m(&self, d: usize, i: usize) -> f64 {
        let h = self.voxel_size_m()[d];
        self.center_m[d] - 0.5 * self.fov_m[d] + (i as f64 + 0.5) * h
    }

    /// Centre position of flat voxel `p` [m].
    pub fn position_m(&self, p: usize) -> [f64; 3] {
        let [ix, iy, iz] = self.unflatten(p);
        [self.coord_m(0, ix), self.coord_m(1, iy), self.coord_m(2, iz)]
    }

    /// (ix, iy, iz) of flat index `p`.
    pub fn unflatten(&self, p: usize) -> [usize; 3] {
        let [nx, ny, _] = self.shape;
        [p % nx, (p / nx) % ny, p / (nx * ny)]
    }

    /// Flat index of (ix, iy, iz).
    pub fn flatten(&self, i: [usize; 3]) -> usize {
        i[0] + self.shape[0] * (i[1] + self.shape[1] * i[2])
    }

    /// Index of the voxel containing `pos_m`, if inside the grid.
    pub fn voxel_of(&self, pos_m: [f64; 3]) -> Option<[usize; 3]> {
        let h = self.voxel_size_m();
        let mut out = [0; 3];
        for d in 0..3 {
            if self.shape[d] == 1 && (h[d] == 0.0 || (pos_m[d] - self.center_m[d]).abs() <= 0.5 * self.fov_m[d]) {
                out[d] = 0;
                continue;
            }
            let t = (pos_m[d] - (self.center_m[d] - 0.5 * self.fov_m[d])) / h[d];
            if !(t >= 0.0 && t < self.shape[d] as f64) {
                return None;
            }
            out[d] = t as usize;
        }
        Some(out)
    }

    /// Number of axes with more than one voxel.
    pub fn dimensionality(&self) -> usize {
        self.shape.iter().filter(|n| **n > 1).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_voxel_centres_x_fastest() {
        let g = Grid::new([4, 2, 1], [4e-3, 2e-3, 1e-3], [0.0, 1e-3, 0.0]);
        assert_eq!(g.len(), 8);
        let p = g.position_m(1);
        assert!((p[0] - -0.5e-3).abs() < 1e-15 && (p[1] - 0.5e-3).abs() < 1e-15);
        assert_eq!(g.unflatten(5), [1, 1, 0]);
        assert_eq!(g.flatten([1, 1, 0]), 5);
        assert_eq!(g.voxel_of([1.9e-3, 1.5e-3, 0.0]), Some([3, 1, 0]));
        assert_eq!(g.voxel_of([2.1e-3, 1.5e-3, 0.0]), None);
        assert!((g.voxel_volume_m3() - 1e-9).abs() < 1e-24);
    }
}
