//! Synchronisation of the engine's threads inside one product or sweep: a spinning barrier and the per-chunk
//! partial sums it publishes (reduced by every thread in chunk order, so that results do not depend on the
//! number of threads).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use num_complex::Complex64;

/// A barrier for a fixed set of threads that spins (yielding after a while): a block of the one-frame sweep
/// takes a few µs, too short for a sleeping barrier.
pub(crate) struct SpinBarrier {
    arrived: AtomicUsize,
    generation: AtomicUsize,
    threads: usize,
}

impl SpinBarrier {
    pub(crate) fn new(threads: usize) -> Self {
        SpinBarrier { arrived: AtomicUsize::new(0), generation: AtomicUsize::new(0), threads }
    }

    pub(crate) fn wait(&self) {
        let gen = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.threads {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == gen {
            std::hint::spin_loop();
            spins += 1;
            if spins > 1 << 14 {
                std::thread::yield_now();
            }
        }
    }
}

/// Partial products of every (chunk, row) of a block, published through the barrier (two buffers, alternating
/// by block, so that a thread can fill the next block's while another still reads this block's).
pub(crate) struct Partials {
    re: Vec<AtomicU64>,
    im: Vec<AtomicU64>,
    pub(crate) chunks: usize,
    kmax: usize,
}

impl Partials {
    pub(crate) fn new(chunks: usize, kmax: usize) -> Self {
        let n = 2 * chunks * kmax;
        Partials {
            re: (0..n).map(|_| AtomicU64::new(0)).collect(),
            im: (0..n).map(|_| AtomicU64::new(0)).collect(),
            chunks,
            kmax,
        }
    }
    fn index(&self, parity: usize, chunk: usize, row: usize) -> usize {
        (parity * self.chunks + chunk) * self.kmax + row
    }
    pub(crate) fn store(&self, parity: usize, chunk: usize, row: usize, z: Complex64) {
        let i = self.index(parity, chunk, row);
        // Relaxed: the barrier's release/acquire pair orders these stores before the other threads' loads.
        self.re[i].store(z.re.to_bits(), Ordering::Relaxed);
        self.im[i].store(z.im.to_bits(), Ordering::Relaxed);
    }
    pub(crate) fn load(&self, parity: usize, chunk: usize, row: usize) -> Complex64 {
        let i = self.index(parity, chunk, row);
        Complex64::new(
            f64::from_bits(self.re[i].load(Ordering::Relaxed)),
            f64::from_bits(self.im[i].load(Ordering::Relaxed)),
        )
    }
}

/// Chunks the columns of a one-frame sweep are cut into (at most): divisible by 2, 3, 4, 6, 8 and 12, so that
/// that many threads get equal shares. Cutting at a fixed 512 columns left the two threads of a 19³ problem
/// 3584 and 3275 columns, and the faster one spun 9 % of the time at every block's barrier. Not more: every
/// thread reduces all chunks' partial sums of every block.
pub const CHUNKS: usize = 24;

/// Columns per chunk of the one-frame sweep for `n` columns: ⌈n / [`CHUNKS`]⌉ rounded up to a SIMD vector (8),
/// at least 64. Fixed by n, not by the thread count, so that the partial sums and hence the iterates are the
/// same for any number of threads.
pub fn chunk_cols(n: usize) -> usize {
    n.div_ceil(CHUNKS).next_multiple_of(8).max(64)
}
