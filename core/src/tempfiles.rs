//! The temporary files that outputs are written through (a temporary file in the target folder, then a
//! rename): registered while they exist, so that a program interrupted by SIGINT or SIGTERM can delete them
//! before it exits instead of leaving half-written `.tmp` files beside the user's data. The library only
//! keeps the list; the binary decides what a signal does ([`remove_all`]).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A registered temporary file; dropping it unregisters the path (it does not delete the file: the writer
/// either renamed it into place or removed it itself).
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
}

impl TempFile {
    /// Registers `path` as a temporary file about to be created.
    pub fn register(path: &Path) -> Self {
        if let Ok(mut live) = LIVE.lock() {
            live.push(path.to_path_buf());
        }
        crate::breadcrumb::temporary(path, true);
        Self { path: path.to_path_buf() }
    }

    /// The registered path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Ok(mut live) = LIVE.lock() {
            if let Some(i) = live.iter().rposition(|p| p == &self.path) {
                live.swap_remove(i);
            }
        }
        crate::breadcrumb::temporary(&self.path, false);
    }
}

/// Deletes every registered temporary file that still exists; returns how many were deleted. Meant for a
/// signal handler thread just before the process exits.
pub fn remove_all() -> usize {
    let Ok(mut live) = LIVE.lock() else { return 0 };
    let n = live.iter().filter(|p| std::fs::remove_file(p).is_ok()).count();
    live.clear();
    n
}

/// A delay inside every atomic write, after the temporary file is created and before it is renamed, from
/// `MAGPIE_TEST_WRITE_DELAY_MS`: lets the interruption tests catch a write in progress deterministically.
pub fn test_delay() {
    if let Some(ms) = std::env::var("MAGPIE_TEST_WRITE_DELAY_MS").ok().and_then(|v| v.parse::<u64>().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms.min(60_000)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_files_are_removed_and_dropped_ones_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.tmp");
        let b = dir.path().join("b.tmp");
        std::fs::write(&a, b"x").unwrap();
        std::fs::write(&b, b"y").unwrap();
        let ga = TempFile::register(&a);
        {
            let _gb = TempFile::register(&b);
        }
        assert_eq!(ga.path(), a.as_path());
        // b was unregistered by its drop: it survives; a is deleted.
        assert!(remove_all() >= 1);
        assert!(!a.exists());
        assert!(b.exists());
    }
}
