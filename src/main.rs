//! `magpie`: the command-line interface of the magpie MPI pipeline. Thin: parses arguments, installs logging,
//! calls the library crates, and maps errors to a non-zero exit code.

// Units are written in brackets after quantities, e.g. "frequency [Hz]": prose, not intra-doc links.
#![allow(rustdoc::broken_intra_doc_links)]

mod cli;
#[cfg(unix)]
mod interrupt;
mod logging;
mod plot;
#[cfg(unix)]
mod supervise;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // `magpie compare … | head -1`: a closed pipe ends the program quietly, as it ends `cat`, instead of a panic
    // in `println!` (Rust ignores SIGPIPE by default).
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts affects nothing else.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    // Help and usage errors are answered above; the command itself runs in a child that a crash inside libhdf5
    // cannot take down with a signal (see `supervise`).
    #[cfg(unix)]
    if supervise::wanted() {
        if let Some(code) = supervise::run() {
            return code;
        }
    }
    #[cfg(unix)]
    interrupt::install();
    // The demo and the benchmark print their own summaries; their step-by-step log appears with -v.
    let summary_only = matches!(args.command, cli::Command::Demo(_) | cli::Command::Bench(_));
    logging::init(args.verbose, args.quiet, summary_only);
    match cli::run(args) {
        Ok(()) => ExitCode::from(cli::exit::SUCCESS),
        Err(e) => {
            logging::eprint_line(&format!("error: {e:#}"));
            ExitCode::from(cli::exit_code(&e))
        }
    }
}
