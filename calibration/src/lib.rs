//! # magpie-calibration
//!
//! Detection limits and quantification calibration in ng Fe and in cells.
#![warn(missing_docs)]

pub use magpie_core;
