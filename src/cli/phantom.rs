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
    /// Grid voxels per axis, NxNyNz (default: the scanner's default grid, that of `magpie sysmat`). A single
    /// voxel along an axis makes it a projection axis: the map integrates the phantom along it.
    #[arg(long, value_parser = common::grid_shape_arg)]
    pub grid: Option<[usize; 3]>,
    /// Field of view in mm, x,y,z (default: the scanner's).
    #[arg(long = "fov-mm", value_parser = common::mm3_arg)]
    pub fov_m: Option<[f64; 3]>,
    /// Centre of the field of view in mm.
    #[arg(long = "center-mm", value_parser = common::mm3_arg, default_value = "0,0,0")]
    pub center_m: [f64; 3],
    /// Scanner preset or TOML file whose default grid is used when --grid/--fov-mm are not given.
    #[arg(long, default_value = "bruker_2d")]
    pub scanner: String,
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
    let mut outputs: Vec<(&str, &std::path::Path)> = Vec::new();
    outputs.extend(args.out.as_deref().map(|p| ("-o", p)));
    outputs.extend(args.png.as_deref().map(|p| ("--png", p)));
    let mut inputs: Vec<(&str, &std::path::Path)> = Vec::new();
    inputs.extend(common::preset_file(name).map(|p| ("phantom", p)));
    inputs.extend(common::preset_file(&args.scanner).map(|p| ("--scanner", p)));
    common::prepare_outputs(&outputs, &inputs)?;
    let phantom = Phantom::load(name)?;
    let scanner = magpie_core::scanner::ScannerConfig::load(&args.scanner)
        .with_context(|| format!("loading scanner {}", args.scanner))?;
    let grid = common::grid_or_default(&scanner, args.grid, args.fov_m, args.center_m)?;
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
        let file = truth_file(&phantom, &grid, &map_ng)?;
        write_mdf(out, &file, &WriteOptions::default()).with_context(|| format!("writing {}", out.display()))?;
        tracing::info!("wrote {}", out.display());
    }
    if let Some(png) = &args.png {
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
