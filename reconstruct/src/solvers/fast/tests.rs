//! Tests of the fast solvers against the slow references (issue 12 acceptance: blocked Kaczmarz equals the row
//! loop to 1e-10 at f64 and within twice the row loop's own f32-vs-f64 difference at f32), the converge-to-direct
//! checks, and independence of the thread count.
// See: issue 12.

use std::sync::Arc;

use magpie_core::operator::testing::{assert_adjoint, rel_diff};
use magpie_core::operator::LinearOperator;
use num_complex::{Complex32, Complex64};

use super::cgnr::{self, BatchedCgnrParams};
use super::fista::{self, BatchedFistaParams};
use super::kaczmarz::{BlockedKaczmarz, BlockedKaczmarzParams};
use super::reference::{kaczmarz_rows, solve_dense, tikhonov_direct};
use super::synthetic::Problem;
use crate::engine::{Element, Parallelism, SystemMatrix};

fn system<T: Element>(pb: &Problem, par: Parallelism) -> Arc<SystemMatrix<T>> {
    let s = pb.s.iter().map(|z| T::from_c64(Complex64::new(z.re.into(), z.im.into()))).collect();
    Arc::new(SystemMatrix::from_row_major(s, pb.rows, pb.cols, par).unwrap())
}

fn data<T: Element>(pb: &Problem) -> Vec<T> {
    pb.b.iter().map(|z| T::from_c64(Complex64::new(z.re.into(), z.im.into()))).collect()
}

#[test]
fn blocked_kaczmarz_equals_the_row_loop_in_f64() {
    let pb = Problem::new(150, 125, 3, 7);
    let s = system::<Complex64>(&pb, Parallelism::sequential());
    let b = data::<Complex64>(&pb);
    let lam = s.lambda_eff(1e-3);
    for non_negative in [true, false] {
        let want = kaczmarz_rows(&s, &b, 3, lam, 3, non_negative);
        // Block sizes that divide the rows, that do not, a single row and all rows in one block.
        for k in [1, 16, 37, 64, 150] {
            let solver = BlockedKaczmarz::build(s.clone(), lam, k).unwrap();
            let p = BlockedKaczmarzParams { sweeps: 3, non_negative, residuals: false };
            let (got, info) = solver.solve(&b, 3, &p).unwrap();
            let e = rel_diff(&got, &want);
            assert!(e < 1e-10, "k = {k}, non_negative = {non_negative}: relative difference {e:e}");
            assert_eq!(info.sweeps, 3);
            assert!(info.residual_history.is_empty(), "residuals only when asked for");
            // The single-frame path (chunked, no GEMV) against the row loop's frame 1.
            let (one, _) = solver.solve(&b[pb.rows..2 * pb.rows], 1, &p).unwrap();
            let e = rel_diff(&one, &want[pb.cols..2 * pb.cols]);
            assert!(e < 1e-10, "one frame, k = {k}, non_negative = {non_negative}: relative difference {e:e}");
        }
    }
}

#[test]
fn blocked_kaczmarz_in_f32_is_as_close_to_f64_as_the_row_loop() {
    let pb = Problem::new(300, 343, 2, 11);
    let s64 = system::<Complex64>(&pb, Parallelism::sequential());
    let s32 = system::<Complex32>(&pb, Parallelism::sequential());
    let (b64, b32) = (data::<Complex64>(&pb), data::<Complex32>(&pb));
    let lam = s64.lambda_eff(1e-3);
    let exact = kaczmarz_rows(&s64, &b64, 2, lam, 3, true);
    let rows32 = kaczmarz_rows(&s32, &b32, 2, lam, 3, true);
    let base = rel_diff(&rows32, &exact);
    assert!(base > 0.0 && base < 1e-4, "row loop f32 vs f64: {base:e}");
    for k in [32, 64, 256] {
        let solver = BlockedKaczmarz::build(s32.clone(), lam, k).unwrap();
        let (got, _) = solver.solve(&b32, 2, &BlockedKaczmarzParams::with_sweeps(3)).unwrap();
        let e = rel_diff(&got, &exact);
        assert!(e <= 2.0 * base, "k = {k}: blocked f32 vs f64 {e:e} > 2 × row loop's {base:e}");
        let (one, _) = solver.solve(&b32[..pb.rows], 1, &BlockedKaczmarzParams::with_sweeps(3)).unwrap();
        let base1 = rel_diff(&rows32[..pb.cols], &exact[..pb.cols]);
        let e1 = rel_diff(&one, &exact[..pb.cols]);
        assert!(e1 <= 2.0 * base1, "one frame, k = {k}: blocked f32 vs f64 {e1:e} > 2 × row loop's {base1:e}");
    }
}

#[test]
fn batched_frames_equal_single_frame_solves_and_threads_do_not_change_results() {
    let pb = Problem::new(400, 2500, 8, 3);
    let s1 = system::<Complex32>(&pb, Parallelism::sequential());
    let s2 = system::<Complex32>(&pb, Parallelism::threads(2).unwrap());
    let b = data::<Complex32>(&pb);
    let lam = s1.lambda_eff(1e-3);
    for k in [32, 128] {
        let seq = BlockedKaczmarz::build(s1.clone(), lam, k).unwrap();
        let par = BlockedKaczmarz::build(s2.clone(), lam, k).unwrap();
        let p = BlockedKaczmarzParams::with_sweeps(2);
        let (x1, _) = seq.solve(&b, 8, &p).unwrap();
        let (x2, _) = par.solve(&b, 8, &p).unwrap();
        assert!(x1 == x2, "k = {k}: 1 and 2 threads differ by {:e}", rel_diff(&x1, &x2));
        let (xf, _) = seq.solve(&b[pb.rows * 5..pb.rows * 6], 1, &p).unwrap();
        let e = rel_diff(&xf, &x1[pb.cols * 5..pb.cols * 6]);
        assert!(e < 1e-6, "frame 5 alone vs in the batch: {e:e}");
        let (xf2, _) = par.solve(&b[pb.rows * 5..pb.rows * 6], 1, &p).unwrap();
        assert!(xf == xf2, "one frame, k = {k}: 1 and 2 threads differ by {:e}", rel_diff(&xf, &xf2));
    }
    let c = BatchedCgnrParams::with_iterations(5);
    let (c1, _) = cgnr::solve(&*s1, &b, 8, lam, &c).unwrap();
    let (c2, _) = cgnr::solve(&*s2, &b, 8, lam, &c).unwrap();
    assert!(c1 == c2, "CGNR: 1 and 2 threads differ by {:e}", rel_diff(&c1, &c2));
}

#[test]
fn kaczmarz_and_cgnr_converge_to_the_direct_tikhonov_solution() {
    // Overdetermined, well-posed: 60 rows, 20 voxels.
    let pb = Problem::new(60, 20, 1, 5);
    let s = system::<Complex64>(&pb, Parallelism::sequential());
    assert_adjoint(&*s, 9, 1e-13);
    let b = data::<Complex64>(&pb);
    let lam = s.lambda_eff(1e-2);
    let direct = tikhonov_direct(&s, &b, lam);
    let solver = BlockedKaczmarz::build(s.clone(), lam, 8).unwrap();
    let p = BlockedKaczmarzParams { sweeps: 4000, non_negative: false, residuals: false };
    let (xk, _) = solver.solve(&b, 1, &p).unwrap();
    let ek = rel_diff(&xk, &direct);
    assert!(ek < 1e-8, "Kaczmarz vs direct: {ek:e}");
    let (xc, info) = cgnr::solve(
        &*s,
        &b,
        1,
        lam,
        &BatchedCgnrParams { iterations: 200, tolerance: 1e-13, non_negative: false, residuals: true },
    )
    .unwrap();
    let ec = rel_diff(&xc, &direct);
    assert!(ec < 1e-8, "CGNR vs direct: {ec:e} after {} iterations", info.iterations);
    assert!(info.residual_history.len() == info.iterations && info.iterations < 200);
}

#[test]
fn fista_converges_to_the_real_least_squares_solution() {
    let pb = Problem::new(80, 15, 2, 13);
    let s = system::<Complex64>(&pb, Parallelism::sequential());
    let b = data::<Complex64>(&pb);
    // Real unknown x: Re(SᴴS) x = Re(Sᴴ b).
    let n = pb.cols;
    let mut a = vec![Complex64::default(); n * n];
    for l in 0..pb.rows {
        let row = s.row(l);
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] += Complex64::new((row[i].conj() * row[j]).re, 0.0);
            }
        }
    }
    let p = BatchedFistaParams { iterations: 3000, non_negative: false, lipschitz: None };
    let (x, info) = fista::solve(&*s, &b, 2, 0.0, &p).unwrap();
    let l_true = fista::spectral_norm_sq(&*s, 1000);
    assert!((info.lipschitz / l_true - 1.0).abs() < 1e-5);
    for f in 0..2 {
        let mut rhs = vec![Complex64::default(); n];
        s.adjoint_unchecked(&b[f * pb.rows..(f + 1) * pb.rows], &mut rhs);
        let mut rhs: Vec<Complex64> = rhs.iter().map(|z| Complex64::new(z.re, 0.0)).collect();
        let mut aa = a.clone();
        solve_dense(&mut aa, &mut rhs, n);
        let e = rel_diff(&x[f * n..(f + 1) * n], &rhs);
        assert!(e < 1e-6, "frame {f}: FISTA vs direct {e:e}");
    }
    let (xp, _) = fista::solve(&*s, &b, 2, 1e-3, &BatchedFistaParams::with_iterations(50)).unwrap();
    assert!(xp.iter().all(|z| z.re >= 0.0 && z.im == 0.0));
}

#[test]
fn invalid_inputs_are_errors() {
    let pb = Problem::new(10, 8, 1, 1);
    let s = system::<Complex32>(&pb, Parallelism::sequential());
    assert!(BlockedKaczmarz::build(s.clone(), -1.0, 4).is_err());
    assert!(BlockedKaczmarz::build(s.clone(), 1.0, 0).is_err());
    let solver = BlockedKaczmarz::build(s.clone(), 1e-3, 4).unwrap();
    assert!(solver.solve(&pb.b[..9], 1, &BlockedKaczmarzParams::default()).is_err());
    assert!(cgnr::solve(&*s, &pb.b[..9], 1, 1e-3, &BatchedCgnrParams::default()).is_err());
    let mut zero_row = pb.s.clone();
    zero_row[..8].fill(Complex32::default());
    let z = Arc::new(SystemMatrix::from_row_major(zero_row, 10, 8, Parallelism::sequential()).unwrap());
    assert!(BlockedKaczmarz::build(z.clone(), 0.0, 4).is_err(), "zero row with λ = 0");
    let sz = BlockedKaczmarz::build(z.clone(), 1e-3, 4).unwrap();
    let (x, _) = sz.solve(&pb.b, 1, &BlockedKaczmarzParams::default()).unwrap();
    let want = kaczmarz_rows(&z, &pb.b, 1, 1e-3, 3, true);
    assert!(rel_diff(&x, &want) < 1e-5, "a zero row changes nothing but its own v (the row loop skips it)");
}
