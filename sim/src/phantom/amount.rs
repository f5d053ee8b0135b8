//! How much iron a source holds: a mass, a concentration over the shape's volume, or labelled cells.

use magpie_core::units::{iron_mass_kg_from_concentration, mol_per_l_from_mg_per_ml, KG_PER_NG, KG_PER_PG};
use serde::{Deserialize, Serialize};

use super::FieldError;

/// The iron of a source (SI inside).
///
/// TOML (exactly one form):
/// * `amount = { iron_ng = 50.0 }` (also `iron_ug`, `iron_kg`);
/// * `amount = { concentration_mmol_per_l = 100.0 }` (also `concentration_mol_per_l`, or the mass concentration
///   `concentration_mg_per_ml`, mg Fe per mL): spread over the shape's volume, so not for a point;
/// * `amount = { cells = 3e5, pg_fe_per_cell = 10.0 }` (also `iron_kg_per_cell`): labelled cells. Zero cells,
///   or unlabelled cells with 0 pg/cell, are allowed (a control site).
///
/// It is written back in SI keys (`iron_kg`, `concentration_mol_per_l`, `cells` + `iron_kg_per_cell`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawAmount", into = "RawAmount")]
pub enum Amount {
    /// A given iron mass.
    Iron {
        /// Iron mass [kg].
        iron_kg: f64,
    },
    /// A uniform iron concentration over the shape's volume.
    Concentration {
        /// Iron concentration [mol Fe / L].
        concentration_mol_per_l: f64,
    },
    /// Labelled cells.
    Cells {
        /// Number of cells (a real number so that phantoms can be scaled).
        cells: f64,
        /// Iron per cell [kg].
        iron_kg_per_cell: f64,
    },
}

impl Amount {
    /// Iron mass [kg] in a shape of `volume_m3` [m³] (the volume matters only for a concentration).
    pub fn iron_kg(&self, volume_m3: f64) -> f64 {
        match *self {
            Amount::Iron { iron_kg } => iron_kg,
            Amount::Concentration { concentration_mol_per_l } => {
                iron_mass_kg_from_concentration(concentration_mol_per_l, volume_m3)
            }
            Amount::Cells { cells, iron_kg_per_cell } => cells * iron_kg_per_cell,
        }
    }

    /// The number of cells, for an amount given as cells.
    pub fn cells(&self) -> Option<f64> {
        match *self {
            Amount::Cells { cells, .. } => Some(cells),
            _ => None,
        }
    }

    /// The same amount times `factor` (cells scale in number, not in iron per cell).
    pub fn scaled(&self, factor: f64) -> Amount {
        match *self {
            Amount::Iron { iron_kg } => Amount::Iron { iron_kg: iron_kg * factor },
            Amount::Concentration { concentration_mol_per_l } => {
                Amount::Concentration { concentration_mol_per_l: concentration_mol_per_l * factor }
            }
            Amount::Cells { cells, iron_kg_per_cell } => Amount::Cells { cells: cells * factor, iron_kg_per_cell },
        }
    }

    /// Every field finite and non-negative (SI field names in the error).
    pub(crate) fn check(&self) -> Result<(), FieldError> {
        let nn = |field: &'static str, v: f64| {
            if v >= 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(FieldError::new(field, format!("must be non-negative and finite (got {v})")))
            }
        };
        match *self {
            Amount::Iron { iron_kg } => nn("iron_kg", iron_kg),
            Amount::Concentration { concentration_mol_per_l } => nn("concentration_mol_per_l", concentration_mol_per_l),
            Amount::Cells { cells, iron_kg_per_cell } => {
                nn("cells", cells)?;
                nn("iron_kg_per_cell", iron_kg_per_cell)
            }
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAmount {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iron_kg: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iron_ug: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iron_ng: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    concentration_mol_per_l: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    concentration_mmol_per_l: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    concentration_mg_per_ml: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cells: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pg_fe_per_cell: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    iron_kg_per_cell: Option<f64>,
}

const FORMS: &str = "give exactly one of `iron_ng`, `iron_ug`, `iron_kg`, `concentration_mmol_per_l`, \
                     `concentration_mol_per_l`, `concentration_mg_per_ml`, or `cells` with `pg_fe_per_cell`";

impl RawAmount {
    /// Converts to SI (without range checks) and records the keys used.
    pub(crate) fn to_amount(&self) -> Result<(Amount, super::shapes::KeyMap), FieldError> {
        let mut given: Vec<(&'static str, f64)> = Vec::new();
        let mut add = |k: &'static str, v: Option<f64>| {
            if let Some(v) = v {
                given.push((k, v));
            }
        };
        add("iron_kg", self.iron_kg);
        add("iron_ug", self.iron_ug);
        add("iron_ng", self.iron_ng);
        add("concentration_mol_per_l", self.concentration_mol_per_l);
        add("concentration_mmol_per_l", self.concentration_mmol_per_l);
        add("concentration_mg_per_ml", self.concentration_mg_per_ml);
        let per_cell = match (self.pg_fe_per_cell, self.iron_kg_per_cell) {
            (Some(_), Some(_)) => {
                return Err(FieldError::new("pg_fe_per_cell", "given together with `iron_kg_per_cell`: give one"))
            }
            (Some(pg), None) => Some((pg * KG_PER_PG, "pg_fe_per_cell")),
            (None, Some(kg)) => Some((kg, "iron_kg_per_cell")),
            (None, None) => None,
        };
        match (self.cells, per_cell) {
            (Some(cells), Some((kg, key))) => {
                if let Some((k, _)) = given.first() {
                    return Err(FieldError::new(*k, format!("given together with `cells`: {FORMS}")));
                }
                Ok((Amount::Cells { cells, iron_kg_per_cell: kg }, vec![("cells", "cells"), ("iron_kg_per_cell", key)]))
            }
            (Some(_), None) => Err(FieldError::new("pg_fe_per_cell", "missing: `cells` needs the iron per cell")),
            (None, Some((_, key))) => Err(FieldError::new(key, "given without `cells`")),
            (None, None) => match given.as_slice() {
                [] => Err(FieldError::new("amount", format!("is empty: {FORMS}"))),
                [(k, v)] => {
                    let (a, si) = match *k {
                        "iron_kg" => (Amount::Iron { iron_kg: *v }, "iron_kg"),
                        "iron_ug" => (Amount::Iron { iron_kg: v * 1e3 * KG_PER_NG }, "iron_kg"),
                        "iron_ng" => (Amount::Iron { iron_kg: v * KG_PER_NG }, "iron_kg"),
                        "concentration_mol_per_l" => {
                            (Amount::Concentration { concentration_mol_per_l: *v }, "concentration_mol_per_l")
                        }
                        "concentration_mmol_per_l" => {
                            (Amount::Concentration { concentration_mol_per_l: v * 1e-3 }, "concentration_mol_per_l")
                        }
                        _ => (
                            Amount::Concentration { concentration_mol_per_l: mol_per_l_from_mg_per_ml(*v) },
                            "concentration_mol_per_l",
                        ),
                    };
                    Ok((a, vec![(si, *k)]))
                }
                [(k1, _), (k2, _), ..] => Err(FieldError::new(*k2, format!("given together with `{k1}`: {FORMS}"))),
            },
        }
    }
}

impl TryFrom<RawAmount> for Amount {
    type Error = String;
    fn try_from(raw: RawAmount) -> Result<Self, String> {
        let (a, keys) = raw.to_amount().map_err(|e| e.to_string())?;
        a.check().map_err(|e| e.renamed(&keys).to_string())?;
        Ok(a)
    }
}

impl From<Amount> for RawAmount {
    fn from(a: Amount) -> Self {
        match a {
            Amount::Iron { iron_kg } => RawAmount { iron_kg: Some(iron_kg), ..Default::default() },
            Amount::Concentration { concentration_mol_per_l } => {
                RawAmount { concentration_mol_per_l: Some(concentration_mol_per_l), ..Default::default() }
            }
            Amount::Cells { cells, iron_kg_per_cell } => {
                RawAmount { cells: Some(cells), iron_kg_per_cell: Some(iron_kg_per_cell), ..Default::default() }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Amount, String> {
        #[derive(Deserialize)]
        struct W {
            amount: Amount,
        }
        toml::from_str::<W>(s).map(|w| w.amount).map_err(|e| e.to_string())
    }

    #[test]
    fn natural_toml_forms() {
        assert_eq!(parse("amount = { iron_ng = 50.0 }").unwrap(), Amount::Iron { iron_kg: 50.0 * KG_PER_NG });
        let a = parse("amount = { iron_ug = 2 }").unwrap();
        assert!((a.iron_kg(0.0) - 2e-9).abs() < 1e-24);
        assert_eq!(
            parse("amount = { concentration_mmol_per_l = 100.0 }").unwrap(),
            Amount::Concentration { concentration_mol_per_l: 0.1 }
        );
        let a = parse("amount = { concentration_mg_per_ml = 55.845 }").unwrap();
        assert!((a.iron_kg(1e-6) - 55.845e-6).abs() < 1e-18, "{}", a.iron_kg(1e-6));
        let a = parse("amount = { cells = 3e5, pg_fe_per_cell = 10.0 }").unwrap();
        assert_eq!(a.cells(), Some(3e5));
        assert!((a.iron_kg(0.0) - 3e-9).abs() < 1e-22);
        assert_eq!(parse("amount = { cells = 0, pg_fe_per_cell = 10.0 }").unwrap().iron_kg(0.0), 0.0);
    }

    #[test]
    fn bad_amounts_name_the_key() {
        let e = parse("amount = { iron_ng = -1.0 }").unwrap_err();
        assert!(e.contains("iron_ng") && e.contains("non-negative"), "{e}");
        let e = parse("amount = { iron_ng = 1.0, concentration_mmol_per_l = 3 }").unwrap_err();
        assert!(e.contains("concentration_mmol_per_l") && e.contains("iron_ng"), "{e}");
        let e = parse("amount = { cells = 10 }").unwrap_err();
        assert!(e.contains("pg_fe_per_cell"), "{e}");
        let e = parse("amount = { iron_mg = 1 }").unwrap_err();
        assert!(e.contains("iron_mg"), "{e}");
        let e = parse("amount = { }").unwrap_err();
        assert!(e.contains("exactly one"), "{e}");
    }
}
