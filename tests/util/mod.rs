//! Shared helpers of the root integration tests.
#![allow(dead_code)]

use magpie_core::mdf::{MdfFile, NumArray};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Path of a file under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The expectation JSON written by `tests/fixtures/make_fixtures.py` (independently of magpie).
pub fn expected(stem: &str) -> Value {
    let p = fixture(&format!("expected/{stem}.json"));
    serde_json::from_str(&std::fs::read_to_string(&p).expect("expectation file")).expect("valid JSON")
}

/// A dataset value flattened in C order: numbers (complex as re, im pairs) or strings.
#[derive(Debug, Clone, PartialEq)]
pub enum Flat {
    Num(Vec<f64>),
    Str(Vec<String>),
}

/// Parses the JSON `values` of a dataset into [`Flat`].
pub fn json_flat(v: &Value) -> Flat {
    let vals = v["values"].as_array().expect("values");
    if vals.first().is_some_and(|x| x.is_string()) {
        return Flat::Str(vals.iter().map(|x| x.as_str().unwrap().to_string()).collect());
    }
    let mut out = Vec::new();
    for x in vals {
        match x {
            Value::Array(pair) => out.extend(pair.iter().map(|p| p.as_f64().unwrap())),
            other => out.push(other.as_f64().expect("number")),
        }
    }
    Flat::Num(out)
}

fn num(a: &NumArray) -> Vec<f64> {
    match a {
        NumArray::C32(a) => a.iter().flat_map(|z| [z.re as f64, z.im as f64]).collect(),
        NumArray::C64(a) => a.iter().flat_map(|z| [z.re, z.im]).collect(),
        other => other.to_f64_lossy().iter().copied().collect(),
    }
}

/// Every dataset of the model as magpie would store it (index arrays 1-based), keyed by HDF5 path.
pub fn flatten(f: &MdfFile) -> BTreeMap<String, Flat> {
    let mut m = BTreeMap::new();
    let mut s = |p: &str, v: &str| {
        m.insert(p.to_string(), Flat::Str(vec![v.to_string()]));
    };
    s("/version", &f.version);
    s("/uuid", &f.uuid);
    s("/time", &f.time);
    s("/study/description", &f.study.description);
    s("/study/name", &f.study.name);
    s("/study/uuid", &f.study.uuid);
    if let Some(t) = &f.study.time {
        s("/study/time", t);
    }
    s("/experiment/description", &f.experiment.description);
    s("/experiment/name", &f.experiment.name);
    s("/experiment/subject", &f.experiment.subject);
    s("/experiment/uuid", &f.experiment.uuid);
    s("/scanner/facility", &f.scanner.facility);
    s("/scanner/manufacturer", &f.scanner.manufacturer);
    s("/scanner/name", &f.scanner.name);
    s("/scanner/operator", &f.scanner.operator);
    s("/scanner/topology", &f.scanner.topology);
    s("/acquisition/startTime", &f.acquisition.start_time);
    s("/acquisition/receiver/unit", &f.acquisition.receiver.unit);
    if let Some(c) = &f.calibration {
        s("/calibration/method", &c.method);
        if let Some(o) = &c.order {
            s("/calibration/order", o);
        }
    }
    if let Some(r) = &f.reconstruction {
        if let Some(o) = &r.order {
            s("/reconstruction/order", o);
        }
    }
    if let Some(me) = &f.measurement {
        if let Some(t) = me.layout.sparsity_transformation {
            s("/measurement/sparsityTransformation", t.as_str());
        }
    }
    let mut n = |p: &str, v: Vec<f64>| {
        m.insert(p.to_string(), Flat::Num(v));
    };
    let b = |x: bool| if x { 1.0 } else { 0.0 };
    n("/study/number", vec![f.study.number as f64]);
    n("/experiment/number", vec![f.experiment.number as f64]);
    n("/experiment/isSimulation", vec![b(f.experiment.is_simulation)]);
    if let Some(x) = f.scanner.bore_size_m {
        n("/scanner/boreSize", vec![x]);
    }
    let a = &f.acquisition;
    if let Some(g) = &a.gradient_t_per_m {
        n("/acquisition/gradient", g.iter().copied().collect());
    }
    if let Some(o) = &a.offset_field_t {
        n("/acquisition/offsetField", o.iter().copied().collect());
    }
    n("/acquisition/numAverages", vec![a.num_averages as f64]);
    n("/acquisition/numFrames", vec![a.num_frames as f64]);
    n("/acquisition/numPeriodsPerFrame", vec![a.num_periods_per_frame as f64]);
    n("/acquisition/numPeriods", vec![a.num_periods_per_frame as f64]);
    let d = &a.drivefield;
    n("/acquisition/drivefield/baseFrequency", vec![d.base_frequency_hz]);
    n("/acquisition/drivefield/cycle", vec![d.cycle_s]);
    n("/acquisition/drivefield/divider", d.divider.iter().map(|v| *v as f64).collect());
    n("/acquisition/drivefield/numChannels", vec![d.num_channels as f64]);
    n("/acquisition/drivefield/phase", d.phase_rad.iter().copied().collect());
    n("/acquisition/drivefield/strength", d.strength_t.iter().copied().collect());
    let r = &a.receiver;
    n("/acquisition/receiver/bandwidth", vec![r.bandwidth_hz]);
    n("/acquisition/receiver/numChannels", vec![r.num_channels as f64]);
    n("/acquisition/receiver/numSamplingPoints", vec![r.num_sampling_points as f64]);
    if let Some(x) = &r.data_conversion_factor {
        n("/acquisition/receiver/dataConversionFactor", x.iter().copied().collect());
    }
    if let Some(x) = &r.induction_factor {
        n("/acquisition/receiver/inductionFactor", x.iter().copied().collect());
    }
    if let Some(x) = &r.transfer_function {
        n("/acquisition/receiver/transferFunction", x.iter().flat_map(|z| [z.re, z.im]).collect());
    }
    if let Some(t) = &f.tracer {
        n("/tracer/concentration", t.concentration_mol_per_l.clone());
        n("/tracer/volume", t.volume_l.clone());
    }
    if let Some(me) = &f.measurement {
        let l = &me.layout;
        n("/measurement/data", num(&me.data));
        n("/measurement/isBackgroundCorrected", vec![b(l.is_background_corrected)]);
        n("/measurement/isBackgroundFrame", l.is_background_frame.iter().map(|x| b(*x)).collect());
        n("/measurement/isFastFrameAxis", vec![b(l.is_fast_frame_axis)]);
        n("/measurement/isFourierTransformed", vec![b(l.is_fourier_transformed)]);
        n("/measurement/isFramePermutation", vec![b(l.is_frame_permutation)]);
        n("/measurement/isFrequencySelection", vec![b(l.is_frequency_selection)]);
        n("/measurement/isSparsityTransformed", vec![b(l.is_sparsity_transformed)]);
        n("/measurement/isSpectralLeakageCorrected", vec![b(l.is_spectral_leakage_corrected)]);
        n("/measurement/isTransferFunctionCorrected", vec![b(l.is_transfer_function_corrected)]);
        if let Some(p) = &l.frame_permutation {
            n("/measurement/framePermutation", p.iter().map(|i| (*i + 1) as f64).collect());
        }
        if let Some(p) = &l.frequency_selection {
            n("/measurement/frequencySelection", p.iter().map(|i| (*i + 1) as f64).collect());
        }
        if let Some(p) = &l.subsampling_indices {
            n("/measurement/subsamplingIndices", p.iter().map(|i| (*i + 1) as f64).collect());
        }
    }
    if let Some(c) = &f.calibration {
        for (p, v) in [
            ("/calibration/deltaSampleSize", c.delta_sample_size_m),
            ("/calibration/fieldOfView", c.field_of_view_m),
            ("/calibration/fieldOfViewCenter", c.field_of_view_center_m),
        ] {
            if let Some(v) = v {
                n(p, v.to_vec());
            }
        }
        if let Some(s) = c.size {
            n("/calibration/size", s.iter().map(|v| *v as f64).collect());
        }
        if let Some(s) = &c.snr {
            n("/calibration/snr", s.iter().copied().collect());
        }
        if let Some(x) = c.is_meandering_grid {
            n("/calibration/isMeanderingGrid", vec![b(x)]);
        }
        if let Some(x) = &c.positions_m {
            n("/calibration/positions", x.iter().copied().collect());
        }
        if let Some(x) = &c.offset_fields_t {
            n("/calibration/offsetFields", x.iter().copied().collect());
        }
    }
    if let Some(rc) = &f.reconstruction {
        n("/reconstruction/data", num(&rc.data));
        if let Some(v) = rc.field_of_view_m {
            n("/reconstruction/fieldOfView", v.to_vec());
        }
        if let Some(v) = rc.field_of_view_center_m {
            n("/reconstruction/fieldOfViewCenter", v.to_vec());
        }
        if let Some(v) = rc.size {
            n("/reconstruction/size", v.iter().map(|x| *x as f64).collect());
        }
        if let Some(v) = &rc.is_overscan_region {
            n("/reconstruction/isOverscanRegion", v.iter().map(|x| b(*x)).collect());
        }
        if let Some(v) = &rc.positions_m {
            n("/reconstruction/positions", v.iter().copied().collect());
        }
        for (k, v) in &rc.parameters {
            let p = format!("/reconstruction/_parameters/{k}");
            match v {
                magpie_core::mdf::ParamValue::Text(t) => {
                    m.insert(p, Flat::Str(vec![t.clone()]));
                }
                magpie_core::mdf::ParamValue::Int(i) => {
                    m.insert(p, Flat::Num(vec![*i as f64]));
                }
                magpie_core::mdf::ParamValue::Float(x) => {
                    m.insert(p, Flat::Num(vec![*x]));
                }
            }
        }
    }
    // String arrays.
    if let Some(t) = &f.tracer {
        m.insert("/tracer/batch".into(), Flat::Str(t.batch.clone()));
        m.insert("/tracer/name".into(), Flat::Str(t.name.clone()));
        m.insert("/tracer/solute".into(), Flat::Str(t.solute.clone()));
        m.insert("/tracer/vendor".into(), Flat::Str(t.vendor.clone()));
        if let Some(it) = &t.injection_time {
            m.insert("/tracer/injectionTime".into(), Flat::Str(it.clone()));
        }
    }
    m.insert("/acquisition/drivefield/waveform".into(), Flat::Str(d.waveform.iter().cloned().collect()));
    m
}

/// Asserts two flat number lists agree to `rel` relative (to the largest magnitude) tolerance.
pub fn assert_close(what: &str, got: &[f64], want: &[f64], rel: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length {} vs expected {}", got.len(), want.len());
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= rel * scale, "{what}[{i}]: got {g}, expected {w}");
    }
}

/// Parses a derived JSON entry {"shape": [...], "values": [...]} into flat numbers.
pub fn json_values(v: &Value) -> Vec<f64> {
    match json_flat(v) {
        Flat::Num(x) => x,
        Flat::Str(_) => panic!("expected numbers"),
    }
}

/// The temporary files of a directory (magpie writes outputs as `.<name>….tmp` beside them).
pub fn temporaries(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().to_string()))
        .filter(|n| n.contains(".tmp"))
        .collect()
}
