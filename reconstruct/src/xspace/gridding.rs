//! The native x-space image: each time sample's velocity-compensated signal laid onto the voxel that holds the
//! field-free point at that time (Goodwill & Conolly, IEEE TMI 29(11):1851, 2010; 30(9):1581, 2011).
//!
//! With u_c = −(B/I)_c · dm_c/dt (coil c along axis c), m = m_Fe·M_sat·f(B) and dB/dt = −w, w = G·ṙ_s the
//! field sweep rate [T/s], every sample gives
//!   n(t) = Σ_c (u_c/(B/I)_c)·w_c / (M_sat |w|²) = Σ_p m_Fe,p · ŵᵀ J_f(B_p) ŵ   [kg/T],
//! where J_f = f'(|B|) B̂B̂ᵀ + f(|B|)/|B| (I − B̂B̂ᵀ) holds the normal and tangential PSF envelopes (physics.md
//! §2.5). Projecting on G·ṙ_s rather than on ṙ_s keeps the estimate well defined for every sweep direction
//! of a 3-D Lissajous (ṙᵀGṙ can vanish when G has mixed signs). In 1-D, n(x_s) = Σ_p m_p f'(G(x_p − x_s)).

use magpie_core::tracer::TracerModel;
use magpie_core::Grid;

use super::sequence::Sequence;

/// Per time sample: the voxel it lands in and the coefficients a_c with n = Σ_c a_c u_c.
#[derive(Debug, Clone)]
pub struct SampleTable {
    /// Samples per period after upsampling.
    pub samples: usize,
    /// Periods J.
    pub periods: usize,
    /// Voxel index per (period, sample), `u32::MAX` outside the grid or below the speed threshold.
    pub voxel: Vec<u32>,
    /// Quadrature weight per sample: the FFP speed |ṙ_s| [m/s], so that a voxel's weighted mean of samples
    /// approximates the spatial mean of the image over the voxel, whatever the sampling density (dense at
    /// turning points, sparse mid-sweep).
    pub weight: Vec<f64>,
    /// weight × a_c [kg/(T·V)·(m/s)] per sample (same for every period).
    pub coeff: Vec<[f64; 3]>,
    /// Sweep direction per sample: true when the FFP moves towards +axis of the first drive axis.
    pub forward: Vec<bool>,
    /// Times of the samples within a period [s].
    pub times_s: Vec<f64>,
    /// Summed sample weights per voxel, per period: [J][P].
    pub counts: Vec<Vec<f64>>,
    /// Summed sample weights per voxel over all periods.
    pub total_counts: Vec<f64>,
}

/// Marks a sample that is not gridded.
pub const NONE: u32 = u32::MAX;

impl SampleTable {
    /// Precomputes positions and coefficients. Samples whose sweep rate is below `speed_threshold` times the
    /// largest rate are dropped (the FFP turns there and dividing by its speed amplifies noise without bound).
    pub fn new(seq: &Sequence, grid: &Grid, upsampling: usize, speed_threshold: f64, msat_per_kg: f64) -> Self {
        let n = seq.samples_per_period * upsampling.max(1);
        let dt = seq.cycle_s / n as f64;
        let times_s: Vec<f64> = (0..n).map(|i| i as f64 * dt).collect();
        let rates: Vec<[f64; 3]> = times_s.iter().map(|t| seq.sweep_rate_t_per_s(*t)).collect();
        let norm2 = |w: &[f64; 3]| w[0] * w[0] + w[1] * w[1] + w[2] * w[2];
        let max2 = rates.iter().map(norm2).fold(0.0, f64::max);
        let thr2 = speed_threshold * speed_threshold * max2;
        let axis0 = seq.drive_axes().first().copied().unwrap_or(0);
        let mut coeff = Vec::with_capacity(n);
        let mut weight = Vec::with_capacity(n);
        let mut keep = Vec::with_capacity(n);
        let mut forward = Vec::with_capacity(n);
        for w in &rates {
            let w2 = norm2(w);
            let ok = w2 > thr2 && w2 > 0.0;
            keep.push(ok);
            let speed = (0..3)
                .map(|d| if seq.gradient_t_per_m[d] != 0.0 { (w[d] / seq.gradient_t_per_m[d]).powi(2) } else { 0.0 })
                .sum::<f64>()
                .sqrt();
            let q = if ok { speed } else { 0.0 };
            weight.push(q);
            let a: [f64; 3] = std::array::from_fn(|c| match seq.coil_t_per_a.get(c) {
                Some(s) if ok => q * w[c] / (s * msat_per_kg * w2),
                _ => 0.0,
            });
            coeff.push(a);
            // ṙ_s = G⁻¹ w along the first drive axis.
            forward.push(w[axis0] / seq.gradient_t_per_m[axis0] > 0.0);
        }
        let j = seq.num_periods();
        let p = grid.len();
        let mut voxel = vec![NONE; j * n];
        let mut counts = vec![vec![0.0; p]; j];
        let mut total_counts = vec![0.0; p];
        for jj in 0..j {
            for (i, t) in times_s.iter().enumerate() {
                if !keep[i] {
                    continue;
                }
                if let Some(idx) = grid.voxel_of(planar(grid, seq.ffp_m(jj, *t))) {
                    let v = grid.flatten(idx);
                    voxel[jj * n + i] = v as u32;
                    counts[jj][v] += weight[i];
                    total_counts[v] += weight[i];
                }
            }
        }
        SampleTable { samples: n, periods: j, voxel, weight, coeff, forward, times_s, counts, total_counts }
    }

    /// Sums of n(t) per voxel of period j, for time signals `u[c][i]` [V]; `filter` selects samples by sweep
    /// direction (None: all). Adds into `sum` (length P) and returns nothing; allocation-free.
    pub fn accumulate(&self, j: usize, u: &[Vec<f64>], filter: Option<bool>, sum: &mut [f64]) {
        let n = self.samples;
        for i in 0..n {
            let v = self.voxel[j * n + i];
            if v == NONE || filter.is_some_and(|f| f != self.forward[i]) {
                continue;
            }
            let a = &self.coeff[i];
            let mut x = 0.0;
            for (c, uc) in u.iter().enumerate().take(3) {
                x += a[c] * uc[i];
            }
            sum[v as usize] += x;
        }
    }

    /// Whether voxel p is visited by any period.
    pub fn covered(&self, p: usize) -> bool {
        self.total_counts[p] > 0.0
    }
}

/// On a planar grid (one voxel along z) positions are projected onto its plane.
fn planar(grid: &Grid, r: [f64; 3]) -> [f64; 3] {
    std::array::from_fn(|d| if grid.shape[d] == 1 { grid.center_m[d] } else { r[d] })
}

/// The tracer's reduced magnetisation f(b) = Σ_q w_q L(β_q b) through its two PSF envelopes, tabulated on a
/// logarithmic grid of |b| (256 points per decade, linear interpolation: relative error below 1e-4) because the
/// model images and the tail prediction evaluate them millions of times for polydisperse tracers.
#[derive(Debug, Clone)]
pub struct Magnetization {
    nodes: Vec<(f64, f64)>,
    log_b0: f64,
    per_decade: f64,
    normal_tab: Vec<f64>,
    tangential_tab: Vec<f64>,
}

const PER_DECADE: f64 = 256.0;

impl Magnetization {
    /// From the tracer's size distribution (mass-weighted quadrature).
    pub fn new(tracer: &TracerModel) -> Self {
        let nodes: Vec<(f64, f64)> = tracer.size_nodes().iter().map(|n| (n.mass_fraction, n.beta_per_t)).collect();
        let beta_max = nodes.iter().map(|n| n.1).fold(0.0, f64::max);
        let beta_min = nodes.iter().map(|n| n.1).fold(f64::INFINITY, f64::min);
        // From ξ = 1e-4 of the largest particle to ξ = 1e4 of the smallest.
        let log_b0 = (1e-4 / beta_max).log10();
        let log_b1 = (1e4 / beta_min).log10();
        let n = ((log_b1 - log_b0) * PER_DECADE).ceil() as usize + 2;
        let mut m =
            Magnetization { nodes, log_b0, per_decade: PER_DECADE, normal_tab: Vec::new(), tangential_tab: Vec::new() };
        let bs: Vec<f64> = (0..n).map(|i| 10f64.powf(log_b0 + i as f64 / PER_DECADE)).collect();
        m.normal_tab = bs.iter().map(|b| m.normal_exact(*b)).collect();
        m.tangential_tab = bs.iter().map(|b| m.tangential_exact(*b)).collect();
        m
    }

    /// f'(b) [1/T] summed exactly over the size nodes (the reference of the table).
    pub fn normal_exact(&self, b: f64) -> f64 {
        use magpie_core::physics::langevin::dlangevin;
        self.nodes.iter().map(|(w, beta)| w * beta * dlangevin(beta * b)).sum()
    }

    /// f(b)/b [1/T] summed exactly over the size nodes.
    pub fn tangential_exact(&self, b: f64) -> f64 {
        use magpie_core::physics::langevin::langevin_over_xi;
        self.nodes.iter().map(|(w, beta)| w * beta * langevin_over_xi(beta * b)).sum()
    }

    /// Both envelopes are even in b.
    fn lookup(&self, tab: &[f64], b: f64) -> Option<f64> {
        let b = b.abs();
        if b == 0.0 {
            return Some(tab[0]);
        }
        let x = (b.log10() - self.log_b0) * self.per_decade;
        if x < 0.0 {
            return Some(tab[0]);
        }
        let i = x as usize;
        if i + 1 >= tab.len() {
            return None;
        }
        let f = x - i as f64;
        Some(tab[i] * (1.0 - f) + tab[i + 1] * f)
    }

    /// f'(b) [1/T] (normal envelope).
    pub fn normal(&self, b: f64) -> f64 {
        self.lookup(&self.normal_tab, b).unwrap_or_else(|| self.normal_exact(b))
    }

    /// f(b)/b [1/T] (tangential envelope).
    pub fn tangential(&self, b: f64) -> f64 {
        self.lookup(&self.tangential_tab, b).unwrap_or_else(|| self.tangential_exact(b))
    }

    /// ŵᵀ J_f(B) ŵ [1/T].
    pub fn projected(&self, b: [f64; 3], w_hat: [f64; 3]) -> f64 {
        let mag = (b[0] * b[0] + b[1] * b[1] + b[2] * b[2]).sqrt();
        if mag == 0.0 {
            return self.normal(0.0);
        }
        let cos = (b[0] * w_hat[0] + b[1] * w_hat[1] + b[2] * w_hat[2]) / mag;
        let c2 = cos * cos;
        self.normal(mag) * c2 + self.tangential(mag) * (1.0 - c2)
    }
}

/// The model native image [1/T per kg] of 1 kg of tracer at `point_m`, gridded through the same samples as the
/// data (voxel means over all periods): the system's point response, used for quantitation and deconvolution.
pub fn model_point_image(table: &SampleTable, seq: &Sequence, mag: &Magnetization, point_m: [f64; 3]) -> Vec<f64> {
    let p = table.total_counts.len();
    let mut sum = vec![0.0; p];
    let n = table.samples;
    let g = seq.gradient_t_per_m;
    for j in 0..table.periods {
        for i in 0..n {
            let v = table.voxel[j * n + i];
            if v == NONE {
                continue;
            }
            let t = table.times_s[i];
            let r = seq.ffp_m(j, t);
            let w = seq.sweep_rate_t_per_s(t);
            let wn = (w[0] * w[0] + w[1] * w[1] + w[2] * w[2]).sqrt();
            let w_hat = [w[0] / wn, w[1] / wn, w[2] / wn];
            // B = G·(r_p − r_s) (planar grids: the point's own z, the plane's FFP).
            let b: [f64; 3] = std::array::from_fn(|d| g[d] * (point_m[d] - r[d]));
            sum[v as usize] += table.weight[i] * mag.projected(b, w_hat);
        }
    }
    for (s, c) in sum.iter_mut().zip(&table.total_counts) {
        if *c > 0.0 {
            *s /= *c;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabulated_envelopes_match_the_exact_sums() {
        for name in ["ideal_25nm", "perimag_like", "resovist_like"] {
            let t = TracerModel::preset(name).unwrap();
            let m = Magnetization::new(&t);
            let beta = t.beta_per_t(t.core_diameter_m);
            for xi in [0.0, 1e-3, 0.3, 1.0, 2.08, -2.08, 5.0, 17.0, -17.0, 100.0, 3e3] {
                let b = xi / beta;
                for (a, e) in [(m.normal(b), m.normal_exact(b)), (m.tangential(b), m.tangential_exact(b))] {
                    assert!((a - e).abs() <= 1e-4 * e.abs() + 1e-12 * m.normal_exact(0.0), "{name} ξ {xi}: {a} vs {e}");
                }
            }
        }
    }
}
