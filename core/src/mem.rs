//! Memory advice for the large buffers that hold a system matrix.
//!
//! A 3-D system matrix of a few GB is streamed by every sweep of a solver, and its block products read rows a
//! row-stride apart; with 4 kB pages that is one TLB entry per 4 kB (a 64-row block of 19³ voxels spans 880
//! pages, more than the first-level TLB holds). Asking the kernel for transparent huge pages (2 MB) on such a
//! buffer before its pages are first touched cuts the page count 512-fold. Linux only honours the advice when
//! `/sys/kernel/mm/transparent_hugepage/enabled` is `always` or `madvise` (the Debian default); elsewhere it is
//! a no-op.

/// `MemAvailable` of `/proc/meminfo` [KiB] (None where the file does not exist, e.g. outside Linux).
pub fn mem_available_kib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line["MemAvailable:".len()..].split_whitespace().next()?.parse().ok()
}

/// The memory a new large allocation may take [bytes]: `MAGPIE_MEMORY_LIMIT_BYTES` when set, else 90 % of
/// `MemAvailable` (a tenth stays for the page cache and other processes), else `None` (unknown: no check).
pub fn allocation_limit_bytes() -> Option<u64> {
    if let Some(l) = std::env::var("MAGPIE_MEMORY_LIMIT_BYTES").ok().and_then(|v| v.trim().parse::<u64>().ok()) {
        return Some(l);
    }
    mem_available_kib().map(|kib| kib * 1024 / 10 * 9)
}

/// Buffers smaller than this are not worth the advice.
const MIN_BYTES: usize = 8 << 20;

/// Advises the kernel to back `buf` with transparent huge pages (the 2 MB-aligned part inside it). Call it
/// before the pages are first written (e.g. right after a zeroed allocation): pages already populated are only
/// collapsed later, in the background. Returns whether the advice was given.
pub fn advise_huge_pages<T>(buf: &mut [T]) -> bool {
    let bytes = std::mem::size_of_val(buf);
    if bytes < MIN_BYTES {
        return false;
    }
    advise(buf.as_mut_ptr() as usize, bytes)
}

#[cfg(target_os = "linux")]
fn advise(start: usize, bytes: usize) -> bool {
    const HUGE: usize = 2 << 20;
    let a = start.div_ceil(HUGE) * HUGE;
    let z = (start + bytes) / HUGE * HUGE;
    if z <= a {
        return false;
    }
    // SAFETY: madvise with MADV_HUGEPAGE only changes how the kernel backs the pages of [a, z), which lies
    // inside the caller's live, exclusively borrowed buffer; it never changes their contents or validity.
    let r = unsafe { libc::madvise(a as *mut libc::c_void, z - a, libc::MADV_HUGEPAGE) };
    r == 0
}

#[cfg(not(target_os = "linux"))]
fn advise(_start: usize, _bytes: usize) -> bool {
    false
}

#[cfg(test)]
mod tests {
    #[test]
    fn small_buffers_are_left_alone_and_large_ones_keep_their_contents() {
        let mut small = vec![1u8; 1024];
        assert!(!super::advise_huge_pages(&mut small));
        let mut big = vec![7u32; 5 << 20];
        super::advise_huge_pages(&mut big);
        assert!(big.iter().all(|v| *v == 7));
    }
}
