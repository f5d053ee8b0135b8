//! # magpie-reconstruct
//!
//! x-space and system-matrix reconstruction of MPI data into quantitative iron maps. It depends only on
//! `magpie-core` (never on the simulator, to keep the reconstructor honest).
#![warn(missing_docs)]

pub use magpie_core;
