//! The crate's error type.

pub use crate::mdf::MdfError;

/// Errors of `magpie-core` outside MDF I/O.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An MDF read, validation or write error.
    #[error(transparent)]
    Mdf(#[from] MdfError),
    /// An operator was given vectors of the wrong length.
    #[error(transparent)]
    Shape(#[from] crate::operator::ShapeError),
    /// A parameter is out of its physical range.
    #[error("{name}: {message}")]
    Parameter {
        /// Parameter name (with unit suffix).
        name: String,
        /// What is wrong.
        message: String,
    },
}
