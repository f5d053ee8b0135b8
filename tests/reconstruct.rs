//! System-matrix reconstruction of simulated data (issue 4 acceptance). The phantoms are sampled on a 0.25 mm
//! lattice, 8× finer than the 2 mm reconstruction grid, and the system matrix integrates each voxel-sized delta
//! sample (no inverse crime: the two are simulated differently).

use magpie_core::mdf::MdfFile;
use magpie_core::scanner::ScannerConfig;
use magpie_core::tracer::TracerModel;
use magpie_core::Grid;
use magpie_reconstruct::facade::Reconstruction;
use magpie_reconstruct::quantify::{region_total, Region};
use magpie_reconstruct::sysmat::params::{BackgroundMode, Lambda, RecoParams};
use magpie_sim::forward::{Engine, PointMass};
use magpie_sim::measurement::{phantom_point_masses, simulate_measurement, MeasurementSpec};
use magpie_sim::phantom::Phantom;
use magpie_sim::sysmat::{simulate_system_matrix, SystemMatrixSpec};
use std::sync::OnceLock;

fn engine() -> Engine {
    Engine::new(&ScannerConfig::preset("bruker_2d").unwrap(), &TracerModel::preset("perimag_like").unwrap()).unwrap()
}

/// The 2-D calibration: 19 × 19 voxels over 38 × 38 mm, delta samples integrated with 3³ points.
fn sm() -> &'static MdfFile {
    static SM: OnceLock<MdfFile> = OnceLock::new();
    SM.get_or_init(|| {
        let spec = SystemMatrixSpec {
            grid: Grid::new([19, 19, 1], [38e-3, 38e-3, 1e-3], [0.0; 3]),
            delta_size_m: None,
            delta_concentration_mol_per_l: 0.1,
            delta_subsamples: 3,
            background_frames: 10,
            averages: 1000,
            noise: true,
            background: true,
            max_frequency_hz: None,
            seed: 11,
        };
        simulate_system_matrix(&engine(), &spec, &|_| {}).unwrap()
    })
}

fn measure(points: &[PointMass], spec: &MeasurementSpec) -> MdfFile {
    simulate_measurement(&engine(), points, spec, "test").unwrap()
}

fn reconstruct(meas: &MdfFile, params: &RecoParams) -> Reconstruction {
    // The planned rows out of the in-memory matrix (the disk path is tested in tests/sysmat.rs and tests/cli.rs).
    magpie_reconstruct::facade::reconstruct(meas, sm(), params).unwrap()
}

fn grid() -> Grid {
    Grid::new([19, 19, 1], [38e-3, 38e-3, 1e-3], [0.0; 3])
}

fn default_spec(seed: u64) -> MeasurementSpec {
    MeasurementSpec { frames: 1, background_frames_before: 2, background_frames_after: 2, seed, ..Default::default() }
}

#[test]
fn concentration_phantom_cubes_within_ten_percent_at_the_default_noise_level() {
    let phantom = Phantom::preset("concentration_cubes_2d").unwrap();
    let pts = phantom_point_masses(&phantom, 0.25e-3, true).unwrap();
    let meas = measure(&pts, &default_spec(21));
    for preset in ["quantitative", "sparse"] {
        cubes_within_ten_percent(&phantom, &reconstruct(&meas, &RecoParams::preset(preset).unwrap()), preset);
    }
}

fn cubes_within_ten_percent(phantom: &Phantom, r: &Reconstruction, preset: &str) {
    let map = r.iron_ng.row(0).to_vec();
    for src in &phantom.sources {
        let c = src.centroid_m();
        let roi = Region::Box { center_m: c, size_m: [4e-3, 4e-3, 1.0] };
        let got = region_total(&map, &grid(), &roi);
        let want = src.iron_kg().unwrap() * 1e12;
        let err = (got / want - 1.0).abs();
        assert!(
            err < 0.10,
            "{preset}: {}: {got:.0} ng vs {want:.0} ng ({:+.1} %)",
            src.name,
            100.0 * (got / want - 1.0)
        );
    }
}

#[test]
fn background_correction_removes_the_simulated_background() {
    let pts = [PointMass { position_m: [2e-3, -4e-3, 0.0], iron_kg: 200e-12 }];
    // The scanner background (feed-through residue + drift) is present in foreground and background frames.
    let with_bg = measure(&pts, &default_spec(5));
    let clean = measure(&pts, &MeasurementSpec { background: false, ..default_spec(5) });
    let mut p = RecoParams::preset("default").unwrap();
    p.solver = magpie_reconstruct::sysmat::params::SolverParams::Direct { non_negative: true };
    p.lambda = Lambda::Relative(1e-4);
    let reference = reconstruct(&clean, &p).iron_ng.row(0).sum();
    let corrected = reconstruct(&with_bg, &p).iron_ng.row(0).sum();
    p.preprocessing.background = BackgroundMode::None;
    let uncorrected = reconstruct(&with_bg, &p).iron_ng.row(0).sum();
    let e_corr = (corrected / reference - 1.0).abs();
    let e_unc = (uncorrected / reference - 1.0).abs();
    assert!(e_corr < 0.01, "with correction: {corrected:.1} vs {reference:.1} ng");
    assert!(
        e_unc > 5.0 * e_corr,
        "the background must matter without correction: {uncorrected:.1} vs {reference:.1} ng"
    );
}

#[test]
fn an_empty_measurement_reconstructs_to_under_one_percent_of_a_ten_ng_source() {
    // The quantitative preset (GCV λ); totals in a 3 mm sphere around the source position.
    let p = RecoParams::preset("quantitative").unwrap();
    let roi = Region::Sphere { center_m: [0.0, 2e-3, 0.0], radius_m: 3e-3 };
    let ten = measure(&[PointMass { position_m: [0.0, 2e-3, 0.0], iron_kg: 10e-12 }], &default_spec(8));
    let empty = measure(&[], &default_spec(9));
    let t10 = region_total(&reconstruct(&ten, &p).iron_ng.row(0).to_vec(), &grid(), &roi);
    let t0 = region_total(&reconstruct(&empty, &p).iron_ng.row(0).to_vec(), &grid(), &roi);
    assert!((t10 / 10.0 - 1.0).abs() < 0.2, "10 ng source reconstructs to {t10:.2} ng");
    assert!(t0.abs() < 0.01 * t10, "empty measurement: {t0:.4} ng vs {t10:.3} ng");
}
