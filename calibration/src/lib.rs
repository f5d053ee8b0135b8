//! # magpie-calibration
//!
//! Detection limits and quantification calibration in ng Fe and in cells.
#![warn(missing_docs)]
// Units are written in brackets after quantities, e.g. "position [m]": prose, not intra-doc links.
#![allow(rustdoc::broken_intra_doc_links)]

pub use magpie_core;
