//! Logging: the only place that installs a `tracing` subscriber. `-v`/`-vv` raise, `-q` lowers the level;
//! `RUST_LOG` (e.g. `RUST_LOG=magpie_core=debug`) overrides both.

use tracing_subscriber::EnvFilter;

/// `summary_only`: the subcommand prints its own summary (demo, bench), so its default level is `warn`.
pub fn init(verbose: u8, quiet: bool, summary_only: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) if summary_only => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}
