//! Write → read is the identity for every field, data layout and element type (issue 2 acceptance), and the
//! writer never replaces an input nor leaves a partial file.

mod util;

use magpie_core::mdf::example::{skeleton, small_measurement, small_system_matrix};
use magpie_core::mdf::{
    read_mdf, system_matrix, write_mdf, GridTransform, MdfError, MdfFile, Measurement, MeasurementLayout, NumArray,
    ParamValue, Reconstruction, SparsityTransform, WriteOptions,
};
use ndarray::{Array1, Array2, Array3, Array4, ArrayD, IxDyn};
use num_complex::{Complex32, Complex64};
use std::collections::BTreeMap;

fn roundtrip(f: &MdfFile) -> MdfFile {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.mdf");
    write_mdf(&p, f, &WriteOptions::default()).unwrap_or_else(|e| panic!("write: {e}"));
    read_mdf(&p).unwrap_or_else(|e| panic!("read back: {e}"))
}

fn with_data(mut f: MdfFile, data: NumArray) -> MdfFile {
    f.measurement.as_mut().unwrap().data = data;
    f
}

#[test]
fn time_domain_measurement_in_every_real_type() {
    let base = small_measurement(3, 2);
    let raw = base.measurement.as_ref().unwrap().data.to_f64_lossy();
    let ints = raw.mapv(|x| (x * 1e7).round());
    let variants = [
        NumArray::I8(ints.mapv(|x| x.clamp(-128.0, 127.0) as i8)),
        NumArray::I16(ints.mapv(|x| x as i16)),
        NumArray::I32(ints.mapv(|x| x as i32)),
        NumArray::I64(ints.mapv(|x| x as i64)),
        NumArray::F32(raw.mapv(|x| x as f32)),
        NumArray::F64(raw.clone()),
    ];
    for data in variants {
        let mut f = with_data(base.clone(), data);
        f.acquisition.receiver.data_conversion_factor =
            Some(Array2::from_shape_vec((2, 2), vec![1e-7, 0.5, 2e-7, -0.25]).unwrap());
        f.acquisition.receiver.induction_factor = Some(Array1::from(vec![1.5, 2.5]));
        f.acquisition.offset_field_t = Some(Array3::from_elem((1, 1, 3), 1e-3));
        let back = roundtrip(&f);
        assert_eq!(back, f, "{}", f.measurement.as_ref().unwrap().data.dtype_name());
    }
}

fn fourier_file(complex32: bool) -> MdfFile {
    let mut f = skeleton(2, 3, 20, 2);
    let (n, j, c, k) = (5, 2, 3, 4);
    let z = |i: &[usize]| Complex64::new(i[0] as f64 + 0.25 * i[3] as f64, i[1] as f64 - 0.5 * i[2] as f64);
    let data = if complex32 {
        NumArray::C32(ArrayD::from_shape_fn(IxDyn(&[n, j, c, k]), |i| {
            let v = z(&[i[0], i[1], i[2], i[3]]);
            Complex32::new(v.re as f32, v.im as f32)
        }))
    } else {
        NumArray::C64(ArrayD::from_shape_fn(IxDyn(&[n, j, c, k]), |i| z(&[i[0], i[1], i[2], i[3]])))
    };
    f.acquisition.num_frames = n as i64;
    f.acquisition.receiver.transfer_function =
        Some(Array2::from_shape_fn((3, 11), |(a, b)| Complex64::new(1.0 + a as f64, -(b as f64) * 0.1)));
    f.measurement = Some(Measurement {
        data,
        layout: MeasurementLayout {
            is_background_corrected: true,
            is_background_frame: vec![false, true, false, false, true],
            is_fourier_transformed: true,
            is_frame_permutation: true,
            frame_permutation: Some(vec![2, 0, 4, 1, 3]),
            is_frequency_selection: true,
            frequency_selection: Some(vec![0, 2, 5, 10]),
            is_spectral_leakage_corrected: true,
            is_transfer_function_corrected: true,
            ..Default::default()
        },
    });
    f
}

#[test]
fn fourier_measurement_complex32_and_complex64_with_selection_and_permutation() {
    for c32 in [true, false] {
        let f = fourier_file(c32);
        assert_eq!(roundtrip(&f), f);
    }
}

#[test]
fn fast_frame_axis_time_and_fourier_layouts() {
    // Time domain with the frame axis last: [J, C, V, N].
    let mut f = skeleton(1, 2, 16, 1);
    f.acquisition.num_frames = 3;
    f.measurement = Some(Measurement {
        data: NumArray::F32(ArrayD::from_shape_fn(IxDyn(&[1, 2, 16, 3]), |i| (i[1] * 100 + i[2] * 3 + i[3]) as f32)),
        layout: MeasurementLayout {
            is_background_frame: vec![false, false, true],
            is_fast_frame_axis: true,
            ..Default::default()
        },
    });
    assert_eq!(roundtrip(&f), f);
    // Processed system matrix: [J, C, K, O+E] complex64 with background frames last, calibration metadata.
    let mut sm = small_system_matrix([3, 2, 2], 3, 2, 16);
    let cal = sm.calibration.as_mut().unwrap();
    cal.positions_m = Some(Array2::from_shape_fn((12, 3), |(o, d)| (o * 3 + d) as f64 * 1e-3));
    cal.offset_fields_t = Some(Array2::from_shape_fn((12, 3), |(o, d)| (o + d) as f64 * 1e-4));
    cal.is_meandering_grid = Some(false);
    assert_eq!(roundtrip(&sm), sm);
}

/// Compress a system matrix as MDF 2.1 does (transform each row over the grid, keep the B largest coefficients).
fn compress(sm: &MdfFile, kind: SparsityTransform, b: usize) -> MdfFile {
    let size = sm.calibration.as_ref().unwrap().size.unwrap();
    let t = GridTransform::new(kind, size);
    let rows = system_matrix(sm).unwrap();
    let (r, o) = rows.foreground.dim();
    let e = rows.background.ncols();
    let (c, k) = (sm.acquisition.receiver.num_channels as usize, r / sm.acquisition.receiver.num_channels as usize);
    let mut data = Array4::<Complex64>::zeros((1, c, k, b + e));
    let mut idx = Array4::<usize>::zeros((1, c, k, b));
    for (ri, id) in rows.rows.iter().enumerate() {
        let mut coeff = rows.foreground.row(ri).to_owned();
        t.forward(coeff.view_mut());
        let mut order: Vec<usize> = (0..o).collect();
        order.sort_by(|a, b| coeff[*b].norm().partial_cmp(&coeff[*a].norm()).unwrap());
        for (bi, &oi) in order.iter().take(b).enumerate() {
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
fn sparsity_compressed_files_roundtrip_and_are_lossless_when_all_coefficients_are_kept() {
    let sm = small_system_matrix([4, 3, 2], 2, 1, 8);
    let full = system_matrix(&sm).unwrap();
    for kind in [SparsityTransform::DctI, SparsityTransform::DctII, SparsityTransform::DctIII, SparsityTransform::DctIV]
    {
        let c = compress(&sm, kind, 24);
        let back = roundtrip(&c);
        assert_eq!(back, c, "{kind:?}");
        let dec = system_matrix(&back).unwrap();
        let err = (&dec.foreground - &full.foreground).iter().map(|z| z.norm()).fold(0.0, f64::max);
        assert!(err < 1e-6, "{kind:?}: lossless decode error {err}"); // complex32 source data
        let c = compress(&sm, kind, 6);
        assert_eq!(roundtrip(&c), c);
    }
}

#[test]
fn reconstruction_files_in_float_and_complex() {
    for data in [
        NumArray::F32(ArrayD::from_shape_fn(IxDyn(&[2, 6, 1]), |i| (i[0] * 10 + i[1]) as f32 * 0.5)),
        NumArray::F64(ArrayD::from_shape_fn(IxDyn(&[1, 6, 2]), |i| (i[1] + i[2]) as f64 * 1e-9)),
        NumArray::C64(ArrayD::from_shape_fn(IxDyn(&[1, 6, 1]), |i| Complex64::new(i[1] as f64, 1.0))),
    ] {
        let mut f = skeleton(1, 1, 10, 1);
        let mut params = BTreeMap::new();
        params.insert("solver".into(), ParamValue::Text("kaczmarz".into()));
        params.insert("iterations".into(), ParamValue::Int(3));
        params.insert("lambda".into(), ParamValue::Float(1e-3));
        f.reconstruction = Some(Reconstruction {
            data,
            field_of_view_m: Some([3e-3, 2e-3, 1e-3]),
            field_of_view_center_m: Some([0.0, 1e-3, 0.0]),
            is_overscan_region: Some(vec![false, false, true, false, false, true]),
            order: Some("xyz".into()),
            positions_m: Some(Array2::from_shape_fn((6, 3), |(p, d)| (p + d) as f64 * 1e-3)),
            size: Some([3, 2, 1]),
            parameters: params,
        });
        assert_eq!(roundtrip(&f), f);
    }
}

#[test]
fn fixtures_survive_a_magpie_write() {
    for stem in ["meas_td_int16", "meas_fd_c64_fixedstr", "sm_ffa_bg", "sm_dct2", "v201_td_f64", "reco_f32"] {
        let f = read_mdf(util::fixture(&format!("{stem}.mdf"))).unwrap();
        // magpie writes the 2.1 layout whatever the file's version: a 2.0.1 file comes back as 2.1.0, with
        // nothing left to translate.
        let mut want = f.clone();
        want.version = magpie_core::mdf::MDF_VERSION.into();
        want.translations.clear();
        assert_eq!(roundtrip(&f), want, "{stem}");
    }
}

#[test]
fn writer_refuses_inputs_and_leaves_nothing_behind_on_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.mdf");
    let f = small_measurement(2, 1);
    write_mdf(&input, &f, &WriteOptions::default()).unwrap();
    let before = std::fs::read(&input).unwrap();
    let err = write_mdf(&input, &f, &WriteOptions { inputs: vec![input.clone()] }).unwrap_err();
    assert!(matches!(err, MdfError::WouldOverwriteInput { .. }), "{err}");
    assert_eq!(std::fs::read(&input).unwrap(), before, "input changed");
    // An invalid model writes nothing at all (validation precedes the temporary file).
    let mut bad = f.clone();
    bad.acquisition.num_frames = 9;
    let out = dir.path().join("out.mdf");
    assert!(write_mdf(&out, &bad, &WriteOptions::default()).is_err());
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "left behind: {names:?}");
}
