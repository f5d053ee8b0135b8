//! The simulator against closed-form MPI physics (physics.md §1.5, §2.4, §3.1–3.4, §8), each test against an
//! independent reference computed here (Bessel integrals, Chebyshev forms, convolution quadrature).

use magpie_core::physics::langevin::dlangevin;
use magpie_core::scanner::ScannerConfig;
use magpie_core::tracer::{Relaxation, TracerModel};
use magpie_sim::forward::{Engine, PointMass};
use num_complex::Complex64;
use std::f64::consts::PI;

/// J_n(x) by the trapezoid rule on Bessel's integral (1/π)∫_0^π cos(nτ − x sin τ) dτ, spectrally accurate.
fn bessel_j(n: i32, x: f64) -> f64 {
    let m = (x.abs() as usize + n.unsigned_abs() as usize + 40) * 2;
    let h = PI / m as f64;
    let mut s = 0.5 * ((0.0f64).cos() + (n as f64 * PI - x * PI.sin()).cos());
    for i in 1..m {
        let t = i as f64 * h;
        s += (n as f64 * t - x * t.sin()).cos();
    }
    s * h / PI
}

/// a_n(ξ0) = 4 (−1)^{(n−1)/2} ∫_0^∞ J_n(ξ0 u)/(e^{πu} − 1) du (physics.md §3.1), Simpson on [0, 12].
fn a_n_reference(n: i32, xi0: f64) -> f64 {
    let (a, b) = (0.0, 12.0);
    let steps = ((xi0 * 12.0 / (2.0 * PI)) as usize * 60).max(2000) & !1;
    let h = (b - a) / steps as f64;
    let f = |u: f64| {
        if u == 0.0 {
            // J_1(ξ0 u)/(πu) → ξ0/(2π); higher n → 0.
            if n == 1 {
                xi0 / (2.0 * PI)
            } else {
                0.0
            }
        } else {
            bessel_j(n, xi0 * u) / (PI * u).exp_m1()
        }
    };
    let mut s = f(a) + f(b);
    for i in 1..steps {
        s += f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    let sign = if ((n - 1) / 2) % 2 == 0 { 1.0 } else { -1.0 };
    4.0 * sign * s * h / 3.0
}

/// A spectrometer (homogeneous cosine drive along x, no gradient, no band-stop) for `tracer` at ξ0.
fn mps(xi0: f64, tracer: &TracerModel, oversampling: usize) -> ScannerConfig {
    let mut s = ScannerConfig::preset("mps").unwrap();
    s.drive[0].amplitude_t = xi0 / tracer.beta_per_t(tracer.core_diameter_m);
    s.band_stop.passband_fraction = 1.0;
    s.simulation_oversampling = oversampling;
    s
}

/// Cosine coefficients a_n (n = 0..=8) of m_x(θ)/m_sat from the engine's moment series (θ = ωt, cosine drive),
/// by a naive DFT of the selected bins (a_n = 2·DFT_n/N for one drive period per cycle).
fn cosine_coefficients(engine: &Engine, points: &[PointMass], m_sat: f64) -> Vec<Complex64> {
    let m: Vec<f64> = engine.moment_series(points, 0).iter().map(|v| v[0] / m_sat).collect();
    let n = m.len();
    (0..=8)
        .map(|k| {
            let z: Complex64 = m
                .iter()
                .enumerate()
                .map(|(t, v)| Complex64::from_polar(*v, -2.0 * PI * ((k * t) % n) as f64 / n as f64))
                .sum();
            z * (2.0 / n as f64)
        })
        .collect()
}

#[test]
fn harmonics_of_a_driven_langevin_ensemble_match_the_bessel_integral() {
    // Reference first: the Bessel integral reproduces the physics.md §3.1 table.
    let table: [(f64, [f64; 4]); 5] = [
        (1.0, [0.3178833f64, -0.00495724, 1.1182e-4, -2.66e-6]),
        (5.0, [0.9161329, -0.14555733, 0.03799567, -0.01101316]),
        (10.0, [1.0837652, -0.25556614, 0.10523851, -0.05017578]),
        (20.0, [1.1758608, -0.33225095, 0.16762544, -0.09988471]),
        (50.0, [1.2336585, -0.38566940, 0.21673941, -0.14481486]),
    ];
    let tracer = TracerModel::monodisperse(25e-9, 446e3, 310.0);
    for (xi0, want) in table {
        let reference: Vec<f64> = [1, 3, 5, 7].iter().map(|&n| a_n_reference(n, xi0)).collect();
        for (r, w) in reference.iter().zip(want) {
            // The table is rounded to 7 decimals (absolute 5e-8).
            assert!((r - w).abs() <= 6e-8, "reference ξ0={xi0}: {r} vs table {w}");
        }
        // The simulator: moment of 1 ng at the centre, normalised to its saturation moment.
        let engine = Engine::new(&mps(xi0, &tracer, 8), &tracer).unwrap();
        let iron = 1e-12;
        let m_sat = iron * tracer.saturation_moment_per_kg_fe();
        let a = cosine_coefficients(&engine, &[PointMass { position_m: [0.0; 3], iron_kg: iron }], m_sat);
        for (i, &n) in [1usize, 3, 5, 7].iter().enumerate() {
            let got = a[n].re;
            assert!(
                (got - reference[i]).abs() <= 1e-5 * reference[i].abs(),
                "ξ0={xi0} a_{n}: {got} vs {}",
                reference[i]
            );
            assert!(a[n].im.abs() <= 1e-9, "cosine drive gives real coefficients");
        }
        // Even harmonics vanish without an offset field.
        for n in [2, 4, 6, 8] {
            assert!(a[n].norm() < 1e-12 * a[1].norm(), "ξ0={xi0}: even harmonic {n} = {}", a[n].norm());
        }
    }
    // Small signal: ξ0 = 0.1 → a_3 = −5.5489e-6 (physics.md §8 check 5).
    let engine = Engine::new(&mps(0.1, &tracer, 8), &tracer).unwrap();
    let m_sat = 1e-12 * tracer.saturation_moment_per_kg_fe();
    let a = cosine_coefficients(&engine, &[PointMass { position_m: [0.0; 3], iron_kg: 1e-12 }], m_sat);
    assert!((a[3].re / -5.5489e-6 - 1.0).abs() < 1e-4, "{}", a[3].re);
}

#[test]
fn an_offset_field_brings_even_harmonics_as_in_section_3_2() {
    // ξ_off = 2, βh = 0.05: a_2 = −5.768e-5, a_3 = 1.887e-7 (physics.md §8 check 6).
    let tracer = TracerModel::monodisperse(25e-9, 446e3, 310.0);
    let beta = tracer.beta_per_t(25e-9);
    let mut s = mps(0.05, &tracer, 8);
    s.offset_fields_t = vec![[2.0 / beta, 0.0, 0.0]];
    let engine = Engine::new(&s, &tracer).unwrap();
    let m_sat = 1e-12 * tracer.saturation_moment_per_kg_fe();
    let a = cosine_coefficients(&engine, &[PointMass { position_m: [0.0; 3], iron_kg: 1e-12 }], m_sat);
    assert!((a[2].re / -5.768e-5 - 1.0).abs() < 1e-3, "a_2 = {}", a[2].re);
    assert!((a[3].re / 1.887e-7 - 1.0).abs() < 1e-3, "a_3 = {}", a[3].re);
}

#[test]
fn voltage_spectrum_is_the_derivative_of_the_moment() {
    // û_n = −2πi f_n (B/I) m̂_n: from the voltage spectrum, recover a_n of the moment (ξ0 = 10).
    let tracer = TracerModel::monodisperse(25e-9, 446e3, 310.0);
    let s = mps(10.0, &tracer, 8);
    let engine = Engine::new(&s, &tracer).unwrap();
    let iron = 1e-12;
    let u = engine.spectra(&[PointMass { position_m: [0.0; 3], iron_kg: iron }]);
    let m_sat = iron * tracer.saturation_moment_per_kg_fe();
    let v = engine.samples_per_period() as f64;
    let sens = s.receive[0].sensitivity_t_per_a[0];
    for (n, want) in [(1usize, 1.0837652), (3, -0.25556614), (5, 0.10523851)] {
        let f = engine.frequency_hz(n);
        let a = u[[0, 0, n]] * 2.0 / (Complex64::new(0.0, -2.0 * PI * f) * sens * m_sat * v);
        assert!((a.re / want - 1.0).abs() < 1e-6 && a.im.abs() < 1e-9 * want.abs(), "n={n}: {a}");
    }
}

#[test]
fn one_d_system_function_is_chebyshev_and_langevin_is_its_convolution() {
    // H(x, θ) = A cos θ − G x (G_xx = −G), ζ = Gx/A. Ideal: c_n = (2/(πn)) √(1−ζ²) U_{n−1}(ζ) (×m);
    // Langevin: c_n^L = K * c_n^ideal with K(y) = (βG/2) L'(βG y) (physics.md §3.3).
    let g = 2.0;
    let a_t = 0.012;
    let mut s = ScannerConfig::preset("bruker_1d").unwrap();
    s.gradient_t_per_m = [[-g, 0.0, 0.0], [0.0, 0.5 * g, 0.0], [0.0, 0.0, 0.5 * g]];
    s.band_stop.passband_fraction = 1.0;
    let x_edge = a_t / g;
    let coeffs = |engine: &Engine, tracer: &TracerModel, x: f64| -> Vec<Complex64> {
        let m_sat = tracer.saturation_moment_per_kg_fe();
        cosine_coefficients(engine, &[PointMass { position_m: [x, 0.0, 0.0], iron_kg: 1.0 }], m_sat)
            .into_iter()
            .map(|z| z * 0.5) // c_n = a_n/2 for the complex exponential convention
            .collect()
    };
    // Ideal particle: β so large that L is a step well below the sample spacing; 52224 samples per period.
    let mut ideal_scanner = s.clone();
    ideal_scanner.simulation_oversampling = 1024;
    let ideal = TracerModel::monodisperse(500e-9, 446e3, 310.0); // βA ≈ 9e4: a step far below a sample
    let engine = Engine::new(&ideal_scanner, &ideal).unwrap();
    for &zeta in &[-0.83, -0.4, 0.05, 0.37, 0.71] {
        let c = coeffs(&engine, &ideal, zeta * x_edge);
        for n in [1usize, 2, 3, 4, 5] {
            let phi = zeta.acos();
            let want = 2.0 / (PI * n as f64) * (n as f64 * phi).sin();
            // c_n of the moment along +x; with H = A cos θ − Gx, M = m sign(cos θ − ζ).
            assert!((c[n].re - want).abs() < 1e-4 * (2.0 / PI), "ideal ζ={zeta} n={n}: {} vs {want}", c[n].re);
        }
    }
    // Langevin particle with βA = 20.
    let tracer = TracerModel::monodisperse(25e-9, 446e3, 310.0);
    let beta = tracer.beta_per_t(25e-9);
    let mut ls = s.clone();
    ls.drive[0].amplitude_t = 20.0 / beta;
    ls.simulation_oversampling = 16;
    let xe = ls.drive[0].amplitude_t / g;
    let engine = Engine::new(&ls, &tracer).unwrap();
    for &x in &[-1.3 * xe, -0.6 * xe, 0.0, 0.2 * xe, 0.9 * xe] {
        let c = coeffs(&engine, &tracer, x);
        for n in [1usize, 2, 3, 5] {
            // ∫ K(x − x') c_n^ideal(x') dx' with x' = xe cos φ: smooth in φ, trapezoid rule.
            let m = 4000;
            let mut acc = 0.0;
            for i in 0..=m {
                let phi = PI * i as f64 / m as f64;
                let xp = xe * phi.cos();
                let k = 0.5 * beta * g * dlangevin(beta * g * (x - xp));
                let ideal_c = 2.0 / (PI * n as f64) * (n as f64 * phi).sin();
                let w = if i == 0 || i == m { 0.5 } else { 1.0 };
                acc += w * k * ideal_c * xe * phi.sin();
            }
            let want = acc * PI / m as f64;
            let scale = 2.0 / (PI * n as f64);
            assert!((c[n].re - want).abs() < 1e-4 * scale, "Langevin x={x} n={n}: {} vs {want}", c[n].re);
        }
    }
}

/// FWHM of a sampled peak by linear interpolation of the half-maximum crossings.
fn fwhm(xs: &[f64], ys: &[f64]) -> f64 {
    let (imax, ymax) =
        ys.iter().enumerate().fold((0, f64::MIN), |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) });
    let half = ymax / 2.0;
    let mut l = imax;
    while l > 0 && ys[l] > half {
        l -= 1;
    }
    let mut r = imax;
    while r + 1 < ys.len() && ys[r] > half {
        r += 1;
    }
    let xl = xs[l] + (half - ys[l]) / (ys[l + 1] - ys[l]) * (xs[l + 1] - xs[l]);
    let xr = xs[r - 1] + (half - ys[r - 1]) / (ys[r] - ys[r - 1]) * (xs[r] - xs[r - 1]);
    xr - xl
}

#[test]
fn point_source_x_space_psf_has_the_fwhm_of_section_2_4() {
    // Native image of a 1-D scan: s(t)/(ẋ_s), gridded by FFP position; FWHM = 4.161/(βG) (physics.md §2.4).
    for (d, g, t) in [(25e-9, 6.0, 310.0), (20e-9, 2.5, 300.0), (30e-9, 2.5, 300.0)] {
        let tracer = TracerModel::monodisperse(d, 446e3, t);
        let mut s = ScannerConfig::preset("xspace_1d").unwrap();
        s.gradient_t_per_m = [[-g, 0.0, 0.0], [0.0, 0.5 * g, 0.0], [0.0, 0.0, 0.5 * g]];
        s.band_stop.passband_fraction = 1.0;
        s.drive[0].amplitude_t = 0.02;
        let engine = Engine::new(&s, &tracer).unwrap();
        let spec = engine.spectra(&[PointMass { position_m: [0.3e-3, 0.0, 0.0], iron_kg: 1e-12 }]);
        let row: Vec<Complex64> = (0..engine.num_bins()).map(|k| spec[[0, 0, k]]).collect();
        let u = engine.time_signal(&row);
        let v = u.len();
        let dt = s.cycle_s() / v as f64;
        // FFP x_s = B_D/G (G_xx = −G); velocity ẋ_s = Ḃ_D/G. Keep samples where the FFP moves fast.
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for (i, ui) in u.iter().enumerate() {
            let tt = i as f64 * dt;
            let x = s.drive_field_t(tt)[0] / g;
            let vel = s.drive_field_rate_t_per_s(tt)[0] / g;
            if vel < -0.2 * s.drive[0].amplitude_t * 2.0 * PI * s.drive_frequency_hz(0) / g {
                xs.push(x);
                ys.push(-ui / vel);
            }
        }
        let mut pairs: Vec<(f64, f64)> = xs.into_iter().zip(ys).collect();
        pairs.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        let (xs, ys): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
        let step = xs.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
        let got = fwhm(&xs, &ys);
        let want = tracer.fwhm_normal_m(g);
        assert!((got - want).abs() <= step, "d={d} G={g} T={t}: FWHM {got:e} vs {want:e} (step {step:e})");
    }
}

#[test]
fn debye_relaxation_multiplies_harmonic_n_by_one_over_one_plus_i_n_omega_tau() {
    let mut tracer = TracerModel::monodisperse(25e-9, 446e3, 310.0);
    let s = ScannerConfig::preset("mps").unwrap();
    let pts = [PointMass { position_m: [0.0; 3], iron_kg: 1e-12 }];
    let plain = Engine::new(&s, &tracer).unwrap().spectra(&pts);
    tracer.relaxation = Relaxation::Debye { tau_s: 2e-6 };
    let engine = Engine::new(&s, &tracer).unwrap();
    let relaxed = engine.spectra(&pts);
    let w = 2.0 * PI * s.drive_frequency_hz(0);
    for n in [3usize, 5, 7, 9, 11] {
        let h = relaxed[[0, 0, n]] / plain[[0, 0, n]];
        let want = Complex64::new(1.0, 0.0) / Complex64::new(1.0, n as f64 * w * 2e-6);
        assert!((h - want).norm() < 1e-6, "n={n}: {h} vs {want}");
    }
    // physics.md §1.5 at 25 kHz, τ = 2 µs: |H_3| = 0.7277, phase −43.3°.
    let h3 = Complex64::new(1.0, 0.0) / Complex64::new(1.0, 3.0 * 2.0 * PI * 25e3 * 2e-6);
    assert!((h3.norm() - 0.7277).abs() < 1e-4 && (h3.arg().to_degrees() + 43.30).abs() < 0.01);
}

#[test]
fn lissajous_lines_sit_at_the_mixing_positions_of_section_3_4() {
    // 2-D Bruker: k = 16 m_x + 17 m_y. A centred point has an odd magnetisation, so lines whose lowest-order
    // representation has even order (e.g. k = 33 = 16 + 17) vanish; off-centre they appear.
    let s = ScannerConfig::preset("bruker_2d").unwrap();
    let tracer = TracerModel::preset("ideal_25nm").unwrap();
    let engine = Engine::new(&s, &tracer).unwrap();
    let centre = engine.spectra(&[PointMass { position_m: [0.0; 3], iron_kg: 1e-12 }]);
    let off = engine.spectra(&[PointMass { position_m: [2e-3, 1e-3, 0.0], iron_kg: 1e-12 }]);
    let peak = (0..engine.num_bins()).map(|k| centre[[0, 0, k]].norm()).fold(0.0, f64::max);
    assert!(centre[[0, 0, 48]].norm() > 0.05 * peak, "(3,0) line at k = 48");
    assert!(centre[[0, 0, 16]].norm() == 0.0, "fundamental removed by the band-stop");
    assert!(centre[[0, 0, 33]].norm() < 1e-9 * peak, "(1,1) line vanishes at the centre");
    // k = 32 is (2, 0), but also the odd order-31 line (−15, 16), which alone survives at the centre.
    assert!(centre[[0, 0, 32]].norm() < 1e-3 * off[[0, 0, 32]].norm(), "(2,0) line vanishes at the centre");
    assert!(off[[0, 0, 33]].norm() > 1e-3 * peak && off[[0, 0, 32]].norm() > 1e-3 * peak);
    // 3-D: k = 528 m_x + 561 m_y + 544 m_z; the x channel's third harmonic at 3·528 = 1584.
    let s3 = ScannerConfig::preset("bruker_3d").unwrap();
    let e3 = Engine::new(&s3, &tracer).unwrap();
    let c3 = e3.spectra(&[PointMass { position_m: [0.0; 3], iron_kg: 1e-12 }]);
    let p3 = (0..e3.num_bins()).map(|k| c3[[0, 0, k]].norm()).fold(0.0, f64::max);
    assert!(c3[[0, 0, 1584]].norm() > 0.05 * p3);
    assert!(c3[[0, 2, 3 * 544]].norm() > 0.05 * p3, "z channel third harmonic at 1632");
    assert!(c3[[0, 0, 528 + 561]].norm() < 1e-9 * p3, "(1,1,0) vanishes at the centre");
}
