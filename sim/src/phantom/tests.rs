//! Tests of the phantom module against closed forms, symmetry and refinement (deterministic, no randomness).

use std::f64::consts::PI;

use magpie_core::units::{FE_MOLAR_MASS_KG_PER_MOL, KG_PER_NG, KG_PER_PG};
use magpie_core::Grid;

use super::*;

const MM: f64 = 1e-3;
const UG: f64 = 1e-9;

fn mm(v: [f64; 3]) -> [f64; 3] {
    v.map(|x| x * MM)
}

fn src(name: &str, shape: Shape, amount: Amount) -> Source {
    Source { name: name.into(), shape, amount }
}

fn ug(v: f64) -> Amount {
    Amount::Iron { iron_kg: v * UG }
}

fn one(s: Source) -> Phantom {
    Phantom::new("test", "", "", vec![s]).unwrap()
}

fn grid_mm(shape: [usize; 3], fov: [f64; 3], center: [f64; 3]) -> Grid {
    Grid::new(shape, mm(fov), mm(center))
}

fn sphere(c: [f64; 3], r: f64) -> Shape {
    Shape::Sphere { center_m: mm(c), radius_m: r * MM }
}

fn cylinder(a: [f64; 3], b: [f64; 3], r: f64) -> Shape {
    Shape::Cylinder { start_m: mm(a), end_m: mm(b), radius_m: r * MM }
}

fn cone(apex: [f64; 3], base: [f64; 3], r_base: f64, r_tip: f64) -> Shape {
    Shape::Cone { apex_m: mm(apex), base_center_m: mm(base), base_radius_m: r_base * MM, tip_radius_m: r_tip * MM }
}

fn frustum_volume(r0: f64, r1: f64, h: f64) -> f64 {
    PI * h / 3.0 * (r0 * r0 + r0 * r1 + r1 * r1)
}

/// A varied set of extended shapes (mm): tilted, truncated, pointed, off-lattice.
fn assorted_shapes() -> Vec<(&'static str, Shape)> {
    vec![
        ("sphere", sphere([0.37, -0.61, 0.23], 1.7)),
        ("ellipsoid", Shape::Ellipsoid { center_m: mm([-1.1, 0.4, 0.3]), semi_axes_m: mm([2.3, 1.2, 0.9]) }),
        ("tilted_cylinder", cylinder([-2.2, -1.3, -1.1], [1.9, 1.6, 1.4], 0.8)),
        ("z_cylinder", cylinder([0.3, 0.2, -1.7], [0.3, 0.2, 1.9], 1.1)),
        ("tilted_frustum", cone([-2.0, 1.5, -1.2], [2.1, -0.9, 1.3], 1.6, 0.4)),
        ("pointed_cone", cone([0.2, -2.1, 0.4], [-0.3, 2.4, -0.2], 1.3, 0.0)),
        ("box", Shape::Box { center_m: mm([0.35, -0.2, 0.15]), size_m: mm([2.6, 1.3, 3.1]) }),
    ]
}

// ---------------------------------------------------------------------------------------------------------
// Volumes and iron.

#[test]
fn source_volumes_and_iron_match_closed_forms() {
    let c = Amount::Concentration { concentration_mol_per_l: 0.05 };
    let fe = |v_m3: f64| 0.05 * v_m3 * 1e3 * FE_MOLAR_MASS_KG_PER_MOL;
    let s = src("s", sphere([1.0, 2.0, 3.0], 1.3), c);
    let v = 4.0 / 3.0 * PI * (1.3 * MM).powi(3);
    assert!((s.volume_m3() - v).abs() < 1e-15 * v);
    assert!((s.iron_kg().unwrap() - fe(v)).abs() < 1e-14 * fe(v));
    // Truncated cone r 0.5 → 2 over 6 mm, tilted: π h/3 (r0² + r0 r1 + r1²).
    let k = src("k", cone([0.0, 0.0, 0.0], [6.0 * 0.6, 6.0 * 0.8, 0.0], 2.0, 0.5), c);
    let v = frustum_volume(0.5 * MM, 2.0 * MM, 6.0 * MM);
    assert!((k.volume_m3() - v).abs() < 1e-14 * v);
    assert!((k.iron_kg().unwrap() - fe(v)).abs() < 1e-13 * fe(v));
    // Cylinder: π r² L.
    let y = src("y", cylinder([1.0, 1.0, 1.0], [3.0, 4.0, 7.0], 0.7), c);
    let v = PI * (0.7 * MM).powi(2) * 7.0 * MM;
    assert!((y.volume_m3() - v).abs() < 1e-14 * v);
    // Cells × iron per cell; iron mass as given.
    let cells = src("cells", sphere([0.0; 3], 0.5), Amount::Cells { cells: 3e5, iron_kg_per_cell: 10.0 * KG_PER_PG });
    assert!((cells.iron_kg().unwrap() - 3e-9).abs() < 1e-22);
    assert_eq!(cells.cells(), Some(3e5));
    let p = src("p", Shape::Point { position_m: [0.0; 3] }, Amount::Iron { iron_kg: 5.0 * KG_PER_NG });
    assert_eq!(p.iron_kg().unwrap(), 5.0 * KG_PER_NG);
    assert_eq!(p.volume_m3(), 0.0);
    // A concentration needs a volume.
    let bad = src("dot", Shape::Point { position_m: [0.0; 3] }, c);
    let e = bad.iron_kg().unwrap_err().to_string();
    assert!(e.starts_with("source \"dot\": `amount`") && e.contains("point"), "{e}");
}

#[test]
fn concentration_cube_of_100_mmol_per_l_holds_44_7_ug() {
    // physics.md §4.1: 2 mm cube (8 µL) at 100 mmol/L ⇒ 44.7 µg Fe.
    let p = Phantom::preset("concentration_cubes").unwrap();
    let cube = p.source("cad2_100mM").unwrap();
    assert!((cube.volume_m3() - 8e-9).abs() < 1e-22);
    let fe = cube.iron_kg().unwrap() / UG;
    assert!((fe - 44.7).abs() < 0.001 * 44.7, "{fe}");
    // The 1.5-fold series: consecutive ratios 1.5 within the rounding of the published concentrations.
    let mut irons: Vec<f64> = p.sources.iter().map(|s| s.iron_kg().unwrap()).collect();
    irons.sort_by(|a, b| b.total_cmp(a));
    for w in irons.windows(2) {
        assert!((w[0] / w[1] - 1.5).abs() < 0.01, "{}", w[0] / w[1]);
    }
}

#[test]
fn shape_cone_volume_is_the_published_683_9_ul() {
    let p = Phantom::preset("shape_cone").unwrap();
    let v_ul = p.sources[0].volume_m3() * 1e9;
    assert!((v_ul - 683.9).abs() < 0.05, "{v_ul}");
    assert!((p.total_iron_kg() / UG - 1909.65).abs() < 0.01, "{}", p.total_iron_kg() / UG);
}

// ---------------------------------------------------------------------------------------------------------
// Rasterisation.

#[test]
fn integrated_volumes_match_closed_forms_to_1e_9() {
    // The raw integration, before normalisation, on a grid that cuts every shape into many voxels.
    let grid = grid_mm([9, 7, 8], [9.0, 7.0, 8.0], [0.1, -0.2, 0.05]);
    for (name, shape) in assorted_shapes() {
        let v = shape.volume_m3();
        let (vols, total) = raster::body_volumes(&shape.body().unwrap(), &grid, v).unwrap();
        let in_grid: f64 = vols.iter().map(|(_, x)| x).sum();
        assert!(((total - v) / v).abs() < 1e-9, "{name}: total {total} vs {v}");
        assert!(((in_grid - v) / v).abs() < 1e-9, "{name}: in grid {in_grid} vs {v}");
    }
}

#[test]
fn iron_map_sums_to_the_source_iron_for_every_shape_inside_the_grid() {
    let grid = grid_mm([12, 10, 8], [12.0, 10.0, 8.0], [0.0; 3]);
    let mut shapes = assorted_shapes();
    shapes.push(("point", Shape::Point { position_m: mm([0.3, 0.2, -0.1]) }));
    for (name, shape) in shapes {
        let p = one(src(name, shape, ug(1.0)));
        let map = p.iron_map_kg(&grid);
        assert!(((map.sum() - UG) / UG).abs() < 1e-12, "{name}: {}", map.sum() / UG);
        assert!(map.iter().all(|v| *v >= 0.0), "{name}");
    }
}

#[test]
fn shapes_cut_by_the_grid_edge_keep_their_in_grid_fraction() {
    // Grid x ∈ [−6, 2], y ∈ [−4, 4], z ∈ [−3, 1] mm (1 mm voxels).
    let grid = grid_mm([8, 8, 4], [8.0, 8.0, 4.0], [-2.0, 0.0, -1.0]);
    let check = |name: &str, shape: Shape, fraction: f64| {
        let map = one(src(name, shape, ug(1.0))).iron_map_kg(&grid);
        let got = map.sum() / UG;
        assert!((got - fraction).abs() < 1e-7, "{name}: {got} vs {fraction}");
    };
    // Centrally symmetric solids centred on an edge plane: exactly half inside.
    check("sphere_on_x_edge", sphere([2.0, 0.3, -1.2], 0.9), 0.5);
    check("tilted_cylinder_on_x_edge", cylinder([1.0, -0.5, -1.9], [3.0, 0.9, -0.3], 0.6), 0.5);
    // An ellipsoid centred on the grid's corner edge x = 2, y = 4 (mirror symmetric in x and y): a quarter.
    check(
        "ellipsoid_on_corner",
        Shape::Ellipsoid { center_m: mm([2.0, 4.0, -1.3]), semi_axes_m: mm([1.3, 0.7, 0.8]) },
        0.25,
    );
    // A cylinder along x from −3 to 5 mm: 5 of its 8 mm inside.
    check("x_cylinder", cylinder([-3.0, 0.1, -1.0], [5.0, 0.1, -1.0], 0.7), 5.0 / 8.0);
    // A cone along z from z = −3 (tip r 0.5) to z = 3 (base r 2), cut by the top face z = 1: the frustum
    // z ∈ [−3, 1] with radii 0.5 → 1.5.
    let total = frustum_volume(0.5, 2.0, 6.0);
    check(
        "cone_cut_by_z_edge",
        cone([-1.0, 0.2, -3.0], [-1.0, 0.2, 3.0], 2.0, 0.5),
        frustum_volume(0.5, 1.5, 4.0) / total,
    );
    // A box sticking out on three sides: x [0.2, 2.2] → 0.9; y [3, 5] → 0.5; z [0.5, 1.5] → 0.5.
    check("box", Shape::Box { center_m: mm([1.2, 4.0, 1.0]), size_m: mm([2.0, 2.0, 1.0]) }, 0.9 * 0.5 * 0.5);
    // Entirely outside, and a point outside / on the upper edge (outside, as Grid::voxel_of).
    check("outside", sphere([10.0, 0.0, 0.0], 1.0), 0.0);
    check("point_outside", Shape::Point { position_m: mm([2.5, 0.0, 0.0]) }, 0.0);
    check("point_on_upper_edge", Shape::Point { position_m: mm([2.0, 0.0, 0.0]) }, 0.0);
    check("point_on_lower_edge", Shape::Point { position_m: mm([-6.0, 0.0, 0.0]) }, 1.0);
}

#[test]
fn shapes_much_smaller_than_a_voxel() {
    let grid = grid_mm([6, 6, 6], [6.0, 6.0, 6.0], [0.0; 3]);
    // A 5 µm sphere inside one voxel.
    let map = one(src("tiny", sphere([0.31, -1.42, 2.07], 0.005), ug(1.0))).iron_map_kg(&grid);
    let p = grid.flatten([3, 1, 5]);
    assert!(((map[p] - UG) / UG).abs() < 1e-12, "{}", map[p] / UG);
    assert!(((map.sum() - UG) / UG).abs() < 1e-12);
    // A 5 µm sphere on a voxel corner: an eighth in each of 8 voxels.
    let map = one(src("tiny_corner", sphere([1.0, -1.0, 0.0], 0.005), ug(1.0))).iron_map_kg(&grid);
    for (ix, iy, iz) in [(3, 1, 2), (4, 1, 2), (3, 2, 2), (4, 2, 2), (3, 1, 3), (4, 1, 3), (3, 2, 3), (4, 2, 3)] {
        let v = map[grid.flatten([ix, iy, iz])] / UG;
        assert!((v - 0.125).abs() < 1e-9, "{ix} {iy} {iz}: {v}");
    }
    // A 20 µm long, 3 µm thick tilted tube crossing a voxel face, and a 10 µm cone cut by the grid's edge.
    let map = one(src("tube", cylinder([0.99, 0.2, 0.3], [1.007, 0.21, 0.31], 0.003), ug(1.0))).iron_map_kg(&grid);
    assert!(((map.sum() - UG) / UG).abs() < 1e-12);
    let a = map[grid.flatten([3, 3, 3])] / UG;
    let b = map[grid.flatten([4, 3, 3])] / UG;
    // The face x = 1 mm cuts the axis at 10/17 of its length: a + b = 1 and a ≈ 10/17 (caps are tilted).
    assert!((a + b - 1.0).abs() < 1e-12 && (a - 10.0 / 17.0).abs() < 0.02, "{a} {b}");
    let map = one(src("cone", cone([3.0, 0.0, 0.0], [3.0, 0.0, 0.01], 0.004, 0.0), ug(1.0))).iron_map_kg(&grid);
    // Centred on the face x = 3 mm (the grid's upper x edge): half inside.
    assert!((map.sum() / UG - 0.5).abs() < 1e-7, "{}", map.sum() / UG);
}

#[test]
fn box_overlap_is_exact() {
    // Voxel edges at −2, −1, 0, 1, 2 mm. Box x [−0.5, 1.0], y [−1, 0], z [−0.15, 0.35].
    let grid = grid_mm([4, 4, 4], [4.0, 4.0, 4.0], [0.0; 3]);
    let b = Shape::Box { center_m: mm([0.25, -0.5, 0.1]), size_m: mm([1.5, 1.0, 0.5]) };
    let map = one(src("box", b, ug(1.0))).iron_map_kg(&grid) / UG;
    // x: 0.5/1.5 in cell 1, 1.0/1.5 in cell 2; y: all in cell 1; z: 0.15/0.5 in cell 1, 0.35/0.5 in cell 2.
    let want = [((1, 1, 1), 0.1), ((2, 1, 1), 0.2), ((1, 1, 2), 0.7 / 3.0), ((2, 1, 2), 1.4 / 3.0)];
    for ((ix, iy, iz), w) in want {
        let got = map[grid.flatten([ix, iy, iz])];
        assert!((got - w).abs() < 1e-14, "({ix},{iy},{iz}): {got} vs {w}");
    }
    assert!((map.sum() - 1.0).abs() < 1e-14);
    assert_eq!(map.iter().filter(|v| **v != 0.0).count(), 4);
}

#[test]
fn sphere_on_a_voxel_corner_is_shared_equally() {
    let grid = grid_mm([4, 4, 4], [4.0, 4.0, 4.0], [0.0; 3]);
    let map = one(src("s", sphere([0.0; 3], 0.8), ug(1.0))).iron_map_kg(&grid) / UG;
    for iz in 0..4 {
        for iy in 0..4 {
            for ix in 0..4 {
                let v = map[grid.flatten([ix, iy, iz])];
                let central = (1..=2).contains(&ix) && (1..=2).contains(&iy) && (1..=2).contains(&iz);
                let want = if central { 0.125 } else { 0.0 };
                assert!((v - want).abs() < 1e-10, "({ix},{iy},{iz}): {v}");
            }
        }
    }
    // A larger sphere spilling into 64 voxels keeps the mirror symmetries of the corner.
    let map = one(src("s", sphere([0.0; 3], 1.7), ug(1.0))).iron_map_kg(&grid) / UG;
    for iz in 0..4 {
        for iy in 0..4 {
            for ix in 0..4 {
                let v = map[grid.flatten([ix, iy, iz])];
                for m in [[3 - ix, iy, iz], [ix, 3 - iy, iz], [ix, iy, 3 - iz], [iy, iz, ix]] {
                    assert!((v - map[grid.flatten(m)]).abs() < 1e-10, "({ix},{iy},{iz}) vs {m:?}");
                }
            }
        }
    }
}

#[test]
fn refined_grid_block_sums_equal_the_coarse_map() {
    let mut sources: Vec<Source> =
        assorted_shapes().into_iter().enumerate().map(|(i, (n, s))| src(n, s, ug(1.0 + i as f64))).collect();
    sources.push(src("edge_sphere", sphere([6.2, 0.0, 0.5], 1.1), ug(2.0)));
    sources.push(src("point", Shape::Point { position_m: mm([0.45, 0.3, -0.2]) }, ug(0.5)));
    let p = Phantom::new("mix", "", "", sources).unwrap();
    let coarse = grid_mm([8, 6, 5], [12.0, 9.0, 7.5], [0.4, -0.3, 0.2]);
    let fine = grid_mm([16, 12, 10], [12.0, 9.0, 7.5], [0.4, -0.3, 0.2]);
    let mc = p.iron_map_kg(&coarse);
    let mf = p.iron_map_kg(&fine);
    let total = p.total_iron_kg();
    let mut worst: f64 = 0.0;
    for iz in 0..5 {
        for iy in 0..6 {
            for ix in 0..8 {
                let mut s = 0.0;
                for (dx, dy, dz) in (0..8).map(|k| (k & 1, (k >> 1) & 1, k >> 2)) {
                    s += mf[fine.flatten([2 * ix + dx, 2 * iy + dy, 2 * iz + dz])];
                }
                worst = worst.max((s - mc[coarse.flatten([ix, iy, iz])]).abs());
            }
        }
    }
    assert!(worst < 1e-6 * total, "worst block difference {:e} of the total", worst / total);
    // In practice the two agree far more closely than required.
    assert!(worst < 1e-9 * total, "worst block difference {:e} of the total", worst / total);
}

#[test]
fn iron_map_is_deterministic() {
    let p = Phantom::preset("resolution_tubes").unwrap();
    let grid = grid_mm([19, 19, 19], [38.0, 38.0, 19.0], [0.0; 3]);
    let a = p.iron_map_kg(&grid);
    let b = p.iron_map_kg(&grid);
    assert_eq!(a, b);
    assert!(((a.sum() - p.total_iron_kg()) / p.total_iron_kg()).abs() < 1e-12);
}

#[test]
fn two_d_grids_project_along_z() {
    // A sphere 1.5 mm above the plane still counts in full on a true plane (fov_z = 0) or a thin slab.
    let s = src("s", sphere([0.5, -0.5, 1.5], 1.0), ug(1.0));
    let p = one(s.clone());
    for fov_z in [0.0, 1.0] {
        let g = grid_mm([6, 6, 1], [6.0, 6.0, fov_z], [0.0; 3]);
        let map = p.iron_map_kg(&g);
        assert!(((map.sum() - UG) / UG).abs() < 1e-12, "{fov_z}");
        // Same as the projection of a fine 3-D map.
        let g3 = grid_mm([6, 6, 8], [6.0, 6.0, 8.0], [0.0; 3]);
        let m3 = p.iron_map_kg(&g3);
        for iy in 0..6 {
            for ix in 0..6 {
                let col: f64 = (0..8).map(|iz| m3[g3.flatten([ix, iy, iz])]).sum();
                assert!((col - map[g.flatten([ix, iy, 0])]).abs() < 1e-9 * UG, "({ix},{iy})");
            }
        }
        // Point masses: in the plane (or its sub-layers), summing to the iron, centred like the sphere in xy.
        let pm = p.point_masses(&g, 2);
        let sum: f64 = pm.iter().map(|m| m.iron_kg).sum();
        assert!(((sum - UG) / UG).abs() < 1e-14);
        let layers: Vec<f64> = if fov_z == 0.0 { vec![0.0] } else { vec![-0.25 * MM, 0.25 * MM] };
        assert!(pm.iter().all(|m| layers.iter().any(|z| (m.position_m[2] - z).abs() < 1e-15)));
        let cx: f64 = pm.iter().map(|m| m.iron_kg * m.position_m[0]).sum::<f64>() / sum;
        let cy: f64 = pm.iter().map(|m| m.iron_kg * m.position_m[1]).sum::<f64>() / sum;
        assert!((cx - 0.5 * MM).abs() < 1e-12 && (cy + 0.5 * MM).abs() < 1e-12, "{cx} {cy}");
    }
    // A point source off the plane is moved into it; one inside the slab keeps its z.
    let g = grid_mm([6, 6, 1], [6.0, 6.0, 2.0], [0.0, 0.0, 0.5]);
    let pts = Phantom::new(
        "pts",
        "",
        "",
        vec![
            src("in", Shape::Point { position_m: mm([0.0, 0.0, 1.2]) }, ug(1.0)),
            src("out", Shape::Point { position_m: mm([0.0, 0.0, 3.0]) }, ug(1.0)),
        ],
    )
    .unwrap();
    let pm = pts.point_masses(&g, 3);
    assert_eq!(pm.len(), 2);
    assert!((pm[0].position_m[2] - 1.2 * MM).abs() < 1e-18 && (pm[1].position_m[2] - 0.5 * MM).abs() < 1e-18);
}

// ---------------------------------------------------------------------------------------------------------
// Point masses.

fn centroid(pm: &[PointMass]) -> ([f64; 3], f64) {
    let sum: f64 = pm.iter().map(|m| m.iron_kg).sum();
    (std::array::from_fn(|d| pm.iter().map(|m| m.iron_kg * m.position_m[d]).sum::<f64>() / sum), sum)
}

#[test]
fn point_masses_sum_to_the_iron_and_keep_the_centroid() {
    // 1 mm voxels centred at 0, supersampling 2: sub-voxel centres at ±0.25, ±0.75, … mm, symmetric about 0 and
    // about every sub-voxel centre.
    let grid = grid_mm([10, 10, 10], [10.0, 10.0, 10.0], [0.0; 3]);
    let symmetric = [
        ("sphere_origin", sphere([0.0; 3], 1.3)),
        ("sphere_on_lattice_point", sphere([0.25, 0.75, -1.25], 0.9)),
        ("ellipsoid", Shape::Ellipsoid { center_m: mm([0.5, 0.0, -0.5]), semi_axes_m: mm([2.1, 1.4, 0.8]) }),
        ("y_cylinder", cylinder([0.0, -2.0, 1.0], [0.0, 3.0, 1.0], 0.9)),
        ("diagonal_cylinder", cylinder([-1.0, -1.0, -1.0], [1.0, 1.0, 1.0], 0.6)),
        ("box", Shape::Box { center_m: mm([0.0, 0.5, 0.0]), size_m: mm([2.2, 1.7, 3.0]) }),
    ];
    for (name, shape) in symmetric {
        let want = shape.centroid_m();
        let p = one(src(name, shape, ug(3.0)));
        let pm = p.point_masses(&grid, 2);
        assert!(pm.len() > 8, "{name}: {}", pm.len());
        let (c, sum) = centroid(&pm);
        assert!(((sum - 3.0 * UG) / UG).abs() < 1e-13, "{name}: {sum}");
        for d in 0..3 {
            assert!((c[d] - want[d]).abs() < 1e-12 * MM, "{name}: axis {d}: {} vs {}", c[d], want[d]);
        }
        // Every sample is inside the shape (boundary included) and on the sub-voxel lattice.
        for m in &pm {
            assert!(p.sources[0].shape.contains(m.position_m), "{name}: {:?}", m.position_m);
            for v in m.position_m {
                let t = v / (0.5 * MM) - 0.5;
                assert!((t - t.round()).abs() < 1e-9, "{name}: {v}");
            }
        }
    }
    // Asymmetric shapes: the sum is exact, the centroid within half a sub-voxel of the shape's (a flat end face
    // between two lattice planes shifts it by up to that much).
    for (name, shape) in assorted_shapes() {
        let want = shape.centroid_m();
        let pm = one(src(name, shape, ug(1.0))).point_masses(&grid, 3);
        let (c, sum) = centroid(&pm);
        assert!(((sum - UG) / UG).abs() < 1e-13, "{name}: {:e}", sum / UG - 1.0);
        for d in 0..3 {
            assert!((c[d] - want[d]).abs() <= 0.5 / 3.0 * MM, "{name}: axis {d}: {} vs {}", c[d], want[d]);
        }
    }
}

#[test]
fn point_masses_of_points_tiny_shapes_and_empty_sources() {
    let grid = grid_mm([10, 10, 10], [10.0, 10.0, 10.0], [0.0; 3]);
    let p = Phantom::new(
        "p",
        "",
        "",
        vec![
            src("point", Shape::Point { position_m: mm([0.1, 0.2, 0.3]) }, ug(1.0)),
            // Between lattice points: no sub-voxel centre inside → one mass at the centroid.
            src("tiny", sphere([0.0, 0.0, 0.0], 0.1), ug(2.0)),
            src("empty", sphere([1.0, 1.0, 1.0], 0.5), ug(0.0)),
            // Outside the grid: sampled all the same (the lattice extends beyond the grid).
            src("far", sphere([20.0, 0.0, 0.0], 0.6), ug(4.0)),
        ],
    )
    .unwrap();
    let pm = p.point_masses(&grid, 2);
    assert_eq!(pm[0], PointMass { position_m: mm([0.1, 0.2, 0.3]), iron_kg: UG });
    assert_eq!(pm[1], PointMass { position_m: [0.0; 3], iron_kg: 2.0 * UG });
    let far: Vec<PointMass> = pm[2..].to_vec();
    assert!(far.len() > 4);
    let (c, sum) = centroid(&far);
    assert!(((sum - 4.0 * UG) / UG).abs() < 1e-13 && (c[0] - 20.0 * MM).abs() < 1e-12 * MM);
    let total: f64 = pm.iter().map(|m| m.iron_kg).sum();
    assert!(((total - p.total_iron_kg()) / total).abs() < 1e-15);
    // Supersampling 0 is taken as 1; the same input gives the same output.
    assert_eq!(p.point_masses(&grid, 0), p.point_masses(&grid, 1));
}

// ---------------------------------------------------------------------------------------------------------
// Presets and files.

#[test]
fn every_preset_loads_with_its_documented_iron() {
    let documented_ug = [
        ("shape_cone", 1909.65),
        ("resolution_tubes", 219.303),
        ("concentration_cubes", 128.676),
        ("concentration_cubes_2d", 47.0215),
        ("two_points", 0.2),
        ("rat_striatum_graft", 4.0),
        ("dilution_series", 1.443),
    ];
    assert_eq!(Phantom::preset_names(), documented_ug.iter().map(|(n, _)| *n).collect::<Vec<_>>());
    // The OpenMPIData calibration FOV 38 × 38 × 19 mm; the Bruker drive FOV 24 × 24 × 12 mm.
    let cal = grid_mm([19, 19, 19], [38.0, 38.0, 19.0], [0.0; 3]);
    for (name, fe_ug) in documented_ug {
        let p = Phantom::preset(name).unwrap();
        assert_eq!(p.name, name);
        assert!(!p.description.is_empty() && !p.reference.is_empty(), "{name}");
        let got = p.total_iron_kg() / UG;
        assert!((got - fe_ug).abs() < 1e-5 * fe_ug, "{name}: {got} µg vs {fe_ug}");
        let bb = p.bounding_box_m().unwrap();
        for (d, half) in [(0, 19.0), (1, 19.0), (2, 9.5)] {
            assert!(bb[d][0] >= -half * MM && bb[d][1] <= half * MM, "{name} outside the calibration FOV: {bb:?}");
        }
        // The whole phantom is in the calibration grid: the ground truth holds all its iron.
        let map = p.iron_map_kg(&cal);
        assert!(((map.sum() - p.total_iron_kg()) / p.total_iron_kg()).abs() < 1e-12, "{name}");
        assert_eq!(Phantom::preset(&format!("{name}.toml")).unwrap(), p);
    }
    for name in Phantom::preset_names() {
        let bb = Phantom::preset(name).unwrap().bounding_box_m().unwrap();
        for (d, half) in [(0, 12.0), (1, 12.0), (2, 6.0)] {
            assert!(bb[d][0] >= -half * MM && bb[d][1] <= half * MM, "{name} outside the drive FOV: {bb:?}");
        }
    }
}

#[test]
fn rat_graft_preset_cells_and_control_site() {
    let p = Phantom::preset("rat_striatum_graft").unwrap();
    assert_eq!(p.cells_per_source(), vec![Some(3e5), Some(1e5), Some(1e5)]);
    let control = p.source("control").unwrap();
    assert_eq!(control.iron_kg().unwrap(), 0.0);
    // The control is a region of interest: it has a volume map but no iron.
    let g2 = grid_mm([24, 24, 1], [24.0, 24.0, 0.0], [0.0; 3]);
    let roi = control.volume_map_m3(&g2);
    assert!(((roi.sum() - control.volume_m3()) / control.volume_m3()).abs() < 1e-12);
    let iron = p.iron_map_kg(&g2);
    let in_roi: f64 = iron.iter().zip(roi.iter()).filter(|(_, r)| **r > 0.0).map(|(v, _)| v).sum();
    assert_eq!(in_roi, 0.0);
    let graft_a = p.source("graft_a").unwrap().iron_map_kg(&g2);
    assert!((graft_a.sum() - 3e-9).abs() < 1e-20);
    // Labelled-cell equivalents at 10 pg/cell: 4 × 10⁵ (the unlabelled control is invisible).
    let cells = p.cell_map(&g2, 10.0).unwrap();
    assert!((cells.sum() - 4e5).abs() < 1e-6);
    assert!(p.cell_map(&g2, 0.0).is_err());
    // Scaling multiplies the numbers of cells and the iron.
    let p2 = p.scaled(2.0).unwrap();
    assert_eq!(p2.cells_per_source(), vec![Some(6e5), Some(2e5), Some(2e5)]);
    assert!((p2.total_iron_kg() - 8e-9).abs() < 1e-21);
    assert!(p.scaled(-1.0).is_err() && p.scaled(f64::NAN).is_err());
}

#[test]
fn scaled_phantom_scales_maps_and_point_masses_linearly() {
    let p = Phantom::preset("shape_cone").unwrap();
    let q = p.scaled(0.1).unwrap();
    let g = grid_mm([12, 6, 6], [24.0, 12.0, 12.0], [0.0; 3]);
    let (a, b) = (p.iron_map_kg(&g), q.iron_map_kg(&g));
    for (x, y) in a.iter().zip(b.iter()) {
        assert!((0.1 * x - y).abs() <= 1e-14 * x.abs());
    }
    let (pa, pb) = (p.point_masses(&g, 2), q.point_masses(&g, 2));
    assert_eq!(pa.len(), pb.len());
    for (x, y) in pa.iter().zip(&pb) {
        assert_eq!(x.position_m, y.position_m);
        assert!((0.1 * x.iron_kg - y.iron_kg).abs() <= 1e-14 * x.iron_kg);
    }
}

#[test]
fn presets_round_trip_through_toml() {
    for name in Phantom::preset_names() {
        let p = Phantom::preset(name).unwrap();
        let text = p.to_toml_string().unwrap();
        let q = Phantom::from_toml_str(&text, "round trip").unwrap();
        assert_eq!(p, q, "{name}:\n{text}");
    }
}

#[test]
fn unknown_preset_lists_the_known_names() {
    let e = Phantom::preset("shepp_logan").unwrap_err();
    assert!(matches!(e, PhantomError::UnknownPreset { .. }));
    let msg = e.to_string();
    assert!(msg.contains("shepp_logan"), "{msg}");
    for n in Phantom::preset_names() {
        assert!(msg.contains(n), "{msg}");
    }
}

fn load(body: &str) -> Result<Phantom, PhantomError> {
    Phantom::from_toml_str(&format!("name = \"t\"\n[[sources]]\nname = \"src1\"\n{body}"), "test.toml")
}

fn invalid_source(e: PhantomError) -> (String, String, String) {
    match e {
        PhantomError::InvalidSource { source_name, field, reason, .. } => (source_name, field, reason),
        other => panic!("expected InvalidSource, got {other}"),
    }
}

#[test]
fn bad_toml_errors_name_the_source_and_the_field() {
    let sphere = "amount = { iron_ng = 1 }\nshape = { type = \"sphere\", center_mm = [0, 0, 0],";
    let (s, f, r) = invalid_source(load(&format!("{sphere} radius_mm = -1.0 }}")).unwrap_err());
    assert_eq!((s.as_str(), f.as_str()), ("src1", "radius_mm"));
    assert!(r.contains("positive"), "{r}");
    let (_, f, _) = invalid_source(load(&format!("{sphere} radius_mm = 1.0, radius_m = 0.001 }}")).unwrap_err());
    assert!(f.contains("radius_mm"), "{f}");
    let (_, f, _) = invalid_source(load(&format!("{sphere} }}")).unwrap_err());
    assert_eq!(f, "radius_mm");
    let tube = "amount = { iron_ng = 1 }\nshape = { type = \"tube\", start_mm = [1, 2, 3], end_mm = [1, 2, 3], radius_mm = 1 }";
    let (_, f, r) = invalid_source(load(tube).unwrap_err());
    assert!(f == "end_mm" && r.contains("zero-length"), "{f}: {r}");
    let c = "amount = { iron_ng = 1 }\nshape = { type = \"cone\", apex_mm = [0, 0, 0], base_center_mm = [0, 0, 5], half_angle_deg = 95 }";
    let (_, f, _) = invalid_source(load(c).unwrap_err());
    assert_eq!(f, "half_angle_deg");
    let point = "shape = { type = \"point\", position_mm = [0, 0, 0] }\namount = { concentration_mmol_per_l = 5 }";
    let (_, f, r) = invalid_source(load(point).unwrap_err());
    assert!(f == "concentration_mmol_per_l" && r.contains("point"), "{f}: {r}");
    let e = load(&format!("{sphere} radius_mm = 1, pg_fe_per_cell = 2 }}")).unwrap_err();
    assert!(e.to_string().contains("amount") || e.to_string().contains("pg_fe_per_cell"), "{e}");
    // Unknown keys and shape types are parse errors naming the key, with the origin and the line.
    for (text, key) in [
        (format!("{sphere} radius_cm = 1 }}"), "radius_cm"),
        ("amount = { iron_ng = 1 }\nshape = { type = \"pyramid\", center_mm = [0, 0, 0] }".to_string(), "pyramid"),
        (
            "amount = { iron_ng = 1 }\nshape = { type = \"box\", center_mm = [0, 0, 0], radius_mm = 1 }".to_string(),
            "radius_mm",
        ),
        (format!("{sphere} radius_mm = 1 }}\ncolour = \"red\""), "colour"),
    ] {
        let e = load(&text).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, PhantomError::Parse { .. }) && msg.contains(key) && msg.contains("test.toml"), "{msg}");
    }
    // A negative amount names the amount's key.
    let (_, f, _) = invalid_source(load(&format!("{} radius_mm = 1 }}", sphere.replace("1 }", "-3 }"))).unwrap_err());
    assert_eq!(f, "iron_ng");
    // Duplicate source names.
    let dup = "name = \"t\"\n[[sources]]\nname = \"a\"\nshape = { type = \"point\", position_mm = [0, 0, 0] }\namount = { iron_ng = 1 }\n[[sources]]\nname = \"a\"\nshape = { type = \"point\", position_mm = [1, 0, 0] }\namount = { iron_ng = 1 }";
    let e = Phantom::from_toml_str(dup, "dup.toml").unwrap_err();
    assert!(matches!(e, PhantomError::InvalidPhantom { .. }) && e.to_string().contains("\"a\""), "{e}");
}

#[test]
fn file_errors_name_the_file() {
    let dir = std::env::temp_dir().join(format!("magpie-phantom-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("broken_phantom.toml");
    std::fs::write(&path, "name = \"x\"\n[[sources]\nname = 3\n").unwrap();
    let e = Phantom::from_file(&path).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, PhantomError::Parse { .. }) && msg.contains("broken_phantom.toml"), "{msg}");
    let good = dir.join("good_phantom.toml");
    std::fs::write(&good, Phantom::preset("two_points").unwrap().to_toml_string().unwrap()).unwrap();
    assert_eq!(Phantom::load(good.to_str().unwrap()).unwrap(), Phantom::preset("two_points").unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
    let e = Phantom::from_file(dir.join("missing.toml")).unwrap_err();
    assert!(matches!(e, PhantomError::Io { .. }) && e.to_string().contains("missing.toml"), "{e}");
}

#[test]
fn hand_built_invalid_phantoms_and_grids_do_not_panic() {
    let bad = Phantom {
        name: "hand".into(),
        description: String::new(),
        reference: String::new(),
        sources: vec![
            src("neg", sphere([0.0; 3], -1.0), ug(1.0)),
            src("ok", sphere([0.0; 3], 1.0), ug(1.0)),
            src("nan", Shape::Point { position_m: [f64::NAN; 3] }, ug(1.0)),
        ],
    };
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("neg") && e.contains("radius_m"), "{e}");
    assert!(Phantom::new("h", "", "", bad.sources.clone()).is_err());
    assert!((bad.total_iron_kg() - UG).abs() < 1e-24);
    let g = grid_mm([4, 4, 4], [4.0, 4.0, 4.0], [0.0; 3]);
    assert!((bad.iron_map_kg(&g).sum() - UG).abs() < 1e-20);
    let pm = bad.point_masses(&g, 2);
    assert!((pm.iter().map(|m| m.iron_kg).sum::<f64>() - UG).abs() < 1e-20);
    // Unusable grids give zeros (or nothing), never a panic.
    let ok = one(src("ok", sphere([0.0; 3], 1.0), ug(1.0)));
    for g in [
        Grid::new([4, 4, 4], [0.0, 4e-3, 4e-3], [0.0; 3]),
        Grid::new([4, 4, 4], [f64::NAN, 4e-3, 4e-3], [0.0; 3]),
        Grid::new([4, 4, 4], [-4e-3, 4e-3, 4e-3], [0.0; 3]),
    ] {
        assert_eq!(ok.iron_map_kg(&g).sum(), 0.0);
        let pm = ok.point_masses(&g, 2);
        assert!((pm.iter().map(|m| m.iron_kg).sum::<f64>() - UG).abs() < 1e-20);
    }
    assert_eq!(ok.iron_map_kg(&Grid::new([0, 4, 4], [4e-3; 3], [0.0; 3])).len(), 0);
    // A one-voxel grid holds everything; so does a 1-D grid.
    let g1 = Grid::new([1, 1, 1], [0.0; 3], [0.0; 3]);
    assert!((ok.iron_map_kg(&g1)[0] - UG).abs() < 1e-20);
    let g1d = grid_mm([5, 1, 1], [5.0, 0.0, 0.0], [0.0; 3]);
    assert!((ok.iron_map_kg(&g1d).sum() - UG).abs() < 1e-20);
    let pm = ok.point_masses(&g1d, 2);
    let (c, sum) = centroid(&pm);
    assert!((sum - UG).abs() < 1e-24 && c[0].abs() < 1e-15 && c[1] == 0.0 && c[2] == 0.0);
}
