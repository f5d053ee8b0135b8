//! Detection limits on simulated series (issue 6 acceptance): 1/√averages scaling, the matched filter as the
//! bound of the image domain, and `--simulate` = `--manifest` of the files it wrote.

use magpie_calibration::manifest::{analyse, Manifest};
use magpie_calibration::simulate::{lod_at_averages, SimulationSpec, SystemMatrixGrid};
use magpie_calibration::stats::Method;

fn spec() -> SimulationSpec {
    SimulationSpec::from_toml_str("", "defaults").unwrap()
}

#[test]
fn lod_scales_as_one_over_sqrt_averages_over_a_16x_range() {
    let s = spec();
    let lo = lod_at_averages(&s, 250, 200).unwrap();
    let hi = lod_at_averages(&s, 4000, 200).unwrap();
    let ratio = hi / lo;
    eprintln!("LOD at 250 averages {lo:.3} ng, at 4000 averages {hi:.3} ng, ratio {ratio:.3} (expected 0.25)");
    assert!((ratio / 0.25 - 1.0).abs() < 0.10, "ratio {ratio}");
}

#[test]
fn matched_filter_bounds_the_image_domain_and_simulate_equals_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec();
    s.system_matrix = Some(SystemMatrixGrid { shape: [19, 19, 1], fov_mm: [38.0, 38.0, 1.0], averages: 1000 });
    s.bootstrap = 200;
    let r = magpie_calibration::run_simulation(&s, dir.path(), &|_, _, _| {}).unwrap();
    for d in &r.detectors {
        eprintln!("{}: slope {:.3} r² {:.4}", d.name, d.fit.slope, d.fit.r2);
        for l in &d.limits {
            eprintln!("   {:?}: {:.3} ng", l.method, l.lod_ng);
        }
    }
    let mf = r.detector("matched_filter").unwrap();
    for key in ["system_matrix", "xspace"] {
        let img = r.detector(key).unwrap_or_else(|| panic!("{key} missing"));
        for m in [Method::CalibrationLine, Method::BlankMean3s, Method::Currie, Method::Rose] {
            let (a, b) = (mf.limit(m).unwrap().lod_ng, img.limit(m).unwrap().lod_ng);
            assert!(a <= b, "{m:?}: matched filter {a} ng, {key} {b} ng");
        }
    }
    // The manifest the simulation wrote gives the same limits.
    let m = Manifest::load(&dir.path().join("manifest.toml")).unwrap();
    let again = analyse(&m, dir.path(), &|_, _, _| {}).unwrap();
    for (a, b) in r.detectors.iter().zip(&again.detectors) {
        assert_eq!(a.key, b.key);
        for (x, y) in a.limits.iter().zip(&b.limits) {
            assert_eq!(x.lod_ng, y.lod_ng, "{} {:?}", a.key, x.method);
            assert_eq!(x.lod_ci95_ng, y.lod_ci95_ng);
        }
    }
}
