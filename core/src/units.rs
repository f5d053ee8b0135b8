//! Physical constants and unit conventions.
//!
//! magpie is SI inside: metres, seconds, hertz, kelvin, kilograms, amperes. Physical quantities carry their unit
//! in the field name (`gradient_t_per_m`, `drive_frequency_hz`, `iron_mass_kg`). Magnetic field strengths are
//! stored as the *tesla value of μ0·H* (suffix `_t`), exactly as MDF stores them ("T/μ0"); a gradient likewise as
//! μ0·G in T/m (suffix `_t_per_m`). Divide by [`MU0`] to get H in A/m or G in A/m².

/// Vacuum permeability μ0 [T·m/A] (the pre-2019 exact value; the 2019 SI value differs by 5e-10 relative).
pub const MU0: f64 = 4.0e-7 * std::f64::consts::PI;
/// Boltzmann constant k_B [J/K] (exact SI).
pub const KB: f64 = 1.380649e-23;
/// Avogadro constant [1/mol] (exact SI).
pub const AVOGADRO: f64 = 6.02214076e23;
/// Molar mass of iron [kg/mol].
pub const FE_MOLAR_MASS_KG_PER_MOL: f64 = 55.845e-3;

/// Kilograms per nanogram.
pub const KG_PER_NG: f64 = 1e-12;
/// Kilograms per picogram.
pub const KG_PER_PG: f64 = 1e-15;
/// Cubic metres per litre.
pub const M3_PER_L: f64 = 1e-3;

/// Iron mass [kg] of `concentration_mol_per_l` (mol Fe per litre) in `volume_m3`.
pub fn iron_mass_kg_from_concentration(concentration_mol_per_l: f64, volume_m3: f64) -> f64 {
    concentration_mol_per_l * (volume_m3 / M3_PER_L) * FE_MOLAR_MASS_KG_PER_MOL
}

/// Iron concentration in mol/L equivalent to a mass concentration in mg Fe per mL (= kg/m³).
pub fn mol_per_l_from_mg_per_ml(mg_per_ml: f64) -> f64 {
    // 1 mg/mL = 1 g/L; divide by the molar mass in g/mol.
    mg_per_ml / (FE_MOLAR_MASS_KG_PER_MOL * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_mmol_per_l_is_55_845_ug_per_ml() {
        // physics.md §0: 1 mmol Fe/L = 55.845 µg Fe/mL.
        let kg = iron_mass_kg_from_concentration(1e-3, 1e-6);
        assert!((kg - 55.845e-9).abs() < 1e-18);
        assert!((mol_per_l_from_mg_per_ml(0.055845) - 1e-3).abs() < 1e-15);
    }

    #[test]
    fn openmpidata_delta_sample_iron() {
        // physics.md §4.1: 100 mmol/L in a 2×2×1 mm delta sample (4 µL) holds 22.3 µg Fe.
        let kg = iron_mass_kg_from_concentration(0.1, 2e-3 * 2e-3 * 1e-3);
        assert!((kg * 1e9 - 22.338).abs() < 0.01, "{}", kg * 1e9);
    }
}
