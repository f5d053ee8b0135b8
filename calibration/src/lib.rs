//! # magpie-calibration
//!
//! Detection limits and quantification calibration in ng Fe and in cells: how few labelled cells can a scanner
//! and protocol see, and how well can it count them? A series of blanks and samples of known iron — measured
//! files listed in a manifest ([`manifest`]) or simulated by magpie ([`simulate`]) — is reduced to one
//! statistic per measurement and detector ([`detect`]: a matched filter on the harmonics, and the iron that
//! system-matrix or x-space reconstruction puts in a region around the sample), and each detector's statistics
//! to limits by named methods ([`stats`]: ICH Q2 calibration line, blank mean + 3 s, Currie, Rose; ROC and
//! bootstrap intervals), collected in a [`report::Report`].
//!
//! ```
//! use magpie_calibration::stats::{limits, Method};
//! // A calibration line y = 2·x with residual scatter, and blanks with SD 0.1.
//! let x = [0.0, 1.0, 2.0, 4.0, 8.0];
//! let y = [0.05, 2.1, 3.9, 8.1, 15.9];
//! let blanks = [0.1, -0.1, 0.0, 0.15, -0.05];
//! let (fit, lim) = limits(&x, &y, &blanks).unwrap();
//! assert!((fit.slope - 2.0).abs() < 0.1);
//! let currie = lim.iter().find(|l| l.method == Method::Currie).unwrap();
//! assert!(currie.lod_ng > 0.0 && currie.lod_ng < 1.0);
//! ```
#![warn(missing_docs)]
// Units are written in brackets after quantities, e.g. "position [m]": prose, not intra-doc links.
#![allow(rustdoc::broken_intra_doc_links)]

pub mod detect;
pub mod manifest;
pub mod report;
pub mod simulate;
pub mod stats;

pub use magpie_core;

/// Errors of the calibration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CalibrationError {
    /// Invalid input (names the file or field).
    #[error("{0}")]
    Invalid(String),
    /// An MDF file could not be read.
    #[error(transparent)]
    Mdf(#[from] magpie_core::mdf::MdfError),
    /// Simulation failed.
    #[error(transparent)]
    Sim(#[from] magpie_sim::SimError),
    /// Reconstruction failed.
    #[error(transparent)]
    Reco(#[from] magpie_reconstruct::RecoError),
}

/// Simulates the series of `spec` into `dir` (MDF files and `manifest.toml`) and analyses it exactly as
/// `--manifest` would, adding the scaling study when the spec asks for it.
///
/// # Errors
/// Simulation, file or analysis errors.
pub fn run_simulation(
    spec: &simulate::SimulationSpec,
    dir: &std::path::Path,
    progress: manifest::Progress,
) -> Result<report::Report, CalibrationError> {
    let path = simulate::write_series(spec, dir, progress)?;
    let m = manifest::Manifest::load(&path)?;
    let mut r = manifest::analyse(&m, dir, progress)?;
    r.context = simulate::context(spec)?;
    if let Some(study) = &spec.scaling {
        r.scaling = Some(simulate::scaling(spec, study, progress)?);
    }
    Ok(r)
}
