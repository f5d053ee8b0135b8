//! System-matrix simulation throughput (issue 3): the 3-D Bruker-like matrix on 19³ voxels (53856 samples per
//! period, 3 channels) and a 2-D one on 64² voxels (1632 samples). Timed: the whole simulation (field
//! evaluation, FFTs, background, noise, assembly into the [J, C, K, O+E] layout); not timed: writing the file.
//! Throughput is in voxel-samples (voxels × samples per period × oversampling).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use magpie_core::scanner::ScannerConfig;
use magpie_core::tracer::TracerModel;
use magpie_core::Grid;
use magpie_sim::forward::Engine;
use magpie_sim::sysmat::{simulate_system_matrix, SystemMatrixSpec};

fn spec(grid: Grid) -> SystemMatrixSpec {
    SystemMatrixSpec {
        grid,
        delta_size_m: None,
        delta_concentration_mol_per_l: 0.1,
        delta_subsamples: 1,
        background_frames: 10,
        averages: 1000,
        noise: true,
        background: true,
        max_frequency_hz: None,
        seed: 1,
    }
}

fn bench(c: &mut Criterion) {
    let tracer = TracerModel::preset("perimag_like").expect("tracer");
    let mut g = c.benchmark_group("sysmat");
    g.sample_size(10);
    for (name, scanner, grid) in [
        ("bruker_2d_64x64", "bruker_2d", Grid::new([64, 64, 1], [38e-3, 38e-3, 1e-3], [0.0; 3])),
        ("bruker_3d_19x19x19", "bruker_3d", Grid::new([19, 19, 19], [38e-3, 38e-3, 19e-3], [0.0; 3])),
    ] {
        let s = ScannerConfig::preset(scanner).expect("scanner");
        let engine = Engine::new(&s, &tracer).expect("engine");
        let samples = (grid.len() * s.samples_per_period() * s.simulation_oversampling) as u64;
        g.throughput(Throughput::Elements(samples));
        let sp = spec(grid);
        g.bench_function(name, |b| b.iter(|| simulate_system_matrix(&engine, &sp, &|_| {}).expect("sysmat")));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
