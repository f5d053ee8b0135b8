//! Simulated system matrices and measurements as MDF files (issue 3 acceptance): they pass the reader and its
//! validation, and system-matrix rows show the symmetry of their mixing order.

use magpie_core::mdf::{read_mdf, system_matrix, write_mdf, MdfReader, WriteOptions};
use magpie_core::scanner::ScannerConfig;
use magpie_core::tracer::TracerModel;
use magpie_core::Grid;
use magpie_sim::forward::{Engine, PointMass};
use magpie_sim::measurement::{simulate_measurement, Domain, MeasurementSpec};
use magpie_sim::sysmat::{simulate_system_matrix, SystemMatrixSpec};
use num_complex::Complex64;

fn sm_2d(noise: bool) -> (Engine, SystemMatrixSpec) {
    let s = ScannerConfig::preset("bruker_2d").unwrap();
    let t = TracerModel::preset("perimag_like").unwrap();
    let e = Engine::new(&s, &t).unwrap();
    let spec = SystemMatrixSpec {
        grid: Grid::new([15, 15, 1], [30e-3, 30e-3, 1e-3], [0.0; 3]),
        delta_size_m: None,
        delta_concentration_mol_per_l: 0.1,
        delta_subsamples: 1,
        background_frames: 6,
        averages: 1000,
        noise,
        background: true,
        max_frequency_hz: Some(400e3),
        seed: 5,
    };
    (e, spec)
}

#[test]
fn simulated_system_matrix_file_passes_the_reader_and_rows_have_mixing_symmetry() {
    let (e, spec) = sm_2d(false);
    let file = simulate_system_matrix(&e, &spec, &|_| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sm.mdf");
    write_mdf(&path, &file, &WriteOptions::default()).unwrap();
    let back = read_mdf(&path).unwrap();
    assert!(back.experiment.is_simulation);
    assert_eq!(back.calibration.as_ref().unwrap().method, "simulation");
    assert_eq!(back.calibration.as_ref().unwrap().size, Some([15, 15, 1]));
    let l = &back.measurement.as_ref().unwrap().layout;
    assert!(l.is_fast_frame_axis && l.is_fourier_transformed);
    assert_eq!(l.num_background_frames(), 6);
    assert!(l.is_background_frame[225..].iter().all(|b| *b), "background frames last");
    // Row-subset reading works on it.
    let reader = MdfReader::open(&path).unwrap();
    let rows = reader.system_matrix_rows(&reader.all_rows()[..5]).unwrap();
    assert_eq!(rows.foreground.dim(), (5, 225));
    // Symmetry: the x-channel row of mixing (m_x, m_y) resembles U_{|m_x|−1}(x)·U_{|m_y|}(y) (physics.md §3.4):
    // (3, 0) at k = 48 is even in x and y; (2, 1) at k = 49 is odd in x and odd in y. Background subtracted.
    let sm = system_matrix(&back).unwrap();
    let bg_mean = |r: usize| sm.background.row(r).iter().sum::<Complex64>() / sm.background.ncols() as f64;
    let parity = |k: usize, axis: usize| {
        let r = k; // channel 0, period 0: row index = k
        let row: Vec<Complex64> = sm.foreground.row(r).iter().map(|z| z - bg_mean(r)).collect();
        let (mut num, mut den) = (Complex64::default(), 0.0);
        for iy in 0..15 {
            for ix in 0..15 {
                let (mx, my) = if axis == 0 { (14 - ix, iy) } else { (ix, 14 - iy) };
                let a = row[ix + 15 * iy];
                num += a * row[mx + 15 * my].conj();
                den += a.norm_sqr();
            }
        }
        num.re / den
    };
    assert!(parity(48, 0) > 0.95 && parity(48, 1) > 0.95, "(3,0): {} {}", parity(48, 0), parity(48, 1));
    assert!(parity(49, 0) < -0.95 && parity(49, 1) < -0.95, "(2,1): {} {}", parity(49, 0), parity(49, 1));
}

#[test]
fn snr_reflects_the_noise_and_measurements_read_back() {
    let (e, spec) = sm_2d(true);
    let file = simulate_system_matrix(&e, &spec, &|_| {}).unwrap();
    let snr = file.calibration.as_ref().unwrap().snr.clone().unwrap();
    // The (3,0) line is strong, the removed fundamental (k = 16) has nothing but noise.
    assert!(snr[[0, 0, 48]] > 20.0, "{}", snr[[0, 0, 48]]);
    assert!(snr[[0, 0, 16]] < 3.0, "{}", snr[[0, 0, 16]]);
    let dir = tempfile::tempdir().unwrap();
    for domain in [Domain::Fourier, Domain::Time] {
        let ms = MeasurementSpec {
            frames: 3,
            background_frames_before: 1,
            background_frames_after: 1,
            domain,
            seed: 9,
            ..Default::default()
        };
        let pts = [PointMass { position_m: [2e-3, 0.0, 0.0], iron_kg: 100e-12 }];
        let f = simulate_measurement(&e, &pts, &ms, "test").unwrap();
        let p = dir.path().join(format!("m_{domain:?}.mdf"));
        write_mdf(&p, &f, &WriteOptions::default()).unwrap();
        let back = read_mdf(&p).unwrap();
        assert_eq!(back.measurement.as_ref().unwrap().layout.num_frames(), 5);
        assert_eq!(back.provenance.get("total_iron_ng").map(String::as_str), Some("100"));
    }
}
