//! Crafted dataspaces (issue 13): a small file whose header declares far more data than it holds is refused
//! with the dataset named, before the reader allocates for it.

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

#[test]
fn a_dataset_declaring_more_than_the_file_holds_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crafted.mdf");
    std::fs::copy(fixture("meas_td_int16.mdf"), &path).unwrap();
    {
        let f = hdf5::File::open_rw(&path).unwrap();
        f.unlink("tracer/concentration").unwrap();
        // 2³¹ float64 values (16 GB) declared, contiguous, never written: the file stays a few tens of kB.
        f.new_dataset::<f64>().shape([1usize << 31]).create("tracer/concentration").unwrap();
    }
    assert!(std::fs::metadata(&path).unwrap().len() < 1 << 20);
    for args in [vec!["inspect", "--check"], vec!["inspect"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_magpie"))
            .arg("-q")
            .args(&args)
            .arg(&path)
            // 1 GB of address space: an attempt to allocate 16 GB would abort instead of failing cleanly.
            .env("MAGPIE_MEMORY_LIMIT_BYTES", "1000000000")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(matches!(out.status.code(), Some(1) | Some(3)), "{args:?}: {err}");
        assert!(err.contains("/tracer/concentration") && err.contains("more than the file"), "{args:?}: {err}");
        assert!(!err.contains("memory allocation"), "{err}");
    }
}
