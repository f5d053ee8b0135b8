//! Whether a system matrix describes a measurement: both must have been acquired with the same sequence —
//! sampling, drive-field frequencies, waveforms, amplitudes, selection gradient, receive channels — and over
//! overlapping fields of view. The system function scales with the drive amplitude and the gradient (the
//! particle response depends on H(t) = A_drive sin(ωt) − G r), so a 2 T/m measurement read with a 1 T/m matrix
//! gives several times the iron, without any other sign that something is wrong.
//!
//! Sampling, frequencies and channel counts that differ make the rows incomparable and are always refused; everything else is
//! refused unless the expert asks otherwise ([`super::SessionOptions::allow_mismatch`]), which turns the refusal
//! into a logged warning. Every message names both values.

use magpie_core::mdf::Acquisition;

use crate::RecoError;

use super::MISMATCH_TOLERANCE;

/// The two files compared, as the messages name them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Names {
    /// The reference (the system matrix, or the measurement an empty-scanner file must match).
    pub a: &'static str,
    /// The file checked against it.
    pub b: &'static str,
}

/// A system matrix and the measurement it reconstructs.
pub(crate) const SYSTEM_MATRIX: Names = Names { a: "system matrix", b: "measurement" };
/// A measurement and the empty-scanner measurement whose mean is its background (`--empty`).
pub(crate) const EMPTY: Names = Names { a: "measurement", b: "empty-scanner measurement" };

fn input(n: Names, message: String) -> RecoError {
    RecoError::Input { what: format!("{} and {}", n.b, n.a), message }
}

/// |x − y| relative to the larger modulus (0 when both are 0).
fn rel(x: f64, y: f64) -> f64 {
    let scale = x.abs().max(y.abs());
    if scale == 0.0 {
        0.0
    } else {
        (x - y).abs() / scale
    }
}

/// Refuses (or, with `allow_mismatch`, warns about) a measurement acquired differently from the calibration.
///
/// # Errors
/// [`RecoError::Input`] naming what differs, with the system matrix's and the measurement's values.
pub(crate) fn check(sm: &Acquisition, meas: &Acquisition, allow_mismatch: bool) -> Result<(), RecoError> {
    check_pair(SYSTEM_MATRIX, sm, meas, allow_mismatch)
}

/// [`check`] for any two files that must share a sequence, named by `n` in the messages.
pub(crate) fn check_pair(
    n: Names,
    sm: &Acquisition,
    meas: &Acquisition,
    allow_mismatch: bool,
) -> Result<(), RecoError> {
    let (vs, vm) = (sm.receiver.num_sampling_points, meas.receiver.num_sampling_points);
    if vs != vm {
        return Err(input(
            n,
            format!(
                "the {} has V = {vs} samples per period, the {} {vm}: they do not share a frequency grid",
                n.a, n.b
            ),
        ));
    }
    let (a, b) = (&sm.drivefield, &meas.drivefield);
    if rel(a.base_frequency_hz, b.base_frequency_hz) > 1e-9 || a.divider != b.divider {
        return Err(input(
            n,
            format!(
                "the drive-field frequencies differ: {} {} (base {} Hz, dividers {}), {} {} (base {} Hz, dividers {})",
                n.a,
                frequencies_khz(a.base_frequency_hz, &a.divider),
                a.base_frequency_hz,
                list(a.divider.iter()),
                n.b,
                frequencies_khz(b.base_frequency_hz, &b.divider),
                b.base_frequency_hz,
                list(b.divider.iter())
            ),
        ));
    }
    // A row is a (channel, frequency) pair: with another channel count, rows have no counterpart.
    let (cs, cm) = (sm.receiver.num_channels, meas.receiver.num_channels);
    if cs != cm {
        return Err(input(
            n,
            format!("receive channels: {} {cs}, {} {cm}: the spectra cannot be paired channel by channel", n.a, n.b),
        ));
    }
    let mut found = Vec::new();
    if a.waveform != b.waveform {
        found.push(format!(
            "drive-field waveforms: {} {}, {} {}",
            n.a,
            list(a.waveform.iter()),
            n.b,
            list(b.waveform.iter())
        ));
    }
    found.extend(strengths(n, sm, meas));
    found.extend(gradients(n, sm, meas));
    found.extend(fields_of_view(n, sm, meas));
    if found.is_empty() {
        return Ok(());
    }
    let what = found.join("; ");
    if allow_mismatch {
        tracing::warn!("the {} does not match the {} ({what}); reconstructing anyway (--allow-mismatch)", n.a, n.b);
        Ok(())
    } else {
        Err(input(
            n,
            format!(
                "the {} does not match the {}: {what} (tolerance {:.0} %; reconstruct anyway with --allow-mismatch)",
                n.a,
                n.b,
                MISMATCH_TOLERANCE * 100.0
            ),
        ))
    }
}

fn list<T: std::fmt::Display>(v: impl Iterator<Item = T>) -> String {
    let items: Vec<String> = v.map(|x| x.to_string()).collect();
    format!("[{}]", items.join(", "))
}

fn frequencies_khz(base_hz: f64, dividers: &ndarray::Array2<i64>) -> String {
    list(dividers.iter().map(|d| if *d > 0 { format!("{:.3} kHz", base_hz / *d as f64 / 1e3) } else { "–".into() }))
}

/// Drive amplitudes of period 0, channel by channel (μ0·H [T], printed in mT).
fn strengths(n: Names, sm: &Acquisition, meas: &Acquisition) -> Option<String> {
    let (sa, sb) = (&sm.drivefield.strength_t, &meas.drivefield.strength_t);
    let (na, nb) = (sa.shape(), sb.shape());
    if na.len() != 3 || nb.len() != 3 || na[0] == 0 || nb[0] == 0 {
        return None;
    }
    if na[1..] != nb[1..] {
        return Some(format!(
            "drive-field channels × frequencies: {} {} × {}, {} {} × {}",
            n.a, na[1], na[2], n.b, nb[1], nb[2]
        ));
    }
    let scale = sa.iter().chain(sb.iter()).fold(0.0f64, |m, v| m.max(v.abs()));
    for d in 0..na[1] {
        for f in 0..na[2] {
            let (x, y) = (sa[[0, d, f]], sb[[0, d, f]]);
            // Relative to the channel's own amplitude; a channel that is off in both (≪ the largest) is equal.
            if (x - y).abs() > MISMATCH_TOLERANCE * x.abs().max(y.abs()).max(1e-6 * scale) {
                return Some(format!(
                    "drive-field amplitude of channel {}: {} {:.3} mT, {} {:.3} mT",
                    d + 1,
                    n.a,
                    x * 1e3,
                    n.b,
                    y * 1e3
                ));
            }
        }
    }
    None
}

/// A gradient [J, Y, 3, 3] with at least one period and position: anything else (a crafted file the reader let
/// through) is not compared rather than indexed out of bounds.
fn usable_gradient(g: &ndarray::Array4<f64>) -> bool {
    let s = g.shape();
    s[0] > 0 && s[1] > 0 && s[2] >= 3 && s[3] >= 3
}

/// The selection-field Jacobian of period 0 (μ0·G [T/m]), element by element relative to its largest entry.
fn gradients(n: Names, sm: &Acquisition, meas: &Acquisition) -> Option<String> {
    let (g1, g2) = match (&sm.gradient_t_per_m, &meas.gradient_t_per_m) {
        (Some(g1), Some(g2)) if usable_gradient(g1) && usable_gradient(g2) => (g1, g2),
        _ => return None,
    };
    let diag = |g: &ndarray::Array4<f64>| [g[[0, 0, 0, 0]], g[[0, 0, 1, 1]], g[[0, 0, 2, 2]]];
    let scale = (0..3)
        .flat_map(|i| (0..3).map(move |j| (i, j)))
        .fold(0.0f64, |m, (i, j)| m.max(g1[[0, 0, i, j]].abs()).max(g2[[0, 0, i, j]].abs()));
    let differs = (0..3)
        .flat_map(|i| (0..3).map(move |j| (i, j)))
        .any(|(i, j)| (g1[[0, 0, i, j]] - g2[[0, 0, i, j]]).abs() > MISMATCH_TOLERANCE * scale);
    differs.then(|| {
        let f = |d: [f64; 3]| format!("({:.3}, {:.3}, {:.3}) T/m", d[0], d[1], d[2]);
        format!("selection gradient (diagonal): {} {}, {} {}", n.a, f(diag(g1)), n.b, f(diag(g2)))
    })
}

/// The box the field-free point covers in period 0, per axis (centre, half-width) [m]: the offset field moves
/// the FFP to −G⁻¹ offset (G taken diagonal, as MPI scanners build it), drive channel d sweeps axis d by
/// ±A_d/|G_dd|. `None` on an axis without gradient.
fn coverage(acq: &Acquisition) -> [Option<(f64, f64)>; 3] {
    let mut out = [None; 3];
    let Some(g) = acq.gradient_t_per_m.as_ref().filter(|g| usable_gradient(g)) else {
        return out;
    };
    let s = &acq.drivefield.strength_t;
    let offset = acq.offset_field_t.as_ref().filter(|o| o.shape()[0] > 0 && o.shape()[1] > 0 && o.shape()[2] >= 3);
    for (d, o) in out.iter_mut().enumerate() {
        let gd = g[[0, 0, d, d]];
        if gd == 0.0 || !gd.is_finite() {
            continue;
        }
        let off = offset.map_or(0.0, |o| o[[0, 0, d]]);
        let amp = if s.ndim() == 3 && s.shape()[0] > 0 && d < s.shape()[1] {
            s.slice(ndarray::s![0, d, ..]).iter().map(|v| v.abs()).sum::<f64>()
        } else {
            0.0
        };
        *o = Some((-off / gd, amp / gd.abs()));
    }
    out
}

/// The FOVs must overlap and, to the tolerance, coincide: the system function of a shifted FOV is the same
/// function at other positions.
fn fields_of_view(n: Names, sm: &Acquisition, meas: &Acquisition) -> Option<String> {
    let (a, b) = (coverage(sm), coverage(meas));
    let mut apart = false;
    let mut shifted = false;
    for d in 0..3 {
        let (Some((c1, h1)), Some((c2, h2))) = (a[d], b[d]) else { continue };
        let gap = (c1 - c2).abs();
        // A tenth of a millimetre of slack for rounding on axes without drive (h = 0).
        if gap > h1 + h2 + 1e-4 {
            apart = true;
        } else if gap > MISMATCH_TOLERANCE * 2.0 * h1.max(h2) + 1e-4 {
            shifted = true;
        }
    }
    if !apart && !shifted {
        return None;
    }
    let f = |c: [Option<(f64, f64)>; 3]| {
        let v: Vec<String> = c.iter().map(|x| x.map_or("–".into(), |(c, _)| format!("{:.2}", c * 1e3))).collect();
        format!("({}) mm", v.join(", "))
    };
    Some(format!(
        "fields of view {}: centre of the {}'s {}, of the {}'s {} (offset fields differ)",
        if apart { "do not overlap" } else { "are shifted" },
        n.a,
        f(a),
        n.b,
        f(b)
    ))
}
