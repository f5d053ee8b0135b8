//! Scanner and tracer options shared by `simulate` and `sysmat`.

use anyhow::Context;
use magpie_core::scanner::ScannerConfig;
use magpie_core::tracer::TracerModel;

#[derive(Debug, Clone, clap::Args)]
pub struct ScanArgs {
    /// Scanner preset (bruker_1d, bruker_2d, bruker_3d, xspace_1d, xspace_1d_pfov, xspace_2d, mps) or TOML file.
    #[arg(long, default_value = "bruker_2d")]
    pub scanner: String,
    /// Tracer preset (ideal_25nm, resovist_like, perimag_like, synomag_like) or TOML file.
    #[arg(long, default_value = "perimag_like")]
    pub tracer: String,
    /// Override the receive noise density per channel [nV/√Hz] (the Bruker-like presets: 1).
    #[arg(long = "noise-nv-per-sqrt-hz", conflicts_with = "noise_density")]
    pub noise_nv_per_sqrt_hz: Option<f64>,
    /// Former spelling, in V/√Hz.
    #[arg(long, hide = true)]
    pub noise_density: Option<f64>,
    /// Override the time oversampling of the simulation (anti-alias accuracy vs speed).
    #[arg(long)]
    pub oversampling: Option<usize>,
}

impl ScanArgs {
    /// The scanner and tracer TOML files among the options (not the presets), by option: never outputs.
    pub fn input_files(&self) -> Vec<(&'static str, &std::path::Path)> {
        let mut v = Vec::new();
        v.extend(super::common::preset_file(&self.scanner).map(|p| ("--scanner", p)));
        v.extend(super::common::preset_file(&self.tracer).map(|p| ("--tracer", p)));
        v
    }

    /// The scanner (with overrides, logged) and tracer.
    pub fn load(&self) -> anyhow::Result<(ScannerConfig, TracerModel)> {
        let mut scanner =
            ScannerConfig::load(&self.scanner).with_context(|| format!("loading scanner {}", self.scanner))?;
        if let Some(n) = self.noise_nv_per_sqrt_hz.map(|v| v * 1e-9).or(self.noise_density) {
            if !(n.is_finite() && n >= 0.0) {
                return Err(super::UsageError(format!("the noise density must be ≥ 0, found {n:e} V/√Hz")).into());
            }
            tracing::info!(
                "noise density overridden: {:.3} nV/√Hz (preset: {:.3})",
                n * 1e9,
                scanner.noise_v_per_sqrt_hz * 1e9
            );
            scanner.noise_v_per_sqrt_hz = n;
        }
        if let Some(o) = self.oversampling {
            scanner.simulation_oversampling = o;
        }
        scanner.check()?;
        let tracer = TracerModel::load(&self.tracer).with_context(|| format!("loading tracer {}", self.tracer))?;
        tracing::info!(
            "scanner {}: {} drive channel(s), V = {} samples per period ({:.2} µs), J = {} period(s), {} receive channel(s), noise {:.3} nV/√Hz",
            scanner.name,
            scanner.drive.len(),
            scanner.samples_per_period(),
            scanner.cycle_s() * 1e6,
            scanner.periods_per_frame(),
            scanner.receive.len(),
            scanner.noise_v_per_sqrt_hz * 1e9
        );
        tracing::info!(
            "tracer {}: median core {:.1} nm (σ {:.2}), Ms {:.0} kA/m, {:.0} K, relaxation τ = {}",
            tracer.name,
            tracer.core_diameter_m * 1e9,
            tracer.core_diameter_sigma,
            tracer.saturation_magnetization_a_per_m * 1e-3,
            tracer.temperature_k,
            tracer.relaxation_time_s().map_or("none".into(), |t| format!("{:.3} µs", t * 1e6))
        );
        Ok((scanner, tracer))
    }
}
