//! The acquisition sequence as x-space needs it, read from an MDF header: drive fields, selection gradient,
//! focus (offset) fields per period and receive-coil sensitivities.
//!
//! Conventions (MDF v2, `mdf-v2.md` §4): field strengths are tesla values of μ0·H; drive channel d acts along
//! axis d with B_d(t) = A_d sin(2π f_d t + φ_d), f_d = baseFrequency/divider_d; the field-free point of period j
//! is r_s = −G⁻¹(B_D(t) + B_off(j)) with the diagonal of G (as MPIFiles' `acqOffsetFieldShift`). Receive
//! channel c is taken to be a homogeneous coil along axis c (what MDF assumes for FFP scanners) with sensitivity
//! B/I = −inductionFactor_c · T_cycle [T/A], because MDF's inductionFactor β obeys û_k = 2πi·k·β·m̂_k, while
//! Faraday's law u = −(B/I)·dm/dt gives û_k = −2πi (k/T_cycle)(B/I) m̂_k.

use magpie_core::mdf::MdfFile;

use crate::RecoError;

/// One sinusoidal drive channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drive {
    /// Amplitude μ0·A [T].
    pub amplitude_t: f64,
    /// Frequency [Hz].
    pub frequency_hz: f64,
    /// Phase φ of sin(2π f t + φ) [rad].
    pub phase_rad: f64,
}

/// What x-space reconstruction needs of the acquisition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// Drive-field cycle T [s].
    pub cycle_s: f64,
    /// Samples per period V.
    pub samples_per_period: usize,
    /// Selection-field gradient diagonal G_dd [T/m] (period 0; off-diagonal terms are ignored).
    pub gradient_t_per_m: [f64; 3],
    /// Drive channels along x, y, z (at most three).
    pub drive: Vec<Drive>,
    /// Focus field per period [T] (length J).
    pub offset_t: Vec<[f64; 3]>,
    /// Receive-coil sensitivity B/I along axis c [T/A] per receive channel.
    pub coil_t_per_a: Vec<f64>,
}

fn input(what: &str, message: String) -> RecoError {
    RecoError::Input { what: what.into(), message }
}

impl Sequence {
    /// Reads the sequence from `file`. `coil_t_per_a` overrides (or supplies, when the file has no
    /// `inductionFactor`) the receive-coil sensitivity of every channel.
    ///
    /// # Errors
    /// No gradient, non-sinusoidal drive fields, more than three drive or receive channels, a missing coil
    /// sensitivity, or a spectrometer (MPS) file without spatial encoding.
    pub fn from_mdf(file: &MdfFile, coil_t_per_a: Option<f64>) -> Result<Self, RecoError> {
        let acq = &file.acquisition;
        let df = &acq.drivefield;
        let j = file.num_periods().max(1);
        let g = acq.gradient_t_per_m.as_ref().ok_or_else(|| {
            input("/acquisition/gradient", "x-space reconstruction needs the selection-field gradient".into())
        })?;
        if g.shape()[0] == 0 || g.shape()[1] == 0 || g.shape()[2] < 3 || g.shape()[3] < 3 {
            return Err(input("/acquisition/gradient", format!("expected shape [J, Y, 3, 3], found {:?}", g.shape())));
        }
        let gradient: [f64; 3] = std::array::from_fn(|d| g[[0, 0, d, d]]);
        if gradient.iter().all(|v| *v == 0.0) || file.scanner.topology.eq_ignore_ascii_case("MPS") {
            return Err(input(
                "/acquisition/gradient",
                "no selection gradient (a spectrometer file?): x-space needs a moving field-free point".into(),
            ));
        }
        let d = df.num_channels.max(0) as usize;
        if d == 0 || d > 3 {
            return Err(input("/acquisition/drivefield/numChannels", format!("expected 1 to 3, found {d}")));
        }
        if df.strength_t.shape()[1] < d || df.phase_rad.shape()[1] < d || df.divider.shape()[0] < d {
            return Err(input(
                "/acquisition/drivefield",
                format!(
                    "strength {:?}, phase {:?} and divider {:?} do not cover {d} channels",
                    df.strength_t.shape(),
                    df.phase_rad.shape(),
                    df.divider.shape()
                ),
            ));
        }
        let mut drive = Vec::with_capacity(d);
        for ch in 0..d {
            let waveform = df.waveform.get((ch, 0)).map(String::as_str).unwrap_or("sine");
            if !waveform.eq_ignore_ascii_case("sine") {
                return Err(input(
                    "/acquisition/drivefield/waveform",
                    format!("channel {ch} is {waveform:?}; x-space supports sine drive fields only"),
                ));
            }
            let missing = |name: &str| {
                input("/acquisition/drivefield", format!("{name} has no entry for period 0, channel {ch}"))
            };
            let div = *df.divider.get((ch, 0)).ok_or_else(|| missing("divider"))?;
            if div <= 0 {
                return Err(input("/acquisition/drivefield/divider", format!("channel {ch}: {div} is not ≥ 1")));
            }
            drive.push(Drive {
                amplitude_t: *df.strength_t.get((0, ch, 0)).ok_or_else(|| missing("strength"))?,
                frequency_hz: df.base_frequency_hz / div as f64,
                phase_rad: *df.phase_rad.get((0, ch, 0)).ok_or_else(|| missing("phase"))?,
            });
        }
        let offset_t = (0..j)
            .map(|jj| match &acq.offset_field_t {
                Some(o) if jj < o.shape()[0] && o.shape()[2] >= 3 => [o[[jj, 0, 0]], o[[jj, 0, 1]], o[[jj, 0, 2]]],
                _ => [0.0; 3],
            })
            .collect();
        let c = acq.receiver.num_channels.max(0) as usize;
        if c == 0 || c > 3 {
            return Err(input(
                "/acquisition/receiver/numChannels",
                format!("x-space maps receive channel c to axis c: expected 1 to 3 channels, found {c}"),
            ));
        }
        let coil_t_per_a = match (coil_t_per_a, &acq.receiver.induction_factor) {
            (Some(s), _) => vec![s; c],
            (None, Some(beta)) if beta.len() == c => {
                let s: Vec<f64> = beta.iter().map(|b| -b * df.cycle_s).collect();
                if s.iter().any(|v| !(v.is_finite() && *v != 0.0)) {
                    return Err(input(
                        "/acquisition/receiver/inductionFactor",
                        format!("needs finite non-zero values, found {beta:?}"),
                    ));
                }
                s
            }
            (None, Some(beta)) => {
                return Err(input(
                    "/acquisition/receiver/inductionFactor",
                    format!("expected {c} values (one per receive channel), found {}", beta.len()),
                ))
            }
            (None, None) => {
                return Err(input(
                    "/acquisition/receiver/inductionFactor",
                    "absent: give the receive-coil sensitivity in T/A (--coil-sensitivity) for quantitative \
                     x-space images"
                        .into(),
                ))
            }
        };
        Ok(Sequence {
            cycle_s: df.cycle_s,
            samples_per_period: acq.receiver.num_sampling_points.max(0) as usize,
            gradient_t_per_m: gradient,
            drive,
            offset_t,
            coil_t_per_a,
        })
    }

    /// Periods per frame J.
    pub fn num_periods(&self) -> usize {
        self.offset_t.len()
    }

    /// Drive field B_D(t) [T].
    pub fn drive_field_t(&self, t: f64) -> [f64; 3] {
        let mut b = [0.0; 3];
        for (d, ch) in self.drive.iter().enumerate() {
            b[d] = ch.amplitude_t * (std::f64::consts::TAU * ch.frequency_hz * t + ch.phase_rad).sin();
        }
        b
    }

    /// w = −dB_D/dt = G·ṙ_s [T/s], the rate at which the FFP sweeps field over the particles.
    pub fn sweep_rate_t_per_s(&self, t: f64) -> [f64; 3] {
        let mut w = [0.0; 3];
        for (d, ch) in self.drive.iter().enumerate() {
            let om = std::f64::consts::TAU * ch.frequency_hz;
            w[d] = -ch.amplitude_t * om * (om * t + ch.phase_rad).cos();
        }
        w
    }

    /// FFP position of period j at time t [m]; axes without gradient stay at 0.
    pub fn ffp_m(&self, j: usize, t: f64) -> [f64; 3] {
        let b = self.drive_field_t(t);
        let o = self.offset_t[j];
        std::array::from_fn(|d| {
            let g = self.gradient_t_per_m[d];
            if g != 0.0 {
                -(b[d] + o[d]) / g
            } else {
                0.0
            }
        })
    }

    /// Axes the drive moves the FFP along.
    pub fn drive_axes(&self) -> Vec<usize> {
        (0..self.drive.len()).filter(|&d| self.drive[d].amplitude_t != 0.0 && self.gradient_t_per_m[d] != 0.0).collect()
    }

    /// Bounding box of the FFP trajectory over all periods [m] (per axis min, max).
    pub fn coverage_m(&self) -> [[f64; 2]; 3] {
        let mut bb = [[f64::INFINITY, f64::NEG_INFINITY]; 3];
        for j in 0..self.num_periods() {
            let r0 = self.ffp_m(j, 0.0);
            for d in 0..3 {
                let g = self.gradient_t_per_m[d];
                let a = self.drive.get(d).map(|c| c.amplitude_t).unwrap_or(0.0);
                let half = if g != 0.0 { (a / g).abs() } else { 0.0 };
                // Centre of the sweep along d: r0 minus the drive contribution at t = 0.
                let centre = if g != 0.0 { -self.offset_t[j][d] / g } else { r0[d] };
                bb[d][0] = bb[d][0].min(centre - half);
                bb[d][1] = bb[d][1].max(centre + half);
            }
        }
        bb
    }
}
