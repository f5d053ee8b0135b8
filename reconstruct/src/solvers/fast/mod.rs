//! Fast solvers on the complex system-matrix engine ([`crate::engine::SystemMatrix`]): blocked exact Kaczmarz
//! ([`kaczmarz`]), batched CGNR ([`cgnr`]) and batched FISTA ([`fista`]), generic over the element type, with the
//! slow references they are tested against ([`reference`]) and the synthetic benchmark problem ([`synthetic`]).
//!
//! Data and images are column-major batches: b is rows × frames, x voxels × frames, frame f contiguous.
//!
//! ```
//! use std::sync::Arc;
//! use magpie_reconstruct::engine::{Parallelism, SystemMatrix};
//! use magpie_reconstruct::solvers::fast::kaczmarz::{BlockedKaczmarz, BlockedKaczmarzParams};
//! use magpie_reconstruct::solvers::fast::synthetic::Problem;
//! let pb = Problem::new(60, 27, 2, 1);
//! let s = Arc::new(SystemMatrix::from_row_major(pb.s.clone(), 60, 27, Parallelism::sequential()).unwrap());
//! let solver = BlockedKaczmarz::build(s.clone(), s.lambda_eff(1e-3), 16).unwrap();
//! let (x, _) = solver.solve(&pb.b, 2, &BlockedKaczmarzParams::with_sweeps(3)).unwrap();
//! assert!(x.iter().all(|z| z.im == 0.0 && z.re >= 0.0));
//! ```

pub mod cgnr;
pub mod fista;
pub mod kaczmarz;
pub mod reference;
pub mod simd;
pub mod synthetic;

#[cfg(test)]
mod tests;
