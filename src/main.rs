//! `magpie`: the command-line interface of the magpie MPI pipeline. Thin: parses arguments, installs logging,
//! calls the library crates, and maps errors to a non-zero exit code.

// Units are written in brackets after quantities, e.g. "frequency [Hz]": prose, not intra-doc links.
#![allow(rustdoc::broken_intra_doc_links)]

mod cli;
mod logging;
mod plot;

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
