//! Scanner description: selection gradient, drive fields (Lissajous), focus (offset) fields per period, receive
//! coils, receive chain (band-stop, transfer function, noise) and background. Presets in `sample_data/scanners/`.
//!
//! Conventions: fields are tesla values of μ0·H. The field at position r [m] in period j at time t is
//! B(r, t) = G·r + B_D(t) + B_off(j), with G the 3×3 gradient matrix [T/m] (e.g. diag(−1, −1, 2)),
//! B_D(t) = Σ_d A_d sin(2π f_d t + φ_d) ê_d the drive field (drive channel d acts along axis d, as MDF assumes),
//! f_d = base/divider_d. The field-free point is r_FFP = −G⁻¹(B_D + B_off). Receive channel c sees the
//! voltage u_c(t) = −(B/I)_c · dm/dt with (B/I)_c = μ0·p_c the coil sensitivity vector [T/A] and m the total
//! magnetic moment [A·m²] (physics.md §2.1 with a homogeneous coil).

use serde::{Deserialize, Serialize};

/// Errors of scanner descriptions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScannerError {
    /// A TOML file could not be parsed.
    #[error("scanner {source_name}: {message}")]
    Parse {
        /// File or preset name.
        source_name: String,
        /// The parser's message (names the field).
        message: String,
    },
    /// A parameter is invalid.
    #[error("scanner {scanner}: {field}: {why}")]
    Invalid {
        /// Scanner name.
        scanner: String,
        /// Field.
        field: String,
        /// Why.
        why: String,
    },
    /// Unknown preset.
    #[error("unknown scanner preset {name:?}; known presets: {known}")]
    UnknownPreset {
        /// What was asked for.
        name: String,
        /// Known names.
        known: String,
    },
}

/// One drive-field channel (sine waveform), acting along axis `index` (x, y, z in channel order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriveChannel {
    /// Amplitude μ0·A [T].
    pub amplitude_t: f64,
    /// f = base_frequency / divider.
    pub divider: u32,
    /// Phase φ [rad] of sin(2π f t + φ); π/2 gives a cosine drive.
    #[serde(default)]
    pub phase_rad: f64,
}

/// One receive coil (homogeneous sensitivity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiveCoil {
    /// Name, e.g. "x".
    pub name: String,
    /// Sensitivity B/I = μ0·p_R as a vector [T/A].
    pub sensitivity_t_per_a: [f64; 3],
}

/// The analog band-stop filter that removes the drive-frequency feed-through (and with it the particle
/// signal's fundamental).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BandStop {
    /// Half-width of each stop band around a drive frequency [Hz]; 0 removes just the drive-frequency bin.
    #[serde(default)]
    pub half_width_hz: f64,
    /// Fraction of the amplitude that passes in the stop band (0 = complete removal).
    #[serde(default)]
    pub passband_fraction: f64,
}

impl Default for BandStop {
    fn default() -> Self {
        BandStop { half_width_hz: 0.0, passband_fraction: 0.0 }
    }
}

/// The receive chain's transfer function beyond the band-stop (a Butterworth-like low-pass).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum TransferFunctionModel {
    /// Flat (1).
    None,
    /// H(f) = 1 / (1 + i f/f_c)^order.
    LowPass {
        /// Corner frequency [Hz].
        cutoff_hz: f64,
        /// Order.
        order: u32,
    },
}

/// Background present in every frame (foreground and background frames): drive feed-through residue at the
/// harmonics n ≥ 2 of each drive frequency, and a slow multiplicative drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackgroundModel {
    /// Voltage amplitude of the residue at the second harmonic of each drive frequency [V].
    #[serde(default)]
    pub feedthrough_v: f64,
    /// Ratio between the amplitudes of consecutive harmonics (harmonic n has feedthrough_v·ratio^(n−2)).
    #[serde(default = "half")]
    pub harmonic_ratio: f64,
    /// Relative drift of the background per second of acquisition time [1/s].
    #[serde(default)]
    pub drift_per_s: f64,
}

fn half() -> f64 {
    0.5
}

impl Default for BackgroundModel {
    fn default() -> Self {
        BackgroundModel { feedthrough_v: 0.0, harmonic_ratio: 0.5, drift_per_s: 0.0 }
    }
}

/// A scanner and its sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerConfig {
    /// Name.
    pub name: String,
    /// Source of the parameters.
    #[serde(default)]
    pub reference: String,
    /// Manufacturer string written to MDF.
    #[serde(default = "synthetic")]
    pub manufacturer: String,
    /// "FFP" or "MPS".
    pub topology: String,
    /// Bore diameter [m].
    #[serde(default)]
    pub bore_size_m: Option<f64>,
    /// Base frequency of the drive-field dividers [Hz].
    pub base_frequency_hz: f64,
    /// ADC sampling rate after decimation [Hz]; default = base frequency.
    #[serde(default)]
    pub sampling_rate_hz: Option<f64>,
    /// Selection-field gradient matrix G [T/m] (rows: field component, columns: position).
    pub gradient_t_per_m: [[f64; 3]; 3],
    /// Drive channels in axis order x, y, z.
    pub drive: Vec<DriveChannel>,
    /// Homogeneous focus (offset) field per period [T]; its length is the number of periods per frame J
    /// (empty = one period without offset).
    #[serde(default)]
    pub offset_fields_t: Vec<[f64; 3]>,
    /// Receive coils.
    pub receive: Vec<ReceiveCoil>,
    /// White noise density per receive channel [V/√Hz] (before averaging).
    #[serde(default)]
    pub noise_v_per_sqrt_hz: f64,
    /// Hardware block averages per period.
    #[serde(default = "one")]
    pub averages: u32,
    /// Band-stop filter at the drive frequencies.
    #[serde(default)]
    pub band_stop: BandStop,
    /// Additional receive-chain transfer function.
    #[serde(default = "no_tf")]
    pub transfer_function: TransferFunctionModel,
    /// Store the receive chain's transfer function in the MDF files.
    #[serde(default)]
    pub store_transfer_function: bool,
    /// A measured receive transfer function (`.h5` in MPIFiles.jl's form, or a Touchstone `.s1p`/`.s2p`,
    /// whose S21 is taken) that multiplies the simulated spectra on top of the band-stop and
    /// `transfer_function`. A relative path is relative to the scanner TOML file; [`ScannerConfig::load`] reads
    /// it and replaces the path by the absolute one. Frequencies outside its measured band take the value at
    /// the nearer end (logged). One channel applies to every receive coil, else it needs one per coil.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_transfer_function: Option<String>,
    /// The transfer function `receive_transfer_function` names, once read.
    #[serde(skip)]
    pub measured_receive_chain: Option<std::sync::Arc<crate::tf::TransferFunction>>,
    /// Background model.
    #[serde(default)]
    pub background: BackgroundModel,
    /// Time-oversampling of the magnetisation before the (ideal) anti-alias filter at the receiver bandwidth.
    #[serde(default = "two")]
    pub simulation_oversampling: usize,
    /// The grid this scanner's sequence is calibrated and reconstructed on by default (`magpie phantom` and
    /// `magpie sysmat` use it when no grid is given, so their outputs can be compared without options).
    #[serde(default)]
    pub default_grid: Option<DefaultGrid>,
}

/// A default voxel grid, centred at the origin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultGrid {
    /// Voxels per axis (x, y, z); a single voxel makes the axis a projection axis.
    pub shape: [usize; 3],
    /// Field of view [m].
    pub fov_m: [f64; 3],
}

impl DefaultGrid {
    /// OpenMPIData's 2-D calibration grid, for scanners that do not state one: 19 × 19 × 1 voxels over
    /// 38 × 38 × 1 mm.
    pub const FALLBACK: DefaultGrid = DefaultGrid { shape: [19, 19, 1], fov_m: [0.038, 0.038, 0.001] };

    /// As a [`crate::Grid`] centred at the origin.
    pub fn grid(&self) -> crate::Grid {
        crate::Grid::new(self.shape, self.fov_m, [0.0; 3])
    }
}

fn synthetic() -> String {
    "magpie (synthetic)".into()
}
fn one() -> u32 {
    1
}
fn two() -> usize {
    2
}
fn no_tf() -> TransferFunctionModel {
    TransferFunctionModel::None
}

const PRESETS: [(&str, &str); 7] = [
    ("bruker_1d", include_str!("../../sample_data/scanners/bruker_1d.toml")),
    ("bruker_2d", include_str!("../../sample_data/scanners/bruker_2d.toml")),
    ("bruker_3d", include_str!("../../sample_data/scanners/bruker_3d.toml")),
    ("xspace_1d", include_str!("../../sample_data/scanners/xspace_1d.toml")),
    ("xspace_2d", include_str!("../../sample_data/scanners/xspace_2d.toml")),
    ("xspace_1d_pfov", include_str!("../../sample_data/scanners/xspace_1d_pfov.toml")),
    ("mps", include_str!("../../sample_data/scanners/mps.toml")),
];

impl ScannerConfig {
    /// Parses and checks a TOML description.
    ///
    /// # Errors
    /// Syntax errors, unknown fields, inconsistent timing.
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Self, ScannerError> {
        let s: ScannerConfig = toml::from_str(text)
            .map_err(|e| ScannerError::Parse { source_name: source_name.into(), message: e.to_string() })?;
        s.check()?;
        Ok(s)
    }

    /// A built-in preset.
    ///
    /// # Errors
    /// Unknown name.
    pub fn preset(name: &str) -> Result<Self, ScannerError> {
        let key = name.trim_end_matches(".toml");
        PRESETS.iter().find(|(n, _)| *n == key).map(|(n, t)| Self::from_toml_str(t, n)).unwrap_or_else(|| {
            Err(ScannerError::UnknownPreset { name: name.into(), known: Self::preset_names().join(", ") })
        })
    }

    /// Names of the built-in presets.
    pub fn preset_names() -> Vec<&'static str> {
        PRESETS.iter().map(|(n, _)| *n).collect()
    }

    /// A preset name or a path to a TOML file.
    ///
    /// # Errors
    /// Unknown preset, unreadable file, invalid description, an unreadable `receive_transfer_function`.
    pub fn load(name_or_path: &str) -> Result<Self, ScannerError> {
        let p = std::path::Path::new(name_or_path);
        if p.extension().is_some_and(|e| e == "toml") && p.exists() {
            let text = std::fs::read_to_string(p)
                .map_err(|e| ScannerError::Parse { source_name: name_or_path.into(), message: e.to_string() })?;
            let mut s = Self::from_toml_str(&text, name_or_path)?;
            s.read_receive_transfer_function(p.parent().unwrap_or(std::path::Path::new("")))?;
            Ok(s)
        } else {
            Self::preset(name_or_path)
        }
    }

    /// Reads the file `receive_transfer_function` names (relative to `base_dir`) into
    /// [`Self::measured_receive_chain`], and makes the path absolute. Does nothing without the key.
    ///
    /// # Errors
    /// An unreadable or malformed file, or a channel count that fits neither one nor every receive coil.
    pub fn read_receive_transfer_function(&mut self, base_dir: &std::path::Path) -> Result<(), ScannerError> {
        let Some(name) = &self.receive_transfer_function else { return Ok(()) };
        let path = base_dir.join(name);
        let tf = crate::tf::TransferFunction::read(&path)
            .map_err(|e| self.invalid("receive_transfer_function", e.to_string()))?;
        tf.channel_for(0, self.receive.len()).map_err(|e| self.invalid("receive_transfer_function", e.to_string()))?;
        let (lo, hi) = tf.band_hz();
        tracing::info!(
            "scanner {}: measured receive chain {} ({} points, {:.3} kHz – {:.3} kHz)",
            self.name,
            path.display(),
            tf.frequency_hz().len(),
            lo / 1e3,
            hi / 1e3
        );
        self.receive_transfer_function = Some(std::path::absolute(&path).unwrap_or(path).display().to_string());
        self.measured_receive_chain = Some(std::sync::Arc::new(tf));
        Ok(())
    }

    /// The measured receive chain of `receive_transfer_function` at frequency `f` [Hz] for receive coil
    /// `channel` (1 without one; the nearer end's value outside its band).
    pub fn measured_receive_response(&self, channel: usize, f: f64) -> num_complex::Complex64 {
        match &self.measured_receive_chain {
            Some(tf) => tf
                .channel_for(channel, self.receive.len())
                .and_then(|c| tf.at_with(c, f, crate::tf::OutOfBand::HoldEnds))
                .unwrap_or(num_complex::Complex64::new(1.0, 0.0)),
            None => num_complex::Complex64::new(1.0, 0.0),
        }
    }

    fn invalid(&self, field: &str, why: String) -> ScannerError {
        ScannerError::Invalid { scanner: self.name.clone(), field: field.into(), why }
    }

    /// Checks ranges and that the sampling grid fits the drive-field cycle.
    ///
    /// # Errors
    /// The first problem found.
    pub fn check(&self) -> Result<(), ScannerError> {
        // Oversampling multiplies the samples of every simulated period (memory and time grow with it); the
        // physics tests resolve ideal particles with 1024; 4096 leaves room and still refuses a typo.
        const MAX_OVERSAMPLING: usize = 4096;
        if let Some(g) = &self.default_grid {
            if g.shape.contains(&0) || !g.fov_m.iter().all(|v| v.is_finite() && *v > 0.0) {
                return Err(self.invalid(
                    "default_grid",
                    format!(
                        "needs ≥ 1 voxel and a positive field of view per axis, found {:?} over {:?} m",
                        g.shape, g.fov_m
                    ),
                ));
            }
        }
        if self.drive.is_empty() || self.drive.len() > 3 {
            return Err(self.invalid("drive", format!("need 1 to 3 drive channels, found {}", self.drive.len())));
        }
        if self.receive.is_empty() {
            return Err(self.invalid("receive", "need at least one receive coil".into()));
        }
        if !(self.base_frequency_hz.is_finite() && self.base_frequency_hz > 0.0) {
            return Err(
                self.invalid("base_frequency_hz", format!("must be positive, found {}", self.base_frequency_hz))
            );
        }
        for (i, d) in self.drive.iter().enumerate() {
            if d.divider == 0 || !d.amplitude_t.is_finite() || d.amplitude_t < 0.0 {
                return Err(self.invalid(&format!("drive[{i}]"), "divider must be ≥ 1 and amplitude_t ≥ 0".into()));
            }
        }
        let fs = self.sampling_rate_hz();
        let v = self.cycle_s() * fs;
        if !(v.is_finite() && v >= 2.0 && (v - v.round()).abs() < 1e-6 * v) {
            return Err(self.invalid(
                "sampling_rate_hz",
                format!(
                    "the drive cycle {:.6e} s must hold a whole number (≥ 2) of samples at {fs} Hz, found {v}",
                    self.cycle_s()
                ),
            ));
        }
        if !(1..=MAX_OVERSAMPLING).contains(&self.simulation_oversampling) {
            return Err(self.invalid(
                "simulation_oversampling",
                format!("must be in 1..={MAX_OVERSAMPLING}, found {}", self.simulation_oversampling),
            ));
        }
        let g = &self.gradient_t_per_m;
        if !g.iter().flatten().all(|v| v.is_finite()) {
            return Err(self.invalid("gradient_t_per_m", format!("must be finite, found {g:?}")));
        }
        // A field-free point exists only where the selection field vanishes at one place: G invertible.
        if self.topology != "MPS" {
            let det = g[0][0] * (g[1][1] * g[2][2] - g[1][2] * g[2][1])
                - g[0][1] * (g[1][0] * g[2][2] - g[1][2] * g[2][0])
                + g[0][2] * (g[1][0] * g[2][1] - g[1][1] * g[2][0]);
            let scale = g.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
            if !(scale > 0.0 && det.abs() > 1e-9 * scale.powi(3)) {
                return Err(self.invalid(
                    "gradient_t_per_m",
                    format!(
                        "a field-free-point scanner needs an invertible selection gradient, found {g:?} T/m \
                         (determinant {det:e} T³/m³)"
                    ),
                ));
            }
        }
        for (j, o) in self.offset_fields_t.iter().enumerate() {
            if !o.iter().all(|v| v.is_finite()) {
                return Err(self.invalid(&format!("offset_fields_t[{j}]"), format!("must be finite, found {o:?}")));
            }
        }
        if let Some(b) = self.bore_size_m {
            if !(b.is_finite() && b > 0.0) {
                return Err(self.invalid("bore_size_m", format!("must be positive, found {b}")));
            }
        }
        if !(self.noise_v_per_sqrt_hz.is_finite() && self.noise_v_per_sqrt_hz >= 0.0) {
            return Err(self.invalid("noise_v_per_sqrt_hz", "must be ≥ 0".into()));
        }
        if self.averages == 0 {
            return Err(self.invalid("averages", "must be ≥ 1".into()));
        }
        if let Some(tf) = &self.measured_receive_chain {
            tf.channel_for(0, self.receive.len())
                .map_err(|e| self.invalid("receive_transfer_function", e.to_string()))?;
        }
        Ok(())
    }

    /// ADC sampling rate [Hz].
    pub fn sampling_rate_hz(&self) -> f64 {
        self.sampling_rate_hz.unwrap_or(self.base_frequency_hz)
    }

    /// Drive-field cycle (Lissajous repetition time) lcm(dividers)/base [s].
    pub fn cycle_s(&self) -> f64 {
        let l = self.drive.iter().fold(1u64, |a, d| lcm(a, d.divider as u64));
        l as f64 / self.base_frequency_hz
    }

    /// Samples per period V.
    pub fn samples_per_period(&self) -> usize {
        (self.cycle_s() * self.sampling_rate_hz()).round() as usize
    }

    /// Periods per frame J.
    pub fn periods_per_frame(&self) -> usize {
        self.offset_fields_t.len().max(1)
    }

    /// Offset field of period j [T].
    pub fn offset_field_t(&self, j: usize) -> [f64; 3] {
        self.offset_fields_t.get(j).copied().unwrap_or([0.0; 3])
    }

    /// Drive frequency of channel d [Hz].
    pub fn drive_frequency_hz(&self, d: usize) -> f64 {
        self.base_frequency_hz / self.drive[d].divider as f64
    }

    /// The drive field B_D(t) [T].
    pub fn drive_field_t(&self, t: f64) -> [f64; 3] {
        let mut b = [0.0; 3];
        for (d, ch) in self.drive.iter().enumerate() {
            let w = 2.0 * std::f64::consts::PI * self.drive_frequency_hz(d);
            b[d] = ch.amplitude_t * (w * t + ch.phase_rad).sin();
        }
        b
    }

    /// Its time derivative dB_D/dt [T/s].
    pub fn drive_field_rate_t_per_s(&self, t: f64) -> [f64; 3] {
        let mut b = [0.0; 3];
        for (d, ch) in self.drive.iter().enumerate() {
            let w = 2.0 * std::f64::consts::PI * self.drive_frequency_hz(d);
            b[d] = ch.amplitude_t * w * (w * t + ch.phase_rad).cos();
        }
        b
    }

    /// The field-free point for a homogeneous field `b` [T]: r = −G⁻¹ b [m]; axes without gradient give 0.
    pub fn ffp_position_m(&self, b: [f64; 3]) -> [f64; 3] {
        // The scanners here have diagonal gradients; use the diagonal (as MDF's acqOffsetFieldShift does).
        std::array::from_fn(|i| {
            let g = self.gradient_t_per_m[i][i];
            if g != 0.0 {
                -b[i] / g
            } else {
                0.0
            }
        })
    }

    /// FFP position of period j at time t [m].
    pub fn ffp_at_m(&self, j: usize, t: f64) -> [f64; 3] {
        let b = self.drive_field_t(t);
        let o = self.offset_field_t(j);
        self.ffp_position_m([b[0] + o[0], b[1] + o[1], b[2] + o[2]])
    }

    /// FFP velocity at time t [m/s] (the offset field is constant within a period).
    pub fn ffp_velocity_m_per_s(&self, t: f64) -> [f64; 3] {
        self.ffp_position_m(self.drive_field_rate_t_per_s(t))
    }

    /// Drive-field FOV 2A/|G_ii| per axis [m].
    pub fn drive_fov_m(&self) -> [f64; 3] {
        std::array::from_fn(|i| {
            let g = self.gradient_t_per_m[i][i].abs();
            match self.drive.get(i) {
                Some(d) if g > 0.0 => 2.0 * d.amplitude_t / g,
                _ => 0.0,
            }
        })
    }

    /// The receive chain's response at frequency `f` [Hz]: band-stop × transfer function.
    pub fn receive_chain_response(&self, f: f64) -> num_complex::Complex64 {
        let mut h = num_complex::Complex64::new(1.0, 0.0);
        if let TransferFunctionModel::LowPass { cutoff_hz, order } = self.transfer_function {
            h /= num_complex::Complex64::new(1.0, f / cutoff_hz).powu(order);
        }
        let bin = 1.0 / self.cycle_s();
        for d in 0..self.drive.len() {
            if self.drive[d].amplitude_t == 0.0 {
                continue;
            }
            let fd = self.drive_frequency_hz(d);
            // Bins are exact multiples of 1/cycle; the tolerance only absorbs rounding.
            if (f - fd).abs() <= self.band_stop.half_width_hz + 1e-6 * bin {
                h *= self.band_stop.passband_fraction;
            }
        }
        h
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn lcm(a: u64, b: u64) -> u64 {
    a / gcd(a, b) * b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bruker_timing_of_physics_md_check_12() {
        let s2 = ScannerConfig::preset("bruker_2d").unwrap();
        assert_eq!(s2.samples_per_period(), 1632);
        assert!((s2.cycle_s() - 652.8e-6).abs() < 1e-12);
        let s3 = ScannerConfig::preset("bruker_3d").unwrap();
        assert_eq!(s3.samples_per_period(), 53856);
        assert!((s3.cycle_s() - 21.5424e-3).abs() < 1e-12);
        let s1 = ScannerConfig::preset("bruker_1d").unwrap();
        assert_eq!(s1.samples_per_period(), 102);
        let fov = s3.drive_fov_m();
        assert!((fov[0] - 24e-3).abs() < 1e-12 && (fov[1] - 24e-3).abs() < 1e-12 && (fov[2] - 12e-3).abs() < 1e-12);
    }

    #[test]
    fn every_preset_loads_with_a_reference() {
        for name in ScannerConfig::preset_names() {
            let s = ScannerConfig::preset(name).unwrap_or_else(|e| panic!("{e}"));
            assert!(!s.reference.is_empty(), "{name}");
        }
        assert!(ScannerConfig::preset("nope").unwrap_err().to_string().contains("bruker_2d"));
    }

    #[test]
    fn band_stop_removes_only_the_drive_bins() {
        let s = ScannerConfig::preset("bruker_1d").unwrap();
        let f0 = s.drive_frequency_hz(0);
        assert_eq!(s.receive_chain_response(f0).norm(), 0.0);
        assert_eq!(s.receive_chain_response(2.0 * f0).norm(), 1.0);
    }

    #[test]
    fn ffp_follows_the_drive() {
        let s = ScannerConfig::preset("bruker_2d").unwrap();
        let r = s.ffp_position_m([0.012, 0.0, 0.0]);
        assert!((r[0] - 0.012).abs() < 1e-15, "G_xx = −1 T/m moves the FFP to +12 mm");
    }

    #[test]
    fn ffp_velocity_is_the_derivative_of_the_position() {
        let s = ScannerConfig::preset("bruker_2d").unwrap();
        let (t, h) = (1.234e-4, 1e-9);
        let a = s.ffp_at_m(0, t - h);
        let b = s.ffp_at_m(0, t + h);
        let v = s.ffp_velocity_m_per_s(t);
        for d in 0..2 {
            assert!(((b[d] - a[d]) / (2.0 * h) - v[d]).abs() < 1e-6 * v[d].abs().max(1.0));
        }
        // Peak speed ωA/G (physics.md §2.2): 12 mT, 1 T/m, 24.51 kHz → 1848 m/s.
        let vmax = 2.0 * std::f64::consts::PI * s.drive_frequency_hz(0) * 0.012 / 1.0;
        assert!((vmax - 1848.0).abs() < 1.0);
    }

    #[test]
    fn inconsistent_sampling_is_refused() {
        let mut s = ScannerConfig::preset("bruker_1d").unwrap();
        s.sampling_rate_hz = Some(1.0e6 + 1.0);
        let e = s.check().unwrap_err().to_string();
        assert!(e.contains("sampling_rate_hz"), "{e}");
    }
}
