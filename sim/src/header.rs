//! MDF headers (everything but the data) for simulated files, from the scanner description.

use magpie_core::mdf::{Acquisition, DriveField, Experiment, MdfFile, Receiver, Scanner, Study, Tracer, MDF_VERSION};
use magpie_core::scanner::ScannerConfig;
use magpie_core::tracer::TracerModel;
use ndarray::{Array1, Array2, Array3, Array4};

use crate::forward::receive_chain_spectrum;

/// A valid MDF file without measurement for data simulated on `scanner` with `tracer`:
/// `/experiment/isSimulation = 1`, scanner and sequence parameters, and the tracer entry (filled in by the caller
/// with the sample's concentration and volume). `frames` is N (foreground + background).
pub fn simulated_file(scanner: &ScannerConfig, tracer: &TracerModel, frames: usize, description: &str) -> MdfFile {
    let j = scanner.periods_per_frame();
    let d = scanner.drive.len();
    let c = scanner.receive.len();
    let now = magpie_core::utc_now();
    let mut gradient = Array4::zeros((j, 1, 3, 3));
    let mut offset = Array3::zeros((j, 1, 3));
    for jj in 0..j {
        for a in 0..3 {
            for b in 0..3 {
                gradient[[jj, 0, a, b]] = scanner.gradient_t_per_m[a][b];
            }
            offset[[jj, 0, a]] = scanner.offset_field_t(jj)[a];
        }
    }
    let mut file = MdfFile {
        version: MDF_VERSION.into(),
        uuid: magpie_core::new_uuid(),
        time: now.clone(),
        study: Study {
            description: description.into(),
            name: "magpie simulation".into(),
            number: 1,
            time: Some(now.clone()),
            uuid: magpie_core::new_uuid(),
        },
        experiment: Experiment {
            description: description.into(),
            is_simulation: true,
            name: "simulation".into(),
            number: 1,
            subject: "phantom".into(),
            uuid: magpie_core::new_uuid(),
        },
        tracer: Some(Tracer {
            batch: vec!["simulated".into()],
            concentration_mol_per_l: vec![0.0],
            injection_time: None,
            name: vec![tracer.name.clone()],
            solute: vec!["Fe".into()],
            vendor: vec!["magpie tracer model".into()],
            volume_l: vec![0.0],
        }),
        scanner: Scanner {
            bore_size_m: scanner.bore_size_m,
            facility: "magpie simulator".into(),
            manufacturer: scanner.manufacturer.clone(),
            name: scanner.name.clone(),
            operator: "magpie".into(),
            topology: scanner.topology.clone(),
        },
        acquisition: Acquisition {
            gradient_t_per_m: Some(gradient),
            num_averages: scanner.averages as i64,
            num_frames: frames as i64,
            num_periods_per_frame: j as i64,
            offset_field_t: if scanner.offset_fields_t.is_empty() { None } else { Some(offset) },
            start_time: now,
            drivefield: DriveField {
                base_frequency_hz: scanner.base_frequency_hz,
                cycle_s: scanner.cycle_s(),
                divider: Array2::from_shape_fn((d, 1), |(i, _)| scanner.drive[i].divider as i64),
                num_channels: d as i64,
                phase_rad: Array3::from_shape_fn((j, d, 1), |(_, i, _)| wrap_phase(scanner.drive[i].phase_rad)),
                strength_t: Array3::from_shape_fn((j, d, 1), |(_, i, _)| scanner.drive[i].amplitude_t),
                waveform: Array2::from_elem((d, 1), "sine".to_string()),
                custom_waveform: None,
            },
            receiver: Receiver {
                bandwidth_hz: scanner.sampling_rate_hz() / 2.0,
                data_conversion_factor: None,
                // MDF's inductionFactor β obeys û_k = 2πi·k·β·m̂_k; with u = −(B/I)·dm/dt, β = −(B/I)/T_cycle
                // (projected on the coil's own axis).
                induction_factor: Some(Array1::from_iter(scanner.receive.iter().map(|r| {
                    let s = r.sensitivity_t_per_a;
                    -(s[0] * s[0] + s[1] * s[1] + s[2] * s[2]).sqrt() / scanner.cycle_s()
                }))),
                num_channels: c as i64,
                num_sampling_points: scanner.samples_per_period() as i64,
                // A measured receive chain is always recorded (with its file name), so that the file says what
                // its data went through; `isTransferFunctionCorrected` stays false.
                transfer_function: if scanner.store_transfer_function || scanner.measured_receive_chain.is_some() {
                    Some(receive_chain_spectrum(scanner))
                } else {
                    None
                },
                unit: "V".into(),
                transfer_function_file_name: scanner
                    .measured_receive_chain
                    .as_ref()
                    .and(scanner.receive_transfer_function.clone()),
            },
        },
        measurement: None,
        calibration: None,
        reconstruction: None,
        provenance: Default::default(),
        translations: Vec::new(),
    };
    if let Ok(t) = toml::to_string(scanner) {
        file.provenance.insert("scanner".into(), t);
    }
    if let Ok(t) = toml::to_string(tracer) {
        file.provenance.insert("tracer".into(), t);
    }
    file
}

/// MDF phases are in [−π, π).
fn wrap_phase(p: f64) -> f64 {
    let tau = std::f64::consts::TAU;
    let mut x = (p + std::f64::consts::PI).rem_euclid(tau) - std::f64::consts::PI;
    if x >= std::f64::consts::PI {
        x -= tau;
    }
    x
}
