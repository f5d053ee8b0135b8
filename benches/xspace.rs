//! x-space reconstruction speed (issue 5): frames per second for the rat-graft phantom on the Bruker-like 2-D
//! (1632 samples per period, 3 channels) and 3-D (53856 samples) sequences with the Perimag-like tracer.
//! Timed: the whole `xspace::reconstruct` call from canonical spectra (frame averaging, background subtraction,
//! relaxation correction with the known τ, 4× upsampling, gridding, offset recovery with tail prediction,
//! quantitation by the model point response); not timed: reading the file. The baseline is the same call with
//! τ estimated from the sweep directions (what a user gets by default on a new tracer).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use magpie_core::mdf::measurement_spectra;
use magpie_core::scanner::ScannerConfig;
use magpie_core::tracer::TracerModel;
use magpie_reconstruct::xspace::{reconstruct, RelaxationCorrection, XSpaceParams};
use magpie_sim::forward::Engine;
use magpie_sim::measurement::{phantom_point_masses, simulate_measurement, MeasurementSpec};
use magpie_sim::phantom::Phantom;

fn bench(c: &mut Criterion) {
    let tracer = TracerModel::preset("perimag_like").expect("tracer");
    let phantom = Phantom::preset("rat_striatum_graft").expect("phantom");
    let mut g = c.benchmark_group("xspace");
    g.sample_size(10);
    for (name, scanner, planar, frames) in [
        ("bruker_2d", "bruker_2d", true, 1usize),
        ("bruker_2d_10_frames", "bruker_2d", true, 10),
        ("bruker_3d", "bruker_3d", false, 1),
    ] {
        let s = ScannerConfig::preset(scanner).expect("scanner");
        let engine = Engine::new(&s, &tracer).expect("engine");
        let points = phantom_point_masses(&phantom, 0.5e-3, planar).expect("points");
        let spec = MeasurementSpec {
            frames,
            background_frames_before: 2,
            background_frames_after: 2,
            seed: 1,
            ..Default::default()
        };
        let file = simulate_measurement(&engine, &points, &spec, "bench").expect("measurement");
        let spectra = measurement_spectra(&file).expect("spectra");
        let tau = tracer.relaxation_time_s().unwrap_or(0.0);
        let known =
            XSpaceParams { relaxation: RelaxationCorrection::Fixed { tau_s: tau }, average: 1, ..Default::default() };
        let grid = magpie_reconstruct::xspace::default_grid(
            &magpie_reconstruct::xspace::sequence::Sequence::from_mdf(&file, None).expect("sequence"),
            &tracer,
            &known,
        );
        g.throughput(Throughput::Elements(frames as u64));
        g.bench_function(format!("{name}_known_tau"), |b| {
            b.iter(|| reconstruct(&file, &spectra, &tracer, &known, Some(grid)).expect("x-space"))
        });
        if frames == 1 {
            let auto = XSpaceParams { average: 1, ..Default::default() };
            g.bench_function(format!("{name}_estimated_tau"), |b| {
                b.iter(|| reconstruct(&file, &spectra, &tracer, &auto, Some(grid)).expect("x-space"))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
