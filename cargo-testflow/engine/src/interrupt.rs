//! Ctrl-C, SIGTERM and SIGHUP. The first signal stops the run: every test process group
//! and the build are killed, no new test starts, and the run records what it has and exits
//! with `exit_code::for_signal` (130, 143, 129). If the run has not ended [`GRACE`] after
//! the signal (a stuck worker, a hanging listing), the process exits anyway with that code;
//! the event log already holds everything recorded. A second signal exits at once.
//!
//! The handler only does async-signal-safe work (an atomic, `write`, `_exit`); the rest
//! happens on a thread that reads the signal from a pipe.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::time::{Duration, Instant};

use crate::exit_code;
use crate::process::{KillReason, ProcessTable};

/// How long a run may take to wind down after the first signal (and again once its
/// scheduler has stopped, for writing `run.json` and history).
pub const GRACE: Duration = Duration::from_secs(5);

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The first signal received (0: none).
static FIRST: AtomicI32 = AtomicI32::new(0);
/// The pipe's write end, for the handler.
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);
/// Process groups outside the run's process table (the build), killed on the signal.
static GROUPS: [AtomicI32; 4] = [const { AtomicI32::new(0) }; 4];
/// The running run's process table.
static ACTIVE: Mutex<Option<Arc<ProcessTable>>> = Mutex::new(None);
/// When the process exits by force; moved on once by [`winding_down`].
static DEADLINE: Mutex<Option<Instant>> = Mutex::new(None);
static DEADLINE_MOVED: Condvar = Condvar::new();

/// Install the handlers once per process. `on_forced_exit` runs (on the signal thread)
/// just before the process exits because the run did not end within the grace time; the
/// command line uses it to say so.
pub fn install(on_forced_exit: fn(signal: i32)) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills the two descriptors it is given.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return;
        }
        WRITE_FD.store(fds[1], Ordering::SeqCst);
        let read_fd = fds[0];
        let spawned = std::thread::Builder::new()
            .name("testflow-signals".into())
            .spawn(move || watch(read_fd, on_forced_exit));
        if spawned.is_err() {
            return;
        }
        for sig in SIGNALS {
            // SAFETY: a zeroed sigaction with a handler that only touches atomics and
            // calls write/_exit; SA_RESTART keeps other syscalls from failing with EINTR.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(sig, &action, std::ptr::null_mut());
            }
        }
    });
}

extern "C" fn on_signal(sig: libc::c_int) {
    if let Err(first) = FIRST.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst) {
        // The second signal: the user insists. Test processes die with us (PDEATHSIG).
        kill_groups();
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(exit_code::for_signal(first)) }
    }
    let byte = [sig as u8];
    // SAFETY: write(2) is async-signal-safe; a failed write leaves the flag, which the
    // run still checks.
    unsafe {
        libc::write(WRITE_FD.load(Ordering::SeqCst), byte.as_ptr().cast(), 1);
    }
}

fn kill_groups() {
    for slot in &GROUPS {
        let pgid = slot.load(Ordering::SeqCst);
        if pgid > 0 {
            // SAFETY: killpg is async-signal-safe; the group is one we created.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

fn watch(fd: libc::c_int, on_forced_exit: fn(i32)) {
    let mut byte = [0u8];
    loop {
        // SAFETY: reads one byte into a one-byte buffer.
        let n = unsafe { libc::read(fd, byte.as_mut_ptr().cast(), 1) };
        if n == 1 {
            break;
        }
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        return;
    }
    let sig = FIRST.load(Ordering::SeqCst);
    {
        let mut deadline = DEADLINE.lock().unwrap_or_else(|e| e.into_inner());
        *deadline = Some(Instant::now() + GRACE);
    }
    stop_now();
    let mut deadline = DEADLINE.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let Some(at) = *deadline else { return };
        let now = Instant::now();
        if now >= at {
            break;
        }
        deadline = DEADLINE_MOVED
            .wait_timeout(deadline, at - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    drop(deadline);
    on_forced_exit(sig);
    kill_groups();
    // SAFETY: ends the process without running other threads' destructors (they may be stuck).
    unsafe { libc::_exit(exit_code::for_signal(sig)) }
}

/// Kill what runs now: the run's test processes (and refuse new ones) and the build.
fn stop_now() {
    // Only `set_active` takes this lock, never for long.
    if let Some(t) = ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        t.stop_all(KillReason::Interrupted);
    }
    kill_groups();
}

/// The signal that stopped the run, if one came.
pub fn received() -> Option<i32> {
    Some(FIRST.load(Ordering::SeqCst)).filter(|s| *s != 0)
}

/// The exit code for the signal received, if one came.
pub fn exit_code() -> Option<i32> {
    received().map(exit_code::for_signal)
}

/// The run's process table while it runs (`None` after). A signal that already came
/// stops it at once.
pub fn set_active(table: Option<Arc<ProcessTable>>) {
    let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
    *active = table;
    // Checked after the table is in place: either this sees the signal or `stop_now` sees
    // the table.
    if let (Some(t), Some(_)) = (active.as_ref(), received()) {
        t.stop_all(KillReason::Interrupted);
    }
}

/// The scheduler has stopped: writing the run may take another [`GRACE`].
pub fn winding_down() {
    let mut deadline = DEADLINE.lock().unwrap_or_else(|e| e.into_inner());
    if deadline.is_some() {
        *deadline = Some(Instant::now() + GRACE);
        DEADLINE_MOVED.notify_all();
    }
}

/// Keeps a process group outside the run's process table (the build) on the list that a
/// signal kills, until dropped.
pub struct GroupGuard(Option<usize>);

/// Put process group `pgid` on the list a signal kills (a build started after the signal
/// is killed at once).
pub fn kill_on_signal(pgid: i32) -> GroupGuard {
    let slot = GROUPS.iter().position(|s| {
        s.compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    });
    if received().is_some() {
        // SAFETY: killpg on the group the caller just created.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
    GroupGuard(slot)
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(i) = self.0 {
            GROUPS[i].store(0, Ordering::SeqCst);
        }
    }
}
