//! `magpie demo`: the README's first command.

use anyhow::Context;
use magpie_core::mdf::{example, write_mdf, WriteOptions};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder for the demo's files.
    #[arg(short, long, default_value = "magpie-demo")]
    pub out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let path = args.out.join("example_measurement.mdf");
    let file = example::small_measurement(4, 3);
    write_mdf(&path, &file, &WriteOptions::default()).with_context(|| format!("writing {}", path.display()))?;
    tracing::info!("wrote {}", path.display());
    super::inspect::run(super::inspect::Args { file: path, json: false, check: true })
}
