//! The system-matrix engine: the matrix held once as contiguous row-major rows ([`SystemMatrix`]), the
//! parallelism it runs with ([`Parallelism`]), and the dense kernels (GEMM, GEMV, triangular solves) that the fast
//! solvers in [`crate::solvers::fast`] are built from.
//!
//! The element type is generic ([`Element`]): [`Complex32`](num_complex::Complex32) is the production precision
//! (that of MDF files), `Complex64` and `f64` serve the reference tests. Dense products go through `faer`
//! (pure Rust, AVX2/AVX-512 kernels selected at run time), whose parallelism runs on the one rayon pool held by
//! [`Parallelism`]: no BLAS threads beside it, so nothing oversubscribes the cores.
//!
//! ```
//! use magpie_core::operator::{testing, LinearOperator};
//! use magpie_reconstruct::engine::{Parallelism, SystemMatrix};
//! use num_complex::Complex32;
//! let rows: Vec<Complex32> = (0..12).map(|i| Complex32::new(i as f32, 1.0)).collect();
//! let s = SystemMatrix::from_row_major(rows, 3, 4, Parallelism::sequential()).unwrap();
//! assert_eq!(s.row_norm_sq(0), 0.0 + 1.0 + 1.0 + 1.0 + 4.0 + 1.0 + 9.0 + 1.0);
//! testing::assert_adjoint(&s, 1, 1e-6);
//! ```

mod fast_ops;
mod gemm;
pub mod kernels;
pub(crate) mod sync;
mod system;

pub(crate) use gemm::{gemm_adjoint_acc, gemm_rows_acc, solve_lower_in_place};
pub use system::SystemMatrix;

use std::sync::Arc;

use magpie_core::operator::Scalar;

/// Element types the engine computes in: a [`Scalar`] that faer's dense kernels accept.
pub trait Element: Scalar + faer::traits::ComplexField {
    /// The slice as complex f32 when that is the element type: the precision the SIMD [`kernels`] run in.
    fn as_c32(_s: &[Self]) -> Option<&[num_complex::Complex32]> {
        None
    }
    /// As [`as_c32`](Self::as_c32), mutable.
    fn as_c32_mut(_s: &mut [Self]) -> Option<&mut [num_complex::Complex32]> {
        None
    }
}
impl Element for f32 {}
impl Element for f64 {}
impl Element for num_complex::Complex32 {
    fn as_c32(s: &[Self]) -> Option<&[num_complex::Complex32]> {
        Some(s)
    }
    fn as_c32_mut(s: &mut [Self]) -> Option<&mut [num_complex::Complex32]> {
        Some(s)
    }
}
impl Element for num_complex::Complex64 {}

/// How many threads the engine uses. Results do not depend on it: products are split over independent output
/// blocks only, never over a reduction (tested in `solvers::fast`).
#[derive(Clone)]
pub struct Parallelism {
    threads: usize,
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl std::fmt::Debug for Parallelism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Parallelism({} threads)", self.threads)
    }
}

impl Parallelism {
    /// Everything on the calling thread.
    pub fn sequential() -> Self {
        Parallelism { threads: 1, pool: None }
    }

    /// A dedicated pool of `n` threads (`n = 0`: one per available core); `n = 1` is [`sequential`](Self::sequential).
    ///
    /// # Errors
    /// The operating system refused to start the threads.
    pub fn threads(n: usize) -> Result<Self, rayon::ThreadPoolBuildError> {
        let n = if n == 0 { std::thread::available_parallelism().map_or(1, |v| v.get()) } else { n };
        if n == 1 {
            return Ok(Self::sequential());
        }
        let pool =
            rayon::ThreadPoolBuilder::new().num_threads(n).thread_name(|i| format!("magpie-engine-{i}")).build()?;
        Ok(Parallelism { threads: n, pool: Some(Arc::new(pool)) })
    }

    /// Number of threads.
    pub fn thread_count(&self) -> usize {
        self.threads
    }

    /// Runs `f` inside the pool (directly when sequential).
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match &self.pool {
            Some(p) => p.install(f),
            None => f(),
        }
    }

    /// The faer parallelism matching this setting (valid inside [`install`](Self::install)).
    pub(crate) fn par(&self) -> faer::Par {
        if self.threads > 1 {
            faer::Par::rayon(self.threads)
        } else {
            faer::Par::Seq
        }
    }
}
