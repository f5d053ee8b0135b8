//! Simulated system matrices: the spectrum of a delta sample at every voxel of a grid, in the processed MDF
//! layout (Fourier, fast frame axis `[J, C, K, O+E]`, background frames last) with per-row SNR.

use magpie_core::mdf::{Calibration, MdfFile, Measurement, MeasurementLayout, NumArray};
use magpie_core::Grid;
use ndarray::{s, Array3, ArrayD, IxDyn};
use num_complex::{Complex32, Complex64};
use rand::SeedableRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::forward::{Engine, PointMass};
use crate::header::simulated_file;
use crate::noise::{add_noise, background_spectrum, sample_sigma_v};
use crate::SimError;

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemMatrixSpec {
    /// Calibration grid (voxel centres are the delta-sample positions).
    pub grid: Grid,
    /// Delta-sample size [m] (default: the voxel size).
    #[serde(default)]
    pub delta_size_m: Option<[f64; 3]>,
    /// Delta-sample iron concentration [mol/L] (OpenMPIData: 0.1).
    pub delta_concentration_mol_per_l: f64,
    /// Sub-points per axis used to integrate over the delta sample's volume (1 = point at the centre).
    #[serde(default = "one")]
    pub delta_subsamples: usize,
    /// Background frames appended after the voxels.
    #[serde(default = "ten")]
    pub background_frames: usize,
    /// Averages per calibration measurement (OpenMPIData: 1000).
    #[serde(default = "thousand")]
    pub averages: u32,
    /// Add receive noise.
    #[serde(default = "yes")]
    pub noise: bool,
    /// Add the scanner's background signal.
    #[serde(default = "yes")]
    pub background: bool,
    /// Keep frequencies up to this value only [Hz] (None: the full band).
    #[serde(default)]
    pub max_frequency_hz: Option<f64>,
    /// Noise seed.
    #[serde(default)]
    pub seed: u64,
}

fn one() -> usize {
    1
}
fn ten() -> usize {
    10
}
fn thousand() -> u32 {
    1000
}
fn yes() -> bool {
    true
}

impl SystemMatrixSpec {
    /// Delta-sample size [m].
    pub fn delta_size(&self) -> [f64; 3] {
        self.delta_size_m.unwrap_or_else(|| {
            let h = self.grid.voxel_size_m();
            std::array::from_fn(|d| if h[d] > 0.0 { h[d] } else { 1e-3 })
        })
    }

    /// Iron in one delta sample [kg].
    pub fn delta_iron_kg(&self) -> f64 {
        let s = self.delta_size();
        magpie_core::units::iron_mass_kg_from_concentration(self.delta_concentration_mol_per_l, s[0] * s[1] * s[2])
    }

    /// The point masses of the delta sample at voxel `p`.
    pub fn delta_points(&self, p: usize) -> Vec<PointMass> {
        let c = self.grid.position_m(p);
        let n = self.delta_subsamples.max(1);
        let size = self.delta_size();
        let iron = self.delta_iron_kg() / (n * n * n) as f64;
        let off = |d: usize, i: usize| size[d] * ((i as f64 + 0.5) / n as f64 - 0.5);
        let mut pts = Vec::with_capacity(n * n * n);
        for iz in 0..n {
            for iy in 0..n {
                for ix in 0..n {
                    pts.push(PointMass {
                        position_m: [c[0] + off(0, ix), c[1] + off(1, iy), c[2] + off(2, iz)],
                        iron_kg: iron,
                    });
                }
            }
        }
        pts
    }
}

/// Progress callback: called with the number of voxels just finished.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// Voxels simulated together (see the chunk loop of [`simulate_system_matrix`]).
const CHUNK: usize = 512;

/// Simulates the system matrix and returns it as an MDF calibration file.
///
/// # Errors
/// An empty grid or a non-positive concentration.
pub fn simulate_system_matrix(
    engine: &Engine,
    spec: &SystemMatrixSpec,
    progress: Progress,
) -> Result<MdfFile, SimError> {
    let o = spec.grid.len();
    if o == 0 {
        return Err(SimError::Invalid { what: "grid".into(), why: "the grid has no voxel".into() });
    }
    if !(spec.delta_concentration_mol_per_l.is_finite() && spec.delta_concentration_mol_per_l > 0.0) {
        return Err(SimError::Invalid {
            what: "delta_concentration_mol_per_l".into(),
            why: format!("must be positive, found {}", spec.delta_concentration_mol_per_l),
        });
    }
    let (j, c) = (engine.num_periods(), engine.num_channels());
    let k_full = engine.num_bins();
    let k = match spec.max_frequency_hz {
        Some(f) => (0..k_full).take_while(|kk| engine.frequency_hz(*kk) <= f).count().max(1),
        None => k_full,
    };
    let e = spec.background_frames;
    if let Some(d) = spec.delta_size_m {
        if !d.iter().all(|v| v.is_finite() && *v > 0.0) {
            return Err(SimError::Invalid {
                what: "delta_size_m".into(),
                why: format!("the delta sample must have a positive size on every axis, found {d:?} m"),
            });
        }
    }
    // The matrix [J, C, K, O+E] of complex f32, plus one chunk of voxels in complex f64 at full K and a
    // scratch per thread: refused before allocating when it cannot fit.
    let needed = (j as f64 * c as f64 * k as f64 * (o + e) as f64 * 8.0
        + CHUNK as f64 * j as f64 * c as f64 * k_full as f64 * 16.0 * 2.0) as u64;
    if let Some(limit) = magpie_core::mem::allocation_limit_bytes() {
        if needed > limit {
            return Err(SimError::Memory {
                what: format!("a system matrix of {o} voxels × {} rows", j * c * k),
                needed_bytes: needed,
                available_bytes: limit,
                hint: "a coarser grid (fewer voxels) or a lower maximum frequency (fewer rows) needs less".into(),
            });
        }
    }
    let _span = tracing::info_span!("build_sysmat", voxels = o, rows = j * c * k, periods = j).entered();
    let sc = &engine.scanner;
    let sigma = if spec.noise { sample_sigma_v(sc, spec.averages) } else { 0.0 };
    let bg = if spec.background { background_spectrum(sc) } else { ndarray::Array2::zeros((c, k_full)) };
    let v = engine.samples_per_period();
    let mut data = ArrayD::<Complex32>::zeros(IxDyn(&[j, c, k, o + e]));
    // Voxels in chunks: each chunk is computed in parallel (one scratch per worker), then scattered into the
    // [J, C, K, O+E] array in parallel over rows; peak memory is the matrix plus one chunk.
    let mut start = 0;
    while start < o {
        let end = (start + CHUNK).min(o);
        let cols: Vec<Array3<Complex32>> = (start..end)
            .into_par_iter()
            .map_init(
                || (engine.scratch(), Array3::<Complex64>::zeros((j, c, k_full))),
                |(scratch, full), p| {
                    let pts = spec.delta_points(p);
                    // Each voxel is its own calibration measurement: background and noise of its own.
                    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
                        spec.seed ^ (p as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    );
                    for jj in 0..j {
                        engine.spectra_into(&pts, jj, scratch, full.slice_mut(s![jj, .., ..]));
                        for cc in 0..c {
                            let mut row = full.slice_mut(s![jj, cc, ..]);
                            row += &bg.row(cc);
                            add_noise(row.as_slice_mut().expect("contiguous row"), v, sigma, &mut rng);
                        }
                    }
                    progress(1);
                    full.slice(s![.., .., ..k]).mapv(|z| Complex32::new(z.re as f32, z.im as f32))
                },
            )
            .collect();
        let mut rows = data.view_mut().into_shape_with_order((j * c * k, o + e)).expect("standard layout");
        rows.axis_iter_mut(ndarray::Axis(0)).into_par_iter().enumerate().for_each(|(r, mut row)| {
            let (jj, cc, kk) = (r / (c * k), (r / k) % c, r % k);
            for (i, col) in cols.iter().enumerate() {
                row[start + i] = col[[jj, cc, kk]];
            }
        });
        start = end;
    }
    // Background frames: the empty scanner.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(spec.seed.wrapping_add(0xB6));
    for ee in 0..e {
        for jj in 0..j {
            for cc in 0..c {
                let mut row: Vec<Complex64> = (0..k_full).map(|kk| bg[[cc, kk]]).collect();
                add_noise(&mut row, v, sigma, &mut rng);
                for kk in 0..k {
                    data[[jj, cc, kk, o + ee]] = Complex32::new(row[kk].re as f32, row[kk].im as f32);
                }
            }
        }
    }
    let snr = row_snr(&data, o, e, sigma * (v as f64 / 2.0).sqrt());
    let mut file = simulated_file(sc, &engine.tracer, o + e, "simulated system matrix");
    file.acquisition.num_averages = spec.averages as i64;
    let size = spec.delta_size();
    if let Some(t) = file.tracer.as_mut() {
        t.concentration_mol_per_l = vec![spec.delta_concentration_mol_per_l];
        t.volume_l = vec![size[0] * size[1] * size[2] / magpie_core::units::M3_PER_L];
    }
    let mut is_bg = vec![false; o + e];
    for b in is_bg.iter_mut().skip(o) {
        *b = true;
    }
    file.measurement = Some(Measurement {
        data: NumArray::C32(data),
        layout: MeasurementLayout {
            is_background_frame: is_bg,
            is_fast_frame_axis: true,
            is_fourier_transformed: true,
            is_frequency_selection: k < k_full,
            frequency_selection: if k < k_full { Some((0..k).collect()) } else { None },
            ..Default::default()
        },
    });
    file.calibration = Some(Calibration {
        delta_sample_size_m: Some(size),
        field_of_view_m: Some(spec.grid.fov_m),
        field_of_view_center_m: Some(spec.grid.center_m),
        method: "simulation".into(),
        order: Some("xyz".into()),
        size: Some(spec.grid.shape),
        snr: Some(snr),
        ..Default::default()
    });
    if let Ok(t) = toml::to_string(spec) {
        file.provenance.insert("system_matrix".into(), t);
    }
    Ok(file)
}

/// SNR of each row: RMS over voxels of |S − mean(BG)| divided by the noise level (RMS deviation of the
/// background frames from their mean when E ≥ 2, else the theoretical per-bin noise `sigma_bin`).
fn row_snr(data: &ArrayD<Complex32>, o: usize, e: usize, sigma_bin: f64) -> Array3<f64> {
    let sh = data.shape();
    let (j, c, k) = (sh[0], sh[1], sh[2]);
    let mut snr = Array3::zeros((j, c, k));
    let mut peak = 0.0f64;
    for jj in 0..j {
        for cc in 0..c {
            for kk in 0..k {
                let row = data.slice(s![jj, cc, kk, ..]);
                let to64 = |z: &Complex32| Complex64::new(z.re as f64, z.im as f64);
                let mean_bg: Complex64 = if e > 0 {
                    row.iter().skip(o).map(to64).sum::<Complex64>() / e as f64
                } else {
                    Complex64::default()
                };
                let sig = (row.iter().take(o).map(|z| (to64(z) - mean_bg).norm_sqr()).sum::<f64>() / o as f64).sqrt();
                let noise = if e >= 2 {
                    (row.iter().skip(o).map(|z| (to64(z) - mean_bg).norm_sqr()).sum::<f64>() / (e - 1) as f64).sqrt()
                } else {
                    sigma_bin
                };
                snr[[jj, cc, kk]] = if noise > 0.0 { sig / noise } else { sig };
                peak = peak.max(sig);
            }
        }
    }
    // Noiseless matrices: report signal relative to a floor of 1e-12 of the strongest row.
    if sigma_bin == 0.0 && e < 2 && peak > 0.0 {
        snr.mapv_inplace(|s| s / (1e-12 * peak));
    }
    snr
}
