//! Malformed MDF files (written by `tests/fixtures/make_fixtures.py`, one defect each) must give a typed error
//! that names the offending dataset — never a panic (issue 2 acceptance).

mod util;

use magpie_core::mdf::{read_mdf, MdfError};
use util::{expected, fixture};

#[test]
fn every_malformed_fixture_is_refused_naming_its_dataset() {
    let cases = expected("bad");
    let cases = cases.as_array().unwrap();
    assert!(cases.len() >= 12, "need at least 12 malformed files, have {}", cases.len());
    for case in cases {
        let file = case["file"].as_str().unwrap();
        let path = fixture(file);
        let result = std::panic::catch_unwind(|| read_mdf(&path));
        let result = result.unwrap_or_else(|_| panic!("{file}: reader panicked"));
        let err = match result {
            Ok(_) => panic!("{file}: accepted a malformed file ({})", case["defect"]),
            Err(e) => e,
        };
        let msg = err.to_string();
        match case["dataset"].as_str() {
            Some(ds) => {
                assert_eq!(err.dataset(), Some(ds), "{file}: error {msg:?} should name {ds}");
                assert!(msg.contains(ds), "{file}: message {msg:?} lacks {ds}");
            }
            None => assert!(matches!(err, MdfError::Open { .. }), "{file}: expected an open error, got {msg}"),
        }
    }
}

#[test]
fn shape_errors_state_expected_and_found() {
    let err = read_mdf(fixture("bad/bad_data_shape.mdf")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("V=16") && msg.contains("15"), "{msg}");
    let err = read_mdf(fixture("bad/bad_type_string_for_number.mdf")).unwrap_err();
    assert!(matches!(err, MdfError::Type { .. }), "{err}");
}

#[test]
fn missing_file_is_an_open_error() {
    let err = read_mdf(fixture("does_not_exist.mdf")).unwrap_err();
    assert!(matches!(err, MdfError::Open { .. }));
}

/// 2.0-era layouts that are malformed even by the rules of that time (issue 13): a typed error naming the
/// dataset, with the expected and found shapes, never a panic.
#[test]
fn malformed_2_0_era_files_are_refused_naming_their_dataset() {
    let cases = expected("bad_v20");
    for case in cases.as_array().unwrap() {
        let file = case["file"].as_str().unwrap();
        let path = fixture(file);
        let result = std::panic::catch_unwind(|| read_mdf(&path)).unwrap_or_else(|_| panic!("{file}: reader panicked"));
        let err = match result {
            Ok(_) => panic!("{file}: accepted a malformed file ({})", case["defect"]),
            Err(e) => e,
        };
        let ds = case["dataset"].as_str().unwrap();
        let msg = err.to_string();
        assert_eq!(err.dataset(), Some(ds), "{file}: error {msg:?} should name {ds}");
        assert!(msg.contains(ds), "{file}: message {msg:?} lacks {ds}");
    }
    let err = read_mdf(fixture("bad/bad_v20_gradient_j2.mdf")).unwrap_err();
    match &err {
        MdfError::Shape { expected, found, .. } => {
            assert!(expected.contains("[J=1, Y, 3, 3]") && expected.contains("[J=1, 3]"), "{err}");
            assert_eq!(found, &[1, 2]);
        }
        other => panic!("expected a shape error, got {other}"),
    }
    let err = read_mdf(fixture("bad/bad_v20_gradient_periods.mdf")).unwrap_err();
    assert!(matches!(&err, MdfError::Shape { found, .. } if found == &[4, 3]), "{err}");
    let err = read_mdf(fixture("bad/bad_v20_trailing_complex.mdf")).unwrap_err();
    assert!(matches!(err, MdfError::Type { .. }), "{err}");
}
