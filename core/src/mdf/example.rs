//! Small, valid example files built in memory: the starting point for tests, documentation and the demo.

use ndarray::{Array2, Array3, Array4, ArrayD, IxDyn};
use num_complex::Complex64;
use std::f64::consts::PI;

use super::{
    Acquisition, Calibration, DriveField, Experiment, MdfFile, Measurement, MeasurementLayout, NumArray, Receiver,
    Scanner, Study, Tracer, MDF_VERSION,
};

/// A 1-D measurement of a synthetic tone series: drive 12 mT at 2.5 MHz/102, V = 102 samples per period,
/// `n_frames` frames of which the last is a background frame, `channels` receive channels, float64 volts.
///
/// The signal of channel c in frame n is Σ_{h odd} (1/h)·sin(2π h v/V)·(n+1)·(c+1) µV, an odd-harmonic
/// spectrum like a saturating particle's; the background frame holds zeros.
pub fn small_measurement(n_frames: usize, channels: usize) -> MdfFile {
    let v = 102;
    let n = n_frames.max(1);
    let mut data = Array4::<f64>::zeros((n, 1, channels, v));
    for f in 0..n.saturating_sub(1) {
        for c in 0..channels {
            for t in 0..v {
                let s: f64 = (1..12).step_by(2).map(|h| (2.0 * PI * (h * t) as f64 / v as f64).sin() / h as f64).sum();
                data[[f, 0, c, t]] = s * 1e-6 * (f + 1) as f64 * (c + 1) as f64;
            }
        }
    }
    let mut bg = vec![false; n];
    if n > 1 {
        bg[n - 1] = true;
    }
    let mut file = skeleton(1, channels, v, 1);
    file.acquisition.num_frames = n as i64;
    file.measurement = Some(Measurement {
        data: NumArray::F64(data.into_dyn()),
        layout: MeasurementLayout { is_background_frame: bg, ..Default::default() },
    });
    file
}

/// A valid file without measurement: `j` periods, `c` receive channels, `v` samples per period, `d` drive
/// channels at 12 mT (2.5 MHz / 102, 96, 99), gradient diag(−1, −1, 2) T/m, a Perimag-like tracer.
pub fn skeleton(j: usize, c: usize, v: usize, d: usize) -> MdfFile {
    let dividers = [102i64, 96, 99];
    let divider = Array2::from_shape_fn((d, 1), |(i, _)| dividers[i % 3]);
    let lcm = divider.iter().fold(1i64, |a, &b| a / gcd(a, b) * b);
    let mut gradient = Array4::zeros((j, 1, 3, 3));
    for jj in 0..j {
        gradient[[jj, 0, 0, 0]] = -1.0;
        gradient[[jj, 0, 1, 1]] = -1.0;
        gradient[[jj, 0, 2, 2]] = 2.0;
    }
    let now = crate::utc_now();
    MdfFile {
        version: MDF_VERSION.into(),
        uuid: crate::new_uuid(),
        time: now.clone(),
        study: Study {
            description: "magpie example".into(),
            name: "example".into(),
            number: 1,
            time: Some(now.clone()),
            uuid: crate::new_uuid(),
        },
        experiment: Experiment {
            description: "synthetic example data".into(),
            is_simulation: true,
            name: "example".into(),
            number: 1,
            subject: "phantom".into(),
            uuid: crate::new_uuid(),
        },
        tracer: Some(Tracer {
            batch: vec!["n/a".into()],
            concentration_mol_per_l: vec![0.1],
            injection_time: None,
            name: vec!["perimag-like".into()],
            solute: vec!["Fe".into()],
            vendor: vec!["synthetic".into()],
            volume_l: vec![4e-6],
        }),
        scanner: Scanner {
            bore_size_m: Some(0.118),
            facility: "magpie".into(),
            manufacturer: "magpie".into(),
            name: "example FFP scanner".into(),
            operator: "magpie".into(),
            topology: "FFP".into(),
        },
        acquisition: Acquisition {
            gradient_t_per_m: Some(gradient),
            num_averages: 1,
            num_frames: 0,
            num_periods_per_frame: j as i64,
            offset_field_t: None,
            start_time: now,
            drivefield: DriveField {
                base_frequency_hz: 2.5e6,
                cycle_s: lcm as f64 / 2.5e6,
                divider,
                num_channels: d as i64,
                phase_rad: Array3::from_elem((j, d, 1), PI / 2.0),
                strength_t: Array3::from_elem((j, d, 1), 0.012),
                waveform: Array2::from_elem((d, 1), "sine".to_string()),
                custom_waveform: None,
            },
            receiver: Receiver {
                bandwidth_hz: 1.25e6,
                data_conversion_factor: None,
                induction_factor: None,
                num_channels: c as i64,
                num_sampling_points: v as i64,
                transfer_function: None,
                unit: "V".into(),
                transfer_function_file_name: None,
            },
        },
        measurement: None,
        calibration: None,
        reconstruction: None,
        provenance: Default::default(),
        translations: Vec::new(),
    }
}

/// A processed system-matrix file: `size` grid (x fastest), `e` background frames last, Fourier, fast frame
/// axis, complex64 data [J=1, C=c, K=V/2+1, O+E], per-row SNR. Row (c, k), voxel o holds a smooth pattern.
pub fn small_system_matrix(size: [usize; 3], e: usize, c: usize, v: usize) -> MdfFile {
    let o: usize = size.iter().product();
    let k = v / 2 + 1;
    let mut file = skeleton(1, c, v, 1);
    let data = ArrayD::from_shape_fn(IxDyn(&[1, c, k, o + e]), |ix| {
        let (ci, ki, n) = (ix[1], ix[2], ix[3]);
        if n >= o {
            return num_complex::Complex32::new(1e-3 * (n - o + 1) as f32, 0.0);
        }
        let x = (n % size[0]) as f64 / size[0].max(1) as f64;
        let y = ((n / size[0]) % size[1]) as f64 / size[1].max(1) as f64;
        let z = Complex64::from_polar(1.0 + x + 0.5 * y, (ki as f64) * x + ci as f64 * y);
        num_complex::Complex32::new(z.re as f32, z.im as f32)
    });
    file.acquisition.num_frames = (o + e) as i64;
    let mut bg = vec![false; o + e];
    for b in bg.iter_mut().skip(o) {
        *b = true;
    }
    file.measurement = Some(Measurement {
        data: NumArray::C32(data),
        layout: MeasurementLayout {
            is_background_frame: bg,
            is_fast_frame_axis: true,
            is_fourier_transformed: true,
            ..Default::default()
        },
    });
    file.calibration = Some(Calibration {
        delta_sample_size_m: Some([2e-3, 2e-3, 1e-3]),
        field_of_view_m: Some([size[0] as f64 * 2e-3, size[1] as f64 * 2e-3, size[2] as f64 * 1e-3]),
        field_of_view_center_m: Some([0.0; 3]),
        method: "simulation".into(),
        order: Some("xyz".into()),
        size: Some(size),
        snr: Some(Array3::from_shape_fn((1, c, k), |(_, ci, ki)| 100.0 / (1.0 + ki as f64) + ci as f64)),
        ..Default::default()
    });
    file
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}
