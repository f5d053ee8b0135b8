//! SIGINT and SIGTERM: delete the temporary files of writes in progress, then exit (130 or 143, as a shell
//! reports a process killed by the signal), so that an interrupted run leaves no `.tmp` files beside the
//! user's data and no half-written output (outputs appear only by a rename at the end of their write).
//!
//! The signal handler only writes the signal number into a pipe (`write` is async-signal-safe); a thread
//! blocked on the other end does the clean-up as ordinary code, where taking a lock and deleting files is
//! allowed. Blocking the signals and waiting with `sigwait` instead would not work: OpenBLAS starts its worker
//! threads when the library is loaded, before `main`, with the signals unblocked, and the kernel would deliver
//! them there with their default action.

use std::sync::atomic::{AtomicI32, Ordering};

/// The pipe's write end for the handler (−1 until installed).
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = PIPE_WRITE.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = sig as u8;
        // SAFETY: write(2) on a valid descriptor from a one-byte buffer is async-signal-safe.
        unsafe {
            libc::write(fd, (&byte as *const u8).cast(), 1);
        }
    }
}

/// Installs the handlers and starts the clean-up thread. A signal that was ignored when magpie started (a
/// background job of a non-interactive shell) stays ignored; if anything fails, the defaults stay.
pub fn install() {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe(2) fills the two descriptors of a local array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return;
    }
    let [read_fd, write_fd] = fds;
    let spawned = std::thread::Builder::new().name("signals".into()).spawn(move || {
        let mut byte = 0u8;
        loop {
            // SAFETY: read(2) into a one-byte local buffer from the pipe this thread owns.
            let n = unsafe { libc::read(read_fd, (&mut byte as *mut u8).cast(), 1) };
            if n == 1 {
                break;
            }
            if n == 0 {
                return;
            }
        }
        let sig = libc::c_int::from(byte);
        let removed = magpie_core::tempfiles::remove_all();
        let name = if sig == libc::SIGINT { "interrupted (SIGINT)" } else { "terminated (SIGTERM)" };
        let note = if removed > 0 { format!("; removed {removed} unfinished output file(s)") } else { String::new() };
        crate::logging::eprint_line(&format!("error: {name}{note}"));
        // SAFETY: ends the process at once, as the signal's default action would.
        unsafe { libc::_exit(128 + sig) }
    });
    if spawned.is_err() {
        return;
    }
    PIPE_WRITE.store(write_fd, Ordering::Relaxed);
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: sigaction(2) with zero-initialised structures; the handler only calls write(2).
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 || old.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            act.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
}
