//! Quantities from iron maps: totals in regions, cells from iron.

use magpie_core::Grid;
use serde::{Deserialize, Serialize};

/// A region of interest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "shape", rename_all = "snake_case")]
pub enum Region {
    /// All voxels whose centre lies within the sphere.
    Sphere {
        /// Centre [m].
        center_m: [f64; 3],
        /// Radius [m].
        radius_m: f64,
    },
    /// All voxels whose centre lies within the axis-aligned box.
    Box {
        /// Centre [m].
        center_m: [f64; 3],
        /// Edge lengths [m].
        size_m: [f64; 3],
    },
}

impl Region {
    /// Whether a point lies inside.
    pub fn contains(&self, p: [f64; 3]) -> bool {
        match *self {
            Region::Sphere { center_m, radius_m } => {
                (0..3).map(|d| (p[d] - center_m[d]).powi(2)).sum::<f64>() <= radius_m * radius_m
            }
            Region::Box { center_m, size_m } => (0..3).all(|d| (p[d] - center_m[d]).abs() <= 0.5 * size_m[d] + 1e-12),
        }
    }

    /// Parses "sphere:x,y,z,r" or "box:x,y,z,sx,sy,sz" (millimetres).
    ///
    /// # Errors
    /// A malformed description.
    pub fn parse_mm(s: &str) -> Result<Self, String> {
        let (kind, rest) = s
            .split_once(':')
            .ok_or_else(|| format!("region {s:?}: expected sphere:x,y,z,r or box:x,y,z,sx,sy,sz (mm)"))?;
        let v: Vec<f64> = rest
            .split(',')
            .map(|t| t.trim().parse::<f64>().map(|x| x * 1e-3))
            .collect::<Result<_, _>>()
            .map_err(|_| format!("region {s:?}: numbers expected"))?;
        match (kind, v.as_slice()) {
            ("sphere", [x, y, z, r]) if *r > 0.0 => Ok(Region::Sphere { center_m: [*x, *y, *z], radius_m: *r }),
            ("box", [x, y, z, a, b, c]) if *a >= 0.0 && *b >= 0.0 && *c >= 0.0 => {
                Ok(Region::Box { center_m: [*x, *y, *z], size_m: [*a, *b, *c] })
            }
            _ => Err(format!("region {s:?}: expected sphere:x,y,z,r or box:x,y,z,sx,sy,sz (mm)")),
        }
    }
}

/// Sum of `map` over the voxels of `grid` inside `region` (planar grids: the region's test uses the plane).
pub fn region_total(map: &[f64], grid: &Grid, region: &Region) -> f64 {
    (0..grid.len())
        .filter(|&p| {
            let mut pos = grid.position_m(p);
            if grid.shape[2] == 1 {
                // A 2-D image is a projection: test the in-plane coordinates only.
                pos[2] = match region {
                    Region::Sphere { center_m, .. } | Region::Box { center_m, .. } => center_m[2],
                };
            }
            region.contains(pos)
        })
        .map(|p| map[p])
        .sum()
}

/// Cells from iron: ng Fe / (pg Fe per cell) · 1000.
pub fn cells_from_iron_ng(iron_ng: f64, pg_fe_per_cell: f64) -> f64 {
    iron_ng * 1e3 / pg_fe_per_cell
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_select_voxel_centres() {
        let g = Grid::new([4, 4, 1], [4e-3, 4e-3, 1e-3], [0.0; 3]);
        let map: Vec<f64> = (0..16).map(|p| p as f64).collect();
        let r = Region::parse_mm("box:-1,-1,0,2,2,10").unwrap();
        // Voxels with centres at x, y ∈ {−1.5, −0.5}: indices 0, 1, 4, 5.
        assert_eq!(region_total(&map, &g, &r), 0.0 + 1.0 + 4.0 + 5.0);
        let s = Region::parse_mm("sphere:0,0,5,0.8").unwrap();
        assert_eq!(region_total(&map, &g, &s), 5.0 + 6.0 + 9.0 + 10.0);
        assert!(Region::parse_mm("cube:1,2").is_err());
        assert_eq!(cells_from_iron_ng(7.0, 7.0), 1000.0);
    }
}
