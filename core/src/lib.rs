//! # magpie-core
//!
//! The shared foundation of magpie, the magnetic particle imaging (MPI) pipeline: physical constants and unit
//! conventions ([`units`]), voxel grids ([`grid`]), closed-form particle physics shared by the simulator and the
//! x-space reconstructor ([`physics`]), the [`operator::LinearOperator`] trait with its adjoint test, and the MDF v2
//! file format ([`mdf`]: model, validation, canonical spectra, and HDF5 I/O behind the `hdf5` feature).
//!
//! Axis order, units and FFT conventions are documented once, in [`doc::axes`].
//!
//! ```
//! use magpie_core::physics::langevin;
//! // The Langevin function's slope at zero field is 1/3 (physics.md §1.1).
//! assert!((langevin::dlangevin(0.0) - 1.0 / 3.0).abs() < 1e-15);
//! // Half maximum of L' at ξ = 2.080524 gives the x-space FWHM constant 4.161048.
//! assert!((langevin::dlangevin(2.080524) - 1.0 / 6.0).abs() < 1e-6);
//! ```
//!
//! ## Features
//! - `hdf5`: MDF reading and writing through libhdf5 (Debian `libhdf5-dev`). Off by default so that the
//!   simulator and reconstructors build and unit-test without C libraries.
//! - `hdf5-static`: build libhdf5 from source (needs cmake ≥ 3.26) for machines without the system library.
#![warn(missing_docs)]
// Units are written in brackets after quantities, e.g. "position [m]": prose, not intra-doc links.
#![allow(rustdoc::broken_intra_doc_links)]

pub mod breadcrumb;
pub mod doc;
pub mod error;
pub mod grid;
pub mod mdf;
pub mod mem;
pub mod operator;
pub mod physics;
pub mod scanner;
pub mod tempfiles;
pub mod tf;
pub mod tracer;
pub mod units;

pub use error::Error;
pub use grid::Grid;
pub use operator::LinearOperator;

/// Name of the `tracing` span that libraries open around the work on one item of a batch (one measurement of a
/// calibration series, one case of a benchmark). The binary shows the info lines inside it only when asked for
/// detail (`-v`), so that a batch logs its summary rather than one block per item.
pub const ITEM_SPAN: &str = "item";

/// A new random (version 4) UUID in canonical text form.
pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The current UTC time in MDF's format `yyyy-mm-ddThh:mm:ss.ms`.
pub fn utc_now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3f").to_string()
}
