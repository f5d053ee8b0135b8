//! Simulated scanner measurements: frames of a static phantom with receive noise, background (feed-through
//! residue and drift) and background frames, written as an MDF measurement.

use magpie_core::mdf::{MdfFile, Measurement, MeasurementLayout, NumArray};
use ndarray::{s, Array3, Array4};
use num_complex::Complex64;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::forward::{Engine, PointMass};
use crate::header::simulated_file;
use crate::noise::{add_noise, background_spectrum, sample_sigma_v};
use crate::SimError;

/// A phantom's point masses on a cubic lattice of spacing `lattice_m` covering its bounding box (keep it finer
/// than any reconstruction grid: the "inverse crime"). `planar`: the scanner images the plane z = 0, so the
/// phantom is projected onto it.
///
/// # Errors
/// A non-positive spacing or a lattice of more than 5·10⁷ sites.
pub fn phantom_point_masses(
    phantom: &crate::phantom::Phantom,
    lattice_m: f64,
    planar: bool,
) -> Result<Vec<PointMass>, SimError> {
    if !(lattice_m.is_finite() && lattice_m > 0.0) {
        return Err(SimError::Invalid {
            what: "lattice spacing".into(),
            why: format!("must be positive, found {lattice_m}"),
        });
    }
    let Some(bb) = phantom.bounding_box_m() else { return Ok(Vec::new()) };
    let mut shape = [1usize; 3];
    let mut fov = [0.0; 3];
    let mut center = [0.0; 3];
    for d in 0..3 {
        let (lo, hi) = (bb[d][0], bb[d][1]);
        center[d] = 0.5 * (lo + hi);
        if planar && d == 2 {
            center[2] = 0.0;
            continue;
        }
        let n = (((hi - lo) / lattice_m).ceil() as usize).max(1);
        shape[d] = n;
        fov[d] = n as f64 * lattice_m;
    }
    let grid = magpie_core::Grid::new(shape, fov, center);
    if grid.len() > 50_000_000 {
        return Err(SimError::Invalid {
            what: "lattice spacing".into(),
            why: format!("the lattice has {} sites; use a coarser one", grid.len()),
        });
    }
    Ok(phantom.point_masses(&grid, 1))
}

/// How the data are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    /// Spectra `[N, J, C, K]` (complex64).
    #[default]
    Fourier,
    /// Time samples `[N, J, C, V]` (float32), as a scanner records them.
    Time,
}

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasurementSpec {
    /// Foreground frames.
    pub frames: usize,
    /// Background (empty-scanner) frames before the foreground frames.
    #[serde(default)]
    pub background_frames_before: usize,
    /// Background frames after the foreground frames.
    #[serde(default)]
    pub background_frames_after: usize,
    /// Block averages per frame (overrides the scanner's `averages`).
    #[serde(default)]
    pub averages: Option<u32>,
    /// Add receive noise.
    #[serde(default = "yes")]
    pub noise: bool,
    /// Add the scanner's background signal.
    #[serde(default = "yes")]
    pub background: bool,
    /// Seed of the noise generator.
    #[serde(default)]
    pub seed: u64,
    /// Storage domain.
    #[serde(default)]
    pub domain: Domain,
}

fn yes() -> bool {
    true
}

impl Default for MeasurementSpec {
    fn default() -> Self {
        MeasurementSpec {
            frames: 1,
            background_frames_before: 0,
            background_frames_after: 0,
            averages: None,
            noise: true,
            background: true,
            seed: 0,
            domain: Domain::Fourier,
        }
    }
}

/// Frames [N, J, C, K] of the phantom's noiseless spectra `signal` [J, C, K] plus background and noise, with the
/// background-frame mask. Frame n is acquired at n·(frame duration); drift scales the background.
pub fn frames(engine: &Engine, signal: &Array3<Complex64>, spec: &MeasurementSpec) -> (Array4<Complex64>, Vec<bool>) {
    let sc = &engine.scanner;
    let (j, c, k) = signal.dim();
    let n = spec.background_frames_before + spec.frames + spec.background_frames_after;
    let averages = spec.averages.unwrap_or(sc.averages);
    let sigma = if spec.noise { sample_sigma_v(sc, averages) } else { 0.0 };
    let bg = if spec.background { background_spectrum(sc) } else { ndarray::Array2::zeros((c, k)) };
    let frame_s = sc.cycle_s() * j as f64 * averages as f64;
    let v = engine.samples_per_period();
    let mut out = Array4::zeros((n, j, c, k));
    let mut is_bg = vec![false; n];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(spec.seed);
    for (f, bg_flag) in is_bg.iter_mut().enumerate() {
        let foreground = f >= spec.background_frames_before && f < spec.background_frames_before + spec.frames;
        *bg_flag = !foreground;
        let drift = 1.0 + sc.background.drift_per_s * f as f64 * frame_s;
        for jj in 0..j {
            for cc in 0..c {
                let mut row: Vec<Complex64> = (0..k)
                    .map(|kk| {
                        let s = if foreground { signal[[jj, cc, kk]] } else { Complex64::default() };
                        s + bg[[cc, kk]] * drift
                    })
                    .collect();
                add_noise(&mut row, v, sigma, &mut rng);
                out.slice_mut(s![f, jj, cc, ..]).assign(&ndarray::ArrayView1::from(&row[..]));
            }
        }
    }
    (out, is_bg)
}

/// A complete simulated measurement file of `points` (a phantom's point masses).
///
/// # Errors
/// No foreground frame requested.
pub fn simulate_measurement(
    engine: &Engine,
    points: &[PointMass],
    spec: &MeasurementSpec,
    description: &str,
) -> Result<MdfFile, SimError> {
    if spec.frames == 0 {
        return Err(SimError::Invalid { what: "frames".into(), why: "at least one foreground frame is needed".into() });
    }
    // Frames are held at full K in complex f64 while they are made, and once more in the file's precision.
    let n_frames = spec.frames as f64 + spec.background_frames_before as f64 + spec.background_frames_after as f64;
    let per_frame = (engine.num_periods() * engine.num_channels()) as f64
        * (engine.num_bins() as f64 * 16.0 + engine.samples_per_period().max(engine.num_bins()) as f64 * 8.0);
    let needed = (n_frames * per_frame) as u64;
    if let Some(limit) = magpie_core::mem::allocation_limit_bytes() {
        if needed > limit {
            return Err(SimError::Memory {
                what: format!("a measurement of {n_frames} frames"),
                needed_bytes: needed,
                available_bytes: limit,
                hint: "fewer frames needs less".into(),
            });
        }
    }
    let _span = tracing::info_span!("simulate", points = points.len(), frames = spec.frames).entered();
    let signal = engine.spectra(points);
    let (data, is_bg) = frames(engine, &signal, spec);
    let n = data.shape()[0];
    let mut file = simulated_file(&engine.scanner, &engine.tracer, n, description);
    if let Some(a) = spec.averages {
        file.acquisition.num_averages = a as i64;
    }
    let total_iron_kg: f64 = points.iter().map(|p| p.iron_kg).sum();
    if let Some(t) = file.tracer.as_mut() {
        // The tracer entry states the amount of iron as moles in one litre (the phantom is not a solution).
        t.concentration_mol_per_l = vec![total_iron_kg / magpie_core::units::FE_MOLAR_MASS_KG_PER_MOL];
        t.volume_l = vec![1.0];
    }
    let data = match spec.domain {
        Domain::Fourier => {
            NumArray::C32(data.mapv(|z| num_complex::Complex32::new(z.re as f32, z.im as f32)).into_dyn())
        }
        Domain::Time => {
            let v = engine.samples_per_period();
            let (nn, j, c, _) = data.dim();
            let mut td = Array4::<f32>::zeros((nn, j, c, v));
            for f in 0..nn {
                for jj in 0..j {
                    for cc in 0..c {
                        let row: Vec<Complex64> = data.slice(s![f, jj, cc, ..]).to_vec();
                        let t = engine.time_signal(&row);
                        for (dst, x) in td.slice_mut(s![f, jj, cc, ..]).iter_mut().zip(t) {
                            *dst = x as f32;
                        }
                    }
                }
            }
            NumArray::F32(td.into_dyn())
        }
    };
    file.measurement = Some(Measurement {
        data,
        layout: MeasurementLayout {
            is_background_frame: is_bg,
            is_fourier_transformed: spec.domain == Domain::Fourier,
            ..Default::default()
        },
    });
    if let Ok(t) = toml::to_string(spec) {
        file.provenance.insert("measurement".into(), t);
    }
    file.provenance.insert("total_iron_ng".into(), format!("{}", total_iron_kg / magpie_core::units::KG_PER_NG));
    Ok(file)
}
