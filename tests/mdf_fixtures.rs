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

// ---- 2.0-era files as MPIFiles.jl wrote them (issue 13) --------------------------------------------------

/// The 2.1 name of a dataset of a 2.0-era fixture (the JSON lists the file's own names).
fn v21_path(p: &str) -> String {
    match p {
        "/measurement/isTransposed" => "/measurement/isFastFrameAxis".into(),
        "/acquisition/drivefield/period" => "/acquisition/drivefield/cycle".into(),
        "/calibration/offsetField" => "/calibration/offsetFields".into(),
        _ => match p.strip_prefix("/reconstruction/parameters/") {
            Some(name) => format!("/reconstruction/_parameters/{name}"),
            None => p.into(),
        },
    }
}

const V20: [&str; 4] = ["v20_sm", "v20_meas_td_f32", "v20_sm_meander", "v20_reco"];

#[test]
fn every_dataset_of_the_2_0_fixtures_reads_into_the_2_1_model() {
    for stem in V20 {
        let exp = expected(stem);
        let file = read_mdf(fixture(&format!("{stem}.mdf"))).unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert!(!file.translations.is_empty(), "{stem}: no translation recorded");
        let got = flatten(&file);
        let mut checked = 0;
        for (path, ds) in exp["datasets"].as_object().unwrap() {
            let want = match path.as_str() {
                // Reshaped: compared with the 2.1 form the script derived.
                "/acquisition/gradient" if ds["shape"].as_array().unwrap().len() != 4 => {
                    let v = &exp["derived"]["gradient_v21"];
                    let g = file.acquisition.gradient_t_per_m.as_ref().unwrap();
                    let shape: Vec<usize> =
                        v["shape"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect();
                    assert_eq!(g.shape(), shape.as_slice(), "{stem}: gradient shape");
                    json_flat(v)
                }
                "/acquisition/offsetField" if ds["shape"].as_array().unwrap().len() != 3 => {
                    let v = &exp["derived"]["offset_field_v21"];
                    let o = file.acquisition.offset_field_t.as_ref().unwrap();
                    assert_eq!(o.shape()[..2], [o.shape()[0], 1], "{stem}: offsetField Y");
                    json_flat(v)
                }
                _ => json_flat(ds),
            };
            let key = v21_path(path);
            let have = got.get(key.as_str()).unwrap_or_else(|| panic!("{stem}: magpie did not read {path} as {key}"));
            match (have, &want) {
                (Flat::Num(h), Flat::Num(w)) => assert_close(&format!("{stem}:{path}"), h, w, 0.0),
                // A single waveform string applies to every drive channel.
                (Flat::Str(h), Flat::Str(w)) if path.ends_with("/waveform") && w.len() == 1 => {
                    assert!(h.iter().all(|s| s == &w[0]), "{stem}:{path}: {h:?} vs {w:?}")
                }
                (Flat::Str(h), Flat::Str(w)) => assert_eq!(h, w, "{stem}:{path}"),
                _ => panic!("{stem}:{path}: number/string mismatch: {have:?} vs {want:?}"),
            }
            checked += 1;
        }
        assert!(checked >= 25, "{stem}: only {checked} datasets checked");
    }
}

#[test]
fn v2_0_system_matrix_translations_and_values() {
    let exp = expected("v20_sm");
    let file = read_mdf(fixture("v20_sm.mdf")).unwrap();
    assert_eq!(file.version, "2.0.0");
    for t in [
        "isTransposed → isFastFrameAxis",
        "numPeriods → numPeriodsPerFrame",
        "gradient [J,3] → [J,1,3,3] diagonal",
        "offsetField [J,3] → [J,1,3]",
        "no isSparsityTransformed → 0",
        "scalar /tracer fields → [A=1]",
    ] {
        assert!(file.translations.iter().any(|x| x == t), "missing {t:?} in {:?}", file.translations);
    }
    // diag(-1, -1, 2) as the 3×3 tensor of the single period.
    let g = file.acquisition.gradient_t_per_m.as_ref().unwrap();
    assert_eq!(g.shape(), &[1, 1, 3, 3]);
    let tensor: Vec<f64> = g.iter().copied().collect();
    assert_eq!(tensor, vec![-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 2.0]);
    let m = file.measurement.as_ref().unwrap();
    assert!(m.layout.is_fast_frame_axis && m.layout.is_fourier_transformed && !m.layout.is_sparsity_transformed);
    let c = file.calibration.as_ref().unwrap();
    assert_eq!(c.delta_sample_size_m, None);
    assert_eq!(c.is_meandering_grid, Some(true));
    let t = file.tracer.as_ref().unwrap();
    assert_eq!(t.name, vec!["Perimag"]);
    assert_eq!(t.injection_time.as_deref(), Some(&["2018-05-03T10:11:12.000".to_string()][..]));
    // Frames already sorted (isFramePermutation = 1): the meander flag only records the acquisition, and the
    // columns come in stored order, in memory and from disk.
    let sm = system_matrix(&file).unwrap();
    let fg: Vec<f64> = sm.foreground.iter().flat_map(|z| [z.re, z.im]).collect();
    assert_close("foreground", &fg, &json_values(&exp["derived"]["foreground"]), 0.0);
    let reader = MdfReader::open(fixture("v20_sm.mdf")).unwrap();
    assert_eq!(reader.header.translations, file.translations);
    let rows = reader.system_matrix_rows(&reader.all_rows()).unwrap();
    assert_eq!(rows.foreground, sm.foreground);
    assert_eq!(rows.background, sm.background);
}

#[test]
fn v2_0_time_domain_float32_measurement_with_conversion_factor_and_enum_flags() {
    let exp = expected("v20_meas_td_f32");
    let file = read_mdf(fixture("v20_meas_td_f32.mdf")).unwrap();
    assert_eq!(file.version, "2.0");
    let m = file.measurement.as_ref().unwrap();
    assert_eq!(m.data.dtype_name(), "float32");
    // HDF5-enum booleans (h5py's numpy bool) read like Int8 ones.
    assert!(file.experiment.is_simulation);
    assert_eq!(m.layout.is_background_frame, vec![true, false, true]);
    assert!(!m.layout.is_fast_frame_axis && !m.layout.is_fourier_transformed);
    assert!(file.translations.iter().any(|x| x == "isTransposed → isFastFrameAxis"));
    let dcf = file.acquisition.receiver.data_conversion_factor.as_ref().unwrap();
    assert_eq!(dcf.shape(), &[2, 2]);
    let td = time_data(&file).unwrap();
    assert_close(
        "data_converted",
        &td.iter().copied().collect::<Vec<_>>(),
        &json_values(&exp["derived"]["data_converted"]),
        0.0,
    );
}

#[test]
fn v2_0_meandering_calibration_is_read_in_grid_order() {
    let exp = expected("v20_sm_meander");
    let path = fixture("v20_sm_meander.mdf");
    let file = read_mdf(&path).unwrap();
    for t in
        ["drivefield/period → cycle", "calibration/offsetField → offsetFields", "gradient [J,3] → [J,1,3,3] diagonal"]
    {
        assert!(file.translations.iter().any(|x| x == t), "missing {t:?} in {:?}", file.translations);
    }
    // Per-period diagonals: diag(-1, -1, 2) and diag(-0.5, -0.5, 1).
    let g = file.acquisition.gradient_t_per_m.as_ref().unwrap();
    assert_eq!(g.shape(), &[2, 1, 3, 3]);
    assert_eq!([g[[0, 0, 2, 2]], g[[1, 0, 0, 0]], g[[1, 0, 0, 1]]], [2.0, -0.5, 0.0]);
    let l = &file.measurement.as_ref().unwrap().layout;
    assert!(!l.is_frame_permutation);
    // The script lays out the acquisition as a robot's meander and derives the grid order independently.
    let want = json_values(&exp["derived"]["foreground_grid_order"]);
    let sm = system_matrix(&file).unwrap();
    assert_eq!(sm.foreground.dim(), (10, 12));
    let fg: Vec<f64> = sm.foreground.iter().flat_map(|z| [z.re, z.im]).collect();
    assert_close("grid order (memory)", &fg, &want, 0.0);
    let bg: Vec<f64> = sm.background.iter().flat_map(|z| [z.re, z.im]).collect();
    assert_close("background", &bg, &json_values(&exp["derived"]["background"]), 0.0);
    let reader = MdfReader::open(&path).unwrap();
    let rows = reader.system_matrix_rows(&reader.all_rows()).unwrap();
    assert_eq!(rows.foreground, sm.foreground, "grid order (disk)");
    // Without the grid size the meander cannot be undone: a typed error, not stored order.
    let mut no_size = file.clone();
    no_size.calibration.as_mut().unwrap().size = None;
    let err = system_matrix(&no_size).unwrap_err();
    assert_eq!(err.dataset(), Some("/calibration/size"), "{err}");
}

#[test]
fn v2_0_reconstruction_parameters_group() {
    let file = read_mdf(fixture("v20_reco.mdf")).unwrap();
    let r = file.reconstruction.as_ref().unwrap();
    assert_eq!(r.parameters.get("solver").map(|v| v.to_string()), Some("kaczmarz".into()));
    assert!(file.translations.iter().any(|x| x == "reconstruction/parameters → _parameters"));
}

#[test]
fn a_2_0_file_is_written_back_as_2_1_0() {
    for stem in V20 {
        let file = read_mdf(fixture(&format!("{stem}.mdf"))).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.mdf");
        magpie_core::mdf::write_mdf(&out, &file, &Default::default()).unwrap();
        let back = read_mdf(&out).unwrap();
        assert_eq!(back.version, magpie_core::mdf::MDF_VERSION, "{stem}");
        assert!(back.translations.is_empty(), "{stem}: {:?}", back.translations);
        let mut same = file.clone();
        same.version = back.version.clone();
        same.translations.clear();
        assert_eq!(back, same, "{stem}: the 2.1 file holds the translated model");
    }
}

#[test]
fn files_in_the_2_1_layout_record_no_translation() {
    for stem in GOOD.iter().filter(|s| **s != "v201_td_f64") {
        let file = read_mdf(fixture(&format!("{stem}.mdf"))).unwrap();
        assert!(file.translations.is_empty(), "{stem}: {:?}", file.translations);
    }
}

#[test]
fn a_measurement_without_is_background_frame_has_only_foreground_frames() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no_bg_flag.mdf");
    std::fs::copy(fixture("v20_meas_td_f32.mdf"), &path).unwrap();
    {
        let f = hdf5::File::open_rw(&path).unwrap();
        f.unlink("measurement/isBackgroundFrame").unwrap();
    }
    let with = read_mdf(fixture("v20_meas_td_f32.mdf")).unwrap();
    let file = read_mdf(&path).unwrap();
    let m = file.measurement.as_ref().unwrap();
    assert_eq!(m.layout.is_background_frame, vec![false; with.acquisition.num_frames as usize]);
    assert!(
        file.translations.iter().any(|x| x == "no isBackgroundFrame → all frames foreground"),
        "{:?}",
        file.translations
    );
    // The data are those of the file with the flag; only the flags differ.
    assert_eq!(time_data(&file).unwrap(), time_data(&with).unwrap());
}
