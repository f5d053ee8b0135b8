//! # magpie-sim
//!
//! The forward simulator of magpie: what an MPI scanner records from SPION-labelled cells. Tracer physics
//! (Langevin equilibrium with size distributions and Debye relaxation, `magpie_core::tracer`), scanner fields and
//! Lissajous trajectories (`magpie_core::scanner`), receive chain, noise and background, phantoms, measurements
//! and system matrices, written as MDF files that the reconstructors read like scanner data.
//!
//! ```
//! use magpie_core::{scanner::ScannerConfig, tracer::TracerModel};
//! use magpie_sim::forward::{Engine, PointMass};
//! let scanner = ScannerConfig::preset("mps").unwrap();
//! let tracer = TracerModel::preset("ideal_25nm").unwrap();
//! let engine = Engine::new(&scanner, &tracer).unwrap();
//! // 10 ng of iron at the centre of the spectrometer: spectra [J, C, K] in volts.
//! let spec = engine.spectra(&[PointMass { position_m: [0.0; 3], iron_kg: 10e-12 }]);
//! assert_eq!(spec.dim(), (1, 1, 51));
//! // The band-stop removes the drive fundamental (bin 1); the third harmonic is strong.
//! assert_eq!(spec[[0, 0, 1]].norm(), 0.0);
//! assert!(spec[[0, 0, 3]].norm() > 0.0);
//! ```
#![warn(missing_docs)]
// Units are written in brackets after quantities, e.g. "position [m]": prose, not intra-doc links.
#![allow(rustdoc::broken_intra_doc_links)]

pub mod ensemble;
pub mod forward;
pub mod header;
pub mod measurement;
pub mod noise;
pub mod phantom;
pub mod sysmat;

pub use magpie_core;

/// Errors of the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// Invalid scanner description.
    #[error(transparent)]
    Scanner(#[from] magpie_core::scanner::ScannerError),
    /// Invalid tracer description.
    #[error(transparent)]
    Tracer(#[from] magpie_core::tracer::TracerError),
    /// Invalid phantom.
    #[error(transparent)]
    Phantom(#[from] phantom::PhantomError),
    /// The request needs more memory than is available: refused before allocating.
    #[error(
        "{what} needs ≈ {:.2} GB, more than the {:.2} GB available (90 % of MemAvailable, or \
         MAGPIE_MEMORY_LIMIT_BYTES); {hint}",
        *needed_bytes as f64 / 1e9,
        *available_bytes as f64 / 1e9
    )]
    Memory {
        /// What would be allocated.
        what: String,
        /// The estimate [bytes].
        needed_bytes: u64,
        /// The limit [bytes].
        available_bytes: u64,
        /// What lowers the need.
        hint: String,
    },
    /// An invalid request.
    #[error("{what}: {why}")]
    Invalid {
        /// The parameter.
        what: String,
        /// Why.
        why: String,
    },
}
