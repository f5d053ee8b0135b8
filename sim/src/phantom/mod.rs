//! # Phantoms: where the SPION iron is
//!
//! A [`Phantom`] is a named list of [`Source`]s, each a [`Shape`] (point, sphere, ellipsoid, cylinder/tube, box,
//! cone or truncated cone) filled uniformly with an [`Amount`] of iron (a mass, a concentration over the shape's
//! volume, or a number of labelled cells × iron per cell). Phantoms are written in TOML (lengths in mm or m, the
//! unit in the key) and held in SI; the built-in presets live in `sample_data/phantoms/*.toml` and are embedded
//! in the binary ([`Phantom::preset`], [`Phantom::preset_names`]).
//!
//! ```
//! use magpie_sim::phantom::Phantom;
//! use magpie_sim::magpie_core::Grid;
//!
//! let p = Phantom::from_toml_str(r#"
//!     name = "one_sphere"
//!     [[sources]]
//!     name = "s"
//!     shape = { type = "sphere", center_mm = [0, 0, 0], radius_mm = 1.0 }
//!     amount = { iron_ng = 500.0 }
//! "#, "example").unwrap();
//! assert!((p.total_iron_kg() - 500e-12).abs() < 1e-24);
//! // Ground truth on a 4 × 4 × 4 grid of 1 mm voxels: the sphere straddles the 8 central voxels equally.
//! let grid = Grid::new([4, 4, 4], [4e-3; 3], [0.0; 3]);
//! let map = p.iron_map_ng(&grid);
//! assert!((map.sum() - 500.0).abs() < 1e-9);
//! assert!((map[grid.flatten([1, 1, 1])] - 62.5).abs() < 1e-6);
//! // What the simulator consumes: point masses on the 2× refined lattice, summing to the iron exactly.
//! let masses = p.point_masses(&grid, 2);
//! let sum: f64 = masses.iter().map(|m| m.iron_kg).sum();
//! assert!((sum - 500e-12).abs() < 1e-24);
//! ```
//!
//! ## What the simulator and the ground truth see
//!
//! * [`Phantom::point_masses`] samples every solid at the centres of the sub-voxels (the simulation grid refined
//!   `supersampling` times per axis, the lattice extended beyond the grid to the whole shape) that lie inside it,
//!   and scales each source's masses to sum exactly to its iron. A shape that no lattice point hits becomes one
//!   mass at its centroid; a point source is one mass.
//! * [`Phantom::iron_map_kg`] integrates each shape's volume in every voxel (exact for points and boxes, to 1e-9
//!   of the volume for curved shapes: see `raster.rs`), then distributes the source's iron in proportion, so a
//!   source inside the grid is distributed with its exact iron and a source cut by the grid edge contributes
//!   the fraction of its volume inside.
//!
//! **Lower-dimensional grids** (a 2-D grid has `shape[2] == 1`): a single-voxel axis is a *projection axis*. The
//! ground truth counts a sample's whole thickness along it into the plane's pixels (a 2-D scan sees the whole
//! sample; with `fov_m[2] == 0` nothing else would make sense, and for a slab of finite thickness magpie keeps
//! the same convention, unlike [`Grid::voxel_of`], which drops points outside such a slab). The point masses
//! of a solid are placed on the plane z = `center_m[2]` (on `supersampling` sub-layers of the slab when
//! `fov_m[2] > 0`), each in-plane lattice point weighted by the solid's thickness along z there, so their
//! in-plane distribution is the same projection. A point source keeps its z when it lies inside the slab, else it
//! is moved to the centre plane. Design 2-D phantoms in the plane (as `concentration_cubes_2d`).
//!
//! ## Units
//! SI inside (m, kg, mol/L); every field names its unit (`center_m`, `iron_kg`, `concentration_mol_per_l`).
//! Concentrations are of iron atoms (mol Fe per litre, 1 mmol/L = 55.845 µg Fe/mL).

mod amount;
mod body;
mod presets;
mod raster;
mod sampling;
mod shapes;

use std::path::Path;

use magpie_core::units::{KG_PER_NG, KG_PER_PG};
use magpie_core::Grid;
use ndarray::Array1;
use serde::{Deserialize, Serialize};

pub use amount::Amount;
pub use shapes::Shape;

use raster::AxisCells;
use shapes::{KeyMap, RawShape};

/// One point mass of iron (position [m], iron [kg]), the simulator's input: the forward model's own type.
pub use crate::forward::PointMass;

/// Errors of phantom descriptions.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PhantomError {
    /// A file could not be read.
    #[error("phantom {origin}: cannot read the file: {error}")]
    Io {
        /// The path.
        origin: String,
        /// The I/O error.
        #[source]
        error: std::io::Error,
    },
    /// TOML syntax error, unknown or missing key, or a value of the wrong type.
    #[error("phantom {origin}: {message}")]
    Parse {
        /// File, preset or string name.
        origin: String,
        /// The parser's message (with line, column and the offending key).
        message: String,
    },
    /// A source has an invalid field.
    #[error("{}source {source_name:?}: `{field}` {reason}", phantom_prefix(.phantom))]
    InvalidSource {
        /// File or preset name, or the phantom's name (empty for a lone source).
        phantom: String,
        /// The source's name.
        source_name: String,
        /// The field (the TOML key as written, or the SI field name).
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// The phantom as a whole is invalid (duplicate or empty source names).
    #[error("phantom {phantom}: {reason}")]
    InvalidPhantom {
        /// File or preset name, or the phantom's name.
        phantom: String,
        /// What is wrong.
        reason: String,
    },
    /// Unknown preset name.
    #[error("unknown phantom preset {name:?}; known presets: {known}")]
    UnknownPreset {
        /// What was asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// An argument of a method is out of range.
    #[error("{argument} = {value} is invalid: {reason}")]
    InvalidArgument {
        /// The argument.
        argument: &'static str,
        /// Its value.
        value: f64,
        /// What is wrong.
        reason: &'static str,
    },
}

fn phantom_prefix(phantom: &str) -> String {
    if phantom.is_empty() {
        String::new()
    } else {
        format!("phantom {phantom}, ")
    }
}

/// A field error before the source's name is attached.
#[derive(Debug, Clone)]
pub(crate) struct FieldError {
    field: String,
    reason: String,
}

impl FieldError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError { field: field.into(), reason: reason.into() }
    }

    /// Replaces an SI field name by the TOML key it was read from.
    fn renamed(mut self, keys: &KeyMap) -> Self {
        if let Some((_, k)) = keys.iter().find(|(si, _)| *si == self.field) {
            self.field = (*k).to_string();
        }
        self
    }

    fn into_error(self, phantom: &str, source_name: &str) -> PhantomError {
        PhantomError::InvalidSource {
            phantom: phantom.into(),
            source_name: source_name.into(),
            field: self.field,
            reason: self.reason,
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` {}", self.field, self.reason)
    }
}

/// One source: a uniformly filled shape with an amount of iron.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Name, unique within the phantom (used as a region of interest).
    pub name: String,
    /// Geometry.
    pub shape: Shape,
    /// Iron.
    pub amount: Amount,
}

impl Source {
    /// Volume of the shape [m³] (0 for a point).
    pub fn volume_m3(&self) -> f64 {
        self.shape.volume_m3()
    }

    /// Iron mass [kg]: the mass, concentration × volume, or cells × iron per cell.
    ///
    /// # Errors
    /// A concentration on a point source (no volume), or an invalid shape or amount.
    pub fn iron_kg(&self) -> Result<f64, PhantomError> {
        self.check().map_err(|e| e.into_error("", &self.name))?;
        Ok(self.amount.iron_kg(self.volume_m3()))
    }

    /// The number of cells, if the amount is given as cells.
    pub fn cells(&self) -> Option<f64> {
        self.amount.cells()
    }

    /// Centroid of the shape [m].
    pub fn centroid_m(&self) -> [f64; 3] {
        self.shape.centroid_m()
    }

    /// The volume of the shape in each voxel of `grid` [m³] (flat, x fastest; all zero for a point): a region of
    /// interest with partial-volume weights, whatever the source's iron. Single-voxel axes are projection axes
    /// (see the module documentation). An invalid source or grid gives zeros (logged).
    pub fn volume_map_m3(&self, grid: &Grid) -> Array1<f64> {
        let mut map = Array1::zeros(grid.len());
        if let Some(f) = self.checked_fractions(grid) {
            let v = self.volume_m3();
            for (p, w) in f {
                map[p] += v * w;
            }
        }
        map
    }

    /// The source's iron in each voxel of `grid` [kg] (flat, x fastest); see [`Phantom::iron_map_kg`].
    pub fn iron_map_kg(&self, grid: &Grid) -> Array1<f64> {
        let mut map = Array1::zeros(grid.len());
        let Ok(iron) = self.iron_kg() else {
            tracing::warn!(source = %self.name, "invalid source left out of the iron map");
            return map;
        };
        if let Some(f) = self.checked_fractions(grid) {
            for (p, w) in f {
                map[p] += iron * w;
            }
        }
        map
    }

    fn checked_fractions(&self, grid: &Grid) -> Option<Vec<(usize, f64)>> {
        if let Err(e) = self.check() {
            tracing::warn!(source = %self.name, error = %e, "invalid source left out of the map");
            return None;
        }
        let f = self.volume_fractions(grid);
        if f.is_none() && !grid.is_empty() {
            tracing::warn!(?grid, "unusable grid (non-positive or non-finite voxel size): empty map");
        }
        f
    }

    /// Fraction of the source (its volume, or 1 for a point) in each voxel it touches; `None` for an unusable
    /// grid.
    fn volume_fractions(&self, grid: &Grid) -> Option<Vec<(usize, f64)>> {
        let cells: [AxisCells; 3] =
            [AxisCells::new(grid, 0, 0.0)?, AxisCells::new(grid, 1, 0.0)?, AxisCells::new(grid, 2, 0.0)?];
        match self.shape {
            Shape::Point { position_m } => {
                let idx: Option<Vec<usize>> = (0..3).map(|d| cells[d].cell(position_m[d])).collect();
                Some(idx.map(|i| vec![(grid.flatten([i[0], i[1], i[2]]), 1.0)]).unwrap_or_default())
            }
            Shape::Box { center_m, size_m } => {
                // Exact: the overlap of two axis-aligned boxes is a product of interval overlaps.
                let per_axis: Vec<Vec<(usize, f64)>> = (0..3)
                    .map(|d| {
                        let (lo, hi) = (center_m[d] - 0.5 * size_m[d], center_m[d] + 0.5 * size_m[d]);
                        let c = &cells[d];
                        if c.unbounded {
                            return vec![(0, 1.0)];
                        }
                        (0..c.n)
                            .filter_map(|i| {
                                let a = (c.start + i as f64 * c.width).max(lo);
                                let b = (c.start + (i + 1) as f64 * c.width).min(hi);
                                (b > a).then(|| (i, (b - a) / size_m[d]))
                            })
                            .collect()
                    })
                    .collect();
                let mut out = Vec::new();
                for &(iz, fz) in &per_axis[2] {
                    for &(iy, fy) in &per_axis[1] {
                        for &(ix, fx) in &per_axis[0] {
                            out.push((grid.flatten([ix, iy, iz]), fx * fy * fz));
                        }
                    }
                }
                Some(out)
            }
            _ => {
                let body = self.shape.body()?;
                let (vols, total) = raster::body_volumes(&body, grid, self.volume_m3())?;
                let exact = self.volume_m3();
                if ((total - exact) / exact).abs() > 1e-7 {
                    tracing::warn!(source = %self.name, total, exact, "volume integration less accurate than 1e-7");
                }
                Some(vols.into_iter().map(|(p, v)| (p, v / total)).collect())
            }
        }
    }

    /// Shape and amount in range, and no concentration on a point (SI field names).
    fn check(&self) -> Result<(), FieldError> {
        self.shape.check()?;
        self.amount.check()?;
        if matches!(self.shape, Shape::Point { .. }) && matches!(self.amount, Amount::Concentration { .. }) {
            return Err(FieldError::new(
                "amount",
                "is a concentration, but a point has no volume: give `iron_ng` (or cells) for a point source",
            ));
        }
        Ok(())
    }
}

/// A phantom: named sources of iron.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawPhantom")]
pub struct Phantom {
    /// Name (a preset's name is its file name).
    pub name: String,
    /// What it is, in a sentence or two.
    pub description: String,
    /// Where it comes from: citation or design notes.
    pub reference: String,
    /// The sources (may be empty: a blank).
    pub sources: Vec<Source>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: String,
    shape: RawShape,
    amount: amount::RawAmount,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPhantom {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    sources: Vec<RawSource>,
}

impl RawPhantom {
    fn into_phantom(self, origin: &str) -> Result<Phantom, PhantomError> {
        let mut sources = Vec::with_capacity(self.sources.len());
        for s in self.sources {
            let err = |e: FieldError| e.into_error(origin, &s.name);
            let (shape, skeys) = s.shape.to_shape().map_err(err)?;
            shape.check().map_err(|e| err(e.renamed(&skeys)))?;
            let (amount, akeys) = s.amount.to_amount().map_err(err)?;
            amount.check().map_err(|e| err(e.renamed(&akeys)))?;
            let src = Source { name: s.name.clone(), shape, amount };
            if let Err(e) = src.check() {
                // A concentration on a point: name the concentration key the file used.
                let key = akeys.first().map_or("amount", |k| k.1);
                return Err(FieldError::new(key, e.reason).into_error(origin, &s.name));
            }
            sources.push(src);
        }
        let p = Phantom { name: self.name, description: self.description, reference: self.reference, sources };
        p.check_names(origin)?;
        Ok(p)
    }
}

impl TryFrom<RawPhantom> for Phantom {
    type Error = PhantomError;
    fn try_from(raw: RawPhantom) -> Result<Self, PhantomError> {
        let origin = raw.name.clone();
        raw.into_phantom(&origin)
    }
}

impl Phantom {
    /// A phantom from parts, checked as a file would be.
    ///
    /// # Errors
    /// Invalid shapes or amounts, a concentration on a point, empty or duplicate source names.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        reference: impl Into<String>,
        sources: Vec<Source>,
    ) -> Result<Self, PhantomError> {
        let p = Phantom { name: name.into(), description: description.into(), reference: reference.into(), sources };
        p.validate()?;
        Ok(p)
    }

    /// Parses and checks a TOML description; `origin` (a file or preset name) labels the errors.
    ///
    /// # Errors
    /// [`PhantomError::Parse`] for syntax errors, unknown or missing keys and wrong types (with line and
    /// column); [`PhantomError::InvalidSource`] naming the source and key for out-of-range values, both `_mm` and
    /// `_m` forms of a key, or a concentration on a point; [`PhantomError::InvalidPhantom`] for empty or
    /// duplicate source names.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self, PhantomError> {
        let raw: RawPhantom =
            toml::from_str(text).map_err(|e| PhantomError::Parse { origin: origin.into(), message: e.to_string() })?;
        raw.into_phantom(origin)
    }

    /// Reads and checks a TOML file.
    ///
    /// # Errors
    /// Unreadable file, or as [`Self::from_toml_str`] (the errors name the file).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, PhantomError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| PhantomError::Io { origin: origin.clone(), error })?;
        Self::from_toml_str(&text, &origin)
    }

    /// A built-in preset (see [`Self::preset_names`]; a trailing `.toml` is ignored).
    ///
    /// # Errors
    /// [`PhantomError::UnknownPreset`] listing the known names.
    pub fn preset(name: &str) -> Result<Self, PhantomError> {
        let key = name.trim_end_matches(".toml");
        match presets::PRESETS.iter().find(|(n, _)| *n == key) {
            Some((n, text)) => Self::from_toml_str(text, &format!("preset {n}")),
            None => Err(PhantomError::UnknownPreset { name: name.into(), known: Self::preset_names().join(", ") }),
        }
    }

    /// Names of the built-in presets.
    pub fn preset_names() -> Vec<&'static str> {
        presets::PRESETS.iter().map(|(n, _)| *n).collect()
    }

    /// A preset name, or a path to a TOML file (an existing path ending in `.toml`).
    ///
    /// # Errors
    /// As [`Self::preset`] or [`Self::from_file`].
    pub fn load(name_or_path: &str) -> Result<Self, PhantomError> {
        let p = Path::new(name_or_path);
        if p.extension().is_some_and(|e| e == "toml") && p.exists() {
            Self::from_file(p)
        } else {
            Self::preset(name_or_path)
        }
    }

    /// The phantom as TOML (SI keys), for provenance; [`Self::from_toml_str`] reads it back.
    ///
    /// # Errors
    /// Non-finite numbers cannot be written.
    pub fn to_toml_string(&self) -> Result<String, PhantomError> {
        toml::to_string(self).map_err(|e| PhantomError::Parse { origin: self.name.clone(), message: e.to_string() })
    }

    /// Checks every source (as loading does) and that source names are non-empty and unique.
    ///
    /// # Errors
    /// The first problem found, naming the source and the (SI) field.
    pub fn validate(&self) -> Result<(), PhantomError> {
        for s in &self.sources {
            s.check().map_err(|e| e.into_error(&self.name, &s.name))?;
        }
        self.check_names(&self.name)
    }

    fn check_names(&self, origin: &str) -> Result<(), PhantomError> {
        let mut seen = std::collections::HashSet::new();
        for s in &self.sources {
            if s.name.trim().is_empty() {
                return Err(PhantomError::InvalidPhantom {
                    phantom: origin.into(),
                    reason: "a source has an empty name".into(),
                });
            }
            if !seen.insert(s.name.as_str()) {
                return Err(PhantomError::InvalidPhantom {
                    phantom: origin.into(),
                    reason: format!("source name {:?} is used twice (names must be unique)", s.name),
                });
            }
        }
        Ok(())
    }

    /// The source called `name`.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// Total iron [kg] (invalid sources, possible only in hand-built phantoms, count 0 and are logged).
    pub fn total_iron_kg(&self) -> f64 {
        self.sources.iter().map(|s| self.valid_iron(s).unwrap_or(0.0)).sum()
    }

    fn valid_iron(&self, s: &Source) -> Option<f64> {
        match s.iron_kg() {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(phantom = %self.name, error = %e, "invalid source ignored");
                None
            }
        }
    }

    /// The same phantom with every amount × `factor` (masses, concentrations, and numbers of cells; the iron
    /// per cell is a property of the label and is kept). Used to check that signals are linear in iron.
    ///
    /// # Errors
    /// `factor` negative or not finite.
    pub fn scaled(&self, factor: f64) -> Result<Phantom, PhantomError> {
        if !(factor >= 0.0 && factor.is_finite()) {
            return Err(PhantomError::InvalidArgument {
                argument: "factor",
                value: factor,
                reason: "must be non-negative and finite",
            });
        }
        let mut p = self.clone();
        for s in &mut p.sources {
            s.amount = s.amount.scaled(factor);
        }
        Ok(p)
    }

    /// Number of cells of each source (in source order), `None` for sources not given as cells.
    pub fn cells_per_source(&self) -> Vec<Option<f64>> {
        self.sources.iter().map(Source::cells).collect()
    }

    /// Bounding box of all sources, `[axis][min, max]` [m]; `None` without sources.
    pub fn bounding_box_m(&self) -> Option<[[f64; 2]; 3]> {
        self.sources
            .iter()
            .map(|s| s.shape.bounding_box_m())
            .reduce(|a, b| std::array::from_fn(|i| [a[i][0].min(b[i][0]), a[i][1].max(b[i][1])]))
    }

    /// Point masses of iron for the simulator on `sim_grid`.
    ///
    /// A point source gives one mass. A solid is sampled at the centres of the sub-voxels of `sim_grid` refined
    /// `supersampling` times per axis (0 is taken as 1) that lie inside it (boundary included); the lattice is
    /// extended beyond the grid so that a shape cut by the grid edge keeps its true extent. Each source's masses
    /// are equal (weighted by the thickness along single-voxel axes, see the module documentation) and scaled to
    /// sum exactly to its iron; when no lattice point falls inside (a shape smaller than a sub-voxel) the source
    /// becomes one mass at its centroid. Sources without iron give no masses. Deterministic; masses are in source
    /// order.
    pub fn point_masses(&self, sim_grid: &Grid, supersampling: usize) -> Vec<PointMass> {
        let mut out = Vec::new();
        for s in &self.sources {
            let Some(iron) = self.valid_iron(s) else { continue };
            if iron == 0.0 {
                continue;
            }
            let samples =
                s.shape.body().map(|b| sampling::sample_body(&b, sim_grid, supersampling)).unwrap_or_default();
            let sum: f64 = samples.iter().map(|(_, w)| w).sum();
            if samples.is_empty() || sum.is_nan() || sum <= 0.0 {
                let position_m = sampling::project_point(sim_grid, s.centroid_m());
                out.push(PointMass { position_m, iron_kg: iron });
            } else {
                out.extend(
                    samples.into_iter().map(|(position_m, w)| PointMass { position_m, iron_kg: iron * w / sum }),
                );
            }
        }
        out
    }

    /// Ground truth: the iron in each voxel of `grid` [kg] (flat, x fastest).
    ///
    /// Points are exact, boxes exact (analytic box overlaps), curved solids integrated to 1e-9 of their volume
    /// (~1e-15 in practice; see `raster.rs`); each source is then normalised so that the iron in the grid is its
    /// iron times the fraction of its volume inside the grid (all of it for a source inside the grid). Single-voxel
    /// axes are projection axes (see the module documentation). Points exactly on the upper FOV edge are outside, as in
    /// [`Grid::voxel_of`]. Sources are rasterised in parallel slabs with a fixed reduction order (deterministic).
    /// A grid with an unusable axis (several voxels over a non-positive or non-finite FOV) gives zeros, and an
    /// invalid source of a hand-built phantom is left out; both are logged.
    pub fn iron_map_kg(&self, grid: &Grid) -> Array1<f64> {
        let mut map = Array1::zeros(grid.len());
        for s in &self.sources {
            let Some(iron) = self.valid_iron(s) else { continue };
            if iron == 0.0 {
                continue;
            }
            if let Some(f) = s.checked_fractions(grid) {
                for (p, w) in f {
                    map[p] += iron * w;
                }
            }
        }
        map
    }

    /// [`Self::iron_map_kg`] in nanograms of iron.
    pub fn iron_map_ng(&self, grid: &Grid) -> Array1<f64> {
        self.iron_map_kg(grid) / KG_PER_NG
    }

    /// Labelled-cell equivalents per voxel: the iron map divided by `pg_fe_per_cell` (pg Fe per cell). Unlabelled
    /// cells (0 pg per cell) are invisible here, as to MPI; their true numbers are in [`Self::cells_per_source`].
    ///
    /// # Errors
    /// `pg_fe_per_cell` not positive and finite.
    pub fn cell_map(&self, grid: &Grid, pg_fe_per_cell: f64) -> Result<Array1<f64>, PhantomError> {
        if !(pg_fe_per_cell > 0.0 && pg_fe_per_cell.is_finite()) {
            return Err(PhantomError::InvalidArgument {
                argument: "pg_fe_per_cell",
                value: pg_fe_per_cell,
                reason: "must be positive and finite",
            });
        }
        Ok(self.iron_map_kg(grid) / (pg_fe_per_cell * KG_PER_PG))
    }
}

#[cfg(test)]
mod tests;
