//! Console output: the only place that installs a `tracing` subscriber, and the owner of the progress bars.
//!
//! * `-v`/`-vv` raise, `-q` lowers the level; `RUST_LOG` (e.g. `RUST_LOG=magpie_core=debug`) overrides both.
//! * Colour only when stderr is a terminal and `NO_COLOR` is unset or empty (<https://no-color.org>): pipes and
//!   files get plain text.
//! * Per-item detail at debug: the libraries wrap the work on one item of a batch (one measurement of a
//!   calibration series, one case of a benchmark) in a span named [`ITEM_SPAN`]; at the default level the info
//!   lines inside it are hidden, so a batch prints its summary, not one block per item (`-v` shows them).
//! * Log lines and progress bars share the terminal: every line is written while the bars are suspended
//!   ([`bars`]), so neither overwrites the other.

use indicatif::{MultiProgress, ProgressDrawTarget};
use magpie_core::ITEM_SPAN;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use tracing::Level;
use tracing_subscriber::filter::{DynFilterFn, FilterExt};
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

/// The console's progress bars. Every bar is added here, so that log lines can suspend them.
pub fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(|| {
        let m = MultiProgress::new();
        if !std::io::stderr().is_terminal() {
            m.set_draw_target(ProgressDrawTarget::hidden());
        }
        m
    })
}

/// Colour on stderr: a terminal, and `NO_COLOR` unset or empty.
pub fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Writes one formatted log line to stderr with the progress bars suspended.
struct BarAwareStderr;

impl Write for BarAwareStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        bars().suspend(|| std::io::stderr().lock().write_all(buf))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Prints a line on stderr without disturbing the progress bars.
pub fn eprint_line(line: &str) {
    bars().suspend(|| eprintln!("{line}"));
}

/// `summary_only`: the subcommand prints its own summary (demo, bench), so its default level is `warn`.
pub fn init(verbose: u8, quiet: bool, summary_only: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) if summary_only => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    if quiet {
        bars().set_draw_target(ProgressDrawTarget::hidden());
    }
    let from_env = EnvFilter::try_from_default_env().ok();
    // Item detail is hidden only at the default level; -v and RUST_LOG show everything they ask for.
    let hide_items = from_env.is_none() && verbose == 0;
    let filter = from_env.unwrap_or_else(|| EnvFilter::new(level));
    let items = DynFilterFn::new(move |meta, cx| {
        if !hide_items || !meta.is_event() || *meta.level() != Level::INFO {
            return true;
        }
        cx.lookup_current().is_none_or(|span| span.scope().all(|s| s.name() != ITEM_SPAN))
    });
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(|| BarAwareStderr)
        .with_ansi(colour())
        .with_target(false)
        .without_time()
        .with_filter(filter.and(items));
    let _ = tracing_subscriber::registry().with(layer).try_init();
}
