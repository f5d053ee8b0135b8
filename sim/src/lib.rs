//! # magpie-sim
//!
//! The forward simulator of magpie (particle physics, FFP scanner, receive chain, phantoms, system matrices).
//! It depends only on `magpie-core`.
#![warn(missing_docs)]

pub use magpie_core;
