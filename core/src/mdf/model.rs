//! The MDF v2 data model in memory: one struct per group of the specification, fields in snake_case with their
//! SI unit in the name.
//!
//! Dimension letters (see `mdf-v2.md` §2.3 and the [`crate::doc::axes`] page): A tracers, N frames (O foreground
//! plus E background), B stored sparse coefficients, J periods per frame, Y partitions of a period, C receive
//! channels, D drive-field channels, F frequencies per drive channel, V time samples per period, K frequency
//! components, Q reconstructed frames, P voxels, S reconstructed channels. Every multi-dimensional array is in
//! **C order, exactly as on disk** (`[N, J, C, V]`, never Julia's reversed `[V, C, J, N]`).
//!
//! Field strengths are the tesla value of μ0·H (what MDF calls "T/μ0"), hence the `_t` and `_t_per_m` suffixes.
//! Index arrays (`frequency_selection`, `frame_permutation`, `subsampling_indices`) are **0-based** in memory,
//! whatever base the file used (see [`super::IndexBase`]).

use ndarray::{Array1, Array2, Array3, Array4};
use num_complex::Complex64;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::NumArray;

/// The MDF version magpie writes.
pub const MDF_VERSION: &str = "2.1.0";

/// A whole MDF v2 file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MdfFile {
    /// `/version` as found in the file, e.g. "2.1.0" (2.0.x files are read too). magpie always writes
    /// [`MDF_VERSION`], whatever this says: the model is the 2.1 layout.
    pub version: String,
    /// `/uuid`: the file's UUID (RFC 4122 text form).
    pub uuid: String,
    /// `/time`: creation time, UTC, `yyyy-mm-ddThh:mm:ss.ms`.
    pub time: String,
    /// `/study`.
    pub study: Study,
    /// `/experiment`.
    pub experiment: Experiment,
    /// `/tracer` (absent for pure background scans).
    pub tracer: Option<Tracer>,
    /// `/scanner`.
    pub scanner: Scanner,
    /// `/acquisition` with its drive-field and receiver subgroups.
    pub acquisition: Acquisition,
    /// `/measurement`.
    pub measurement: Option<Measurement>,
    /// `/calibration` (present in system-matrix files).
    pub calibration: Option<Calibration>,
    /// `/reconstruction`.
    pub reconstruction: Option<Reconstruction>,
    /// Non-standard `/_magpie/<name>` strings written by magpie: provenance (the scanner, tracer, phantom and
    /// parameters that produced the file, as TOML) and facts later stages need (units of a reconstruction).
    #[serde(default)]
    pub provenance: BTreeMap<String, String>,
    /// What the reader translated from an older (2.0-era, MPIFiles.jl-written) layout into the 2.1 model, one
    /// short phrase each (e.g. "isTransposed → isFastFrameAxis"); empty for a file already in the 2.1 layout
    /// and for models built in memory. Shown by `magpie inspect` next to the version.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub translations: Vec<String>,
}

/// `/study`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[allow(missing_docs)]
pub struct Study {
    pub description: String,
    pub name: String,
    pub number: i64,
    /// Optional since 2.0.1.
    pub time: Option<String>,
    pub uuid: String,
}

/// `/experiment`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[allow(missing_docs)]
pub struct Experiment {
    pub description: String,
    /// `/experiment/isSimulation`: true for synthetic data.
    pub is_simulation: bool,
    pub name: String,
    pub number: i64,
    pub subject: String,
    pub uuid: String,
}

/// `/tracer`: every vector has length A (number of tracers or boli).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[allow(missing_docs)]
pub struct Tracer {
    pub batch: Vec<String>,
    /// Molar concentration of the solute [mol/L] (for iron oxide tracers: mol Fe per litre).
    pub concentration_mol_per_l: Vec<f64>,
    pub injection_time: Option<Vec<String>>,
    pub name: Vec<String>,
    /// Solute, e.g. "Fe".
    pub solute: Vec<String>,
    pub vendor: Vec<String>,
    /// Injected or filled volume [L].
    pub volume_l: Vec<f64>,
}

/// `/scanner`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[allow(missing_docs)]
pub struct Scanner {
    /// Bore diameter [m].
    pub bore_size_m: Option<f64>,
    pub facility: String,
    pub manufacturer: String,
    pub name: String,
    pub operator: String,
    /// "FFP", "FFL" or "MPS".
    pub topology: String,
}

/// `/acquisition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Acquisition {
    /// `gradient` [J, Y, 3, 3]: Jacobian of selection + focus field at the centre, μ0·G [T/m].
    pub gradient_t_per_m: Option<Array4<f64>>,
    /// Hardware block averages per drive-field period.
    pub num_averages: i64,
    /// N, frames (foreground + background).
    pub num_frames: i64,
    /// J, drive-field periods per frame.
    pub num_periods_per_frame: i64,
    /// `offsetField` [J, Y, 3]: homogeneous field μ0·H(r_c) [T].
    pub offset_field_t: Option<Array3<f64>>,
    /// UTC start time.
    pub start_time: String,
    /// `/acquisition/drivefield`.
    pub drivefield: DriveField,
    /// `/acquisition/receiver`.
    pub receiver: Receiver,
}

/// `/acquisition/drivefield`: H_d(t) = Σ_l A_l Λ_l(2π f_l t + φ_l), f_l = base / divider_l.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriveField {
    /// Base frequency [Hz].
    pub base_frequency_hz: f64,
    /// Drive-field cycle = lcm(divider) / base frequency [s].
    pub cycle_s: f64,
    /// Dividers [D, F].
    pub divider: Array2<i64>,
    /// D, drive-field channels.
    pub num_channels: i64,
    /// Phases [J, D, F] [rad].
    pub phase_rad: Array3<f64>,
    /// Amplitudes [J, D, F], μ0·H [T].
    pub strength_t: Array3<f64>,
    /// Waveforms [D, F]: "sine", "triangle" or "custom". A scalar string in the file is broadcast.
    pub waveform: Array2<String>,
    /// Non-standard `customWaveform` read by MPIFiles.
    pub custom_waveform: Option<String>,
}

/// `/acquisition/receiver`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receiver {
    /// First Nyquist zone limit = sampling rate / 2 [Hz].
    pub bandwidth_hz: f64,
    /// (a_c, b_c) per channel [C, 2]: u = a_c·r + b_c, in `unit`.
    pub data_conversion_factor: Option<Array2<f64>>,
    /// β per channel [C] in unit/(A·m²).
    pub induction_factor: Option<Array1<f64>>,
    /// C, receive channels.
    pub num_channels: i64,
    /// V, time samples per period.
    pub num_sampling_points: i64,
    /// Transfer function [C, K] (dimensionless): û_ADC,k = a_k·û_coil,k.
    pub transfer_function: Option<Array2<Complex64>>,
    /// Unit of the converted data, usually "V".
    pub unit: String,
    /// Non-standard `transferFunctionFileName` written by MPIFiles.
    pub transfer_function_file_name: Option<String>,
}

impl Receiver {
    /// Sampling rate f_s = 2·bandwidth [Hz].
    pub fn sampling_rate_hz(&self) -> f64 {
        2.0 * self.bandwidth_hz
    }

    /// Frequency of rFFT bin k: f_k = k·2·bandwidth/V [Hz].
    pub fn frequency_hz(&self, k: usize) -> f64 {
        k as f64 * self.sampling_rate_hz() / self.num_sampling_points as f64
    }

    /// Number of rFFT bins of one period, V/2 + 1.
    pub fn num_frequencies_full(&self) -> usize {
        self.num_sampling_points.max(0) as usize / 2 + 1
    }
}

/// The orthonormal transform of a sparsity-compressed system matrix (MDF 2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum SparsityTransform {
    DctI,
    DctII,
    DctIII,
    DctIV,
}

impl SparsityTransform {
    /// The name as written in `/measurement/sparsityTransformation`.
    pub fn as_str(self) -> &'static str {
        match self {
            SparsityTransform::DctI => "DCT-I",
            SparsityTransform::DctII => "DCT-II",
            SparsityTransform::DctIII => "DCT-III",
            SparsityTransform::DctIV => "DCT-IV",
        }
    }

    /// Parse the spec's name.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "DCT-I" => Some(SparsityTransform::DctI),
            "DCT-II" => Some(SparsityTransform::DctII),
            "DCT-III" => Some(SparsityTransform::DctIII),
            "DCT-IV" => Some(SparsityTransform::DctIV),
            _ => None,
        }
    }
}

/// `/measurement`: the data and the flags that say which processing stages they went through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// `data`, exactly as stored (element type kept, **not** converted by `dataConversionFactor`):
    /// `[N, J, C, V]` time domain, `[N, J, C, K]` Fourier, `[J, C, V|K, N]` with the fast frame axis,
    /// `[J, C, K, B+E]` sparsity-compressed. Use [`super::measurement_spectra`] and [`super::system_matrix`] for canonical complex spectra.
    pub data: NumArray,
    /// Processing flags and index arrays.
    pub layout: MeasurementLayout,
}

/// The processing flags of `/measurement` and their index arrays (0-based in memory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[allow(missing_docs)]
pub struct MeasurementLayout {
    pub is_background_corrected: bool,
    /// [N]: true for background frames.
    pub is_background_frame: Vec<bool>,
    pub is_fast_frame_axis: bool,
    pub is_fourier_transformed: bool,
    pub is_frame_permutation: bool,
    /// [N], 0-based: stored frame n is frame `frame_permutation[n]` of the original (acquisition) order.
    pub frame_permutation: Option<Vec<usize>>,
    pub is_frequency_selection: bool,
    /// [K], 0-based indices into the full rFFT 0..=V/2 (0 = DC).
    pub frequency_selection: Option<Vec<usize>>,
    /// Missing in 2.0.x files, read as false.
    pub is_sparsity_transformed: bool,
    pub sparsity_transformation: Option<SparsityTransform>,
    /// [J, C, K, B], 0-based indices of the kept transform coefficients (into 0..O).
    pub subsampling_indices: Option<Array4<usize>>,
    pub is_spectral_leakage_corrected: bool,
    pub is_transfer_function_corrected: bool,
}

impl MeasurementLayout {
    /// N, number of frames.
    pub fn num_frames(&self) -> usize {
        self.is_background_frame.len()
    }

    /// E, number of background frames.
    pub fn num_background_frames(&self) -> usize {
        self.is_background_frame.iter().filter(|b| **b).count()
    }

    /// O, number of foreground frames.
    pub fn num_foreground_frames(&self) -> usize {
        self.num_frames() - self.num_background_frames()
    }
}

/// `/calibration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Calibration {
    /// Delta-sample size [m] (x, y, z).
    pub delta_sample_size_m: Option<[f64; 3]>,
    /// Field of view [m].
    pub field_of_view_m: Option<[f64; 3]>,
    /// FOV centre relative to the scanner centre [m].
    pub field_of_view_center_m: Option<[f64; 3]>,
    /// "robot", "hybrid" or "simulation".
    pub method: String,
    /// Emulated positions as offset fields [O, 3], μ0·H [T].
    pub offset_fields_t: Option<Array2<f64>>,
    /// Grid order, default "xyz" (x fastest).
    pub order: Option<String>,
    /// Positions [O, 3] [m] for non-grid sampling.
    pub positions_m: Option<Array2<f64>>,
    /// Grid shape (x, y, z); the product is O.
    pub size: Option<[usize; 3]>,
    /// Per-row SNR [J, C, K].
    pub snr: Option<Array3<f64>>,
    /// Non-standard `isMeanderingGrid` written by MPIFiles.
    pub is_meandering_grid: Option<bool>,
}

/// `/reconstruction`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reconstruction {
    /// `data` [Q, P, S]: frames × voxels (x fastest) × channels.
    pub data: NumArray,
    /// Field of view [m].
    pub field_of_view_m: Option<[f64; 3]>,
    /// FOV centre [m].
    pub field_of_view_center_m: Option<[f64; 3]>,
    /// [P]: voxels the FFP trajectory never covers.
    pub is_overscan_region: Option<Vec<bool>>,
    /// Grid order, default "xyz".
    pub order: Option<String>,
    /// Voxel positions [P, 3] [m].
    pub positions_m: Option<Array2<f64>>,
    /// Grid shape (x, y, z); the product is P.
    pub size: Option<[usize; 3]>,
    /// Non-standard `/reconstruction/_parameters/*` scalars (provenance), by name.
    pub parameters: BTreeMap<String, ParamValue>,
}

/// A scalar provenance value under `/reconstruction/_parameters`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[allow(missing_docs)]
pub enum ParamValue {
    Int(i64),
    Float(f64),
    Text(String),
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Int(v) => write!(f, "{v}"),
            ParamValue::Float(v) => write!(f, "{v}"),
            ParamValue::Text(v) => write!(f, "{v}"),
        }
    }
}

impl MdfFile {
    /// The number of drive-field periods per frame J as stated in `/acquisition`.
    pub fn num_periods(&self) -> usize {
        self.acquisition.num_periods_per_frame.max(0) as usize
    }

    /// Drive-field FOV 2·A/|G_ii| per axis [m] for period 0 (0 where no drive or gradient is given).
    pub fn drive_field_fov_m(&self) -> [f64; 3] {
        let mut fov = [0.0; 3];
        let Some(g) = &self.acquisition.gradient_t_per_m else {
            return fov;
        };
        let df = &self.acquisition.drivefield;
        for (d, f) in fov.iter_mut().enumerate() {
            let gd = g[[0, 0, d, d]].abs();
            if d < df.strength_t.shape()[1] && gd > 0.0 {
                let a = df.strength_t.slice(ndarray::s![0, d, ..]).iter().map(|v| v.abs()).sum::<f64>();
                *f = 2.0 * a / gd;
            }
        }
        fov
    }
}
