//! Iterative solvers against the direct Tikhonov solution (issue 4 acceptance: 1e-4 relative), and the
//! solvers' basic contracts.
#![cfg(feature = "lapack")]

use magpie_reconstruct::solvers::cgnr::{self, CgnrParams};
use magpie_reconstruct::solvers::direct::TikhonovSvd;
use magpie_reconstruct::solvers::fista::{self, FistaParams};
use magpie_reconstruct::solvers::kaczmarz::{self, KaczmarzParams};
use magpie_reconstruct::solvers::tv::{self, TvParams};
use magpie_reconstruct::system::RealSystem;
use ndarray::{Array1, Array2};

/// A smoothing (blur) system like an MPI system matrix: rows are shifted Gaussians sampled on 30 voxels.
fn problem() -> (RealSystem, Array1<f64>, Array2<f64>) {
    let n = 30;
    let m = 48;
    let a = Array2::from_shape_fn((m, n), |(i, j)| {
        let c = i as f64 * n as f64 / m as f64;
        (-(j as f64 - c).powi(2) / 8.0).exp() * (1.0 + 0.1 * (i % 3) as f64)
    });
    let truth = Array1::from_shape_fn(n, |j| {
        if (8..12).contains(&j) {
            1.0
        } else if j == 20 {
            2.0
        } else {
            0.0
        }
    });
    let mut b = a.dot(&truth);
    for (i, v) in b.iter_mut().enumerate() {
        *v += 1e-3 * ((i * 7919) % 13) as f64 / 13.0 - 5e-4;
    }
    let bm = b.clone().insert_axis(ndarray::Axis(1));
    (RealSystem { a }, truth, bm)
}

fn rel(a: &Array1<f64>, b: &Array1<f64>) -> f64 {
    (a - b).dot(&(a - b)).sqrt() / b.dot(b).sqrt()
}

#[test]
fn kaczmarz_and_cgnr_converge_to_the_direct_tikhonov_solution() {
    let (sys, _, b) = problem();
    let lambda = sys.lambda_eff(1e-2);
    let svd = TikhonovSvd::new(sys.a.view()).unwrap();
    let direct = svd.solve(b.column(0), lambda).unwrap();
    let (xk, ik) = kaczmarz::solve(
        sys.a.view(),
        b.view(),
        lambda,
        &KaczmarzParams { iterations: 3000, non_negative: false, ..Default::default() },
    )
    .unwrap();
    let (xc, ic) =
        cgnr::solve(&sys, b.view(), lambda, &CgnrParams { iterations: 500, tolerance: 1e-14, non_negative: false })
            .unwrap();
    let ek = rel(&xk.column(0).to_owned(), &direct);
    let ec = rel(&xc.column(0).to_owned(), &direct);
    assert!(ek < 1e-4, "Kaczmarz vs direct: {ek:e} after {} sweeps", ik.iterations);
    assert!(ec < 1e-4, "CGNR vs direct: {ec:e} after {} iterations", ic.iterations);
    // Randomised row order reaches the same solution.
    let (xr, _) = kaczmarz::solve(
        sys.a.view(),
        b.view(),
        lambda,
        &KaczmarzParams { iterations: 3000, non_negative: false, randomized: true, seed: 7 },
    )
    .unwrap();
    assert!(rel(&xr.column(0).to_owned(), &direct) < 1e-4);
}

#[test]
fn kaczmarz_updates_many_frames_in_one_pass() {
    let (sys, truth, b) = problem();
    let b2 = ndarray::concatenate![ndarray::Axis(1), b.view(), (&b * 2.0).view()];
    let p = KaczmarzParams { iterations: 50, non_negative: true, ..Default::default() };
    let (x, _) = kaczmarz::solve(sys.a.view(), b2.view(), sys.lambda_eff(1e-3), &p).unwrap();
    let (x1, _) = kaczmarz::solve(sys.a.view(), b.view(), sys.lambda_eff(1e-3), &p).unwrap();
    for i in 0..truth.len() {
        assert!((x[[i, 0]] - x1[[i, 0]]).abs() < 1e-12, "batched frame 0 equals the single solve");
        assert!(x[[i, 0]] >= 0.0);
    }
    // Frame 1 is twice frame 0 up to the non-linear projection; totals agree closely.
    assert!((x.column(1).sum() / x.column(0).sum() - 2.0).abs() < 0.02);
}

#[test]
fn fista_and_tv_recover_the_truth_and_respect_non_negativity() {
    let (sys, truth, b) = problem();
    let (xf, _) = fista::solve(&sys, b.view(), 1e-4, &FistaParams { iterations: 2000, non_negative: true }).unwrap();
    assert!(xf.iter().all(|v| *v >= 0.0));
    assert!(rel(&xf.column(0).to_owned(), &truth) < 0.3, "FISTA {}", rel(&xf.column(0).to_owned(), &truth));
    let (xt, _) =
        tv::solve(&sys, b.view(), 1e-4, [30, 1, 1], &TvParams { iterations: 3000, non_negative: true }).unwrap();
    assert!(xt.iter().all(|v| *v >= 0.0));
    assert!(rel(&xt.column(0).to_owned(), &truth) < 0.3, "TV {}", rel(&xt.column(0).to_owned(), &truth));
    // Total iron is preserved far better than voxel values.
    assert!((xt.column(0).sum() / truth.sum() - 1.0).abs() < 0.05);
}

#[test]
fn automatic_lambda_methods_give_sane_values() {
    let (sys, truth, b) = problem();
    let svd = TikhonovSvd::new(sys.a.view()).unwrap();
    // Noise norm of the perturbation added in problem(): uniform ±5e-4 → RMS ≈ 2.9e-4 per row.
    let delta = 2.9e-4 * (b.nrows() as f64).sqrt();
    for (name, l) in [
        ("discrepancy", svd.lambda_discrepancy(b.column(0), delta, 1.0).unwrap()),
        ("gcv", svd.lambda_gcv(b.column(0)).unwrap()),
        ("lcurve", svd.lambda_lcurve(b.column(0)).unwrap()),
    ] {
        let x = svd.solve(b.column(0), l).unwrap();
        let e = rel(&x, &truth);
        assert!(l > 0.0 && e < 0.5, "{name}: λ = {l:e}, error {e}");
    }
}

#[test]
fn wrong_shapes_are_errors_not_panics() {
    let (sys, _, _) = problem();
    let bad = Array2::zeros((5, 1));
    assert!(kaczmarz::solve(sys.a.view(), bad.view(), 0.0, &KaczmarzParams::default()).is_err());
    assert!(cgnr::solve(&sys, bad.view(), 0.0, &CgnrParams::default()).is_err());
    assert!(kaczmarz::solve(sys.a.view(), Array2::zeros((48, 1)).view(), -1.0, &KaczmarzParams::default()).is_err());
}
