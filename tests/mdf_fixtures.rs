//! Reading MDF files written independently of magpie (by `tests/fixtures/make_fixtures.py`, h5py) and checking
//! every dataset and the derived views against the script's own expectations (issue 2 acceptance).

mod util;

use magpie_core::mdf::{measurement_spectra, read_mdf, system_matrix, time_data, MdfReader, RowId};
use util::{assert_close, expected, fixture, flatten, json_flat, json_values, Flat};

const GOOD: [&str; 9] = [
    "meas_td_int16",
    "meas_fd_c64_fixedstr",
    "sm_ffa_bg",
    "sm_dct1",
    "sm_dct2",
    "sm_dct3",
    "sm_dct4",
    "v201_td_f64",
    "reco_f32",
];

#[test]
fn every_dataset_of_every_fixture_reads_back_with_its_value() {
    for stem in GOOD {
        let exp = expected(stem);
        let file = read_mdf(fixture(&format!("{stem}.mdf"))).unwrap_or_else(|e| panic!("{stem}: {e}"));
        let got = flatten(&file);
        let mut checked = 0;
        for (path, ds) in exp["datasets"].as_object().unwrap() {
            let want = json_flat(ds);
            let have = got.get(path.as_str()).unwrap_or_else(|| panic!("{stem}: magpie did not read {path}"));
            match (have, &want) {
                (Flat::Num(h), Flat::Num(w)) => assert_close(&format!("{stem}:{path}"), h, w, 0.0),
                (Flat::Str(h), Flat::Str(w)) => assert_eq!(h, w, "{stem}:{path}"),
                _ => panic!("{stem}:{path}: number/string mismatch: {have:?} vs {want:?}"),
            }
            checked += 1;
        }
        assert!(checked >= 30, "{stem}: only {checked} datasets checked");
        // Element types of the big arrays are kept.
        if let Some(m) = &file.measurement {
            assert_eq!(m.data.dtype_name(), exp["datasets"]["/measurement/data"]["dtype"].as_str().unwrap(), "{stem}");
        }
        if let Some(r) = &file.reconstruction {
            assert_eq!(r.data.dtype_name(), exp["datasets"]["/reconstruction/data"]["dtype"].as_str().unwrap());
        }
    }
}

#[test]
fn data_conversion_factor_is_applied_to_time_data() {
    let exp = expected("meas_td_int16");
    let file = read_mdf(fixture("meas_td_int16.mdf")).unwrap();
    let td = time_data(&file).unwrap();
    assert_close(
        "data_converted",
        &td.iter().copied().collect::<Vec<_>>(),
        &json_values(&exp["derived"]["data_converted"]),
        0.0,
    );
    // The spectra of the converted data: bin k of frame 0, channel 1 against a naive DFT of the JSON values.
    let spec = measurement_spectra(&file).unwrap();
    assert_eq!(spec.data.dim(), (4, 2, 3, 9));
    let conv = json_values(&exp["derived"]["data_converted"]);
    for k in 0..9 {
        let (mut re, mut im) = (0.0, 0.0);
        for v in 0..16 {
            // Flat C-order index of [frame 0, period 0, channel 1, sample v] in [4, 2, 3, 16].
            let (n, j, c) = (0usize, 0usize, 1usize);
            let x = conv[((n * 2 + j) * 3 + c) * 16 + v];
            let ph = -2.0 * std::f64::consts::PI * (k * v) as f64 / 16.0;
            re += x * ph.cos();
            im += x * ph.sin();
        }
        let z = spec.data[[0, 0, 1, k]];
        assert!((z.re - re).abs() < 1e-9 && (z.im - im).abs() < 1e-9, "bin {k}");
    }
}

#[test]
fn one_based_frequency_selection_and_frame_permutation_become_zero_based() {
    let exp = expected("meas_fd_c64_fixedstr");
    let file = read_mdf(fixture("meas_fd_c64_fixedstr.mdf")).unwrap();
    let l = &file.measurement.as_ref().unwrap().layout;
    let fs: Vec<f64> = l.frequency_selection.as_ref().unwrap().iter().map(|v| *v as f64).collect();
    assert_eq!(fs, json_values(&serde_json::json!({"values": exp["derived"]["frequency_selection_zero_based"]})));
    let fp: Vec<f64> = l.frame_permutation.as_ref().unwrap().iter().map(|v| *v as f64).collect();
    assert_eq!(fp, json_values(&serde_json::json!({"values": exp["derived"]["frame_permutation_zero_based"]})));
    // Frames come back in acquisition order: stored frame n is original frame perm[n].
    let spec = measurement_spectra(&file).unwrap();
    let raw = file.measurement.as_ref().unwrap().data.to_c64();
    for (n, &orig) in l.frame_permutation.as_ref().unwrap().iter().enumerate() {
        assert_eq!(spec.data[[orig, 0, 1, 3]], raw[[n, 0, 1, 3]]);
    }
    assert_eq!(spec.frequencies, l.frequency_selection.clone().unwrap());
}

#[test]
fn fast_frame_axis_system_matrix_with_background_frames() {
    let exp = expected("sm_ffa_bg");
    let file = read_mdf(fixture("sm_ffa_bg.mdf")).unwrap();
    let sm = system_matrix(&file).unwrap();
    assert_eq!(sm.foreground.dim(), (18, 12));
    assert_eq!(sm.background.dim(), (18, 3));
    let fg: Vec<f64> = sm.foreground.iter().flat_map(|z| [z.re, z.im]).collect();
    assert_close("foreground", &fg, &json_values(&exp["derived"]["foreground"]), 0.0);
    let bg: Vec<f64> = sm.background.iter().flat_map(|z| [z.re, z.im]).collect();
    assert_close("background", &bg, &json_values(&exp["derived"]["background"]), 0.0);
}

#[test]
fn reading_ten_rows_from_disk_equals_the_same_rows_of_a_full_read() {
    let path = fixture("sm_ffa_bg.mdf");
    let full = system_matrix(&read_mdf(&path).unwrap()).unwrap();
    let reader = MdfReader::open(&path).unwrap();
    let all = reader.all_rows();
    let pick: Vec<usize> = vec![0, 1, 4, 5, 8, 9, 10, 13, 16, 17];
    let rows: Vec<RowId> = pick.iter().map(|i| all[*i]).collect();
    let sub = reader.system_matrix_rows(&rows).unwrap();
    for (r, &i) in pick.iter().enumerate() {
        assert_eq!(sub.foreground.row(r), full.foreground.row(i), "row {i}");
        assert_eq!(sub.background.row(r), full.background.row(i), "row {i}");
    }
    // And against the script's own example subset.
    let exp = expected("sm_ffa_bg");
    let ex = &exp["derived"]["example_row_subset"];
    let ids: Vec<RowId> = ex["rows"].as_array().unwrap().iter().map(|v| all[v.as_u64().unwrap() as usize]).collect();
    let got = reader.system_matrix_rows(&ids).unwrap();
    let flat: Vec<f64> = got.foreground.iter().flat_map(|z| [z.re, z.im]).collect();
    assert_close("example rows", &flat, &json_values(ex), 0.0);
}

#[test]
fn dct_compressed_system_matrices_decode_for_all_four_kinds() {
    for stem in ["sm_dct1", "sm_dct2", "sm_dct3", "sm_dct4"] {
        let exp = expected(stem);
        let path = fixture(&format!("{stem}.mdf"));
        let file = read_mdf(&path).unwrap();
        let sm = system_matrix(&file).unwrap();
        let fg: Vec<f64> = sm.foreground.iter().flat_map(|z| [z.re, z.im]).collect();
        assert_close(stem, &fg, &json_values(&exp["derived"]["decoded_foreground"]), 1e-12);
        let bg: Vec<f64> = sm.background.iter().flat_map(|z| [z.re, z.im]).collect();
        assert_close(stem, &bg, &json_values(&exp["derived"]["background"]), 0.0);
        // The disk row reader decodes the same way.
        let reader = MdfReader::open(&path).unwrap();
        let rows = reader.system_matrix_rows(&reader.all_rows()).unwrap();
        assert_eq!(rows.foreground, sm.foreground, "{stem}");
    }
}

#[test]
fn version_2_0_1_file_with_legacy_names() {
    let file = read_mdf(fixture("v201_td_f64.mdf")).unwrap();
    assert_eq!(file.version, "2.0.1");
    let m = file.measurement.as_ref().unwrap();
    assert!(!m.layout.is_sparsity_transformed);
    assert_eq!(file.acquisition.num_periods_per_frame, 1);
    assert!(file.acquisition.gradient_t_per_m.is_none());
    assert_eq!(file.acquisition.drivefield.waveform.iter().collect::<Vec<_>>(), vec!["sine"]);
}

#[test]
fn reconstruction_file_with_parameters() {
    let file = read_mdf(fixture("reco_f32.mdf")).unwrap();
    let r = file.reconstruction.as_ref().unwrap();
    assert_eq!(r.data.shape(), &[2, 24, 1]);
    assert_eq!(r.size, Some([4, 3, 2]));
    assert_eq!(r.parameters.get("solver").map(|v| v.to_string()), Some("kaczmarz".into()));
    assert!(file.measurement.is_none());
}
