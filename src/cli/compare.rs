//! `magpie compare RECO.mdf TRUTH.mdf [-t NRMSE]`: NRMSE, PSNR, SSIM and total-iron error; fails above the
//! threshold (as BART's `nrmse -t`).

use anyhow::{bail, Context};
use magpie_core::mdf::read_mdf;
use magpie_core::Grid;
use magpie_reconstruct::metrics::compare;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Reconstruction (or any MDF with /reconstruction).
    pub estimate: PathBuf,
    /// Ground truth (e.g. from `magpie phantom`), same grid or an integer refinement of it.
    pub truth: PathBuf,
    /// Fail (exit 1) when NRMSE exceeds this.
    #[arg(short = 't', long)]
    pub threshold: Option<f64>,
    /// Frame of the estimate to compare.
    #[arg(long, default_value_t = 0)]
    pub frame: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn load(path: &PathBuf, frame: usize) -> anyhow::Result<(Vec<f64>, Grid)> {
    let f = read_mdf(path).with_context(|| format!("reading {}", path.display()))?;
    let r = f.reconstruction.with_context(|| format!("{}: no /reconstruction group", path.display()))?;
    let size = r.size.with_context(|| format!("{}: /reconstruction/size missing", path.display()))?;
    let fov = r.field_of_view_m.unwrap_or([0.0; 3]);
    let data = r.data.to_f64_lossy();
    let (q, p) = (data.shape()[0], data.shape()[1]);
    if frame >= q {
        bail!("{}: frame {frame} requested, the file has {q}", path.display());
    }
    let v: Vec<f64> = (0..p).map(|i| data[[frame, i, 0]]).collect();
    Ok((v, Grid::new(size, fov, r.field_of_view_center_m.unwrap_or([0.0; 3]))))
}

/// Sums a finer truth grid onto the coarser estimate grid (iron is extensive), when the shapes divide.
fn coarsen(v: &[f64], fine: &Grid, coarse: &Grid) -> anyhow::Result<Vec<f64>> {
    if fine.shape == coarse.shape {
        return Ok(v.to_vec());
    }
    let f: Vec<usize> = (0..3).map(|d| fine.shape[d] / coarse.shape[d].max(1)).collect();
    if (0..3).any(|d| coarse.shape[d] * f[d] != fine.shape[d]) {
        bail!("truth grid {:?} is not an integer refinement of the estimate grid {:?}", fine.shape, coarse.shape);
    }
    let mut out = vec![0.0; coarse.len()];
    for (p, val) in v.iter().enumerate() {
        let [x, y, z] = fine.unflatten(p);
        out[coarse.flatten([x / f[0], y / f[1], z / f[2]])] += val;
    }
    Ok(out)
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let (est, g_est) = load(&a.estimate, a.frame)?;
    let (truth, g_truth) = load(&a.truth, 0)?;
    if (0..3).any(|d| (g_est.fov_m[d] - g_truth.fov_m[d]).abs() > 1e-9 && g_est.shape[d] > 1) {
        tracing::warn!("fields of view differ: estimate {:?} m, truth {:?} m", g_est.fov_m, g_truth.fov_m);
    }
    let truth = coarsen(&truth, &g_truth, &g_est)?;
    let c = compare(&est, &truth, g_est.shape);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        println!("NRMSE (‖x̂−x‖/‖x‖)   {:.4}", c.nrmse);
        println!("PSNR                  {:.2} dB", c.psnr_db);
        println!("SSIM                  {:.4}", c.ssim);
        println!("total iron error      {:+.2} %", c.total_error * 100.0);
    }
    if let Some(t) = a.threshold {
        if c.nrmse.is_nan() || c.nrmse > t {
            bail!("NRMSE {:.4} exceeds the threshold {t}", c.nrmse);
        }
    }
    Ok(())
}
