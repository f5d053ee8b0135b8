//! Tracer (SPION) description: core material, size distribution, magnetisation, temperature and relaxation,
//! with the derived quantities the simulator and the x-space reconstructor share (physics.md §1).
//!
//! Presets live in `sample_data/tracers/*.toml` and are embedded in the binary ([`TracerModel::preset`]).

use serde::{Deserialize, Serialize};

use crate::physics::langevin;
use crate::units::{FE_MOLAR_MASS_KG_PER_MOL, KB};

/// Errors of tracer descriptions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TracerError {
    /// A TOML file could not be parsed.
    #[error("tracer {source_name}: {message}")]
    Parse {
        /// File or preset name.
        source_name: String,
        /// The parser's message (names the field).
        message: String,
    },
    /// A parameter is outside its physical range.
    #[error("tracer {tracer}: {field} = {value} is invalid: {why}")]
    Invalid {
        /// Tracer name.
        tracer: String,
        /// Field name (with unit suffix).
        field: &'static str,
        /// The value.
        value: f64,
        /// Why.
        why: &'static str,
    },
    /// Unknown preset name.
    #[error("unknown tracer preset {name:?}; known presets: {known}")]
    UnknownPreset {
        /// What was asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
}

/// Core material of the particles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Material {
    /// Fe3O4.
    Magnetite,
    /// γ-Fe2O3.
    Maghemite,
}

impl Material {
    /// Bulk density [kg/m³].
    pub fn density_kg_per_m3(self) -> f64 {
        match self {
            Material::Magnetite => 5180.0,
            Material::Maghemite => 4870.0,
        }
    }

    /// Iron mass fraction from the formula weight (Fe3O4: 3·55.845/231.533; γ-Fe2O3: 2·55.845/159.688).
    pub fn iron_mass_fraction(self) -> f64 {
        let fe = FE_MOLAR_MASS_KG_PER_MOL * 1e3;
        let o = 15.999;
        match self {
            Material::Magnetite => 3.0 * fe / (3.0 * fe + 4.0 * o),
            Material::Maghemite => 2.0 * fe / (2.0 * fe + 3.0 * o),
        }
    }
}

/// Relaxation model: the magnetisation follows the equilibrium (Langevin) value through a Debye (first-order)
/// lag, M_relaxed = M_eq * (1/τ) e^{−t/τ} u(t) (Croft et al. 2012; physics.md §1.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum Relaxation {
    /// Adiabatic (equilibrium) particles.
    None,
    /// A given Debye time constant.
    Debye {
        /// τ [s].
        tau_s: f64,
    },
    /// τ from Néel and/or Brownian parameters, 1/τ = 1/τ_N + 1/τ_B (zero-field values, physics.md §1.4).
    NeelBrown {
        /// Néel attempt time τ0 [s] (omit for no Néel path).
        #[serde(default)]
        neel_tau0_s: Option<f64>,
        /// Effective anisotropy K [J/m³].
        #[serde(default)]
        anisotropy_j_per_m3: Option<f64>,
        /// Carrier viscosity η [Pa·s] (omit for no Brownian path).
        #[serde(default)]
        viscosity_pa_s: Option<f64>,
        /// Hydrodynamic diameter [m].
        #[serde(default)]
        hydrodynamic_diameter_m: Option<f64>,
    },
}

/// A tracer: particles with a (log-normal) core-size distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracerModel {
    /// Name.
    pub name: String,
    /// Where the numbers come from.
    #[serde(default)]
    pub reference: String,
    /// Core material.
    pub material: Material,
    /// Median core diameter of the number distribution [m].
    pub core_diameter_m: f64,
    /// σ of ln(d) of the log-normal core-size distribution (0 = monodisperse).
    #[serde(default)]
    pub core_diameter_sigma: f64,
    /// Saturation magnetisation of the core material [A/m].
    pub saturation_magnetization_a_per_m: f64,
    /// Temperature [K].
    pub temperature_k: f64,
    /// Relaxation model.
    #[serde(default = "no_relaxation")]
    pub relaxation: Relaxation,
    /// Quadrature nodes for the size distribution (ignored when monodisperse).
    #[serde(default = "default_nodes")]
    pub quadrature_nodes: usize,
}

fn no_relaxation() -> Relaxation {
    Relaxation::None
}

fn default_nodes() -> usize {
    15
}

/// One quadrature node of the size distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizeNode {
    /// Core diameter [m].
    pub diameter_m: f64,
    /// β = m/(k_B T) [1/T]: ξ = β·|μ0H| with the field in tesla.
    pub beta_per_t: f64,
    /// Fraction of the iron (= magnetic volume) in this node; the nodes sum to 1.
    pub mass_fraction: f64,
}

const PRESETS: [(&str, &str); 4] = [
    ("ideal_25nm", include_str!("../../sample_data/tracers/ideal_25nm.toml")),
    ("resovist_like", include_str!("../../sample_data/tracers/resovist_like.toml")),
    ("perimag_like", include_str!("../../sample_data/tracers/perimag_like.toml")),
    ("synomag_like", include_str!("../../sample_data/tracers/synomag_like.toml")),
];

impl TracerModel {
    /// Parses and checks a TOML description.
    ///
    /// # Errors
    /// Syntax errors, unknown fields, or unphysical values.
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Self, TracerError> {
        let t: TracerModel = toml::from_str(text)
            .map_err(|e| TracerError::Parse { source_name: source_name.into(), message: e.to_string() })?;
        t.check()?;
        Ok(t)
    }

    /// A built-in preset (see [`Self::preset_names`]).
    ///
    /// # Errors
    /// Unknown name.
    pub fn preset(name: &str) -> Result<Self, TracerError> {
        let key = name.trim_end_matches(".toml");
        PRESETS.iter().find(|(n, _)| *n == key).map(|(n, t)| Self::from_toml_str(t, n)).unwrap_or_else(|| {
            Err(TracerError::UnknownPreset { name: name.into(), known: Self::preset_names().join(", ") })
        })
    }

    /// Names of the built-in presets.
    pub fn preset_names() -> Vec<&'static str> {
        PRESETS.iter().map(|(n, _)| *n).collect()
    }

    /// A preset name or a path to a TOML file.
    ///
    /// # Errors
    /// Unknown preset, unreadable file, or an invalid description.
    pub fn load(name_or_path: &str) -> Result<Self, TracerError> {
        let p = std::path::Path::new(name_or_path);
        if p.extension().is_some_and(|e| e == "toml") && p.exists() {
            let text = std::fs::read_to_string(p)
                .map_err(|e| TracerError::Parse { source_name: name_or_path.into(), message: e.to_string() })?;
            Self::from_toml_str(&text, name_or_path)
        } else {
            Self::preset(name_or_path)
        }
    }

    /// A monodisperse magnetite tracer without relaxation.
    pub fn monodisperse(core_diameter_m: f64, saturation_magnetization_a_per_m: f64, temperature_k: f64) -> Self {
        TracerModel {
            name: format!("monodisperse {:.1} nm", core_diameter_m * 1e9),
            reference: String::new(),
            material: Material::Magnetite,
            core_diameter_m,
            core_diameter_sigma: 0.0,
            saturation_magnetization_a_per_m,
            temperature_k,
            relaxation: Relaxation::None,
            quadrature_nodes: 1,
        }
    }

    fn check(&self) -> Result<(), TracerError> {
        let bad = |field, value, why| Err(TracerError::Invalid { tracer: self.name.clone(), field, value, why });
        if !(self.core_diameter_m > 0.0 && self.core_diameter_m < 1e-6) {
            return bad("core_diameter_m", self.core_diameter_m, "must be in (0, 1 µm)");
        }
        if !(self.core_diameter_sigma >= 0.0 && self.core_diameter_sigma < 1.5) {
            return bad("core_diameter_sigma", self.core_diameter_sigma, "must be in [0, 1.5)");
        }
        if !(self.saturation_magnetization_a_per_m > 0.0 && self.saturation_magnetization_a_per_m < 2e6) {
            return bad(
                "saturation_magnetization_a_per_m",
                self.saturation_magnetization_a_per_m,
                "must be in (0, 2e6) A/m",
            );
        }
        if !(self.temperature_k > 0.0 && self.temperature_k < 1000.0) {
            return bad("temperature_k", self.temperature_k, "must be in (0, 1000) K");
        }
        // Gauss–Hermite nodes beyond ~100 underflow their weights and only cost time.
        if !(1..=128).contains(&self.quadrature_nodes) {
            return bad("quadrature_nodes", self.quadrature_nodes as f64, "must be in 1..=128");
        }
        if let Some(t) = self.relaxation_time_s() {
            if !(t.is_finite() && t >= 0.0) {
                return bad("relaxation", t, "gives no finite relaxation time");
            }
        }
        Ok(())
    }

    /// Magnetic moment of one core of diameter `d` [A·m²].
    pub fn moment_a_m2(&self, d: f64) -> f64 {
        self.saturation_magnetization_a_per_m * std::f64::consts::PI * d.powi(3) / 6.0
    }

    /// β = m/(k_B T) [1/T] for diameter `d` (ξ = β·|μ0H| with the field in tesla).
    pub fn beta_per_t(&self, d: f64) -> f64 {
        self.moment_a_m2(d) / (KB * self.temperature_k)
    }

    /// Iron mass of one core of diameter `d` [kg].
    pub fn iron_kg_per_particle(&self, d: f64) -> f64 {
        self.material.density_kg_per_m3() * std::f64::consts::PI * d.powi(3) / 6.0 * self.material.iron_mass_fraction()
    }

    /// Saturation moment per kilogram of iron [A·m²/kg], independent of size: Ms / (ρ·w_Fe).
    pub fn saturation_moment_per_kg_fe(&self) -> f64 {
        self.saturation_magnetization_a_per_m / (self.material.density_kg_per_m3() * self.material.iron_mass_fraction())
    }

    /// Number of particles (median size) per kilogram of iron.
    pub fn particles_per_kg_fe(&self) -> f64 {
        1.0 / self.iron_kg_per_particle(self.core_diameter_m)
    }

    /// Particles (median size) per millilitre of a suspension holding `concentration_mol_per_l` mol Fe per litre.
    pub fn particles_per_ml(&self, concentration_mol_per_l: f64) -> f64 {
        let iron_kg_per_ml = concentration_mol_per_l * FE_MOLAR_MASS_KG_PER_MOL * 1e-3;
        iron_kg_per_ml * self.particles_per_kg_fe()
    }

    /// Quadrature of the size distribution, weighted by iron mass (∝ d³). The number distribution is
    /// log-normal(ln d_med, σ); its mass-weighted counterpart is log-normal(ln d_med + 3σ², σ). Nodes are a
    /// trapezoid rule on ±6σ in ln d, which converges spectrally for this smooth, fast-decaying integrand.
    pub fn size_nodes(&self) -> Vec<SizeNode> {
        let s = self.core_diameter_sigma;
        if s == 0.0 || self.quadrature_nodes == 1 {
            let d = self.core_diameter_m;
            return vec![SizeNode { diameter_m: d, beta_per_t: self.beta_per_t(d), mass_fraction: 1.0 }];
        }
        let n = self.quadrature_nodes.max(3);
        let mu = self.core_diameter_m.ln() + 3.0 * s * s;
        let mut nodes: Vec<SizeNode> = (0..n)
            .map(|i| {
                let x = -6.0 + 12.0 * i as f64 / (n - 1) as f64;
                let d = (mu + s * x).exp();
                let w = (-0.5 * x * x).exp() * if i == 0 || i == n - 1 { 0.5 } else { 1.0 };
                SizeNode { diameter_m: d, beta_per_t: self.beta_per_t(d), mass_fraction: w }
            })
            .collect();
        let total: f64 = nodes.iter().map(|n| n.mass_fraction).sum();
        for node in &mut nodes {
            node.mass_fraction /= total;
        }
        nodes
    }

    /// Mean moment per unit saturation moment along a field of `b_t` tesla (μ0|H|): Σ_q w_q L(β_q b).
    pub fn reduced_magnetization(&self, b_t: f64) -> f64 {
        self.size_nodes().iter().map(|n| n.mass_fraction * langevin::langevin(n.beta_per_t * b_t)).sum()
    }

    /// Effective relaxation time τ [s], `None` for adiabatic particles.
    pub fn relaxation_time_s(&self) -> Option<f64> {
        match &self.relaxation {
            Relaxation::None => None,
            Relaxation::Debye { tau_s } => Some(*tau_s),
            Relaxation::NeelBrown { neel_tau0_s, anisotropy_j_per_m3, viscosity_pa_s, hydrodynamic_diameter_m } => {
                let kt = KB * self.temperature_k;
                let vc = std::f64::consts::PI * self.core_diameter_m.powi(3) / 6.0;
                let rate_n = match (neel_tau0_s, anisotropy_j_per_m3) {
                    (Some(t0), Some(k)) => 1.0 / (t0 * (k * vc / kt).exp()),
                    _ => 0.0,
                };
                let rate_b = match (viscosity_pa_s, hydrodynamic_diameter_m) {
                    (Some(eta), Some(dh)) => kt / (3.0 * eta * std::f64::consts::PI * dh.powi(3) / 6.0),
                    _ => 0.0,
                };
                let rate = rate_n + rate_b;
                if rate > 0.0 {
                    Some(1.0 / rate)
                } else {
                    None
                }
            }
        }
    }

    /// FWHM of the normal (collinear) x-space PSF of the median particle in a gradient of `g` T/m [m]:
    /// 4.161048/(β G) (physics.md §2.4).
    pub fn fwhm_normal_m(&self, gradient_t_per_m: f64) -> f64 {
        langevin::FWHM_XI_NORMAL / (self.beta_per_t(self.core_diameter_m) * gradient_t_per_m.abs())
    }
}

/// Néel relaxation time τ_N = τ0 exp(K V_c / k_B T) [s].
pub fn neel_time_s(tau0_s: f64, anisotropy_j_per_m3: f64, core_diameter_m: f64, temperature_k: f64) -> f64 {
    let vc = std::f64::consts::PI * core_diameter_m.powi(3) / 6.0;
    tau0_s * (anisotropy_j_per_m3 * vc / (KB * temperature_k)).exp()
}

/// Brownian relaxation time τ_B = 3 η V_h / (k_B T) [s].
pub fn brown_time_s(viscosity_pa_s: f64, hydrodynamic_diameter_m: f64, temperature_k: f64) -> f64 {
    3.0 * viscosity_pa_s * std::f64::consts::PI * hydrodynamic_diameter_m.powi(3) / 6.0 / (KB * temperature_k)
}

/// Brown's attempt time for Néel relaxation τ0 = Ms V_c (1+α²)/(2 α γ k_B T) (physics.md §1.4), γ = 1.75e11.
pub fn neel_attempt_time_s(ms_a_per_m: f64, core_diameter_m: f64, damping: f64, temperature_k: f64) -> f64 {
    let vc = std::f64::consts::PI * core_diameter_m.powi(3) / 6.0;
    ms_a_per_m * vc * (1.0 + damping * damping) / (2.0 * damping * 1.75e11 * KB * temperature_k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_moments_of_physics_md() {
        // §1.1: Ms 446 kA/m, 310 K: 25 nm → m = 3.649e-18 A·m², k_BT/(μ0 m) = 1.173 mT.
        let t = TracerModel::monodisperse(25e-9, 446e3, 310.0);
        assert!((t.moment_a_m2(25e-9) / 3.649e-18 - 1.0).abs() < 1e-3);
        assert!((1.0 / t.beta_per_t(25e-9) / 1.173e-3 - 1.0).abs() < 1e-3);
    }

    #[test]
    fn iron_per_particle_and_per_kg() {
        // §1.2: magnetite 25 nm holds 3.07e-2 fg Fe (3.26e7 particles per ng); 480 kA/m → 128 A·m²/kg Fe.
        let t = TracerModel::monodisperse(25e-9, 480e3, 310.0);
        assert!((t.iron_kg_per_particle(25e-9) / 3.07e-20 - 1.0).abs() < 5e-3);
        assert!((t.saturation_moment_per_kg_fe() / 128.0 - 1.0).abs() < 5e-3);
        assert!((Material::Magnetite.iron_mass_fraction() - 0.7236).abs() < 1e-4);
        assert!((Material::Maghemite.iron_mass_fraction() - 0.6994).abs() < 1e-4);
        // 1 mmol/L = 55.845 µg Fe per mL → 55.845e3 ng × 3.26e7 particles/ng.
        assert!((t.particles_per_ml(1e-3) / (55.845e3 * 3.26e7) - 1.0).abs() < 5e-3);
    }

    #[test]
    fn fwhm_of_physics_md_check_2() {
        let t = TracerModel::monodisperse(25e-9, 446e3, 310.0);
        assert!((t.fwhm_normal_m(6.0) / 0.813e-3 - 1.0).abs() < 5e-3);
        let t = TracerModel::monodisperse(20e-9, 446e3, 300.0);
        assert!((t.fwhm_normal_m(2.5) / 3.690e-3 - 1.0).abs() < 5e-3);
    }

    #[test]
    fn relaxation_times_of_physics_md() {
        // §1.4 / §8 check 14.
        assert!((brown_time_s(0.89e-3, 60e-9, 298.0) / 73.4e-6 - 1.0).abs() < 2e-3);
        assert!((neel_attempt_time_s(474e3, 20e-9, 0.1, 293.0) / 1.42e-8 - 1.0).abs() < 5e-3);
        assert!((neel_time_s(1e-9, 1.1e4, 20e-9, 310.0) / 47e-6 - 1.0).abs() < 0.02);
        // Combined rate.
        let mut t = TracerModel::monodisperse(20e-9, 446e3, 310.0);
        t.relaxation = Relaxation::NeelBrown {
            neel_tau0_s: Some(1e-9),
            anisotropy_j_per_m3: Some(1.1e4),
            viscosity_pa_s: Some(0.89e-3),
            hydrodynamic_diameter_m: Some(60e-9),
        };
        let tn = neel_time_s(1e-9, 1.1e4, 20e-9, 310.0);
        let tb = brown_time_s(0.89e-3, 60e-9, 310.0);
        let want = 1.0 / (1.0 / tn + 1.0 / tb);
        assert!((t.relaxation_time_s().unwrap() / want - 1.0).abs() < 1e-12);
    }

    #[test]
    fn lognormal_quadrature_reproduces_the_mass_weighted_mean_volume() {
        // For ln d ~ N(μ, σ²) (number), the mass-weighted mean of d³ is exp(3μ + 3·... ) = E[d⁶]/E[d³]
        // = exp(3μ + 27σ²/2) (moments of the log-normal).
        let mut t = TracerModel::monodisperse(20e-9, 446e3, 300.0);
        t.core_diameter_sigma = 0.3;
        t.quadrature_nodes = 31;
        let nodes = t.size_nodes();
        let s: f64 = nodes.iter().map(|n| n.mass_fraction).sum();
        assert!((s - 1.0).abs() < 1e-14);
        let mean_d3: f64 = nodes.iter().map(|n| n.mass_fraction * n.diameter_m.powi(3)).sum();
        let mu = (20e-9f64).ln();
        let want = (3.0 * mu + 13.5 * 0.09).exp();
        assert!((mean_d3 / want - 1.0).abs() < 1e-6, "{}", mean_d3 / want);
    }

    #[test]
    fn presets_load_and_unknown_names_list_them() {
        for name in TracerModel::preset_names() {
            let t = TracerModel::preset(name).unwrap();
            assert!(!t.reference.is_empty(), "{name} lacks a reference");
        }
        let e = TracerModel::preset("nope").unwrap_err().to_string();
        assert!(e.contains("ideal_25nm"), "{e}");
        let e = TracerModel::from_toml_str("name = 'x'\nmaterial = 'magnetite'\ncore_diameter_m = -1\nsaturation_magnetization_a_per_m = 4e5\ntemperature_k = 300", "t").unwrap_err();
        assert!(e.to_string().contains("core_diameter_m"), "{e}");
        let e = TracerModel::from_toml_str("nme = 'x'", "t.toml").unwrap_err();
        assert!(e.to_string().contains("t.toml"), "{e}");
    }
}
