//! Receive-chain properties of the simulator: linearity in iron, noise level, background (issue 3 acceptance).

use magpie_core::scanner::ScannerConfig;
use magpie_core::tracer::TracerModel;
use magpie_sim::forward::{Engine, PointMass};
use magpie_sim::measurement::{frames, MeasurementSpec};
use magpie_sim::noise::sample_sigma_v;
use ndarray::Array3;
use num_complex::Complex64;

fn points(scale: f64) -> Vec<PointMass> {
    vec![
        PointMass { position_m: [1e-3, -2e-3, 0.0], iron_kg: 20e-12 * scale },
        PointMass { position_m: [-4e-3, 3e-3, 0.0], iron_kg: 7e-12 * scale },
        PointMass { position_m: [0.5e-3, 0.5e-3, 0.0], iron_kg: 1e-12 * scale },
    ]
}

#[test]
fn noiseless_signal_is_linear_in_iron() {
    let s = ScannerConfig::preset("bruker_2d").unwrap();
    let t = TracerModel::preset("perimag_like").unwrap();
    let e = Engine::new(&s, &t).unwrap();
    let a = e.spectra(&points(1.0));
    let b = e.spectra(&points(2.0));
    let peak = a.iter().map(|z| z.norm()).fold(0.0, f64::max);
    let err = a.iter().zip(b.iter()).map(|(x, y)| (x * 2.0 - y).norm()).fold(0.0, f64::max);
    assert!(err <= 1e-12 * 2.0 * peak, "max deviation {err:e} of peak {peak:e}");
    // Superposition: the sum of the sources' spectra equals the spectrum of all sources.
    let parts: Array3<Complex64> = points(1.0)
        .iter()
        .map(|p| e.spectra(std::slice::from_ref(p)))
        .fold(Array3::zeros(a.raw_dim()), |acc, x| acc + x);
    let err = parts.iter().zip(a.iter()).map(|(x, y)| (x - y).norm()).fold(0.0, f64::max);
    assert!(err <= 1e-12 * peak);
}

#[test]
fn noise_matches_the_requested_density_and_averages() {
    let mut s = ScannerConfig::preset("bruker_1d").unwrap();
    s.noise_v_per_sqrt_hz = 2e-9;
    let t = TracerModel::preset("ideal_25nm").unwrap();
    let e = Engine::new(&s, &t).unwrap();
    let zero = Array3::zeros((1, 3, e.num_bins()));
    for averages in [1u32, 16] {
        let spec =
            MeasurementSpec { frames: 400, averages: Some(averages), background: false, seed: 3, ..Default::default() };
        let (data, _) = frames(&e, &zero, &spec);
        // Time-domain standard deviation of all frames and channels.
        let mut acc = 0.0;
        let mut n = 0.0;
        for f in 0..400 {
            for c in 0..3 {
                let row: Vec<Complex64> = (0..e.num_bins()).map(|k| data[[f, 0, c, k]]).collect();
                for x in e.time_signal(&row) {
                    acc += x * x;
                    n += 1.0;
                }
            }
        }
        let got = (acc / n).sqrt();
        let want = 2e-9 * (2.5e6f64 / 2.0).sqrt() / (averages as f64).sqrt();
        assert!((want / sample_sigma_v(&s, averages) - 1.0).abs() < 1e-12);
        assert!((got / want - 1.0).abs() < 0.03, "averages {averages}: σ {got:e} vs {want:e}");
    }
}

#[test]
fn background_is_in_every_frame_and_drifts() {
    let mut s = ScannerConfig::preset("bruker_1d").unwrap();
    s.background.drift_per_s = 0.0;
    let t = TracerModel::preset("ideal_25nm").unwrap();
    let e = Engine::new(&s, &t).unwrap();
    let sig = e.spectra(&points(1.0));
    let spec = MeasurementSpec {
        frames: 2,
        background_frames_before: 1,
        background_frames_after: 1,
        noise: false,
        ..Default::default()
    };
    let (data, bg) = frames(&e, &sig, &spec);
    assert_eq!(bg, vec![true, false, false, true]);
    // Foreground − background frame = the particle signal exactly; the background sits at 2·f_drive (bin 2).
    for k in 0..e.num_bins() {
        let d = data[[1, 0, 0, k]] - data[[0, 0, 0, k]];
        assert!((d - sig[[0, 0, k]]).norm() <= 1e-12 * sig[[0, 0, k]].norm().max(1e-30));
    }
    assert!(data[[0, 0, 0, 2]].norm() > 0.0, "feed-through residue at the second harmonic");
    assert_eq!(data[[0, 0, 0, 1]].norm(), 0.0, "the band-stop removed the fundamental");
    // With drift the last background frame differs from the first.
    s.background.drift_per_s = 0.5;
    let e = Engine::new(&s, &t).unwrap();
    let (data, _) = frames(&e, &sig, &spec);
    assert!((data[[3, 0, 0, 2]] - data[[0, 0, 0, 2]]).norm() > 0.0);
}
