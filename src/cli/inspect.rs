//! `magpie inspect FILE [--json]`: a readable summary of an MDF v2 file. Reads the metadata only (the data of a
//! multi-GB system matrix stay on disk).

use magpie_core::mdf::{MdfError, MdfFile, MdfReader};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The MDF file (.mdf / .h5).
    pub file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also read and validate all data (finds NaN/inf; reads the whole file); exit 3 when the file breaks a rule
    /// of MDF v2, 1 when it cannot be read at all.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Serialize)]
struct DriveChannel {
    channel: usize,
    amplitude_mt: Vec<f64>,
    frequency_khz: Vec<f64>,
    divider: Vec<i64>,
    phase_rad: Vec<f64>,
    waveform: Vec<String>,
}

#[derive(Debug, Serialize)]
struct CalibrationSummary {
    method: String,
    grid_size: Option<[usize; 3]>,
    field_of_view_mm: Option<[f64; 3]>,
    field_of_view_center_mm: Option<[f64; 3]>,
    delta_sample_size_mm: Option<[f64; 3]>,
    snr_min: Option<f64>,
    snr_max: Option<f64>,
    snr_rows_above_2: Option<usize>,
}

#[derive(Debug, Serialize)]
struct ReconstructionSummary {
    data_shape_qps: Vec<usize>,
    data_type: String,
    grid_size: Option<[usize; 3]>,
    field_of_view_mm: Option<[f64; 3]>,
    field_of_view_center_mm: Option<[f64; 3]>,
    parameters: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
struct MeasurementSummary {
    layout: String,
    data_shape: Vec<usize>,
    frames: usize,
    background_frames: usize,
    foreground_frames: usize,
    frequencies_stored: Option<usize>,
    flags: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Summary {
    file: String,
    version: String,
    /// What the reader translated from a 2.0-era layout into the 2.1 model (empty for a 2.1 layout).
    translations: Vec<String>,
    uuid: String,
    time: String,
    study: String,
    experiment: String,
    subject: String,
    is_simulation: bool,
    scanner: String,
    topology: String,
    tracers: Vec<String>,
    drive_field_channels: Vec<DriveChannel>,
    drive_field_cycle_us: f64,
    drive_field_fov_mm: [f64; 3],
    gradient_t_per_m: Option<[[f64; 3]; 3]>,
    receive_channels: i64,
    bandwidth_khz: f64,
    sampling_rate_mhz: f64,
    samples_per_period: i64,
    periods_per_frame: i64,
    averages: i64,
    frame_duration_ms: f64,
    transfer_function: bool,
    measurement: Option<MeasurementSummary>,
    calibration: Option<CalibrationSummary>,
    reconstruction: Option<ReconstructionSummary>,
}

fn mm(v: Option<[f64; 3]>) -> Option<[f64; 3]> {
    v.map(|a| a.map(|x| x * 1e3))
}

fn summarize(
    path: &str,
    f: &MdfFile,
    data_shape: Option<Vec<usize>>,
    data_type: Option<String>,
    reco: Option<(Vec<usize>, String)>,
) -> Summary {
    let acq = &f.acquisition;
    let df = &acq.drivefield;
    let (_, d, nf) = df.strength_t.dim();
    let drive_field_channels = (0..d)
        .map(|c| DriveChannel {
            channel: c,
            amplitude_mt: (0..nf).map(|i| df.strength_t[[0, c, i]] * 1e3).collect(),
            frequency_khz: (0..nf).map(|i| df.base_frequency_hz / df.divider[[c, i]] as f64 / 1e3).collect(),
            divider: (0..nf).map(|i| df.divider[[c, i]]).collect(),
            phase_rad: (0..nf).map(|i| df.phase_rad[[0, c, i]]).collect(),
            waveform: (0..nf).map(|i| df.waveform[[c, i]].clone()).collect(),
        })
        .collect();
    let gradient =
        acq.gradient_t_per_m.as_ref().map(|g| std::array::from_fn(|i| std::array::from_fn(|j| g[[0, 0, i, j]])));
    let tracers = f
        .tracer
        .as_ref()
        .map(|t| {
            (0..t.name.len())
                .map(|i| {
                    format!(
                        "{} ({}, {}), {} {} at {:.4} mol/L, {:.3} µL",
                        t.name[i],
                        t.vendor.get(i).map_or("", |s| s),
                        t.batch.get(i).map_or("", |s| s),
                        t.solute.get(i).map_or("", |s| s),
                        "",
                        t.concentration_mol_per_l.get(i).copied().unwrap_or(f64::NAN),
                        t.volume_l.get(i).copied().unwrap_or(f64::NAN) * 1e6
                    )
                    .replace("  ", " ")
                })
                .collect()
        })
        .unwrap_or_default();
    let measurement = f.measurement.as_ref().map(|m| {
        let l = &m.layout;
        let mut flags = Vec::new();
        for (on, name) in [
            (l.is_background_corrected, "background corrected"),
            (l.is_fourier_transformed, "Fourier transformed"),
            (l.is_transfer_function_corrected, "transfer-function corrected"),
            (l.is_frequency_selection, "frequency selection"),
            (l.is_fast_frame_axis, "fast frame axis"),
            (l.is_frame_permutation, "frame permutation"),
            (l.is_sparsity_transformed, "sparsity compressed"),
            (l.is_spectral_leakage_corrected, "spectral-leakage corrected"),
        ] {
            if on {
                flags.push(name.to_string());
            }
        }
        let dims = match (l.is_sparsity_transformed, l.is_fast_frame_axis, l.is_fourier_transformed) {
            (true, _, _) => {
                format!("[J, C, K, B+E], {} compressed", l.sparsity_transformation.map_or("?", |t| t.as_str()))
            }
            (false, true, true) => "[J, C, K, N] (system-matrix rows contiguous)".into(),
            (false, true, false) => "[J, C, V, N]".into(),
            (false, false, true) => "[N, J, C, K] (Fourier)".into(),
            (false, false, false) => "[N, J, C, V] (time domain)".into(),
        };
        MeasurementSummary {
            layout: format!("{dims}, {}", data_type.clone().unwrap_or_default()),
            data_shape: data_shape.clone().unwrap_or_default(),
            frames: l.num_frames(),
            background_frames: l.num_background_frames(),
            foreground_frames: l.num_foreground_frames(),
            frequencies_stored: l.frequency_selection.as_ref().map(|s| s.len()),
            flags,
        }
    });
    let calibration = f.calibration.as_ref().map(|c| {
        let (mut lo, mut hi, mut above) = (None::<f64>, None::<f64>, None);
        if let Some(s) = &c.snr {
            lo = s.iter().copied().reduce(f64::min);
            hi = s.iter().copied().reduce(f64::max);
            above = Some(s.iter().filter(|v| **v >= 2.0).count());
        }
        CalibrationSummary {
            method: c.method.clone(),
            grid_size: c.size,
            field_of_view_mm: mm(c.field_of_view_m),
            field_of_view_center_mm: mm(c.field_of_view_center_m),
            delta_sample_size_mm: mm(c.delta_sample_size_m),
            snr_min: lo,
            snr_max: hi,
            snr_rows_above_2: above,
        }
    });
    let reconstruction = f.reconstruction.as_ref().map(|r| {
        let (shape, ty) = reco.clone().unwrap_or_default();
        ReconstructionSummary {
            data_shape_qps: shape,
            data_type: ty,
            grid_size: r.size,
            field_of_view_mm: mm(r.field_of_view_m),
            field_of_view_center_mm: mm(r.field_of_view_center_m),
            parameters: r.parameters.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
        }
    });
    Summary {
        file: path.to_string(),
        version: f.version.clone(),
        translations: f.translations.clone(),
        uuid: f.uuid.clone(),
        time: f.time.clone(),
        study: format!("{} #{} — {}", f.study.name, f.study.number, f.study.description),
        experiment: format!("{} #{} — {}", f.experiment.name, f.experiment.number, f.experiment.description),
        subject: f.experiment.subject.clone(),
        is_simulation: f.experiment.is_simulation,
        scanner: format!(
            "{} {} ({}, operator {})",
            f.scanner.manufacturer, f.scanner.name, f.scanner.facility, f.scanner.operator
        ),
        topology: f.scanner.topology.clone(),
        tracers,
        drive_field_channels,
        drive_field_cycle_us: df.cycle_s * 1e6,
        drive_field_fov_mm: f.drive_field_fov_m().map(|x| x * 1e3),
        gradient_t_per_m: gradient,
        receive_channels: acq.receiver.num_channels,
        bandwidth_khz: acq.receiver.bandwidth_hz / 1e3,
        sampling_rate_mhz: acq.receiver.sampling_rate_hz() / 1e6,
        samples_per_period: acq.receiver.num_sampling_points,
        periods_per_frame: acq.num_periods_per_frame,
        averages: acq.num_averages,
        frame_duration_ms: df.cycle_s * acq.num_averages as f64 * acq.num_periods_per_frame as f64 * 1e3,
        transfer_function: acq.receiver.transfer_function.is_some(),
        measurement,
        calibration,
        reconstruction,
    }
}

fn fmt3(v: &[f64; 3], digits: usize) -> String {
    format!("{:.d$} × {:.d$} × {:.d$}", v[0], v[1], v[2], d = digits)
}

fn text(s: &Summary) -> String {
    let mut o = String::new();
    let mut line = |k: &str, v: String| {
        let _ = writeln!(o, "  {k:<22} {v}");
    };
    line("file", s.file.clone());
    if s.translations.is_empty() {
        line("MDF version", s.version.clone());
    } else {
        line("MDF version", format!("{} (read as v2.0 layout: {})", s.version, s.translations.join(", ")));
    }
    line("created (UTC)", s.time.clone());
    line("study", s.study.clone());
    line("experiment", s.experiment.clone());
    line("subject", format!("{}{}", s.subject, if s.is_simulation { "  [simulation]" } else { "" }));
    line("scanner", format!("{} [{}]", s.scanner, s.topology));
    for t in &s.tracers {
        line("tracer", t.clone());
    }
    for c in &s.drive_field_channels {
        let parts: Vec<String> = (0..c.amplitude_mt.len())
            .map(|i| {
                format!(
                    "{:.2} mT at {:.4} kHz (÷{}), {}",
                    c.amplitude_mt[i], c.frequency_khz[i], c.divider[i], c.waveform[i]
                )
            })
            .collect();
        line(&format!("drive channel {}", c.channel), parts.join("; "));
    }
    line("drive-field cycle", format!("{:.2} µs", s.drive_field_cycle_us));
    if let Some(g) = s.gradient_t_per_m {
        line("gradient (diag)", format!("{:.3}, {:.3}, {:.3} T/m", g[0][0], g[1][1], g[2][2]));
        line("drive-field FOV", format!("{} mm", fmt3(&s.drive_field_fov_mm, 2)));
    } else {
        line("gradient", "not stored".into());
    }
    line("receive channels", s.receive_channels.to_string());
    line("bandwidth", format!("{:.1} kHz (sampling {:.3} MS/s)", s.bandwidth_khz, s.sampling_rate_mhz));
    line("samples per period", s.samples_per_period.to_string());
    line("periods per frame", s.periods_per_frame.to_string());
    line("averages", s.averages.to_string());
    line("frame duration", format!("{:.4} ms", s.frame_duration_ms));
    line("transfer function", if s.transfer_function { "stored (not applied unless asked)" } else { "none" }.into());
    if let Some(m) = &s.measurement {
        line("measurement layout", m.layout.clone());
        line("data shape", format!("{:?}", m.data_shape));
        line(
            "frames",
            format!("{} ({} foreground, {} background)", m.frames, m.foreground_frames, m.background_frames),
        );
        if let Some(k) = m.frequencies_stored {
            line("frequencies stored", k.to_string());
        }
        line("flags", if m.flags.is_empty() { "none (raw data)".into() } else { m.flags.join(", ") });
    }
    if let Some(c) = &s.calibration {
        line("calibration", c.method.clone());
        if let Some(g) = c.grid_size {
            line("calibration grid", format!("{} × {} × {}", g[0], g[1], g[2]));
        }
        if let Some(v) = c.field_of_view_mm {
            line("calibration FOV", format!("{} mm", fmt3(&v, 2)));
        }
        if let Some(v) = c.field_of_view_center_mm {
            line("calibration centre", format!("{} mm", fmt3(&v, 2)));
        }
        if let Some(v) = c.delta_sample_size_mm {
            line("delta sample", format!("{} mm", fmt3(&v, 2)));
        }
        if let (Some(lo), Some(hi), Some(n)) = (c.snr_min, c.snr_max, c.snr_rows_above_2) {
            line("row SNR", format!("{lo:.3e} … {hi:.3e} ({n} rows ≥ 2)"));
        }
    }
    if let Some(r) = &s.reconstruction {
        line("reconstruction", format!("{:?} [Q, P, S] {}", r.data_shape_qps, r.data_type));
        if let Some(g) = r.grid_size {
            line("reconstruction grid", format!("{} × {} × {}", g[0], g[1], g[2]));
        }
        if let Some(v) = r.field_of_view_mm {
            line("reconstruction FOV", format!("{} mm", fmt3(&v, 2)));
        }
        if let Some(v) = r.field_of_view_center_mm {
            line("reconstruction centre", format!("{} mm", fmt3(&v, 2)));
        }
        for (k, v) in &r.parameters {
            line(&format!("  {k}"), v.clone());
        }
    }
    o
}

/// Whether an error is the file breaking a rule of the format (exit 3 under `--check`) rather than a file that
/// cannot be read at all (missing, not HDF5, I/O: exit 1).
fn is_violation(e: &MdfError) -> bool {
    !matches!(e, MdfError::Open { .. } | MdfError::Io { .. } | MdfError::Hdf5 { .. })
}

/// Under `--check`, a violation of the format is a failed check (exit 3).
fn checked(e: MdfError, check: bool, what: String) -> anyhow::Error {
    if check && is_violation(&e) {
        anyhow::Error::new(super::CheckFailed(format!("{what}: {e}")))
    } else {
        anyhow::Error::new(e).context(what)
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let reader =
        MdfReader::open(&args.file).map_err(|e| checked(e, args.check, format!("reading {}", args.file.display())))?;
    let data_type = reader.measurement_data_type().ok();
    if args.check {
        let path = args.file.clone();
        magpie_core::mdf::read_mdf(&path)
            .map_err(|e| checked(e, true, format!("checking the data of {}", path.display())))?;
        tracing::info!("all data read and valid");
    }
    let reco = reader.reconstruction_data_info().ok();
    let s = summarize(
        &args.file.display().to_string(),
        &reader.header,
        reader.measurement_data_shape.clone(),
        data_type,
        reco,
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", text(&s));
    }
    Ok(())
}
