//! One module per subcommand, each with a `run(args) -> anyhow::Result<()>`.

mod bench;
mod calibrate;
mod common;
mod compare;
mod demo;
mod inspect;
mod phantom;
mod reconstruct;
mod scan;
mod simulate;
mod sysmat;
mod truth;

use clap::{Parser, Subcommand};

/// magpie — magnetic particle imaging: simulate, reconstruct and quantify SPION-labelled cells.
#[derive(Debug, Parser)]
#[command(name = "magpie", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// More log output (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a readable summary of an MDF v2 file (use --json for machine-readable output).
    Inspect(inspect::Args),
    /// Run the demonstration: simulate a rat-striatum cell graft, reconstruct it and count the cells.
    Demo(demo::Args),
    /// Render a phantom's ground truth (iron per voxel) to MDF and PNG; --list shows the presets.
    Phantom(phantom::Args),
    /// Simulate a scanner measurement of a phantom (frames, background frames, noise) into an MDF file.
    Simulate(simulate::Args),
    /// Simulate a system matrix (delta sample on a grid) into a calibration MDF file.
    Sysmat(sysmat::Args),
    /// Reconstruct a measurement into a quantitative iron map (ng Fe per voxel): system matrix or x-space.
    Reconstruct(reconstruct::Args),
    /// Detection limits in ng Fe and cells from blanks and a dilution series (measured or simulated).
    Calibrate(calibrate::Args),
    /// Benchmark reconstruction accuracy and speed on phantoms with known truth (--quick for CI).
    Bench(bench::Args),
    /// Compare a reconstruction with a ground truth: NRMSE, PSNR, SSIM, total-iron error (-t fails above).
    Compare(compare::Args),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Inspect(a) => inspect::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Phantom(a) => phantom::run(a),
        Command::Simulate(a) => simulate::run(a),
        Command::Sysmat(a) => sysmat::run(a),
        Command::Reconstruct(a) => reconstruct::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Calibrate(a) => calibrate::run(a),
        Command::Bench(a) => bench::run(a),
    }
}
