//! Breadcrumbs for a supervising process: where the program is reading, so that a crash inside a C library
//! (libhdf5 on a corrupt file) can be reported by the parent as "crashed reading FILE:/dataset" instead of a
//! bare signal. The binary runs each command in a child process and passes the write end of a pipe in
//! [`FD_ENV`]; the library writes one line per dataset it opens. Without the variable nothing is written.

use std::sync::OnceLock;

/// Environment variable holding the file descriptor the breadcrumbs go to.
pub const FD_ENV: &str = "MAGPIE_BREADCRUMB_FD";

fn fd() -> Option<i32> {
    static FD: OnceLock<Option<i32>> = OnceLock::new();
    *FD.get_or_init(|| std::env::var(FD_ENV).ok().and_then(|v| v.parse().ok()).filter(|fd: &i32| *fd > 2))
}

/// Whether breadcrumbs are being collected (skip formatting them otherwise).
pub fn enabled() -> bool {
    fd().is_some()
}

/// Records that `what` (e.g. "file.mdf:/measurement/data") is about to be read.
pub fn note(what: &str) {
    send(READ, what);
}

/// Line prefix of a read.
pub const READ: &str = "read ";
/// Line prefix of a temporary file created (the parent deletes it if the child dies before renaming it).
pub const TEMP_CREATED: &str = "tmp+ ";
/// Line prefix of a temporary file gone (renamed into place or removed).
pub const TEMP_GONE: &str = "tmp- ";

/// Line prefix of a read that must end quickly (metadata): the parent stops a child stuck in it.
pub const WATCH_BEGIN: &str = "wait+ ";
/// Line prefix of the end of such a read.
pub const WATCH_END: &str = "wait- ";

/// Brackets a read that must end within moments (a string of the metadata): libhdf5 can loop forever on a
/// corrupt global heap, and only the supervising parent can stop it. The guard's drop ends the bracket.
pub fn watch(what: &str) -> Watch {
    if enabled() {
        send(WATCH_BEGIN, what);
    }
    Watch
}

/// See [`watch`].
#[derive(Debug)]
pub struct Watch;

impl Drop for Watch {
    fn drop(&mut self) {
        if enabled() {
            send(WATCH_END, "");
        }
    }
}

/// Records a temporary file appearing (`created`) or disappearing.
pub fn temporary(path: &std::path::Path, created: bool) {
    if enabled() {
        send(if created { TEMP_CREATED } else { TEMP_GONE }, &path.to_string_lossy());
    }
}

/// One line `prefix what` to the parent, in one write(2) (atomic for lines under PIPE_BUF, 4 kB).
fn send(prefix: &str, what: &str) {
    #[cfg(unix)]
    if let Some(fd) = fd() {
        let mut line = String::with_capacity(prefix.len() + what.len() + 1);
        line.push_str(prefix);
        line.push_str(what.trim_end_matches('\n'));
        line.push('\n');
        // SAFETY: write(2) of a live buffer to a descriptor the parent opened for us; a failed write (the
        // parent gone) is ignored, as the breadcrumb is advisory.
        unsafe {
            libc::write(fd, line.as_ptr().cast(), line.len());
        }
    }
    #[cfg(not(unix))]
    let _ = (prefix, what);
}
