//! `magpie simulate`: a phantom on a scanner → a measurement MDF (frames, background frames, noise).

use anyhow::Context;
use magpie_core::mdf::{write_mdf, WriteOptions};
use magpie_sim::forward::Engine;
use magpie_sim::measurement::{simulate_measurement, Domain, MeasurementSpec};
use magpie_sim::phantom::Phantom;
use std::path::PathBuf;

use super::common;
use super::scan::ScanArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Phantom preset or TOML file (`magpie phantom --list`).
    #[arg(long)]
    pub phantom: String,
    #[command(flatten)]
    pub scan: ScanArgs,
    /// Number of foreground frames.
    #[arg(long, default_value_t = 1, value_parser = common::count_arg)]
    pub frames: usize,
    /// Background (empty-scanner) frames before the foreground.
    #[arg(long, default_value_t = 2)]
    pub bg_before: usize,
    /// Background frames after the foreground.
    #[arg(long, default_value_t = 2)]
    pub bg_after: usize,
    /// Block averages per frame (default: the scanner preset's).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub averages: Option<u32>,
    /// Leave out the receive noise.
    #[arg(long)]
    pub no_noise: bool,
    /// Leave out the scanner background (feed-through residue and drift).
    #[arg(long)]
    pub no_background: bool,
    /// Noise seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Store time samples (time: what scanners write and what MDF's reference reader expects) or spectra
    /// (fourier: smaller to reconstruct from, as a processed file).
    #[arg(long, value_enum, default_value = "time")]
    pub domain: DomainArg,
    /// Spacing of the sub-voxel lattice on which the phantom is sampled [mm] (keep it finer than any
    /// reconstruction grid: the "inverse crime").
    #[arg(long, default_value_t = 0.25, value_parser = common::positive_arg)]
    pub lattice_mm: f64,
    /// Output measurement file.
    #[arg(short, long)]
    pub out: PathBuf,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DomainArg {
    Fourier,
    Time,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut inputs = args.scan.input_files();
    inputs.extend(common::preset_file(&args.phantom).map(|p| ("phantom", p)));
    common::prepare_outputs(&[("-o", &args.out)], &inputs)?;
    let (scanner, tracer) = args.scan.load()?;
    let phantom = Phantom::load(&args.phantom)?;
    anyhow::ensure!(args.lattice_mm > 0.0, "--lattice-mm must be positive");
    let planar = scanner.drive.len() < 3 && scanner.topology != "MPS";
    let points = magpie_sim::measurement::phantom_point_masses(&phantom, args.lattice_mm * 1e-3, planar)?;
    tracing::info!(
        "phantom {}: {} point masses on a {:.3} mm lattice, {:.4} µg Fe",
        phantom.name,
        points.len(),
        args.lattice_mm,
        points.iter().map(|p| p.iron_kg).sum::<f64>() * 1e9
    );
    let engine = Engine::new(&scanner, &tracer)?;
    let spec = MeasurementSpec {
        frames: args.frames,
        background_frames_before: args.bg_before,
        background_frames_after: args.bg_after,
        averages: args.averages,
        noise: !args.no_noise,
        background: !args.no_background,
        seed: args.seed,
        domain: match args.domain {
            DomainArg::Fourier => Domain::Fourier,
            DomainArg::Time => Domain::Time,
        },
    };
    let all_frames = spec.frames + spec.background_frames_before + spec.background_frames_after;
    let per_frame = engine.num_periods() * engine.num_channels();
    let bytes = (all_frames * per_frame) as u64
        * match spec.domain {
            Domain::Fourier => engine.num_bins() as u64 * 8,
            Domain::Time => engine.samples_per_period() as u64 * 4,
        };
    common::announce_large_file(&args.out, bytes, "fewer --frames make it smaller");
    let t0 = std::time::Instant::now();
    let mut file =
        simulate_measurement(&engine, &points, &spec, &format!("phantom {} on {}", phantom.name, scanner.name))?;
    if let Ok(t) = phantom.to_toml_string() {
        file.provenance.insert("phantom".into(), t);
    }
    tracing::info!(
        "simulated {all_frames} frames in {:.2} s, stored as {} (--domain)",
        t0.elapsed().as_secs_f64(),
        match spec.domain {
            Domain::Fourier => "spectra (Fourier domain)",
            Domain::Time => "float32 time samples, as a scanner writes them",
        }
    );
    write_mdf(&args.out, &file, &WriteOptions::default()).with_context(|| format!("writing {}", args.out.display()))?;
    tracing::info!("wrote {}", args.out.display());
    Ok(())
}
