//! Receive transfer functions as data: measured (network analyser, Touchstone `.s1p`/`.s2p`) or stored in the
//! HDF5 form of MPIFiles.jl, interpolated onto any measurement's frequency grid.
//!
//! A transfer function a_c(f) relates the voltage the ADC sees to the voltage the receive coil induces,
//! û_ADC = a_c(f) · û_coil (mdf-v2.md §3.8, `/acquisition/receiver/transferFunction`). Correction divides by it;
//! the simulator multiplies by it.
//!
//! # Files
//! - **HDF5** (MPIFiles.jl's `save(filename, tf)` / `load_tf`): `/frequencies` [Hz] of length K (ascending),
//!   `/transferFunction` complex, C-order shape [C, K] as the compound {r, i} (MPIFiles writes its Julia
//!   [K, C] matrix, which HDF5 stores reversed), or C-order [C, K, 2] float with a trailing (re, im) axis;
//!   `/inductionFactor` [C] (optional here; MPIFiles writes ones when unknown), `/unit` [C] strings
//!   (optional). Read with `magpie_core::mdf::read_transfer_function` (feature `hdf5`), written atomically by
//!   `magpie_core::mdf::write_transfer_function` (compound {r, i}, as MPIFiles).
//! - **Touchstone 1.x** ([`TransferFunction::from_touchstone_str`]): the option line
//!   `# <Hz|kHz|MHz|GHz> S <DB|MA|RI> R <ohm>` (defaults GHz, MA, 50 Ω), `!` comments, one frequency per line.
//!   A `.s1p` file gives S11; a `.s2p` file (columns S11 S21 S12 S22) gives **S21**, the forward transmission
//!   through the chain. Angles are in degrees (Touchstone specification; MPIFiles reads MA angles as radians).
//!
//! # Interpolation and band
//! Between measured points, the magnitude and the unwrapped phase are interpolated linearly (MPIFiles
//! interpolates real and imaginary parts linearly, which dips the magnitude between points whose phases
//! differ). The phase is unwrapped along frequency by taking each step in (−π, π]; a chain whose phase turns
//! by more than π between two points cannot be unwrapped and must be measured more densely.
//!
//! Outside the measured band [f_first, f_last] there is no measurement, so [`TransferFunction::at`] refuses
//! with [`TfError::OutOfBand`], naming the frequency and the band. Callers decide per frequency with
//! [`OutOfBand`]: reconstruction evaluates only the frequencies it uses (the selected rows; x-space: every
//! imaged bin except DC, which carries no induced signal since û_k ∝ f_k) and refuses the others, so that a
//! TF measured from e.g. 10 kHz can correct data whose low bins are not selected; the simulator, which must
//! produce every bin, holds the end values ([`OutOfBand::HoldEnds`]) and says so.
//!
//! ```
//! use magpie_core::tf::TransferFunction;
//! let text = "! a flat 2-port\n# kHz S DB R 50\n10 0 0 -6.0206 -90 0 0 0 0\n20 0 0 -6.0206 -90 0 0 0 0\n";
//! let tf = TransferFunction::from_touchstone_str(text, "flat.s2p", 2).unwrap();
//! let h = tf.at(0, 15e3).unwrap();
//! assert!((h.norm() - 0.5).abs() < 1e-4 && (h.arg() + std::f64::consts::FRAC_PI_2).abs() < 1e-9);
//! assert!(tf.at(0, 5e3).unwrap_err().to_string().contains("10 kHz"));
//! ```

use ndarray::Array2;
use num_complex::Complex64;
use std::f64::consts::PI;
use std::path::{Path, PathBuf};

/// A malformed Touchstone file; every variant names the 1-based line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TouchstoneError {
    /// The option line has an unknown or misplaced token.
    #[error("line {line}: option line: {message}")]
    OptionLine {
        /// Line number (1-based).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A data line before the option line.
    #[error("line {line}: data before the option line `# <unit> S <DB|MA|RI> R <ohm>`")]
    MissingOptionLine {
        /// Line number (1-based).
        line: usize,
    },
    /// A token that is not a number.
    #[error("line {line}: {token:?} is not a number")]
    Number {
        /// Line number (1-based).
        line: usize,
        /// The token.
        token: String,
    },
    /// The wrong number of values on a data line.
    #[error("line {line}: expected {expected} values (frequency and {ports}-port S-parameters), found {found}")]
    Columns {
        /// Line number (1-based).
        line: usize,
        /// Values expected.
        expected: usize,
        /// Values found.
        found: usize,
        /// Ports.
        ports: usize,
    },
    /// Frequencies must increase strictly.
    #[error("line {line}: frequency {frequency_hz} Hz does not exceed the previous one, {previous_hz} Hz")]
    NotIncreasing {
        /// Line number (1-based).
        line: usize,
        /// This line's frequency [Hz].
        frequency_hz: f64,
        /// The previous line's [Hz].
        previous_hz: f64,
    },
    /// A Touchstone 2.0 keyword (only version 1 files are read).
    #[error("line {line}: Touchstone 2.0 keyword {keyword:?} is not supported (write a version 1 file)")]
    Version2 {
        /// Line number (1-based).
        line: usize,
        /// The keyword.
        keyword: String,
    },
    /// A value that is not finite (or a negative frequency).
    #[error("line {line}: {what}")]
    Value {
        /// Line number (1-based).
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// No data line.
    #[error("no data line")]
    Empty,
}

/// Errors of transfer functions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TfError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A malformed Touchstone file.
    #[error("{source_name}: {source}")]
    Touchstone {
        /// File name.
        source_name: String,
        /// What is wrong, with the line.
        source: TouchstoneError,
    },
    /// An HDF5 file that is not a transfer function in the expected form.
    #[error("{}: {source}", path.display())]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// What the HDF5 layer said (names the dataset).
        source: Box<crate::mdf::MdfError>,
    },
    /// Inconsistent or invalid data.
    #[error("transfer function {what}: {why}")]
    Invalid {
        /// The item.
        what: String,
        /// Why.
        why: String,
    },
    /// A frequency outside the measured band.
    #[error(
        "transfer function {source_name}: {} is outside its measured band {} – {}; \
         exclude it (e.g. --min-freq-khz/--max-freq-khz) or measure the chain over a wider band",
        fmt_hz(*frequency_hz), fmt_hz(*low_hz), fmt_hz(*high_hz)
    )]
    OutOfBand {
        /// The transfer function's source.
        source_name: String,
        /// The frequency asked for [Hz].
        frequency_hz: f64,
        /// First measured frequency [Hz].
        low_hz: f64,
        /// Last measured frequency [Hz].
        high_hz: f64,
    },
    /// The transfer function has neither one channel nor as many as the data.
    #[error(
        "transfer function {source_name} has {have} channel(s); the data have {need} (one channel is applied to all)"
    )]
    Channels {
        /// The transfer function's source.
        source_name: String,
        /// Channels of the transfer function.
        have: usize,
        /// Channels of the data.
        need: usize,
    },
    /// A file whose extension names no known form.
    #[error("{}: unknown transfer-function file type (expected .h5/.hdf5, .s1p or .s2p)", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
}

/// A frequency in the most readable of Hz, kHz, MHz.
fn fmt_hz(f: f64) -> String {
    let a = f.abs();
    if a >= 1e6 {
        format!("{} MHz", trim(f / 1e6))
    } else if a >= 1e3 {
        format!("{} kHz", trim(f / 1e3))
    } else {
        format!("{} Hz", trim(f))
    }
}

fn trim(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// What to do with frequencies outside the measured band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutOfBand {
    /// Refuse with [`TfError::OutOfBand`].
    Refuse,
    /// Use the value at the nearer end of the band (magnitude and phase held).
    HoldEnds,
}

/// A receive transfer function: C channels sampled at K ascending frequencies.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferFunction {
    frequency_hz: Vec<f64>,
    data: Array2<Complex64>,
    magnitude: Array2<f64>,
    phase_rad: Array2<f64>,
    induction_factor: Option<Vec<f64>>,
    units: Option<Vec<String>>,
    source_name: String,
}

impl TransferFunction {
    /// A transfer function from its samples `data` [C, K] at `frequency_hz` [K] (strictly ascending, ≥ 0),
    /// with optional `induction_factor` [C] (MDF `inductionFactor`). `source_name` names it in messages.
    ///
    /// # Errors
    /// [`TfError::Invalid`] for shapes that disagree, no sample, non-finite values or frequencies not strictly
    /// ascending.
    pub fn new(
        frequency_hz: Vec<f64>,
        data: Array2<Complex64>,
        induction_factor: Option<Vec<f64>>,
        source_name: impl Into<String>,
    ) -> Result<Self, TfError> {
        let source_name = source_name.into();
        let invalid = |what: &str, why: String| TfError::Invalid { what: format!("{source_name}: {what}"), why };
        let (c, k) = data.dim();
        if c == 0 || k == 0 {
            return Err(invalid("data", format!("needs ≥ 1 channel and ≥ 1 frequency, found [C, K] = [{c}, {k}]")));
        }
        if frequency_hz.len() != k {
            return Err(invalid("frequencies", format!("{} frequencies for K = {k} samples", frequency_hz.len())));
        }
        if let Some(i) = frequency_hz.iter().position(|f| !(f.is_finite() && *f >= 0.0)) {
            return Err(invalid("frequencies", format!("frequency {i} is {} (needs finite ≥ 0)", frequency_hz[i])));
        }
        if let Some(i) = frequency_hz.windows(2).position(|w| w[1] <= w[0]) {
            return Err(invalid(
                "frequencies",
                format!(
                    "not strictly ascending at index {}: {} Hz after {} Hz",
                    i + 1,
                    frequency_hz[i + 1],
                    frequency_hz[i]
                ),
            ));
        }
        if let Some(i) = data.iter().position(|z| !(z.re.is_finite() && z.im.is_finite())) {
            return Err(invalid("data", format!("value {i} is not finite")));
        }
        if let Some(f) = &induction_factor {
            if f.len() != c {
                return Err(invalid("inductionFactor", format!("{} values for C = {c} channels", f.len())));
            }
            if f.iter().any(|v| !v.is_finite()) {
                return Err(invalid("inductionFactor", "not finite".into()));
            }
        }
        let magnitude = data.mapv(|z| z.norm());
        let mut phase_rad = data.mapv(|z| z.arg());
        for mut row in phase_rad.rows_mut() {
            unwrap_phase(row.as_slice_mut().expect("standard layout"));
        }
        Ok(TransferFunction { frequency_hz, data, magnitude, phase_rad, induction_factor, units: None, source_name })
    }

    /// Reads an `.s1p`/`.s2p` Touchstone file (S11 of a 1-port, S21 of a 2-port file).
    ///
    /// # Errors
    /// An unreadable file, an extension other than `.s1p`/`.s2p`, or [`TfError::Touchstone`].
    pub fn read_touchstone(path: &Path) -> Result<Self, TfError> {
        let ports = match extension(path).as_deref() {
            Some("s1p") => 1,
            Some("s2p") => 2,
            _ => return Err(TfError::UnknownFormat { path: path.to_path_buf() }),
        };
        let text = std::fs::read_to_string(path).map_err(|e| TfError::Io { path: path.to_path_buf(), source: e })?;
        Self::from_touchstone_str(&text, &path.display().to_string(), ports)
    }

    /// Parses Touchstone 1.x text of a `ports`-port network (1 or 2): S11 of a 1-port, S21 of a 2-port.
    ///
    /// # Errors
    /// [`TfError::Touchstone`] with the line of the first problem; [`TfError::Invalid`] for `ports` ∉ {1, 2}.
    pub fn from_touchstone_str(text: &str, source_name: &str, ports: usize) -> Result<Self, TfError> {
        if !(1..=2).contains(&ports) {
            return Err(TfError::Invalid {
                what: source_name.into(),
                why: format!("{ports}-port Touchstone files are not read (1 or 2 ports)"),
            });
        }
        let ts = |e: TouchstoneError| TfError::Touchstone { source_name: source_name.into(), source: e };
        let (freq, s) = parse_touchstone(text, ports).map_err(ts)?;
        let data = Array2::from_shape_vec((1, s.len()), s).expect("one channel");
        let name = format!("{source_name} ({})", if ports == 2 { "S21" } else { "S11" });
        Self::new(freq, data, None, name)
    }

    /// Reads a transfer function file by its extension: `.h5`/`.hdf5` (MPIFiles.jl form, feature `hdf5`) or
    /// `.s1p`/`.s2p` (Touchstone).
    ///
    /// # Errors
    /// Unknown extension, unreadable or malformed file; HDF5 files without the `hdf5` feature.
    pub fn read(path: &Path) -> Result<Self, TfError> {
        match extension(path).as_deref() {
            Some("s1p") | Some("s2p") => Self::read_touchstone(path),
            Some("h5") | Some("hdf5") => {
                #[cfg(feature = "hdf5")]
                {
                    crate::mdf::read_transfer_function(path)
                }
                #[cfg(not(feature = "hdf5"))]
                {
                    Err(TfError::Invalid {
                        what: path.display().to_string(),
                        why: "reading HDF5 needs magpie-core's `hdf5` feature".into(),
                    })
                }
            }
            _ => Err(TfError::UnknownFormat { path: path.to_path_buf() }),
        }
    }

    /// Channels C.
    pub fn channels(&self) -> usize {
        self.data.nrows()
    }

    /// The measured frequencies [Hz], ascending.
    pub fn frequency_hz(&self) -> &[f64] {
        &self.frequency_hz
    }

    /// The samples [C, K].
    pub fn data(&self) -> &Array2<Complex64> {
        &self.data
    }

    /// The measured band [first, last] [Hz].
    pub fn band_hz(&self) -> (f64, f64) {
        (self.frequency_hz[0], *self.frequency_hz.last().expect("K ≥ 1"))
    }

    /// MDF `inductionFactor` per channel, if known.
    pub fn induction_factor(&self) -> Option<&[f64]> {
        self.induction_factor.as_deref()
    }

    /// Unit strings per channel (MPIFiles' `/unit`), if known.
    pub fn units(&self) -> Option<&[String]> {
        self.units.as_deref()
    }

    /// Sets the unit strings per channel.
    ///
    /// # Errors
    /// A length other than C.
    pub fn with_units(mut self, units: Option<Vec<String>>) -> Result<Self, TfError> {
        if let Some(u) = &units {
            if u.len() != self.channels() {
                return Err(TfError::Invalid {
                    what: format!("{}: unit", self.source_name),
                    why: format!("{} units for C = {} channels", u.len(), self.channels()),
                });
            }
        }
        self.units = units;
        Ok(self)
    }

    /// Where it came from (file name and parameter), for messages.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// The channel of this transfer function that applies to data channel `channel` of `channels`: itself, or
    /// 0 when the transfer function has one channel (applied to all).
    ///
    /// # Errors
    /// [`TfError::Channels`] when C is neither 1 nor `channels`.
    pub fn channel_for(&self, channel: usize, channels: usize) -> Result<usize, TfError> {
        let c = self.channels();
        if c == 1 {
            Ok(0)
        } else if c == channels && channel < c {
            Ok(channel)
        } else {
            Err(TfError::Channels { source_name: self.source_name.clone(), have: c, need: channels })
        }
    }

    /// Whether `frequency_hz` lies in the measured band (within a relative 1e-9 of its ends).
    pub fn in_band(&self, frequency_hz: f64) -> bool {
        let (lo, hi) = self.band_hz();
        let tol = 1e-9 * hi.max(1.0);
        frequency_hz >= lo - tol && frequency_hz <= hi + tol
    }

    /// The value of channel `channel` (of this transfer function) at `frequency_hz`, interpolated (magnitude
    /// and unwrapped phase linear).
    ///
    /// # Errors
    /// [`TfError::OutOfBand`] outside the measured band; [`TfError::Invalid`] for a channel ≥ C.
    pub fn at(&self, channel: usize, frequency_hz: f64) -> Result<Complex64, TfError> {
        self.at_with(channel, frequency_hz, OutOfBand::Refuse)
    }

    /// As [`Self::at`], with `policy` outside the band.
    ///
    /// # Errors
    /// As [`Self::at`] (out of band only with [`OutOfBand::Refuse`]).
    pub fn at_with(&self, channel: usize, frequency_hz: f64, policy: OutOfBand) -> Result<Complex64, TfError> {
        if channel >= self.channels() {
            return Err(TfError::Invalid {
                what: self.source_name.clone(),
                why: format!("channel {channel} asked for, the transfer function has {}", self.channels()),
            });
        }
        let (lo, hi) = self.band_hz();
        if (!self.in_band(frequency_hz) && policy == OutOfBand::Refuse) || !frequency_hz.is_finite() {
            return Err(TfError::OutOfBand {
                source_name: self.source_name.clone(),
                frequency_hz,
                low_hz: lo,
                high_hz: hi,
            });
        }
        let f = &self.frequency_hz;
        let mag = self.magnitude.row(channel);
        let ph = self.phase_rad.row(channel);
        let k = f.len();
        let (m, p) = if frequency_hz <= f[0] {
            (mag[0], ph[0])
        } else if frequency_hz >= f[k - 1] {
            (mag[k - 1], ph[k - 1])
        } else {
            // First point above the frequency: f[i-1] < frequency ≤ f[i].
            let i = f.partition_point(|x| *x < frequency_hz);
            let t = (frequency_hz - f[i - 1]) / (f[i] - f[i - 1]);
            (mag[i - 1] + t * (mag[i] - mag[i - 1]), ph[i - 1] + t * (ph[i] - ph[i - 1]))
        };
        Ok(Complex64::from_polar(m, p))
    }

    /// The transfer function on a frequency grid: [channels, frequencies], data channel c taking
    /// [`Self::channel_for`]`(c, channels)`.
    ///
    /// # Errors
    /// Channels that do not fit; [`TfError::OutOfBand`] for the first frequency outside the band with
    /// [`OutOfBand::Refuse`].
    pub fn sample(
        &self,
        frequency_hz: &[f64],
        channels: usize,
        policy: OutOfBand,
    ) -> Result<Array2<Complex64>, TfError> {
        let mut out = Array2::zeros((channels, frequency_hz.len()));
        for c in 0..channels {
            let src = self.channel_for(c, channels)?;
            for (k, f) in frequency_hz.iter().enumerate() {
                out[[c, k]] = self.at_with(src, *f, policy)?;
            }
        }
        Ok(out)
    }

    /// The transfer function on the full receiver grid of an MDF acquisition (f_k = k·2·bandwidth/V,
    /// k = 0…V/2), [C, V/2+1]: in-band bins interpolated, the others per `policy`, and with
    /// [`OutOfBand::Refuse`] only the bins `needed(c, k)` are checked (the others get 1, never used).
    ///
    /// # Errors
    /// As [`Self::sample`], for a needed bin.
    pub fn on_receiver_grid(
        &self,
        bandwidth_hz: f64,
        samples_per_period: usize,
        channels: usize,
        policy: OutOfBand,
        needed: impl Fn(usize, usize) -> bool,
    ) -> Result<Array2<Complex64>, TfError> {
        let v = samples_per_period.max(1);
        let k_full = v / 2 + 1;
        let mut out = Array2::from_elem((channels, k_full), Complex64::new(1.0, 0.0));
        for c in 0..channels {
            let src = self.channel_for(c, channels)?;
            for k in 0..k_full {
                let f = k as f64 * 2.0 * bandwidth_hz / v as f64;
                if policy == OutOfBand::HoldEnds || self.in_band(f) || needed(c, k) {
                    out[[c, k]] = self.at_with(src, f, policy)?;
                }
            }
        }
        Ok(out)
    }
}

fn extension(path: &Path) -> Option<String> {
    path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase())
}

/// Unwraps a phase sequence in place: each step taken in (−π, π].
fn unwrap_phase(p: &mut [f64]) {
    let mut offset = 0.0;
    for i in 1..p.len() {
        let raw = p[i] + offset;
        let mut d = raw - p[i - 1];
        while d > PI {
            d -= 2.0 * PI;
            offset -= 2.0 * PI;
        }
        while d <= -PI {
            d += 2.0 * PI;
            offset += 2.0 * PI;
        }
        p[i] = p[i - 1] + d;
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Db,
    Ma,
    Ri,
}

/// Frequencies [Hz] and the chosen S-parameter (S11 of 1 port, S21 of 2).
fn parse_touchstone(text: &str, ports: usize) -> Result<(Vec<f64>, Vec<Complex64>), TouchstoneError> {
    let mut option: Option<(f64, Format)> = None;
    let mut freq = Vec::new();
    let mut s = Vec::new();
    let expected = 1 + 2 * ports * ports;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let body = raw.split('!').next().unwrap_or("").trim();
        if body.is_empty() {
            continue;
        }
        if body.starts_with('[') {
            let keyword = body.split(']').next().unwrap_or(body).to_string() + "]";
            return Err(TouchstoneError::Version2 { line, keyword });
        }
        if let Some(rest) = body.strip_prefix('#') {
            if option.is_none() {
                option = Some(parse_option_line(rest, line)?);
            }
            // The specification ignores further option lines.
            continue;
        }
        let Some((unit, format)) = option else { return Err(TouchstoneError::MissingOptionLine { line }) };
        let values: Vec<f64> = body
            .split_whitespace()
            .map(|t| t.parse::<f64>().map_err(|_| TouchstoneError::Number { line, token: t.into() }))
            .collect::<Result<_, _>>()?;
        if values.len() != expected {
            return Err(TouchstoneError::Columns { line, expected, found: values.len(), ports });
        }
        if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
            return Err(TouchstoneError::Value { line, what: format!("{bad} is not finite") });
        }
        let f = values[0] * unit;
        if f < 0.0 {
            return Err(TouchstoneError::Value { line, what: format!("negative frequency {f} Hz") });
        }
        if let Some(&prev) = freq.last() {
            if f <= prev {
                return Err(TouchstoneError::NotIncreasing { line, frequency_hz: f, previous_hz: prev });
            }
        }
        // 2-port column order: S11, S21, S12, S22 (pairs after the frequency).
        let pair = if ports == 2 { 1 } else { 0 };
        let (a, b) = (values[1 + 2 * pair], values[2 + 2 * pair]);
        let z = match format {
            Format::Db => Complex64::from_polar(10f64.powf(a / 20.0), b.to_radians()),
            Format::Ma => Complex64::from_polar(a, b.to_radians()),
            Format::Ri => Complex64::new(a, b),
        };
        freq.push(f);
        s.push(z);
    }
    if freq.is_empty() {
        return Err(TouchstoneError::Empty);
    }
    Ok((freq, s))
}

/// `<unit> <parameter> <format> R <ohm>` in any order, case-insensitive; defaults GHz, S, MA, 50 Ω.
fn parse_option_line(rest: &str, line: usize) -> Result<(f64, Format), TouchstoneError> {
    let bad = |message: String| TouchstoneError::OptionLine { line, message };
    let mut unit = 1e9;
    let mut format = Format::Ma;
    let mut tokens = rest.split_whitespace();
    while let Some(t) = tokens.next() {
        match t.to_ascii_uppercase().as_str() {
            "HZ" => unit = 1.0,
            "KHZ" => unit = 1e3,
            "MHZ" => unit = 1e6,
            "GHZ" => unit = 1e9,
            "S" => {}
            "Y" | "Z" | "H" | "G" => {
                return Err(bad(format!("parameter {t} is not read; only S-parameters are (S)")));
            }
            "DB" => format = Format::Db,
            "MA" => format = Format::Ma,
            "RI" => format = Format::Ri,
            "R" => {
                let r = tokens.next().ok_or_else(|| bad("R without a reference impedance".into()))?;
                let ohm: f64 = r.parse().map_err(|_| bad(format!("reference impedance {r:?} is not a number")))?;
                if !(ohm.is_finite() && ohm > 0.0) {
                    return Err(bad(format!("reference impedance {ohm} Ω must be positive")));
                }
            }
            _ => return Err(bad(format!("unknown token {t:?} (expected Hz|kHz|MHz|GHz, S, DB|MA|RI, R <ohm>)"))),
        }
    }
    Ok((unit, format))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S2P: &str = "! comment\n# MHz S RI R 50\n0.1 0 0 0.5 0.5 0 0 0 0 ! trailing\n0.2 0 0 0 1 0 0 0 0\n";

    #[test]
    fn s2p_takes_s21_and_interpolates_magnitude_and_phase() {
        let tf = TransferFunction::from_touchstone_str(S2P, "x.s2p", 2).unwrap();
        assert_eq!(tf.frequency_hz(), &[1e5, 2e5]);
        let a = tf.at(0, 1e5).unwrap();
        assert!((a - Complex64::new(0.5, 0.5)).norm() < 1e-15);
        // Midway: |H| = (√0.5 + 1)/2, phase (π/4 + π/2)/2.
        let m = tf.at(0, 1.5e5).unwrap();
        assert!((m.norm() - (0.5f64.sqrt() + 1.0) / 2.0).abs() < 1e-12);
        assert!((m.arg() - 3.0 * PI / 8.0).abs() < 1e-12);
    }

    #[test]
    fn s1p_takes_s11_in_db_and_degrees() {
        let tf = TransferFunction::from_touchstone_str("# Hz S DB R 50\n100 -20 180\n200 0 0\n", "a.s1p", 1).unwrap();
        let h = tf.at(0, 100.0).unwrap();
        assert!((h - Complex64::new(-0.1, 0.0)).norm() < 1e-12);
    }

    #[test]
    fn out_of_band_names_frequency_and_band() {
        let tf = TransferFunction::from_touchstone_str(S2P, "x.s2p", 2).unwrap();
        let e = tf.at(0, 250e3).unwrap_err().to_string();
        assert!(e.contains("250 kHz") && e.contains("100 kHz") && e.contains("200 kHz"), "{e}");
        let h = tf.at_with(0, 0.0, OutOfBand::HoldEnds).unwrap();
        assert!((h - Complex64::new(0.5, 0.5)).norm() < 1e-15);
        // Only needed bins are checked with Refuse.
        let g = tf.on_receiver_grid(250e3, 10, 1, OutOfBand::Refuse, |_, k| k == 2).unwrap();
        assert_eq!(g[[0, 0]], Complex64::new(1.0, 0.0));
        assert!(tf.on_receiver_grid(250e3, 10, 1, OutOfBand::Refuse, |_, k| k == 0).is_err());
    }

    #[test]
    fn phase_is_unwrapped_across_the_branch_cut() {
        // Phases 170°, −170° (= 190°): the midpoint is 180°, not 0°.
        let text = "# Hz S MA R 50\n1 1 170\n2 1 -170\n";
        let tf = TransferFunction::from_touchstone_str(text, "p.s1p", 1).unwrap();
        let h = tf.at(0, 1.5).unwrap();
        assert!((h - Complex64::new(-1.0, 0.0)).norm() < 1e-12, "{h}");
    }

    #[test]
    fn malformed_files_name_the_line() {
        let cases: [(&str, &str); 7] = [
            ("1 2 3\n", "line 1: data before"),
            ("# kHz S DB R 50\n1 2\n", "line 2: expected 3 values"),
            ("# kHz S DB R 50\n1 x 3\n", "line 2: \"x\" is not a number"),
            ("# kHz S DB R 50\n2 0 0\n\n1 0 0\n", "line 4: frequency 1000 Hz does not exceed"),
            ("# kHz Z DB R 50\n", "line 1: option line: parameter Z"),
            ("# kHz S XY R 50\n", "unknown token \"XY\""),
            ("[Version] 2.0\n", "line 1: Touchstone 2.0 keyword \"[Version]\""),
        ];
        for (text, want) in cases {
            let e = TransferFunction::from_touchstone_str(text, "bad.s1p", 1).unwrap_err().to_string();
            assert!(e.contains(want) && e.starts_with("bad.s1p"), "{text:?}: {e}");
        }
        let e = TransferFunction::from_touchstone_str("! only\n# Hz S RI R 50\n", "e.s1p", 1).unwrap_err();
        assert!(e.to_string().contains("no data line"), "{e}");
    }

    #[test]
    fn channels_broadcast_or_must_match() {
        let tf = TransferFunction::from_touchstone_str(S2P, "x.s2p", 2).unwrap();
        assert_eq!(tf.channel_for(2, 3).unwrap(), 0);
        let two =
            TransferFunction::new(vec![1.0], Array2::from_elem((2, 1), Complex64::new(1.0, 0.0)), None, "t").unwrap();
        assert!(two.channel_for(0, 3).unwrap_err().to_string().contains("2 channel(s)"));
    }
}
