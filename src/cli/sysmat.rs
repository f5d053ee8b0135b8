//! `magpie sysmat`: a simulated system matrix (delta sample on a grid) as a calibration MDF in the processed
//! layout, parallel over voxels with a progress bar.

use anyhow::Context;
use magpie_core::mdf::{write_mdf, WriteOptions};
use magpie_sim::forward::Engine;
use magpie_sim::sysmat::{simulate_system_matrix, SystemMatrixSpec};
use std::path::PathBuf;

use super::common;
use super::scan::ScanArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub scan: ScanArgs,
    /// Calibration grid, NxNyNz (default: the scanner's default grid, e.g. 19x19x1 for bruker_2d).
    #[arg(long, value_parser = common::grid_shape_arg)]
    pub grid: Option<[usize; 3]>,
    /// Calibration field of view in mm (default: the scanner's; OpenMPIData: 38,38,19 for 19×19×19).
    #[arg(long = "fov-mm", value_parser = common::mm3_arg)]
    pub fov_m: Option<[f64; 3]>,
    /// Centre of the field of view in mm.
    #[arg(long = "center-mm", value_parser = common::mm3_arg, default_value = "0,0,0")]
    pub center_m: [f64; 3],
    /// Delta-sample size in mm (default: the voxel size).
    #[arg(long = "delta-mm", value_parser = common::mm3_arg)]
    pub delta_m: Option<[f64; 3]>,
    /// Delta-sample iron concentration [mmol/L] (OpenMPIData: 100).
    #[arg(long, default_value_t = 100.0, value_parser = common::positive_arg)]
    pub concentration_mmol: f64,
    /// Sub-points per axis integrating over the delta sample.
    #[arg(long, default_value_t = 1, value_parser = common::subsamples_arg)]
    pub subsamples: usize,
    /// Averages per calibration position (OpenMPIData: 1000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub averages: u32,
    /// Background frames appended.
    #[arg(long, default_value_t = 10)]
    pub bg_frames: usize,
    /// Keep frequencies up to this value [kHz] (default: the whole receive band).
    #[arg(long, value_parser = common::positive_arg)]
    pub max_freq_khz: Option<f64>,
    /// Leave out the noise.
    #[arg(long)]
    pub no_noise: bool,
    /// Leave out the scanner background.
    #[arg(long)]
    pub no_background: bool,
    /// Noise seed.
    #[arg(long, default_value_t = 2)]
    pub seed: u64,
    /// Output calibration file.
    #[arg(short, long)]
    pub out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    common::prepare_outputs(&[("-o", &args.out)], &args.scan.input_files())?;
    let (scanner, tracer) = args.scan.load()?;
    let grid = common::grid_or_default(&scanner, args.grid, args.fov_m, args.center_m)?;
    let spec = SystemMatrixSpec {
        grid,
        delta_size_m: args.delta_m,
        delta_concentration_mol_per_l: args.concentration_mmol * 1e-3,
        delta_subsamples: args.subsamples,
        background_frames: args.bg_frames,
        averages: args.averages,
        noise: !args.no_noise,
        background: !args.no_background,
        max_frequency_hz: args.max_freq_khz.map(|f| f * 1e3),
        seed: args.seed,
    };
    let engine = Engine::new(&scanner, &tracer)?;
    let k = match spec.max_frequency_hz {
        Some(f) => (0..engine.num_bins()).take_while(|kk| engine.frequency_hz(*kk) <= f).count(),
        None => engine.num_bins(),
    };
    // Complex float32 per (row, frame): the processed layout's storage.
    let bytes = (engine.num_periods() * engine.num_channels() * k * (grid.len() + spec.background_frames) * 8) as u64;
    tracing::info!(
        "system matrix: {} voxels × {} rows (J={} × C={} × K={}), delta sample {:.3} µg Fe, {} background frames, {:.1} MB",
        grid.len(),
        engine.num_periods() * engine.num_channels() * k,
        engine.num_periods(),
        engine.num_channels(),
        k,
        spec.delta_iron_kg() * 1e9,
        spec.background_frames,
        bytes as f64 / 1e6
    );
    common::announce_large_file(
        &args.out,
        bytes,
        "--max-freq-khz keeps part of the band (rows scale with it), a coarser --grid fewer voxels",
    );
    let pb = common::progress(grid.len() as u64, "system matrix");
    let t0 = std::time::Instant::now();
    let file = simulate_system_matrix(&engine, &spec, &|n| pb.inc(n))?;
    pb.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    let samples =
        (grid.len() * engine.samples_per_period() * scanner.simulation_oversampling * engine.num_periods()) as f64;
    tracing::info!("simulated in {secs:.2} s ({:.3e} voxel-samples/s)", samples / secs);
    write_mdf(&args.out, &file, &WriteOptions::default()).with_context(|| format!("writing {}", args.out.display()))?;
    tracing::info!("wrote {}", args.out.display());
    Ok(())
}
