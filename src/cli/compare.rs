//! `magpie compare RECO.mdf TRUTH.mdf [-t NRMSE]`: NRMSE, PSNR, SSIM and total-iron error; a failed threshold
//! exits with 3 (as BART's `nrmse -t` fails). The two files must describe the same field of view: a truth on the
//! same grid or an integer refinement of it is summed onto the estimate's voxels (iron is extensive); any other
//! pair is refused unless `--resample` asks for the truth to be redistributed by voxel overlap.

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
    /// Fail (exit 3) when NRMSE exceeds this.
    #[arg(short = 't', long)]
    pub threshold: Option<f64>,
    /// Frame of the estimate to compare.
    #[arg(long, default_value_t = 0)]
    pub frame: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Redistribute the truth onto the estimate's grid by voxel overlap when the fields of view or grids differ
    /// (otherwise such a pair is refused: its voxels would not be the same places).
    #[arg(long)]
    pub resample: bool,
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

/// Axes along which the two grids span space: an axis with one voxel in both is a projection axis (a 2-D map
/// integrates over z) and its extent does not have to agree.
fn spanned_axes(a: &Grid, b: &Grid) -> Vec<usize> {
    (0..3).filter(|d| a.shape[*d] > 1 || b.shape[*d] > 1).collect()
}

/// Why the truth cannot be summed onto the estimate's voxels as it is (None: it can).
fn mismatch(est: &Grid, truth: &Grid) -> Option<String> {
    let mm = |v: [f64; 3]| format!("{:.3} × {:.3} × {:.3} mm", v[0] * 1e3, v[1] * 1e3, v[2] * 1e3);
    let tol = |d: usize| 1e-6 * est.fov_m[d].abs().max(truth.fov_m[d].abs()).max(1e-3);
    for d in spanned_axes(est, truth) {
        if (est.fov_m[d] - truth.fov_m[d]).abs() > tol(d) {
            return Some(format!("fields of view differ: estimate {}, truth {}", mm(est.fov_m), mm(truth.fov_m)));
        }
        if (est.center_m[d] - truth.center_m[d]).abs() > tol(d) {
            return Some(format!(
                "field-of-view centres differ: estimate {}, truth {}",
                mm(est.center_m),
                mm(truth.center_m)
            ));
        }
        if !truth.shape[d].is_multiple_of(est.shape[d]) {
            return Some(format!(
                "grids differ: the truth's {:?} voxels are not an integer refinement of the estimate's {:?}",
                truth.shape, est.shape
            ));
        }
    }
    None
}

/// Sums a truth on an integer refinement of the estimate's grid onto the estimate's voxels.
fn coarsen(v: &[f64], fine: &Grid, coarse: &Grid) -> Vec<f64> {
    let f: Vec<usize> = (0..3).map(|d| (fine.shape[d] / coarse.shape[d]).max(1)).collect();
    let mut out = vec![0.0; coarse.len()];
    for (p, val) in v.iter().enumerate() {
        let [x, y, z] = fine.unflatten(p);
        out[coarse.flatten([
            (x / f[0]).min(coarse.shape[0] - 1),
            (y / f[1]).min(coarse.shape[1] - 1),
            (z / f[2]).min(coarse.shape[2] - 1),
        ])] += val;
    }
    out
}

/// Redistributes the iron of each source voxel onto the target voxels in proportion to the volume they share
/// (iron uniform within a voxel; conservative: iron outside the target grid is dropped, and reported).
/// Projection axes (one voxel in both grids) are not compared.
fn resample(v: &[f64], src: &Grid, dst: &Grid) -> (Vec<f64>, f64) {
    let axes = spanned_axes(src, dst);
    // Per axis: for each source index, the (target index, overlap fraction of the source cell) pairs.
    let weights: Vec<Vec<Vec<(usize, f64)>>> = (0..3)
        .map(|d| {
            (0..src.shape[d])
                .map(|i| {
                    if !axes.contains(&d) {
                        return vec![(0, 1.0)];
                    }
                    let (ws, wd) = (src.voxel_size_m()[d], dst.voxel_size_m()[d]);
                    let lo = src.center_m[d] - 0.5 * src.fov_m[d] + i as f64 * ws;
                    let hi = lo + ws;
                    let d0 = dst.center_m[d] - 0.5 * dst.fov_m[d];
                    (0..dst.shape[d])
                        .filter_map(|j| {
                            let (a, b) = (d0 + j as f64 * wd, d0 + (j + 1) as f64 * wd);
                            let o = (hi.min(b) - lo.max(a)).max(0.0);
                            (o > 0.0).then_some((j, o / ws))
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let mut out = vec![0.0; dst.len()];
    for (p, val) in v.iter().enumerate() {
        let [x, y, z] = src.unflatten(p);
        for &(i, wx) in &weights[0][x] {
            for &(j, wy) in &weights[1][y] {
                for &(k, wz) in &weights[2][z] {
                    out[dst.flatten([i, j, k])] += val * wx * wy * wz;
                }
            }
        }
    }
    let lost = v.iter().sum::<f64>() - out.iter().sum::<f64>();
    (out, lost)
}

pub fn run(a: Args) -> anyhow::Result<()> {
    let (est, g_est) = load(&a.estimate, a.frame)?;
    let (truth, g_truth) = load(&a.truth, 0)?;
    let truth = match (mismatch(&g_est, &g_truth), a.resample) {
        (None, _) => coarsen(&truth, &g_truth, &g_est),
        (Some(why), false) => {
            bail!("{why}: the voxels are not the same places; compare files on the same grid or pass --resample")
        }
        (Some(why), true) => {
            let (r, lost) = resample(&truth, &g_truth, &g_est);
            tracing::info!(
                "{why}: truth redistributed onto the estimate's grid by voxel overlap ({lost:.3} ng outside it)"
            );
            r
        }
    };
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
            return Err(super::CheckFailed(format!("NRMSE {:.4} exceeds the threshold {t}", c.nrmse)).into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_refinements_pass_and_other_grids_are_named() {
        let est = Grid::new([4, 4, 1], [8e-3, 8e-3, 1e-3], [0.0; 3]);
        assert!(mismatch(&est, &Grid::new([8, 8, 1], [8e-3, 8e-3, 10e-3], [0.0; 3])).is_none());
        let fov = mismatch(&est, &Grid::new([8, 8, 1], [16e-3, 8e-3, 1e-3], [0.0; 3])).unwrap();
        assert!(fov.contains("8.000 × 8.000 × 1.000 mm") && fov.contains("16.000 × 8.000 × 1.000 mm"), "{fov}");
        assert!(mismatch(&est, &Grid::new([6, 6, 1], [8e-3, 8e-3, 1e-3], [0.0; 3])).unwrap().contains("refinement"));
        assert!(mismatch(&est, &Grid::new([4, 4, 1], [8e-3, 8e-3, 1e-3], [1e-3, 0.0, 0.0]))
            .unwrap()
            .contains("centres"));
    }

    #[test]
    fn resampling_by_overlap_conserves_iron_and_equals_summing_on_refinements() {
        let coarse = Grid::new([3, 2, 1], [6e-3, 4e-3, 1e-3], [0.0; 3]);
        let fine = Grid::new([6, 4, 1], [6e-3, 4e-3, 1e-3], [0.0; 3]);
        let v: Vec<f64> = (0..fine.len()).map(|i| (i * 7 % 5) as f64 + 0.5).collect();
        let (r, lost) = resample(&v, &fine, &coarse);
        let c = coarsen(&v, &fine, &coarse);
        assert!(lost.abs() < 1e-12);
        for (a, b) in r.iter().zip(&c) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
        // A truth over a wider FOV: a voxel half inside gives half its iron; the rest is reported lost.
        let wide = Grid::new([4, 1, 1], [8e-3, 1e-3, 1e-3], [0.0; 3]);
        let est = Grid::new([3, 1, 1], [6e-3, 1e-3, 1e-3], [0.0; 3]);
        let (r, lost) = resample(&[1.0, 1.0, 1.0, 1.0], &wide, &est);
        assert!((r[0] - 1.0).abs() < 1e-12 && (r[1] - 1.0).abs() < 1e-12 && (r[2] - 1.0).abs() < 1e-12, "{r:?}");
        assert!((lost - 1.0).abs() < 1e-12);
    }
}
