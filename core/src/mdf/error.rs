//! Typed errors of MDF reading, validation and writing. Every variant names the dataset (HDF5 path) concerned.

use std::path::PathBuf;

/// An error reading, validating or writing an MDF file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MdfError {
    /// The file does not exist, is not HDF5, or is damaged (e.g. truncated).
    #[error("cannot open {path} as an HDF5/MDF file: {reason}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What libhdf5 or the OS said.
        reason: String,
    },
    /// A required dataset or group is absent.
    #[error("{dataset}: required by MDF v2 but missing{context}")]
    Missing {
        /// HDF5 path of the missing object.
        dataset: String,
        /// Extra context (e.g. the flag that makes it required), starting with a separator, or empty.
        context: String,
    },
    /// A dataset has the wrong rank or shape.
    #[error("{dataset}: expected shape {expected}, found {found:?}")]
    Shape {
        /// HDF5 path.
        dataset: String,
        /// The expected shape in the spec's dimension letters with their values, e.g. "[N=4, J=1, C=3, V=16]".
        expected: String,
        /// The shape found in the file.
        found: Vec<usize>,
    },
    /// A dataset has the wrong element type.
    #[error("{dataset}: expected {expected}, found {found}")]
    Type {
        /// HDF5 path.
        dataset: String,
        /// What the spec asks for.
        expected: String,
        /// What the file holds.
        found: String,
    },
    /// Data contain NaN or infinite values.
    #[error("{dataset}: non-finite value (NaN or ±inf) at flat index {index}")]
    NonFinite {
        /// HDF5 path.
        dataset: String,
        /// Flat C-order index of the first offending element.
        index: usize,
    },
    /// A value breaks a rule of the spec (an index out of range, inconsistent counts, an unknown name…).
    #[error("{dataset}: {message}")]
    Invalid {
        /// HDF5 path.
        dataset: String,
        /// What is wrong, with expected and found values.
        message: String,
    },
    /// A requested system-matrix row lies outside the stored dimensions.
    #[error("{dataset}: row (j={}, c={}, k={}) requested, but the stored rows are J={} × C={} × K={}", row[0], row[1], row[2], dims[0], dims[1], dims[2])]
    RowOutOfRange {
        /// HDF5 path of the data.
        dataset: String,
        /// The row asked for, as (period j, channel c, stored frequency index k).
        row: [usize; 3],
        /// The stored (J, C, K).
        dims: [usize; 3],
    },
    /// A read would allocate more memory than the caller allows (checked before allocating).
    #[error("{dataset}: reading {rows} rows needs an estimated {needed_bytes} bytes, above the limit of {limit_bytes} bytes (at most {max_rows} rows fit)")]
    MemoryLimit {
        /// HDF5 path of the data.
        dataset: String,
        /// Rows asked for.
        rows: usize,
        /// Estimated peak allocation of the read [bytes].
        needed_bytes: u64,
        /// The limit [bytes].
        limit_bytes: u64,
        /// The largest row count whose estimate fits the limit.
        max_rows: usize,
    },
    /// libhdf5 failed on a dataset.
    #[error("{dataset}: HDF5 error: {message}")]
    Hdf5 {
        /// HDF5 path.
        dataset: String,
        /// libhdf5's message.
        message: String,
    },
    /// The output path is one of the inputs.
    #[error("refusing to overwrite input file {path}")]
    WouldOverwriteInput {
        /// The path.
        path: PathBuf,
    },
    /// An operating-system error on a path.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl MdfError {
    /// The HDF5 path of the dataset concerned, when the error is about one.
    pub fn dataset(&self) -> Option<&str> {
        match self {
            MdfError::Missing { dataset, .. }
            | MdfError::Shape { dataset, .. }
            | MdfError::Type { dataset, .. }
            | MdfError::NonFinite { dataset, .. }
            | MdfError::Invalid { dataset, .. }
            | MdfError::Hdf5 { dataset, .. }
            | MdfError::RowOutOfRange { dataset, .. }
            | MdfError::MemoryLimit { dataset, .. } => Some(dataset),
            _ => None,
        }
    }

    pub(crate) fn invalid(dataset: impl Into<String>, message: impl Into<String>) -> Self {
        MdfError::Invalid { dataset: dataset.into(), message: message.into() }
    }

    pub(crate) fn shape(dataset: impl Into<String>, expected: impl Into<String>, found: &[usize]) -> Self {
        MdfError::Shape { dataset: dataset.into(), expected: expected.into(), found: found.to_vec() }
    }
}

/// Result alias for MDF operations.
pub type MdfResult<T> = Result<T, MdfError>;
