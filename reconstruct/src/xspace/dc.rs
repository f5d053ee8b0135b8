//! Recovery of what the band-stop filter took: the particle signal's components at the drive frequencies.
//!
//! The receive chain removes the drive-frequency bin of every channel (physics.md §2.6). For an adiabatic 1-D
//! sinusoidal sweep that is exactly a constant per partial FOV in the native image; in general it is the
//! native image of two unknown real amplitudes (cosine and sine) per period, receive channel and drive
//! frequency. Those unknowns θ are found by linear least squares from two priors (Lu et al., IEEE TMI 32(9),
//! 2013): continuity — every voxel seen by several periods (overlapping partial FOVs) has one value — and a
//! zero baseline on the outer edge of the covered region along the drive axes (no tracer there). A relative
//! ridge of 1e-9 keeps unknowns that no equation sees (e.g. the quadrature terms that cancel between the two
//! sweep directions of a voxel) at zero.

use magpie_core::Grid;

use super::gridding::{Magnetization, SampleTable, NONE};
use super::sequence::Sequence;

/// One equation: Σ sign · I_j(v) = 0 over at most two (period, voxel) terms.
#[derive(Debug, Clone, Copy)]
struct Equation {
    terms: [(usize, usize, f64); 2],
    len: usize,
}

/// The prepared least-squares problem of the offset recovery (independent of the data).
#[derive(Debug, Clone)]
pub struct OffsetRecovery {
    /// Unknowns: (period, channel, drive-frequency index, quadrature 0 = cos / 1 = sin).
    pub unknowns: Vec<(usize, usize, usize, usize)>,
    equations: Vec<Equation>,
    /// Per unknown: its basis image sums per voxel [P] (native image of a unit-amplitude signal).
    basis: Vec<Vec<f64>>,
    /// Number of anchor (zero-baseline) voxels.
    pub anchors: usize,
    /// Number of overlap equations.
    pub overlaps: usize,
    /// Indices of the anchor equations.
    anchor_equations: Vec<usize>,
    /// Per anchor equation: its samples (period, sample index).
    anchor_samples: Vec<Vec<(usize, usize)>>,
}

impl OffsetRecovery {
    /// Builds the equations and factorises the normal matrix. Voxels within `band` voxels of the outer edge
    /// (along the drive axes) are zero-baseline anchors. `None` when nothing can be recovered.
    pub fn new(seq: &Sequence, grid: &Grid, table: &SampleTable, band: usize) -> Option<Self> {
        let band = band.max(1) as i64;
        let j_n = table.periods;
        let n = table.samples;
        let p = grid.len();
        // Channels that contribute to the native image.
        let channels: Vec<usize> = (0..3).filter(|&c| table.coeff.iter().any(|a| a[c] != 0.0)).collect();
        let freqs: Vec<f64> = seq.drive.iter().filter(|d| d.amplitude_t != 0.0).map(|d| d.frequency_hz).collect();
        let mut unknowns = Vec::new();
        for j in 0..j_n {
            for &c in &channels {
                for f in 0..freqs.len() {
                    for q in 0..2 {
                        unknowns.push((j, c, f, q));
                    }
                }
            }
        }
        if unknowns.is_empty() {
            return None;
        }
        // Basis images.
        let mut basis = vec![vec![0.0; p]; unknowns.len()];
        for (b, &(j, c, f, q)) in basis.iter_mut().zip(&unknowns) {
            let om = std::f64::consts::TAU * freqs[f];
            for i in 0..n {
                let v = table.voxel[j * n + i];
                if v == NONE {
                    continue;
                }
                let ph = om * table.times_s[i];
                let s = if q == 0 { ph.cos() } else { ph.sin() };
                b[v as usize] += table.coeff[i][c] * s;
            }
        }
        // Equations.
        let axes = seq.drive_axes();
        let mut equations = Vec::new();
        let mut anchors = 0;
        let mut overlaps = 0;
        let mut anchor_equations = Vec::new();
        let mut anchor_samples = Vec::new();
        for v in 0..p {
            if !table.covered(v) {
                continue;
            }
            let idx = grid.unflatten(v);
            let edge = axes.iter().any(|&d| {
                (-band..=band).filter(|s| *s != 0).any(|s| {
                    let k = idx[d] as i64 + s;
                    if k < 0 || k >= grid.shape[d] as i64 {
                        return true;
                    }
                    let mut nb = idx;
                    nb[d] = k as usize;
                    !table.covered(grid.flatten(nb))
                })
            });
            let periods: Vec<usize> = (0..j_n).filter(|&j| table.counts[j][v] > 0.0).collect();
            if edge {
                anchors += 1;
                for &j in &periods {
                    anchor_equations.push(equations.len());
                    // At most 32 evenly spread samples: the target is a voxel mean of a slowly varying tail.
                    let all: Vec<(usize, usize)> =
                        (0..n).filter(|&i| table.voxel[j * n + i] == v as u32).map(|i| (j, i)).collect();
                    let step = all.len().div_ceil(32).max(1);
                    anchor_samples.push(all.into_iter().step_by(step).collect::<Vec<_>>());
                    equations.push(Equation { terms: [(j, v, 1.0), (0, 0, 0.0)], len: 1 });
                }
            }
            for w in periods.windows(2) {
                overlaps += 1;
                equations.push(Equation { terms: [(w[0], v, 1.0), (w[1], v, -1.0)], len: 2 });
            }
        }
        if equations.is_empty() {
            return None;
        }
        let u = unknowns.len();
        tracing::debug!(unknowns = u, equations = equations.len(), anchors, overlaps, "offset recovery prepared");
        Some(OffsetRecovery { unknowns, equations, basis, anchors, overlaps, anchor_equations, anchor_samples })
    }

    /// The native values the tails of `sources` (position [m], iron [kg]) predict at the anchors: the
    /// baseline the "empty edge" prior should aim at, since L' and L(ξ)/ξ never reach zero.
    pub fn anchor_targets(
        &self,
        seq: &Sequence,
        table: &SampleTable,
        mag: &Magnetization,
        sources: &[([f64; 3], f64)],
    ) -> Vec<f64> {
        use rayon::prelude::*;
        let g = seq.gradient_t_per_m;
        self.anchor_samples
            .par_iter()
            .map(|samples| {
                let mut acc = 0.0;
                let mut wsum = 0.0;
                for &(j, i) in samples {
                    wsum += table.weight[i];
                    let t = table.times_s[i];
                    let r = seq.ffp_m(j, t);
                    let w = seq.sweep_rate_t_per_s(t);
                    let wn = (w[0] * w[0] + w[1] * w[1] + w[2] * w[2]).sqrt();
                    let w_hat = [w[0] / wn, w[1] / wn, w[2] / wn];
                    for (pos, kg) in sources {
                        let b: [f64; 3] = std::array::from_fn(|d| g[d] * (pos[d] - r[d]));
                        acc += table.weight[i] * kg * mag.projected(b, w_hat);
                    }
                }
                if wsum > 0.0 {
                    acc / wsum
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// The voxel of each equation.
    pub fn equation_voxels(&self) -> Vec<usize> {
        self.equations.iter().map(|e| e.terms[0].1).collect()
    }

    /// Indices of the anchor equations (the order of [`Self::anchor_targets`]).
    pub fn anchor_equations(&self) -> &[usize] {
        &self.anchor_equations
    }

    /// Solves the weighted least-squares problem for θ given per-period voxel sums `sums[j][v]` of the data's
    /// native image and adds the recovered components into them. `targets`: the anchors' expected values
    /// (None: zero), in anchor order; `weights`: per equation (None: 1).
    pub fn apply(
        &self,
        table: &SampleTable,
        sums: &mut [Vec<f64>],
        targets: Option<&[f64]>,
        weights: Option<&[f64]>,
    ) -> Vec<f64> {
        let u = self.unknowns.len();
        let per_period = u / table.periods;
        let mut rhs = vec![0.0; u];
        let mut ata = vec![0.0; u * u];
        let mut row = vec![0.0; u];
        let mut target_of = vec![0.0; self.equations.len()];
        if let Some(t) = targets {
            for (e, v) in self.anchor_equations.iter().zip(t) {
                target_of[*e] = *v;
            }
        }
        for (ei, e) in self.equations.iter().enumerate() {
            let w = weights.map_or(1.0, |w| w[ei]);
            let mut r = -target_of[ei];
            for &(j, v, s) in &e.terms[..e.len] {
                r += s * sums[j][v] / table.counts[j][v];
            }
            let cols = row_coefficients(e, &self.basis, table, per_period, &mut row);
            for &a in &cols {
                rhs[a] -= w * row[a] * r;
                for &b in &cols {
                    ata[a * u + b] += w * row[a] * row[b];
                }
            }
            for &a in &cols {
                row[a] = 0.0;
            }
        }
        let trace: f64 = (0..u).map(|i| ata[i * u + i]).sum();
        let ridge = 1e-9 * trace / u as f64 + f64::MIN_POSITIVE;
        for i in 0..u {
            ata[i * u + i] += ridge;
        }
        let Some(chol) = cholesky(&ata, u) else {
            tracing::warn!("offset recovery: singular normal equations; nothing recovered");
            return vec![0.0; u];
        };
        let theta = cholesky_solve(&chol, u, &rhs);
        for (i, &(j, ..)) in self.unknowns.iter().enumerate() {
            for (s, b) in sums[j].iter_mut().zip(&self.basis[i]) {
                *s += theta[i] * b;
            }
        }
        theta
    }
}

/// Fills `row` with the equation's coefficients on θ and returns the touched columns.
fn row_coefficients(
    e: &Equation,
    basis: &[Vec<f64>],
    table: &SampleTable,
    per_period: usize,
    row: &mut [f64],
) -> Vec<usize> {
    let mut cols = Vec::with_capacity(2 * per_period);
    for &(j, v, s) in &e.terms[..e.len] {
        let cnt = table.counts[j][v];
        for i in j * per_period..(j + 1) * per_period {
            // Terms belong to distinct periods, so their blocks of unknowns are disjoint.
            cols.push(i);
            row[i] += s * basis[i][v] / cnt;
        }
    }
    cols
}

/// Lower Cholesky factor of a symmetric positive-definite matrix (row-major), `None` if not positive definite.
fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if s <= 0.0 {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    Some(l)
}

fn cholesky_solve(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut y = b.to_vec();
    for i in 0..n {
        for k in 0..i {
            y[i] -= l[i * n + k] * y[k];
        }
        y[i] /= l[i * n + i];
    }
    for i in (0..n).rev() {
        for k in i + 1..n {
            y[i] -= l[k * n + i] * y[k];
        }
        y[i] /= l[i * n + i];
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_spd_system_like_a_dense_solve() {
        let a = [4.0, 2.0, 0.6, 2.0, 5.0, 1.0, 0.6, 1.0, 3.0];
        let x = [1.0, -2.0, 0.5];
        let b: Vec<f64> = (0..3).map(|i| (0..3).map(|k| a[i * 3 + k] * x[k]).sum()).collect();
        let l = cholesky(&a, 3).unwrap();
        let y = cholesky_solve(&l, 3, &b);
        for i in 0..3 {
            assert!((y[i] - x[i]).abs() < 1e-12);
        }
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }
}
