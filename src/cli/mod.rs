//! One module per subcommand, each with a `run(args) -> anyhow::Result<()>`.

mod demo;
mod inspect;

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
    /// Run the demonstration: write a small example MDF measurement and inspect it.
    Demo(demo::Args),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Inspect(a) => inspect::run(a),
        Command::Demo(a) => demo::run(a),
    }
}
