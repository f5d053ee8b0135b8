//! The complex-f32 system-matrix row reader (issue 12, "rows from disk at memory speed"): equal to the
//! independent in-memory path (`system_matrix` on a fully read file) and to the complex-f64 reader on the
//! h5py fixtures and on files of every layout written by magpie; runs split at the staging bound; bad rows,
//! non-finite values and memory limits refused with typed errors.

mod util;

use magpie_core::mdf::example::{skeleton, small_system_matrix};
use magpie_core::mdf::{
    read_mdf, system_matrix, write_mdf, GridTransform, MdfError, MdfFile, MdfReader, Measurement, MeasurementLayout,
    NumArray, RowId, RowReadOptions, RowReadPath, SparsityTransform, SystemMatrixRows, WriteOptions,
};
use ndarray::{Array2, Array4, ArrayD, IxDyn};
use num_complex::{Complex32, Complex64};
use std::path::{Path, PathBuf};
use util::fixture;

fn write(dir: &Path, name: &str, f: &MdfFile) -> PathBuf {
    let p = dir.join(name);
    write_mdf(&p, f, &WriteOptions::default()).unwrap_or_else(|e| panic!("{name}: write: {e}"));
    p
}

/// Largest |a − b| over both arrays, relative to the largest |b|.
fn rel_diff(a: &SystemMatrixRows<Complex32>, b: &SystemMatrixRows<Complex32>) -> f64 {
    assert_eq!(a.rows, b.rows);
    assert_eq!(a.foreground.dim(), b.foreground.dim());
    assert_eq!(a.background.dim(), b.background.dim());
    let pairs = a.foreground.iter().zip(&b.foreground).chain(a.background.iter().zip(&b.background));
    let (mut d, mut m) = (0f64, 0f64);
    for (x, y) in pairs {
        d = d.max((x - y).norm() as f64);
        m = m.max(y.norm() as f64);
    }
    if m == 0.0 {
        d
    } else {
        d / m
    }
}

/// The new reader on `rows` equals the complex-f64 reader rounded to f32 exactly, and the in-memory path
/// (independent code: whole file read, converted, then rows picked) within `tol`.
fn check_file(name: &str, path: &Path, rows: &[RowId], tol: f64) -> RowReadPath {
    let reader = MdfReader::open(path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let plan = reader.plan_row_read(rows, &RowReadOptions::default()).unwrap();
    let new = plan.read().unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(new.foreground.is_standard_layout() && new.background.is_standard_layout(), "{name}");
    let old = reader.system_matrix_rows(rows).unwrap().to_c32();
    assert_eq!(new, old, "{name}: complex-f32 reader vs complex-f64 reader rounded");
    let full = system_matrix(&read_mdf(path).unwrap()).unwrap().subset(rows).unwrap().to_c32();
    let d = rel_diff(&new, &full);
    assert!(d <= tol, "{name}: relative difference {d:e} to the in-memory path (tolerance {tol:e})");
    // Sequential and parallel agree exactly.
    let seq = reader.plan_row_read(rows, &RowReadOptions::default().with_parallel(false)).unwrap().read().unwrap();
    assert_eq!(seq, new, "{name}: sequential vs parallel");
    plan.path()
}

/// A selection exercising runs, gaps, a repeat and out-of-order rows.
fn mixed_rows(all: &[RowId]) -> Vec<RowId> {
    let n = all.len();
    let mut v: Vec<RowId> = all.iter().step_by(3).copied().collect();
    v.extend_from_slice(&all[n / 4..n / 2]);
    v.push(all[0]);
    v.push(all[n - 1]);
    v.push(all[n / 3]);
    v
}

#[test]
fn fixtures_written_by_h5py_read_alike_through_every_reader() {
    for (stem, tol) in [
        ("sm_ffa_bg", 0.0),
        ("sm_dct1", 1e-6),
        ("sm_dct2", 1e-6),
        ("sm_dct3", 1e-6),
        ("sm_dct4", 1e-6),
        ("meas_fd_c64_fixedstr", 0.0),
        ("meas_td_int16", 1e-6),
        ("v201_td_f64", 1e-6),
    ] {
        let path = fixture(&format!("{stem}.mdf"));
        let reader = MdfReader::open(&path).unwrap();
        let all = reader.all_rows();
        check_file(stem, &path, &all, tol);
        check_file(stem, &path, &mixed_rows(&all), tol);
    }
    // The processed fixture takes the direct path.
    let r = MdfReader::open(fixture("sm_ffa_bg.mdf")).unwrap();
    assert_eq!(r.plan_row_read(&r.all_rows(), &RowReadOptions::default()).unwrap().path(), RowReadPath::Direct);
}

/// A processed calibration file with 2 periods, 2 channels, a frequency selection and a conversion factor.
fn processed(complex64: bool) -> MdfFile {
    let mut f = small_system_matrix([3, 2, 2], 3, 2, 16);
    // Two periods: duplicate the data with a different factor.
    let m = f.measurement.as_mut().unwrap();
    let d = m.data.to_c64();
    let (c, k, n) = (d.shape()[1], d.shape()[2], d.shape()[3]);
    let data = ArrayD::from_shape_fn(IxDyn(&[2, c, k, n]), |i| d[[0, i[1], i[2], i[3]]] * (1.0 + i[0] as f64));
    m.data = if complex64 {
        NumArray::C64(data.mapv(|z| z * Complex64::new(1.0 + 1e-9, 0.0)))
    } else {
        NumArray::C32(data.mapv(|z| Complex32::new(z.re as f32, z.im as f32)))
    };
    f.acquisition.num_periods_per_frame = 2;
    let j = skeleton(2, c, 16, 1).acquisition;
    f.acquisition.gradient_t_per_m = j.gradient_t_per_m;
    f.acquisition.drivefield = j.drivefield;
    f.acquisition.receiver.data_conversion_factor =
        Some(Array2::from_shape_vec((2, 2), vec![2.5, 0.125, -0.5, 3.0]).unwrap());
    let cal = f.calibration.as_mut().unwrap();
    cal.snr = Some(ndarray::Array3::from_elem((2, c, k), 3.0));
    f
}

fn with_frequency_selection(mut f: MdfFile, sel: &[usize]) -> MdfFile {
    let m = f.measurement.as_mut().unwrap();
    let d = m.data.to_c64();
    let (j, c, n) = (d.shape()[0], d.shape()[1], d.shape()[3]);
    let data = ArrayD::from_shape_fn(IxDyn(&[j, c, sel.len(), n]), |i| {
        let z = d[[i[0], i[1], sel[i[2]], i[3]]];
        Complex32::new(z.re as f32, z.im as f32)
    });
    m.data = NumArray::C32(data);
    m.layout.is_frequency_selection = true;
    m.layout.frequency_selection = Some(sel.to_vec());
    let cal = f.calibration.as_mut().unwrap();
    cal.snr = Some(ndarray::Array3::from_elem((j, c, sel.len()), 3.0));
    f
}

/// Moves the background frames to the front: the direct path must gather instead of splitting.
fn background_first(mut f: MdfFile) -> MdfFile {
    let m = f.measurement.as_mut().unwrap();
    let d = m.data.to_c64();
    let n = d.shape()[3];
    let e = m.layout.is_background_frame.iter().filter(|b| **b).count();
    let o = n - e;
    let src = |t: usize| if t < e { o + t } else { t - e };
    let data = ArrayD::from_shape_fn(IxDyn(d.shape()), |i| {
        let z = d[[i[0], i[1], i[2], src(i[3])]];
        Complex32::new(z.re as f32, z.im as f32)
    });
    m.data = NumArray::C32(data);
    m.layout.is_background_frame = (0..n).map(|t| t < e).collect();
    f
}

/// [J, C, K, N] → [N, J, C, K] (frame axis first).
fn frame_axis_first(mut f: MdfFile) -> MdfFile {
    let m = f.measurement.as_mut().unwrap();
    let d = m.data.to_c64().permuted_axes(vec![3, 0, 1, 2]).as_standard_layout().to_owned();
    m.data = NumArray::C64(d);
    m.layout.is_fast_frame_axis = false;
    f
}

/// A time-domain calibration-like file [N, J, C, V] (or [J, C, V, N] with a fast frame axis), float64.
fn time_domain(fast_frame_axis: bool) -> MdfFile {
    let (n, c, v) = (7, 2, 16);
    let mut f = skeleton(1, c, v, 1);
    f.acquisition.num_frames = n as i64;
    f.acquisition.receiver.data_conversion_factor =
        Some(Array2::from_shape_vec((2, 2), vec![1e-3, 0.5, 2e-3, -0.25]).unwrap());
    let val = |nn: usize, cc: usize, t: usize| ((nn * 7 + cc * 3 + t * t) % 23) as f64 - 11.0;
    let data = if fast_frame_axis {
        ArrayD::from_shape_fn(IxDyn(&[1, c, v, n]), |i| val(i[3], i[1], i[2]))
    } else {
        ArrayD::from_shape_fn(IxDyn(&[n, 1, c, v]), |i| val(i[0], i[2], i[3]))
    };
    f.measurement = Some(Measurement {
        data: NumArray::F64(data),
        layout: MeasurementLayout {
            is_background_frame: (0..n).map(|i| i >= 5).collect(),
            is_fast_frame_axis: fast_frame_axis,
            ..Default::default()
        },
    });
    f
}

/// MDF 2.1 sparsity compression of a processed file: each row's foreground DCT-transformed, B kept.
fn compressed(sm: &MdfFile, kind: SparsityTransform, b: usize) -> MdfFile {
    let size = sm.calibration.as_ref().unwrap().size.unwrap();
    let t = GridTransform::new(kind, size);
    let rows = system_matrix(sm).unwrap();
    let (c, k) = (sm.acquisition.receiver.num_channels as usize, rows.rows.len() / 2);
    let e = rows.background.ncols();
    let mut data = Array4::<Complex64>::zeros((1, c, k, b + e));
    let mut idx = Array4::<usize>::zeros((1, c, k, b));
    for (ri, id) in rows.rows.iter().enumerate() {
        let mut coeff = rows.foreground.row(ri).to_owned();
        t.forward(coeff.view_mut());
        for bi in 0..b {
            // Every other coefficient: lossy, but deterministic.
            let oi = (2 * bi) % coeff.len();
            data[[0, id.channel, id.k, bi]] = coeff[oi];
            idx[[0, id.channel, id.k, bi]] = oi;
        }
        for ei in 0..e {
            data[[0, id.channel, id.k, b + ei]] = rows.background[[ri, ei]];
        }
    }
    let mut out = sm.clone();
    let m = out.measurement.as_mut().unwrap();
    m.data = NumArray::C64(data.into_dyn());
    m.layout.is_sparsity_transformed = true;
    m.layout.sparsity_transformation = Some(kind);
    m.layout.subsampling_indices = Some(idx);
    out
}

#[test]
fn files_of_every_layout_written_by_magpie_read_alike_through_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let one_period = small_system_matrix([4, 3, 2], 2, 2, 16);
    let cases: Vec<(&str, MdfFile, f64, RowReadPath)> = vec![
        ("processed_c32_conversion", processed(false), 0.0, RowReadPath::Direct),
        ("processed_c64_conversion", processed(true), 0.0, RowReadPath::Direct),
        ("processed_selection", with_frequency_selection(processed(false), &[0, 2, 3, 7]), 0.0, RowReadPath::Direct),
        ("processed_bg_first", background_first(processed(false)), 0.0, RowReadPath::Direct),
        ("fourier_frame_axis_first", frame_axis_first(processed(false)), 0.0, RowReadPath::PerRow),
        ("time_domain", time_domain(false), 1e-6, RowReadPath::PerRow),
        ("time_domain_fast_frame_axis", time_domain(true), 1e-6, RowReadPath::PerRow),
        ("sparsity_dct2", compressed(&one_period, SparsityTransform::DctII, 10), 1e-6, RowReadPath::PerRow),
    ];
    for (name, f, tol, path_expected) in cases {
        let p = write(dir.path(), &format!("{name}.mdf"), &f);
        let reader = MdfReader::open(&p).unwrap();
        let all = reader.all_rows();
        for rows in [all.clone(), mixed_rows(&all)] {
            let path = check_file(name, &p, &rows, tol);
            assert_eq!(path, path_expected, "{name}");
        }
        // The in-memory model before writing (no disk at all) agrees too.
        let mem = system_matrix(&f).unwrap().to_c32();
        let got = reader.system_matrix_rows_c32(&all).unwrap();
        let d = rel_diff(&got, &mem);
        assert!(d <= tol.max(1e-7), "{name}: {d:e} against the model before writing");
    }
}

/// Rewrites `/measurement/data` of a magpie file as a chunked dataset, chunks of `chunk` rows.
fn rechunk(path: &Path, chunk: usize) {
    let f = hdf5::File::open_rw(path).unwrap();
    let d: ndarray::Array4<Complex32> = f.dataset("/measurement/data").unwrap().read().unwrap();
    let g = f.group("/measurement").unwrap();
    g.unlink("data").unwrap();
    let n = d.shape()[3];
    g.new_dataset_builder().with_data(&d).chunk((1, 1, chunk, n)).create("data").unwrap();
}

#[test]
fn chunked_files_take_the_hyperslab_path_and_read_alike() {
    let dir = tempfile::tempdir().unwrap();
    let f = processed(false);
    let p = write(dir.path(), "chunked.mdf", &f);
    rechunk(&p, 3);
    let reader = MdfReader::open(&p).unwrap();
    let all = reader.all_rows();
    assert_eq!(check_file("chunked", &p, &all, 0.0), RowReadPath::Hyperslab);
    check_file("chunked", &p, &mixed_rows(&all), 0.0);
}

#[test]
fn forced_hyperslab_path_equals_the_direct_path() {
    let dir = tempfile::tempdir().unwrap();
    for (name, f) in
        [("c32", processed(false)), ("c64", processed(true)), ("bg_first", background_first(processed(false)))]
    {
        let p = write(dir.path(), &format!("{name}.mdf"), &f);
        let reader = MdfReader::open(&p).unwrap();
        let rows = mixed_rows(&reader.all_rows());
        let direct = reader.plan_row_read(&rows, &RowReadOptions::default()).unwrap();
        let hs = reader.plan_row_read(&rows, &RowReadOptions::default().with_hyperslab_only(true)).unwrap();
        assert_eq!(direct.path(), RowReadPath::Direct);
        assert_eq!(hs.path(), RowReadPath::Hyperslab);
        assert_eq!(direct.read().unwrap(), hs.read().unwrap(), "{name}");
    }
}

#[test]
fn runs_longer_than_the_staging_bound_are_read_in_pieces() {
    let dir = tempfile::tempdir().unwrap();
    let f = processed(false);
    let p = write(dir.path(), "sm.mdf", &f);
    let reader = MdfReader::open(&p).unwrap();
    let all = reader.all_rows(); // J=2, C=2, K=9: 36 rows of N = 15 complex64 values (120 B)
    let row_bytes = 15 * 8;
    let reference = reader.system_matrix_rows_c32(&all).unwrap();
    // 20 consecutive rows crossing two block boundaries: 7 of (j, c) = (0, 0), 9 of (0, 1), 4 of (1, 0).
    let run = &all[2..22];
    let want = reference.subset(run).unwrap();
    // Sequential: one staging piece of 3 rows.
    let opts = RowReadOptions::default().with_staging_bytes(3 * row_bytes).with_parallel(false);
    let plan = reader.plan_row_read(run, &opts).unwrap();
    // The direct path joins the channel boundary (the bytes are contiguous), so only the bound splits.
    assert_eq!(plan.num_reads(), 7);
    assert_eq!(plan.estimate().staging_bytes, 3 * row_bytes as u64);
    assert_eq!(plan.read().unwrap(), want);
    // A regular hyperslab cannot cross (j, c): split there too (3 + 3 + 2 pieces).
    let hs = reader.plan_row_read(run, &opts.clone().with_hyperslab_only(true)).unwrap();
    assert_eq!(hs.path(), RowReadPath::Hyperslab);
    assert_eq!(hs.num_reads(), 3 + 3 + 2);
    assert_eq!(hs.read().unwrap(), want);
    // Parallel: the bound is shared by the threads, so pieces are at most as long.
    let opts = opts.with_parallel(true);
    for hyperslab_only in [false, true] {
        let plan = reader.plan_row_read(run, &opts.clone().with_hyperslab_only(hyperslab_only)).unwrap();
        assert!(plan.num_reads() >= 7, "{}", plan.num_reads());
        assert_eq!(plan.read().unwrap(), want);
    }
    // One run, no split, with the default bound: one read.
    let plan = reader.plan_row_read(run, &RowReadOptions::default()).unwrap();
    assert_eq!(plan.num_reads(), 1);
    // Gaps start new runs.
    let gappy: Vec<RowId> = all.iter().step_by(2).copied().collect();
    let plan = reader.plan_row_read(&gappy, &RowReadOptions::default()).unwrap();
    assert_eq!(plan.num_reads(), gappy.len());
    assert_eq!(plan.read().unwrap(), reference.subset(&gappy).unwrap());
}

#[test]
fn rows_outside_the_stored_dimensions_are_refused_with_a_typed_error() {
    let reader = MdfReader::open(fixture("sm_ffa_bg.mdf")).unwrap();
    let (j, c, k) = reader.row_dims();
    for bad in [
        RowId { period: j, channel: 0, k: 0 },
        RowId { period: 0, channel: c, k: 0 },
        RowId { period: 0, channel: 0, k },
    ] {
        let rows = vec![reader.all_rows()[0], bad];
        let e = reader.plan_row_read(&rows, &RowReadOptions::default()).unwrap_err();
        match &e {
            MdfError::RowOutOfRange { dataset, row, dims } => {
                assert_eq!(dataset, "/measurement/data");
                assert_eq!(*row, [bad.period, bad.channel, bad.k]);
                assert_eq!(*dims, [j, c, k]);
            }
            other => panic!("expected RowOutOfRange, got {other:?}"),
        }
        let msg = e.to_string();
        assert!(msg.contains("/measurement/data") && msg.contains(&format!("K={k}")), "{msg}");
        assert!(matches!(reader.system_matrix_rows(&rows), Err(MdfError::RowOutOfRange { .. })));
        assert!(matches!(reader.system_matrix_rows_c32(&rows), Err(MdfError::RowOutOfRange { .. })));
    }
    // A file without measurement.
    let r = MdfReader::open(fixture("reco_f32.mdf")).unwrap();
    assert!(matches!(r.system_matrix_rows_c32(&[]), Err(MdfError::Missing { .. })));
}

/// Writes one NaN into `/measurement/data` of an existing file at (j, c, k, n) of [J, C, K, N].
fn poke_nan(path: &Path, at: [usize; 4]) {
    let f = hdf5::File::open_rw(path).unwrap();
    let ds = f.dataset("/measurement/data").unwrap();
    let v = ndarray::Array1::from(vec![Complex32::new(1.0, f32::NAN)]);
    ds.write_slice(&v, ndarray::s![at[0], at[1], at[2], at[3]..at[3] + 1]).unwrap();
}

#[test]
fn non_finite_values_are_refused_naming_dataset_and_flat_index() {
    let dir = tempfile::tempdir().unwrap();
    let f = processed(false);
    let p = write(dir.path(), "nan.mdf", &f);
    let at = [1, 0, 4, 13]; // a background column
    poke_nan(&p, at);
    let reader = MdfReader::open(&p).unwrap();
    let (_, c, k) = reader.row_dims();
    let n = 15;
    let flat = ((at[0] * c + at[1]) * k + at[2]) * n + at[3];
    let all = reader.all_rows();
    for opts in [RowReadOptions::default(), RowReadOptions::default().with_hyperslab_only(true)] {
        match reader.plan_row_read(&all, &opts).unwrap().read() {
            Err(MdfError::NonFinite { dataset, index }) => {
                assert_eq!(dataset, "/measurement/data");
                assert_eq!(index, flat, "{opts:?}");
            }
            other => panic!("expected NonFinite, got {other:?}"),
        }
    }
    // Rows without the bad value read fine.
    let clean: Vec<RowId> = all.iter().copied().filter(|r| !(r.period == 1 && r.channel == 0 && r.k == 4)).collect();
    reader.system_matrix_rows_c32(&clean).unwrap();
    // The row-by-row path (frame axis first) names the flat index in its own layout [N, J, C, K].
    let p2 = write(dir.path(), "nan_ffirst.mdf", &frame_axis_first(processed(false)));
    {
        let h = hdf5::File::open_rw(&p2).unwrap();
        let ds = h.dataset("/measurement/data").unwrap();
        let v = ndarray::Array1::from(vec![Complex64::new(f64::INFINITY, 0.0)]);
        ds.write_slice(&v, ndarray::s![3..4, 1, 1, 2]).unwrap();
    }
    let r2 = MdfReader::open(&p2).unwrap();
    match r2.system_matrix_rows_c32(&r2.all_rows()) {
        Err(MdfError::NonFinite { dataset, index }) => {
            assert_eq!(dataset, "/measurement/data");
            assert_eq!(index, ((3 * 2 + 1) * c + 1) * k + 2);
        }
        other => panic!("expected NonFinite, got {other:?}"),
    }
}

#[test]
fn memory_is_estimated_before_allocating_and_a_limit_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "sm.mdf", &processed(false));
    let reader = MdfReader::open(&p).unwrap();
    let all = reader.all_rows();
    let (o, e) = (12, 3);
    let plan = reader.plan_row_read(&all, &RowReadOptions::default()).unwrap();
    let est = *plan.estimate();
    assert_eq!(est.rows, all.len());
    assert_eq!(est.output_bytes, (all.len() * (o + e) * 8) as u64);
    assert_eq!(est.bytes_per_row, ((o + e) * 8) as u64);
    assert!(est.staging_bytes > 0 && est.staging_bytes <= (all.len() * (o + e) * 8) as u64);
    assert_eq!(est.total_bytes(), est.output_bytes + est.staging_bytes + est.transient_bytes);
    // The count-only estimate is an upper bound of the planned one.
    let by_count = reader.estimate_row_read(all.len(), &RowReadOptions::default()).unwrap();
    assert_eq!(by_count.output_bytes, est.output_bytes);
    assert!(by_count.total_bytes() >= est.total_bytes());
    // A limit one byte short is refused, with the row count that fits.
    let limit = est.total_bytes() - 1;
    match reader.plan_row_read(&all, &RowReadOptions::default().with_memory_limit_bytes(Some(limit))) {
        Err(MdfError::MemoryLimit { dataset, rows, needed_bytes, limit_bytes, max_rows }) => {
            assert_eq!(dataset, "/measurement/data");
            assert_eq!((rows, needed_bytes, limit_bytes), (all.len(), est.total_bytes(), limit));
            assert_eq!(max_rows, all.len() - 1);
            let fits = reader
                .plan_row_read(&all[..max_rows], &RowReadOptions::default().with_memory_limit_bytes(Some(limit)))
                .unwrap();
            assert!(fits.estimate().total_bytes() <= limit);
        }
        other => panic!("expected MemoryLimit, got {other:?}"),
    }
    reader.plan_row_read(&all, &RowReadOptions::default().with_memory_limit_bytes(Some(est.total_bytes()))).unwrap();
    // The row-by-row path estimates its temporary buffers too.
    let td = write(dir.path(), "td.mdf", &time_domain(false));
    let r = MdfReader::open(&td).unwrap();
    let e = r.estimate_row_read(5, &RowReadOptions::default()).unwrap();
    assert_eq!(e.path, RowReadPath::PerRow);
    assert!(e.transient_bytes >= 7 * 16 * 8, "{e:?}");
}

#[test]
fn read_into_reuses_buffers_of_the_right_size_and_replaces_others() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "sm.mdf", &processed(false));
    let reader = MdfReader::open(&p).unwrap();
    let all = reader.all_rows();
    let (a, b) = (&all[..10], &all[20..30]);
    let plan_a = reader.plan_row_read(a, &RowReadOptions::default()).unwrap();
    let plan_b = reader.plan_row_read(b, &RowReadOptions::default()).unwrap();
    let mut out = plan_a.read().unwrap();
    let ptr = out.foreground.as_ptr();
    // Same size: the buffer is reused, every element overwritten.
    plan_b.read_into(&mut out).unwrap();
    assert_eq!(out.foreground.as_ptr(), ptr);
    assert_eq!(out, reader.system_matrix_rows_c32(b).unwrap());
    // Another size: replaced.
    let plan_c = reader.plan_row_read(&all[..3], &RowReadOptions::default()).unwrap();
    plan_c.read_into(&mut out).unwrap();
    assert_eq!(out, reader.system_matrix_rows_c32(&all[..3]).unwrap());
}
