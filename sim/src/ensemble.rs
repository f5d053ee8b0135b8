//! The particle ensemble's equilibrium response m(B) per kilogram of iron, evaluated either exactly (sum over the
//! size-distribution nodes) or from a table (for polydisperse tracers, where the exact sum costs one Langevin
//! evaluation per node and the table one cubic interpolation).

use magpie_core::physics::langevin::{dlangevin, langevin};
use magpie_core::tracer::{SizeNode, TracerModel};

/// m(B) per kg Fe: the moment vector is `moment_per_kg_fe · g(|B|) · B` with g(b) = Σ_q w_q L(β_q b)/b.
#[derive(Debug, Clone)]
pub struct Ensemble {
    /// Saturation moment per kilogram of iron [A·m²/kg].
    pub moment_per_kg_fe: f64,
    nodes: Vec<SizeNode>,
    table: Option<Table>,
}

/// Cubic-Hermite table of g(b) on [0, b_max] with exact derivatives at the nodes.
#[derive(Debug, Clone)]
struct Table {
    h: f64,
    inv_h: f64,
    g: Vec<f64>,
    dg: Vec<f64>,
}

const TABLE_POINTS: usize = 16384;

impl Ensemble {
    /// The ensemble of `tracer`; polydisperse tracers are tabulated up to `b_max_t` tesla (beyond it the exact
    /// sum is used).
    pub fn new(tracer: &TracerModel, b_max_t: f64) -> Self {
        let nodes = tracer.size_nodes();
        let mut e = Ensemble { moment_per_kg_fe: tracer.saturation_moment_per_kg_fe(), nodes, table: None };
        if e.nodes.len() > 1 && b_max_t > 0.0 {
            let h = b_max_t / (TABLE_POINTS - 1) as f64;
            let (mut g, mut dg) = (Vec::with_capacity(TABLE_POINTS), Vec::with_capacity(TABLE_POINTS));
            for i in 0..TABLE_POINTS {
                let b = i as f64 * h;
                g.push(e.g_exact(b));
                dg.push(e.dg_exact(b));
            }
            e.table = Some(Table { h, inv_h: 1.0 / h, g, dg });
        }
        e
    }

    /// The size nodes used.
    pub fn nodes(&self) -> &[SizeNode] {
        &self.nodes
    }

    /// g(b) = Σ_q w_q L(β_q b)/b [1/T] exactly (β_q/3 summed at b = 0).
    pub fn g_exact(&self, b: f64) -> f64 {
        self.nodes
            .iter()
            .map(|n| {
                let x = n.beta_per_t * b;
                n.mass_fraction * n.beta_per_t * magpie_core::physics::langevin::langevin_over_xi(x)
            })
            .sum()
    }

    /// dg/db exactly: Σ w β² (L'(x) − L(x)/x)/x, with the series limit 0 at x → 0.
    fn dg_exact(&self, b: f64) -> f64 {
        self.nodes
            .iter()
            .map(|n| {
                let x = n.beta_per_t * b;
                let d = if x.abs() < 1e-3 {
                    // (L/x)' = −2x/45 + 8x³/945 − …
                    -2.0 * x / 45.0 + 8.0 * x * x * x / 945.0
                } else {
                    (dlangevin(x) - langevin(x) / x) / x
                };
                n.mass_fraction * n.beta_per_t * n.beta_per_t * d
            })
            .sum()
    }

    /// g(|B|) [1/T], from the table when there is one and |B| is inside it.
    #[inline]
    pub fn g(&self, b: f64) -> f64 {
        match &self.table {
            Some(t) => {
                let u = b * t.inv_h;
                let i = u as usize;
                if i + 1 >= t.g.len() {
                    return self.g_exact(b);
                }
                let s = u - i as f64;
                let (s2, s3) = (s * s, s * s * s);
                let h00 = 2.0 * s3 - 3.0 * s2 + 1.0;
                let h10 = s3 - 2.0 * s2 + s;
                let h01 = -2.0 * s3 + 3.0 * s2;
                let h11 = s3 - s2;
                h00 * t.g[i] + h10 * t.h * t.dg[i] + h01 * t.g[i + 1] + h11 * t.h * t.dg[i + 1]
            }
            None => {
                let n = &self.nodes[0];
                n.beta_per_t * magpie_core::physics::langevin::langevin_over_xi(n.beta_per_t * b)
            }
        }
    }

    /// Moment vector [A·m²] of `iron_kg` of tracer in the field `b` [T].
    #[inline]
    pub fn moment(&self, iron_kg: f64, b: [f64; 3]) -> [f64; 3] {
        let mag = (b[0] * b[0] + b[1] * b[1] + b[2] * b[2]).sqrt();
        let s = iron_kg * self.moment_per_kg_fe * self.g(mag);
        [s * b[0], s * b[1], s * b[2]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_exact_sum() {
        let t = TracerModel::preset("resovist_like").unwrap();
        let e = Ensemble::new(&t, 0.05);
        for i in 0..2000 {
            let b = 0.05 * (i as f64 + 0.37) / 2000.0;
            let (a, x) = (e.g(b), e.g_exact(b));
            assert!((a - x).abs() <= 1e-9 * x.abs(), "b = {b}: {a} vs {x}");
        }
        // Outside the table the exact sum is used.
        assert_eq!(e.g(0.2), e.g_exact(0.2));
    }

    #[test]
    fn monodisperse_moment_is_langevin() {
        let t = TracerModel::monodisperse(25e-9, 446e3, 310.0);
        let e = Ensemble::new(&t, 0.05);
        let beta = t.beta_per_t(25e-9);
        let b = 5e-3;
        let m = e.moment(1e-12, [0.0, b, 0.0]);
        let want = 1e-12 * t.saturation_moment_per_kg_fe() * langevin(beta * b);
        assert!((m[1] - want).abs() < 1e-12 * want && m[0] == 0.0 && m[2] == 0.0);
        // Small-field susceptibility: m = M_sat β b / 3.
        let m = e.moment(1.0, [1e-9, 0.0, 0.0]);
        assert!((m[0] / (t.saturation_moment_per_kg_fe() * beta * 1e-9 / 3.0) - 1.0).abs() < 1e-9);
    }
}
