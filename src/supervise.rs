//! Every command runs in a child process of itself, so that no input file can end magpie with a signal.
//!
//! libhdf5 (1.10 on Debian) can crash on crafted files — segmentation faults in its global-heap and metadata
//! code — and no check in Rust can rule that out before the C library parses the file. The parent re-runs the
//! same command line as a child with [`CHILD_ENV`] set and the write end of a pipe in
//! [`magpie_core::breadcrumb::FD_ENV`]; the child's reader writes one line per dataset it opens. When the child
//! dies by a signal, the parent reports what it was reading ("the HDF5 library crashed reading
//! meas.mdf:/measurement/data: the file is corrupt") and exits 1. Exit codes, stdout, stderr and the terminal
//! pass through unchanged; SIGINT and SIGTERM sent to the parent are forwarded to the child, which cleans up
//! its temporary files itself. `MAGPIE_NO_SUPERVISOR=1` runs the command in-process (debuggers, profilers).

use std::io::BufRead;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

/// Set in the child's environment: run the command itself.
pub const CHILD_ENV: &str = "MAGPIE_SUPERVISED_CHILD";

/// Whether this process should supervise (it is not the child and supervision is not turned off).
pub fn wanted() -> bool {
    std::env::var_os(CHILD_ENV).is_none() && std::env::var_os("MAGPIE_NO_SUPERVISOR").is_none()
}

static CHILD_PID: AtomicI32 = AtomicI32::new(0);

/// What the parent knows of the child from its breadcrumbs.
#[derive(Default)]
struct Crumbs {
    /// The dataset (file:path) the child opened last.
    reading: Option<String>,
    /// Temporary output files created and not yet renamed or removed.
    temporaries: Vec<std::path::PathBuf>,
    /// A read that must end quickly, in progress: what and since when.
    watched: Option<(String, std::time::Instant)>,
    /// The watchdog stopped the child (what it was stuck reading).
    hung: Option<String>,
}

/// How long a watched metadata read may take before the child is stopped [s] (`MAGPIE_READ_WATCHDOG_S`;
/// default 5 s: such a read takes milliseconds, and a user should not wait for a file that will never open).
fn watchdog_s() -> f64 {
    std::env::var("MAGPIE_READ_WATCHDOG_S").ok().and_then(|v| v.parse().ok()).filter(|s: &f64| *s > 0.0).unwrap_or(5.0)
}

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD_PID.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV, segmentation fault",
        libc::SIGBUS => "SIGBUS, bus error",
        libc::SIGABRT => "SIGABRT, abort",
        libc::SIGILL => "SIGILL, illegal instruction",
        libc::SIGFPE => "SIGFPE, arithmetic fault",
        libc::SIGKILL => "SIGKILL: killed, e.g. by the kernel when memory ran out",
        _ => "signal",
    }
}

/// Runs the command line as a child and mirrors its outcome; `None` when the child could not be started (the
/// caller then runs the command in-process).
pub fn run() -> Option<ExitCode> {
    let exe = std::env::current_exe().ok()?;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe(2) fills a local array.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return None;
    }
    let [read_fd, write_fd] = fds;
    // The child must not inherit the read end (it would keep the pipe open when the parent waits for EOF).
    // SAFETY: fcntl on a descriptor this function just created.
    unsafe {
        libc::fcntl(read_fd, libc::F_SETFD, libc::FD_CLOEXEC);
    }
    let child = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(CHILD_ENV, "1")
        .env(magpie_core::breadcrumb::FD_ENV, write_fd.to_string())
        .spawn();
    // SAFETY: the parent's copy of the write end is no longer needed (EOF when the child ends).
    unsafe {
        libc::close(write_fd);
    }
    let Ok(mut child) = child else {
        // SAFETY: closing the read end of the pipe this function created.
        unsafe {
            libc::close(read_fd);
        }
        return None;
    };
    CHILD_PID.store(child.id() as i32, Ordering::Relaxed);
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: sigaction(2) with zeroed structures; the handler only calls kill(2).
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = forward as extern "C" fn(libc::c_int) as libc::sighandler_t;
            act.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
    // The last breadcrumb (what the child was reading when it ended) and its live temporary files.
    let crumbs = Arc::new(Mutex::new(Crumbs::default()));
    let reader = {
        let crumbs = Arc::clone(&crumbs);
        std::thread::spawn(move || {
            use magpie_core::breadcrumb::{READ, TEMP_CREATED, TEMP_GONE, WATCH_BEGIN, WATCH_END};
            use std::os::fd::FromRawFd;
            // SAFETY: read_fd is owned by this thread from here on.
            let file = unsafe { std::fs::File::from_raw_fd(read_fd) };
            for line in std::io::BufReader::new(file).lines() {
                let Ok(line) = line else { break };
                let Ok(mut c) = crumbs.lock() else { break };
                if let Some(w) = line.strip_prefix(READ) {
                    c.reading = Some(w.to_string());
                } else if let Some(p) = line.strip_prefix(TEMP_CREATED) {
                    c.temporaries.push(p.into());
                } else if let Some(w) = line.strip_prefix(WATCH_BEGIN) {
                    c.watched = Some((w.to_string(), std::time::Instant::now()));
                } else if line.starts_with(WATCH_END.trim_end()) {
                    c.watched = None;
                } else if let Some(p) = line.strip_prefix(TEMP_GONE) {
                    if let Some(i) = c.temporaries.iter().rposition(|t| t.as_os_str() == p) {
                        c.temporaries.swap_remove(i);
                    }
                }
            }
        })
    };
    // The watchdog: a metadata read that does not end is libhdf5 looping on a corrupt heap.
    let limit = std::time::Duration::from_secs_f64(watchdog_s());
    let pid = child.id() as i32;
    let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let (crumbs, finished) = (Arc::clone(&crumbs), Arc::clone(&finished));
        std::thread::spawn(move || {
            while !finished.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(50));
                let Ok(mut c) = crumbs.lock() else { return };
                if let Some((what, since)) = c.watched.clone() {
                    if since.elapsed() > limit {
                        c.hung = Some(what);
                        // SAFETY: kill(2) on the child this process started and has not reaped yet.
                        unsafe {
                            libc::kill(pid, libc::SIGKILL);
                        }
                        return;
                    }
                }
            }
        })
    };
    let status = loop {
        match child.wait() {
            Ok(s) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                crate::logging::eprint_line(&format!("error: waiting for the magpie child process: {e}"));
                return Some(ExitCode::from(1));
            }
        }
    };
    finished.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    let _ = reader.join();
    if let Some(code) = status.code() {
        return Some(ExitCode::from(code.clamp(0, 255) as u8));
    }
    // Killed: nothing of the child's clean-up ran, so its unfinished outputs are deleted here.
    let (what, temporaries, hung) = match crumbs.lock() {
        Ok(mut c) => (c.reading.take(), std::mem::take(&mut c.temporaries), c.hung.take()),
        Err(_) => (None, Vec::new(), None),
    };
    for t in &temporaries {
        let _ = std::fs::remove_file(t);
    }
    if let Some(h) = hung {
        crate::logging::eprint_line(&format!(
            "error: the HDF5 library hung reading {h} (no progress for {:.0} s; libhdf5 loops on a corrupt heap): \
             stopped; the file is corrupt",
            limit.as_secs_f64()
        ));
        return Some(ExitCode::from(crate::cli::exit::ERROR));
    }
    let sig = status.signal().unwrap_or(0);
    if sig == libc::SIGINT || sig == libc::SIGTERM || sig == libc::SIGPIPE {
        return Some(ExitCode::from((128 + sig) as u8));
    }
    let message = match what {
        Some(w) => format!(
            "error: the HDF5 library crashed reading {w} ({}): the file is corrupt or not a file libhdf5 can read",
            signal_name(sig)
        ),
        None => format!("error: magpie ended with signal {sig} ({}) before reading any input file", signal_name(sig)),
    };
    crate::logging::eprint_line(&message);
    Some(ExitCode::from(crate::cli::exit::ERROR))
}
