//! The Langevin function of superparamagnetic equilibrium, its derivatives and envelopes (physics.md §1.1).
//!
//! All functions take the dimensionless argument ξ = μ0 m H / (k_B T) = β·|μ0H| with β = m/(k_B T) [1/T].

/// Below this |ξ| the closed forms lose digits to cancellation and the Taylor series is used.
const SERIES_BELOW: f64 = 1e-2;

/// L(ξ) = coth ξ − 1/ξ.
pub fn langevin(xi: f64) -> f64 {
    let a = xi.abs();
    if a < SERIES_BELOW {
        let x2 = xi * xi;
        // ξ/3 − ξ³/45 + 2ξ⁵/945 − ξ⁷/4725
        xi * (1.0 / 3.0 - x2 * (1.0 / 45.0 - x2 * (2.0 / 945.0 - x2 / 4725.0)))
    } else if a > 20.0 {
        // coth ξ = 1 + 2e^{−2ξ}/(1 − e^{−2ξ}); e^{−40} is below double precision relative to 1.
        xi.signum() - 1.0 / xi
    } else {
        1.0 / xi.tanh() - 1.0 / xi
    }
}

/// L'(ξ) = 1/ξ² − 1/sinh²ξ (normal, "collinear" PSF envelope; L'(0) = 1/3, ∫L' = 2).
pub fn dlangevin(xi: f64) -> f64 {
    let a = xi.abs();
    if a < SERIES_BELOW {
        let x2 = xi * xi;
        // 1/3 − ξ²/15 + 2ξ⁴/189 − ξ⁶/675
        1.0 / 3.0 - x2 * (1.0 / 15.0 - x2 * (2.0 / 189.0 - x2 / 675.0))
    } else if a > 300.0 {
        1.0 / (xi * xi)
    } else {
        let s = xi.sinh();
        1.0 / (xi * xi) - 1.0 / (s * s)
    }
}

/// L(ξ)/ξ, the tangential envelope of the multi-dimensional PSF (value 1/3 at 0).
pub fn langevin_over_xi(xi: f64) -> f64 {
    if xi.abs() < SERIES_BELOW {
        let x2 = xi * xi;
        1.0 / 3.0 - x2 * (1.0 / 45.0 - x2 * (2.0 / 945.0 - x2 / 4725.0))
    } else {
        langevin(xi) / xi
    }
}

/// FWHM in ξ of L' (physics.md §1.1): Δx = FWHM_XI_NORMAL / (β G).
pub const FWHM_XI_NORMAL: f64 = 4.161048;
/// FWHM in ξ of L/ξ (tangential direction).
pub const FWHM_XI_TANGENTIAL: f64 = 9.466639;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_form_checks_of_physics_md() {
        // §8 check 1.
        assert!((dlangevin(0.0) - 1.0 / 3.0).abs() < 1e-15);
        assert!((dlangevin(2.080524) - 1.0 / 6.0).abs() < 1e-6);
        assert!((langevin_over_xi(4.733319) - 1.0 / 6.0).abs() < 1e-6);
        // Saturation L → 1 − 1/ξ.
        assert!((langevin(1e3) - (1.0 - 1e-3)).abs() < 1e-15);
        // Series and closed form agree at the switch point.
        let x = SERIES_BELOW * 1.0001;
        let closed = 1.0 / x.tanh() - 1.0 / x;
        let x2 = x * x;
        let series = x * (1.0 / 3.0 - x2 * (1.0 / 45.0 - x2 * (2.0 / 945.0 - x2 / 4725.0)));
        assert!((closed - series).abs() < 1e-12);
        assert!((langevin(x) - closed).abs() < 1e-12);
    }

    #[test]
    fn derivative_matches_finite_difference_and_integrates_to_two() {
        for &x in &[-30.0, -3.0, -0.5, 0.005, 0.02, 1.0, 7.0, 40.0] {
            let h = 1e-5;
            let fd = (langevin(x + h) - langevin(x - h)) / (2.0 * h);
            assert!((fd - dlangevin(x)).abs() < 1e-8, "x={x}");
        }
        // ∫ L' dξ = L(∞) − L(−∞) = 2; trapezoid on [−2000, 2000] misses 2/2000 of tails.
        let (a, n) = (2000.0, 400_000);
        let h = 2.0 * a / n as f64;
        let s: f64 =
            (0..=n).map(|i| dlangevin(-a + i as f64 * h) * if i == 0 || i == n { 0.5 } else { 1.0 }).sum::<f64>() * h;
        assert!((s - (2.0 - 2.0 / a)).abs() < 1e-6, "{s}");
    }
}
