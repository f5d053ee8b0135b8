//! # magpie-reconstruct
//!
//! x-space and system-matrix reconstruction of MPI data into quantitative iron maps. It depends only on
//! `magpie-core` (never on the simulator, to keep the reconstructor honest).
//!
//! ```
//! use magpie_reconstruct::solvers::kaczmarz::{solve, KaczmarzParams};
//! use ndarray::array;
//! // A tiny consistent system: x = (1, 2).
//! let a = array![[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]];
//! let b = array![[1.0], [4.0], [3.0]];
//! let params = KaczmarzParams { iterations: 200, non_negative: false, ..Default::default() };
//! let (x, _) = solve(a.view(), b.view(), 0.0, &params).unwrap();
//! assert!((x[[0, 0]] - 1.0).abs() < 1e-6 && (x[[1, 0]] - 2.0).abs() < 1e-6);
//! ```
//!
//! ## Features
//! - `hdf5`: [`facade::reconstruct_files`] and friends, which read MDF files (enables `magpie-core/hdf5`,
//!   i.e. libhdf5).
//! - `lapack`: the direct Tikhonov/SVD solver and SVD-based automatic λ through ndarray-linalg (the LAPACK
//!   backend is chosen by the final binary).
#![warn(missing_docs)]
// Units are written in brackets after quantities, e.g. "position [m]": prose, not intra-doc links.
#![allow(rustdoc::broken_intra_doc_links)]

pub mod engine;
pub mod facade;
pub mod metrics;
pub mod quantify;
pub mod solvers;
pub mod sysmat;
pub mod system;
pub mod xspace;

pub use magpie_core;

/// Errors of the reconstructors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecoError {
    /// Input files do not allow the requested reconstruction.
    #[error("{what}: {message}")]
    Input {
        /// What (a dataset path or an option).
        what: String,
        /// Why.
        message: String,
    },
    /// A solver failed.
    #[error(transparent)]
    Solve(#[from] solvers::SolveError),
    /// The plan needs more memory than is available (refused before anything large was allocated).
    #[error("{0}")]
    Memory(Box<facade::MemoryError>),
    /// Reading MDF data failed.
    #[error(transparent)]
    Mdf(#[from] magpie_core::mdf::MdfError),
    /// Opening or reading a file failed.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        source: Box<magpie_core::mdf::MdfError>,
    },
    /// Feature not compiled in.
    #[error("{0}")]
    Unsupported(String),
    /// A transfer function that cannot be applied (e.g. a used frequency outside its measured band).
    #[error(transparent)]
    TransferFunction(#[from] magpie_core::tf::TfError),
}
