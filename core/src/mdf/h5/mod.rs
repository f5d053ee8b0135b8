//! HDF5 layer of the MDF support (feature `hdf5`): the only place that touches libhdf5.

mod read;
mod rows;
mod tf;
mod util;
mod write;

pub use rows::{RowReadEstimate, RowReadOptions, RowReadPath, RowReadPlan, DEFAULT_STAGING_BYTES};

pub use read::{read_mdf, read_mdf_with, MdfReader, ReadOptions};
pub use tf::{read_transfer_function, write_transfer_function};
pub use write::{write_mdf, WriteOptions};
