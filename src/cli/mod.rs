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
mod tf;
mod truth;

use clap::{Parser, Subcommand};

/// Exit codes, the same for every subcommand (documented in `--help` and the README).
pub mod exit {
    /// Success.
    pub const SUCCESS: u8 = 0;
    /// An error: bad input, a missing or unreadable file, I/O.
    pub const ERROR: u8 = 1;
    /// A usage error: unknown option, malformed or contradictory values (clap exits with 2 too).
    pub const USAGE: u8 = 2;
    /// A check that ran and failed: `compare -t`, `bench --check`, `inspect --check` finding violations.
    pub const CHECK_FAILED: u8 = 3;
}

/// The text of the exit codes for `--help`.
const EXIT_CODES: &str = "Exit codes:
  0  success
  1  error (bad input, missing file, I/O)
  2  usage error
  3  a check that ran and failed (compare -t, bench --check, inspect --check)";

/// A check that ran to the end and failed (exit code 3), as opposed to an error that stopped it (1).
#[derive(Debug)]
pub struct CheckFailed(pub String);

impl std::fmt::Display for CheckFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CheckFailed {}

/// Options that parse but do not make sense together or in range (exit code 2, like clap's own errors).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The exit code of an error: 3 for a failed check, 2 for a usage error, else 1.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<CheckFailed>().is_some() {
        exit::CHECK_FAILED
    } else if e.downcast_ref::<UsageError>().is_some() {
        exit::USAGE
    } else {
        exit::ERROR
    }
}

/// The version with the git commit it was built from (set by build.rs).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("MAGPIE_GIT_COMMIT"), ")");

/// magpie — magnetic particle imaging: simulate, reconstruct and quantify SPION-labelled cells.
#[derive(Debug, Parser)]
#[command(name = "magpie", version = VERSION, about, long_about = None, propagate_version = true, after_help = EXIT_CODES)]
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

// Parsed once per run: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
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
    /// Receive transfer functions: convert Touchstone (.s1p/.s2p) to the HDF5 form, summarise, plot.
    Tf(tf::Args),
    /// Compare a reconstruction with a ground truth: NRMSE, PSNR, SSIM, total-iron error (-t fails above).
    Compare(compare::Args),
    /// Print a shell completion script (bash, zsh, fish, …), e.g. `magpie completions bash > ~/.magpie.bash`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
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
        Command::Tf(a) => tf::run(a),
        Command::Calibrate(a) => calibrate::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "magpie",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}
