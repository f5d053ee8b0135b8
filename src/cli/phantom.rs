//! `magpie phantom`: render a phantom's ground truth (iron per voxel, exact volume integration) to MDF and PNG.

use anyhow::Context;
use magpie_core::mdf::{write_mdf, WriteOptions};
use magpie_sim::phantom::Phantom;
use std::path::PathBuf;

use super::common;
use super::truth::truth_file;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Phantom preset name or TOML file (see --list).
    pub phantom: Option<String>,
    /// List the presets and exit.
    #[arg(long)]
    pub list: bool,
    /// Grid voxels per axis, NxNyNz.
    #[arg(long, default_value = "64x64x1")]
    pub grid: String,
    /// Field of view in mm, x,y,z (the z extent of a 2-D grid is the slab it integrates).
    #[arg(long, default_value = "32,32,10")]
    pub fov_mm: String,
    /// Centre of the field of view in mm.
    #[arg(long, default_value = "0,0,0")]
    pub center_mm: String,
    /// Output MDF file with the truth in /reconstruction (ng Fe per voxel).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Also write a PNG (slices or MIPs with axes in mm and a colour bar in ng Fe).
    #[arg(long)]
    pub png: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.list {
        for name in Phantom::preset_names() {
            let p = Phantom::preset(name)?;
            println!("{name:<24} {:>10.3} µg Fe  {}", p.total_iron_kg() * 1e9, p.description);
        }
        return Ok(());
    }
    let name = args.phantom.as_deref().context("name a phantom preset or TOML file (see `magpie phantom --list`)")?;
    let phantom = Phantom::load(name)?;
    let grid = common::grid(&args.grid, &args.fov_mm, &args.center_mm)?;
    let map_ng = phantom.iron_map_ng(&grid);
    let inside: f64 = map_ng.sum();
    tracing::info!(
        "{}: {} sources, {:.4} µg Fe in total, {:.4} µg inside the {}×{}×{} grid",
        phantom.name,
        phantom.sources.len(),
        phantom.total_iron_kg() * 1e9,
        inside * 1e-3,
        grid.shape[0],
        grid.shape[1],
        grid.shape[2]
    );
    if let Some(out) = &args.out {
        common::check_output(out, &[])?;
        let file = truth_file(&phantom, &grid, &map_ng)?;
        write_mdf(out, &file, &WriteOptions::default()).with_context(|| format!("writing {}", out.display()))?;
        tracing::info!("wrote {}", out.display());
    }
    if let Some(png) = &args.png {
        common::check_output(png, &[])?;
        let values: Vec<f64> = map_ng.to_vec();
        let title = format!("{} (truth)", phantom.name);
        crate::plot::write_maps_png(
            png,
            &[crate::plot::MapPlot { title: &title, values: &values, grid: &grid, unit: "ng Fe" }],
            crate::plot::MapView::Auto,
        )?;
        tracing::info!("wrote {}", png.display());
    }
    if args.out.is_none() && args.png.is_none() {
        println!(
            "{}: {:.4} µg Fe in the grid (use -o FILE.mdf and/or --png FILE.png to write it)",
            phantom.name,
            inside * 1e-3
        );
    }
    Ok(())
}
