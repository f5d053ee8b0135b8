//! The facade's contracts: memory refusal with a `max_rows` that fits, cache reuse (memory and disk) giving the
//! same numbers, results independent of the thread count, `max_rows` keeping the rows of highest SNR, and the
//! consistency checks.

use super::*;
use crate::solvers::kaczmarz::KaczmarzParams;
use crate::sysmat::params::{Lambda, SolverParams};
use magpie_core::mdf::example::small_system_matrix;
use magpie_core::mdf::{Measurement, MeasurementLayout, NumArray};
use num_complex::Complex64;

/// A 4 × 4 calibration (2 channels, V = 32, seeded random rows: well conditioned) and a Fourier measurement
/// made from its background-corrected rows: two foreground frames x and 2x between two background frames, plus
/// a constant scanner background.
fn files() -> (MdfFile, MdfFile, Vec<f64>) {
    let mut sm = small_system_matrix([4, 4, 1], 3, 2, 32);
    if let Some(m) = sm.measurement.as_mut() {
        let NumArray::C32(a) = &mut m.data else { panic!("complex data") };
        let random: Vec<num_complex::Complex32> = magpie_core::operator::testing::random_vec(a.len(), 3);
        for (i, (z, r)) in a.iter_mut().zip(random).enumerate() {
            // Foreground: random rows; the 3 background frames (every 19th value): small offsets.
            *z = if i % 19 >= 16 { r * 1e-3 } else { r };
        }
    }
    let rows = magpie_core::mdf::system_matrix(&sm).unwrap();
    let o = rows.foreground.ncols();
    let x: Vec<f64> = (0..o).map(|i| if i == 5 || i == 10 { 1.0 } else { 0.05 * (i % 3) as f64 }).collect();
    let (c, k) = (2, 17);
    let frames = [true, false, false, true];
    let scale = [0.0, 1.0, 2.0, 0.0];
    let data = ndarray::Array4::from_shape_fn((4, 1, c, k), |(f, _, ch, kk)| {
        let r = ch * k + kk;
        let bg_mean: Complex64 = rows.background.row(r).iter().sum::<Complex64>() / rows.background.ncols() as f64;
        let signal: Complex64 = (0..o).map(|v| (rows.foreground[[r, v]] - bg_mean) * x[v]).sum();
        let s = signal * scale[f] + Complex64::new(0.3, -0.1);
        num_complex::Complex32::new(s.re as f32, s.im as f32)
    });
    let mut meas = sm.clone();
    meas.uuid = magpie_core::new_uuid();
    meas.calibration = None;
    meas.acquisition.num_frames = 4;
    meas.measurement = Some(Measurement {
        data: NumArray::C32(data.into_dyn()),
        layout: MeasurementLayout {
            is_background_frame: frames.to_vec(),
            is_fourier_transformed: true,
            ..Default::default()
        },
    });
    (sm, meas, x)
}

fn params() -> RecoParams {
    let mut p = RecoParams::default();
    p.frequency.min_frequency_hz = 1.0;
    p.frequency.snr_threshold = 0.0;
    p.preprocessing.average = 1;
    p.lambda = Lambda::Relative(1e-6);
    p.solver = SolverParams::Kaczmarz(KaczmarzParams { iterations: 200, ..Default::default() });
    p
}

fn session() -> Session {
    Session::new(SessionOptions::default().with_memory_limit_bytes(Some(1 << 34)))
}

#[test]
fn reconstructs_the_synthetic_measurement_frame_by_frame() {
    let (sm, meas, x) = files();
    let r = session().reconstruct(&meas, &sm, &Request::new(&params())).unwrap();
    assert_eq!(r.iron_ng.nrows(), 2);
    assert_eq!(r.frames, vec![vec![1], vec![2]]);
    let d = r.delta_iron_ng;
    for (q, factor) in [(0, 1.0), (1, 2.0)] {
        let err: f64 =
            x.iter().enumerate().map(|(i, v)| (r.iron_ng[[q, i]] / d - factor * v).powi(2)).sum::<f64>().sqrt();
        let norm: f64 = x.iter().map(|v| (factor * v).powi(2)).sum::<f64>().sqrt();
        assert!(err < 0.05 * norm, "frame {q}: relative error {}", err / norm);
    }
    assert!(r.timings.solve_s > 0.0 && r.cache == CacheUse::Built);
    assert!(r.memory.total_bytes < r.memory.bound_bytes);
}

#[test]
fn a_plan_too_large_is_refused_before_reading_and_the_max_rows_it_names_fits() {
    let (sm, meas, _) = files();
    let p = params();
    let fits = session().prepare(&sm, &p).unwrap();
    let needed = fits.memory.total_bytes;
    let small = Session::new(SessionOptions::default().with_memory_limit_bytes(Some(needed - 1)));
    let err = small.reconstruct(&meas, &sm, &Request::new(&p)).unwrap_err();
    let RecoError::Memory(m) = &err else { panic!("expected a memory error, got {err}") };
    let text = err.to_string();
    assert!(text.contains("--max-rows") && text.contains("GB"), "{text}");
    assert!(m.max_rows > 0 && m.max_rows < fits.rows_selected(), "{m:?}");
    let mut fewer = p.clone();
    fewer.frequency.max_rows = Some(m.max_rows);
    let r = small.reconstruct(&meas, &sm, &Request::new(&fewer)).unwrap();
    assert_eq!(r.rows_selected, m.max_rows);
    assert!(r.memory.total_bytes < needed);
}

#[test]
fn max_rows_keeps_the_rows_of_highest_snr() {
    let (sm, _, _) = files();
    let mut p = params();
    p.frequency.max_rows = Some(7);
    let prepared = session().prepare(&sm, &p).unwrap();
    let plan = prepared.reconstructor().plan();
    assert_eq!(plan.rows.len(), 7);
    let table = sm.calibration.as_ref().unwrap().snr.as_ref().unwrap();
    let kept_min = plan.rows.iter().map(|r| table[[r.period, r.channel, r.k]]).fold(f64::INFINITY, f64::min);
    let all = Plan::new(&params(), &sm).unwrap();
    let dropped_max = all
        .rows
        .iter()
        .filter(|r| !plan.rows.contains(r))
        .map(|r| table[[r.period, r.channel, r.k]])
        .fold(f64::NEG_INFINITY, f64::max);
    assert!(kept_min >= dropped_max, "kept SNR ≥ {kept_min}, dropped up to {dropped_max}");
    assert_eq!(plan.rows_passing, all.rows.len());
}

#[test]
fn built_states_are_reused_from_memory_and_disk_with_the_same_numbers() {
    let (sm, meas, _) = files();
    let p = params();
    let s = session();
    let first = s.reconstruct(&meas, &sm, &Request::new(&p)).unwrap();
    let again = s.reconstruct(&meas, &sm, &Request::new(&p)).unwrap();
    assert_eq!((first.cache, again.cache), (CacheUse::Built, CacheUse::Memory));
    assert_eq!(first.iron_ng, again.iron_ng);
    // Another solver on the same rows shares the state; another row selection does not.
    let mut cg = p.clone();
    cg.solver = SolverParams::Cgnr(Default::default());
    assert_eq!(s.reconstruct(&meas, &sm, &Request::new(&cg)).unwrap().cache, CacheUse::Memory);
    let mut other = p.clone();
    other.frequency.snr_threshold = 5.0;
    assert_eq!(s.reconstruct(&meas, &sm, &Request::new(&other)).unwrap().cache, CacheUse::Built);

    // The same UUID with other data (changed in place, or another writer's placeholder UUID) is not reused.
    let mut changed = sm.clone();
    if let Some(NumArray::C32(a)) = changed.measurement.as_mut().map(|m| &mut m.data) {
        a.iter_mut().for_each(|z| *z *= 2.0);
    }
    let rebuilt = s.reconstruct(&meas, &changed, &Request::new(&p)).unwrap();
    assert_eq!(rebuilt.cache, CacheUse::Built);
    assert_ne!(rebuilt.iron_ng, first.iron_ng);

    let dir = std::env::temp_dir().join(format!("magpie-facade-cache-{}", std::process::id()));
    let disk = |n| Session::new(SessionOptions::default().with_cache_dir(Some(dir.clone())).with_cache_entries(n));
    let built = disk(0).reconstruct(&meas, &sm, &Request::new(&p)).unwrap();
    let read = disk(0).reconstruct(&meas, &sm, &Request::new(&p)).unwrap();
    assert_eq!((built.cache, read.cache), (CacheUse::Built, CacheUse::Disk));
    assert_eq!(built.iron_ng, read.iron_ng);
    assert_eq!(built.iron_ng, first.iron_ng);
    // A corrupt file is not used: the state is rebuilt.
    let file = std::fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(disk(0).reconstruct(&meas, &sm, &Request::new(&p)).unwrap().cache, CacheUse::Built);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let (sm, meas, _) = files();
    for solver in [
        SolverParams::Kaczmarz(KaczmarzParams { iterations: 5, ..Default::default() }),
        SolverParams::Cgnr(Default::default()),
        SolverParams::Fista(Default::default()),
    ] {
        let mut results = Vec::new();
        for threads in [1, 2] {
            let mut p = params();
            p.solver = solver.clone();
            p.engine.threads = threads;
            results.push(session().reconstruct(&meas, &sm, &Request::new(&p)).unwrap().iron_ng);
        }
        assert_eq!(results[0], results[1], "{}", solver.name());
    }
}

#[test]
fn files_that_do_not_belong_together_are_refused() {
    let (sm, meas, _) = files();
    let p = params();
    let refused = |m: &MdfFile| session().reconstruct(m, &sm, &Request::new(&p)).unwrap_err().to_string();
    let lenient = Session::new(SessionOptions::default().with_allow_mismatch(true));
    assert!(session().reconstruct(&meas, &sm, &Request::new(&p)).is_ok(), "the matching pair reconstructs");

    // Always refused: no common frequency grid.
    let mut other_v = meas.clone();
    other_v.acquisition.receiver.num_sampling_points = 64;
    assert!(refused(&other_v).contains("V = 32"));
    let mut other_f = meas.clone();
    other_f.acquisition.drivefield.divider.mapv_inplace(|d| d + 1);
    let e = refused(&other_f);
    assert!(e.contains("drive-field frequencies differ") && e.contains("kHz"), "{e}");
    assert!(lenient.reconstruct(&other_f, &sm, &Request::new(&p)).is_err(), "no --allow-mismatch for frequencies");
    let mut channels = meas.clone();
    channels.acquisition.receiver.num_channels += 1;
    assert!(refused(&channels).contains("receive channels: system matrix 2, measurement 3"));
    assert!(lenient.reconstruct(&channels, &sm, &Request::new(&p)).is_err(), "no --allow-mismatch for channels");

    // Refused unless allowed, each naming both values.
    let mut stronger = meas.clone();
    stronger.acquisition.drivefield.strength_t.mapv_inplace(|a| a * 1.1);
    let e = refused(&stronger);
    assert!(e.contains("drive-field amplitude of channel 1") && e.contains("mT, measurement"), "{e}");
    let mut steeper = meas.clone();
    if let Some(g) = steeper.acquisition.gradient_t_per_m.as_mut() {
        g.mapv_inplace(|v| 2.0 * v);
    }
    let e = refused(&steeper);
    assert!(e.contains("selection gradient") && e.contains("T/m, measurement"), "{e}");
    let mut waveform = meas.clone();
    waveform.acquisition.drivefield.waveform.mapv_inplace(|_| "triangle".to_string());
    assert!(refused(&waveform).contains("drive-field waveforms"));
    // A focus field that moves the FOV by its width (x: offset = −G_xx · 2 · half-width).
    let mut moved = meas.clone();
    let (g, a) = {
        let acq = &meas.acquisition;
        (acq.gradient_t_per_m.as_ref().unwrap()[[0, 0, 0, 0]], acq.drivefield.strength_t[[0, 0, 0]])
    };
    let j = moved.acquisition.num_periods_per_frame.max(1) as usize;
    let mut off = ndarray::Array3::<f64>::zeros((j, 1, 3));
    off[[0, 0, 0]] = -g * 3.0 * a / g.abs();
    moved.acquisition.offset_field_t = Some(off.clone());
    assert!(refused(&moved).contains("fields of view do not overlap"), "{}", refused(&moved));
    off[[0, 0, 0]] = -g * 0.2 * a / g.abs();
    moved.acquisition.offset_field_t = Some(off);
    assert!(refused(&moved).contains("fields of view are shifted"), "{}", refused(&moved));

    for m in [&stronger, &steeper, &waveform, &moved] {
        assert!(lenient.reconstruct(m, &sm, &Request::new(&p)).is_ok(), "--allow-mismatch reconstructs anyway");
    }

    // An empty-scanner measurement (--empty) must have been taken with the measurement's sequence.
    let with_empty = |e: &MdfFile| {
        session().reconstruct(&meas, &sm, &Request::new(&p).with_empty_measurement(e)).unwrap_err().to_string()
    };
    assert!(session().reconstruct(&meas, &sm, &Request::new(&p).with_empty_measurement(&meas)).is_ok());
    let e = with_empty(&steeper);
    assert!(e.contains("selection gradient") && e.contains("empty-scanner measurement ("), "{e}");
    let e = with_empty(&other_v);
    assert!(e.contains("the empty-scanner measurement 64"), "{e}");
    let mut periods = meas.clone();
    periods.acquisition.num_periods_per_frame += 1;
    assert!(with_empty(&periods).contains("periods per frame"));
}
