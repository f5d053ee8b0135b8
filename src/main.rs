//! `magpie`: the command-line interface of the magpie MPI pipeline. Thin: parses arguments, installs logging,
//! calls the library crates, and maps errors to a non-zero exit code.

mod cli;
mod logging;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    logging::init(args.verbose, args.quiet);
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
