//! Running one child process under our control: its own process group (so a timeout or
//! Ctrl-C kills the test and everything it spawned), stdout/stderr captured with a cap,
//! and a shared watchdog that enforces per-process and whole-run deadlines.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use crate::model::{Captured, utf8_ceil};

/// How long a test's leftover children may hold its output pipes after it exits.
const LEAK_GRACE: Duration = Duration::from_millis(200);
/// After that, how long reading may go on while the pipe still holds unread bytes (the
/// reader lags on a loaded machine; a leftover process outside the group may keep writing).
const LEAK_DRAIN_MAX: Duration = Duration::from_secs(10);
/// How often a streaming read looks whether the test has exited while its output is quiet.
const POLL: Duration = Duration::from_millis(50);

/// How the process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    Code(i32),
    Signal(i32),
}

impl ExitKind {
    pub fn success(self) -> bool {
        self == ExitKind::Code(0)
    }
}

/// For people: `exit status 4`, `signal 9 (SIGKILL)`.
impl std::fmt::Display for ExitKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitKind::Code(c) => write!(f, "exit status {c}"),
            ExitKind::Signal(s) => {
                let name = match s {
                    1 => " (SIGHUP)",
                    2 => " (SIGINT)",
                    6 => " (SIGABRT)",
                    9 => " (SIGKILL)",
                    11 => " (SIGSEGV)",
                    15 => " (SIGTERM)",
                    _ => "",
                };
                write!(f, "signal {s}{name}")
            }
        }
    }
}

/// Why testflow killed a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillReason {
    /// The process (or a test inside it) went past its own time limit.
    TestTimeout,
    /// The whole run went past `--timeout`.
    RunTimeout,
    /// Ctrl-C / SIGTERM.
    Interrupted,
}

impl KillReason {
    fn code(self) -> u8 {
        match self {
            KillReason::TestTimeout => 1,
            KillReason::RunTimeout => 2,
            KillReason::Interrupted => 3,
        }
    }

    fn from_code(c: u8) -> Option<KillReason> {
        match c {
            1 => Some(KillReason::TestTimeout),
            2 => Some(KillReason::RunTimeout),
            3 => Some(KillReason::Interrupted),
            _ => None,
        }
    }
}

/// A stream read up to EOF keeping the first quarter and last three quarters of `cap` bytes.
#[derive(Default)]
pub struct CappedBuf {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    head_cap: usize,
    tail_cap: usize,
    total: u64,
}

impl CappedBuf {
    pub fn new(cap: usize) -> CappedBuf {
        CappedBuf {
            head_cap: cap / 4,
            tail_cap: cap - cap / 4,
            ..CappedBuf::default()
        }
    }

    pub fn push(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.head.len() < self.head_cap {
            let n = (self.head_cap - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        if data.len() >= self.tail_cap {
            self.tail.clear();
            self.tail.extend(&data[data.len() - self.tail_cap..]);
            return;
        }
        let overflow = (self.tail.len() + data.len()).saturating_sub(self.tail_cap);
        self.tail.drain(..overflow);
        self.tail.extend(data);
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// The kept bytes, head then tail (for parsing).
    pub fn contiguous(&self) -> Vec<u8> {
        let mut v = self.head.clone();
        v.extend(self.tail.iter());
        v
    }

    /// Kept head, kept tail and the number of bytes cut between them, cut on UTF-8
    /// boundaries so valid text stays valid text.
    pub fn parts(&self) -> (&[u8], Vec<u8>, u64) {
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        if (self.head.len() + tail.len()) as u64 == self.total {
            return (&self.head, tail, 0);
        }
        let head = &self.head[..complete_utf8_prefix(&self.head)];
        let tail = tail[utf8_ceil(&tail, 0)..].to_vec();
        let cut = self.total - head.len() as u64 - tail.len() as u64;
        (head, tail, cut)
    }

    pub fn to_captured(&self) -> Captured {
        let (head, tail, cut) = self.parts();
        Captured::from_parts(head, &tail, cut)
    }
}

/// Sees each stdout line of a streaming process as it arrives.
pub type LineHandler<'a> = dyn FnMut(&[u8], &Registration) + 'a;

pub struct ProcessOutput {
    pub exit: ExitKind,
    pub stdout: CappedBuf,
    pub stderr: CappedBuf,
    pub duration: Duration,
    /// CPU time (user + sys) of the process and of every descendant it waited for (a
    /// pytest-xdist run's workers): what the work cost, however loaded the machine was.
    pub cpu: Duration,
    /// The process's own scheduler account (not its descendants'), where the system has one.
    pub sched: Option<Sched>,
    pub killed: Option<KillReason>,
}

struct Entry {
    pgid: i32,
    deadline: Option<Instant>,
    killed: Arc<AtomicU8>,
}

struct TableState {
    next: u64,
    entries: HashMap<u64, Entry>,
    run_deadline: Option<Instant>,
    shutting_down: bool,
}

/// Every running child, their deadlines, and the watchdog thread that kills them.
pub struct ProcessTable {
    state: Mutex<TableState>,
    wake: Condvar,
    /// Set once for the whole run: 0 none, else a `KillReason` code.
    stop: AtomicU8,
    pub spawned: AtomicU64,
}

/// Handle a caller holds while its process runs; lets it move the deadline (libtest JSON
/// mode moves it as tests inside the binary start and finish).
pub struct Registration {
    table: Arc<ProcessTable>,
    key: u64,
    killed: Arc<AtomicU8>,
    pgid: i32,
    /// The child was waited for; until then dropping the registration (a panic while
    /// reading its output) kills its group, so no test outlives the code that ran it.
    reaped: bool,
}

impl Registration {
    pub fn set_deadline(&self, deadline: Option<Instant>) {
        let mut st = self.table.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = st.entries.get_mut(&self.key) {
            e.deadline = deadline;
        }
        drop(st);
        self.table.wake.notify_all();
    }

    pub fn killed(&self) -> Option<KillReason> {
        KillReason::from_code(self.killed.load(Ordering::SeqCst))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: killpg on the group we created; its leader is not yet reaped, so the
            // id still names that group.
            unsafe {
                libc::killpg(self.pgid, libc::SIGKILL);
            }
        }
        let mut st = self.table.state.lock().unwrap_or_else(|e| e.into_inner());
        st.entries.remove(&self.key);
    }
}

impl ProcessTable {
    pub fn new(run_timeout: Option<Duration>) -> Arc<ProcessTable> {
        let table = Arc::new(ProcessTable {
            state: Mutex::new(TableState {
                next: 0,
                entries: HashMap::new(),
                run_deadline: run_timeout.and_then(|d| Instant::now().checked_add(d)),
                shutting_down: false,
            }),
            wake: Condvar::new(),
            stop: AtomicU8::new(0),
            spawned: AtomicU64::new(0),
        });
        let watchdog = Arc::clone(&table);
        thread::Builder::new()
            .name("testflow-watchdog".into())
            .spawn(move || watchdog.watch())
            .expect("cannot start watchdog thread");
        table
    }

    /// The reason the whole run is stopping, if it is.
    pub fn stopping(&self) -> Option<KillReason> {
        KillReason::from_code(self.stop.load(Ordering::SeqCst))
    }

    /// Kill every running process and refuse new ones (Ctrl-C, run timeout).
    pub fn stop_all(&self, reason: KillReason) {
        let _ = self
            .stop
            .compare_exchange(0, reason.code(), Ordering::SeqCst, Ordering::SeqCst);
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for e in st.entries.values() {
            kill_group(e, reason);
        }
        drop(st);
        self.wake.notify_all();
    }

    pub fn shutdown(&self) {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .shutting_down = true;
        self.wake.notify_all();
    }

    fn register(self: &Arc<Self>, pgid: i32, deadline: Option<Instant>) -> Registration {
        let killed = Arc::new(AtomicU8::new(0));
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let key = st.next;
        st.next += 1;
        let entry = Entry {
            pgid,
            deadline,
            killed: Arc::clone(&killed),
        };
        // A process started after Ctrl-C is killed at once.
        if let Some(reason) = self.stopping() {
            kill_group(&entry, reason);
        }
        st.entries.insert(key, entry);
        drop(st);
        self.wake.notify_all();
        Registration {
            table: Arc::clone(self),
            key,
            killed,
            pgid,
            reaped: false,
        }
    }

    fn watch(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if st.shutting_down {
                return;
            }
            let now = Instant::now();
            if st.run_deadline.is_some_and(|d| d <= now) {
                st.run_deadline = None;
                let _ = self.stop.compare_exchange(
                    0,
                    KillReason::RunTimeout.code(),
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
                for e in st.entries.values() {
                    kill_group(e, KillReason::RunTimeout);
                }
            }
            let mut next = st.run_deadline;
            for e in st.entries.values_mut() {
                match e.deadline {
                    Some(d) if d <= now => {
                        kill_group(e, KillReason::TestTimeout);
                        e.deadline = None;
                    }
                    Some(d) => next = Some(next.map_or(d, |n| n.min(d))),
                    None => {}
                }
            }
            st = match next {
                Some(d) => {
                    self.wake
                        .wait_timeout(st, d.saturating_duration_since(now))
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.wake.wait(st).unwrap_or_else(|e| e.into_inner()),
            };
        }
    }

    /// Spawn `cmd` in its own process group, capture both streams (capped at `cap` bytes
    /// each) and wait for it, killing it at `timeout`. `on_stdout_line`, when given, sees
    /// each stdout line as it arrives (libtest JSON mode) together with the registration.
    pub fn run(
        self: &Arc<Self>,
        cmd: Command,
        timeout: Option<Duration>,
        cap: usize,
        on_stdout_line: Option<&mut LineHandler<'_>>,
    ) -> std::io::Result<ProcessOutput> {
        self.run_streams(cmd, timeout, cap, on_stdout_line, false)
    }

    /// `run` with stderr written into stdout's pipe, so that the lines of both arrive in
    /// the order they were written (cargo's `Doc-tests NAME` status lines between
    /// rustdoc's results); `stderr` stays empty.
    pub fn run_merged(
        self: &Arc<Self>,
        cmd: Command,
        timeout: Option<Duration>,
        cap: usize,
        on_line: Option<&mut LineHandler<'_>>,
    ) -> std::io::Result<ProcessOutput> {
        self.run_streams(cmd, timeout, cap, on_line, true)
    }

    fn run_streams(
        self: &Arc<Self>,
        mut cmd: Command,
        timeout: Option<Duration>,
        cap: usize,
        mut on_stdout_line: Option<&mut LineHandler<'_>>,
        merged: bool,
    ) -> std::io::Result<ProcessOutput> {
        cmd.stdin(Stdio::null()).process_group(0);
        let merged_pipe = if merged {
            let (r, w) = std::io::pipe()?;
            cmd.stdout(w.try_clone()?).stderr(w);
            Some(r)
        } else {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            None
        };
        // If testflow itself is killed (SIGKILL, OOM), its tests must not live on as orphans.
        // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
        #[cfg(target_os = "linux")]
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = cmd.spawn()?;
        // The command holds our copies of a merged pipe's write end: EOF needs them closed.
        drop(cmd);
        self.spawned.fetch_add(1, Ordering::Relaxed);
        let pgid = child.id() as i32;
        let mut reg = self.register(pgid, timeout.and_then(|t| started.checked_add(t)));
        let stdout = std::fs::File::from(match merged_pipe {
            Some(r) => OwnedFd::from(r),
            None => OwnedFd::from(child.stdout.take().expect("stdout is piped")),
        });
        let stdout_fd = stdout.as_raw_fd();
        let err_reader = child.stderr.take().map(|e| Reader::spawn(e, cap));
        let pid = pgid;
        let (out, (status, (cpu, sched))) = if let Some(cb) = on_stdout_line.as_mut() {
            // Streaming mode: lines are handled here, on the caller's thread, as they come.
            let mut out_buf = CappedBuf::new(cap);
            let (tx, rx) = mpsc::channel::<Vec<u8>>();
            thread::spawn(move || {
                let mut r = BufReader::new(stdout);
                loop {
                    let mut line = Vec::new();
                    match r.read_until(b'\n', &mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {
                            if tx.send(line).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
            let mut exited: Option<(Instant, bool)> = None;
            let mut drain_since = started;
            let status = loop {
                match rx.recv_timeout(POLL) {
                    Ok(line) => {
                        out_buf.push(&line);
                        cb(&line, &reg);
                        continue;
                    }
                    // EOF: the test and everything holding its stdout are gone.
                    Err(mpsc::RecvTimeoutError::Disconnected) => break reap(pid)?,
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                }
                match exited {
                    None => {
                        if has_exited(pid)? {
                            exited = Some((Instant::now(), false));
                        }
                    }
                    Some((at, killed)) if at.elapsed() >= LEAK_GRACE => {
                        if killed {
                            // Held by a process outside the group (its own session):
                            // stop reading rather than wait for it, but only once
                            // everything already written has been read.
                            if !drained(stdout_fd, drain_since) {
                                exited = Some((Instant::now(), true));
                                continue;
                            }
                            break reap(pid)?;
                        }
                        kill_pgid(pgid);
                        drain_since = Instant::now();
                        exited = Some((drain_since, true));
                    }
                    Some(_) => {}
                }
            };
            (out_buf, status)
        } else {
            let out_reader = Reader::spawn(stdout, cap);
            let status = reap(pid)?;
            (out_reader.finish(pgid), status)
        };
        reg.reaped = true;
        let duration = started.elapsed();
        // A grandchild that inherited the pipes can keep them open after the test exits:
        // give it a moment, then kill the group so reading ends.
        let err = err_reader.map_or_else(|| CappedBuf::new(cap), |r| r.finish(pgid));
        let exit = match (status.code(), status.signal()) {
            (Some(c), _) => ExitKind::Code(c),
            (None, Some(s)) => ExitKind::Signal(s),
            (None, None) => ExitKind::Code(-1),
        };
        Ok(ProcessOutput {
            exit,
            stdout: out,
            stderr: err,
            duration,
            cpu,
            sched,
            killed: reg.killed(),
        })
    }
}

/// Whether the child has exited, without reaping it (`reap` reads its resource usage).
fn has_exited(pid: i32) -> std::io::Result<bool> {
    // SAFETY: waitid with WNOWAIT only inspects our own child; `info` is plain data.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        if libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(info.si_pid() != 0)
    }
}

/// The scheduler's account of one process (Linux `/proc/PID/schedstat`): its time on a
/// CPU and its time runnable but waiting for one (the machine's load, as it felt it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sched {
    pub on_cpu: Duration,
    pub waiting: Duration,
}

impl Sched {
    fn read(pid: i32) -> Option<Sched> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok()?;
        let mut ns = text.split_whitespace().map(|f| f.parse::<u64>().ok());
        Some(Sched {
            on_cpu: Duration::from_nanos(ns.next()??),
            waiting: Duration::from_nanos(ns.next()??),
        })
    }
}

/// Wait for the child: its exit status, the CPU time it and the descendants it waited
/// for used (wait4's rusage; std's `Child::wait` does not return it) and its own
/// scheduler account, read from its zombie before reaping it.
fn reap(pid: i32) -> std::io::Result<(std::process::ExitStatus, (Duration, Option<Sched>))> {
    loop {
        // SAFETY: waitid with WNOWAIT on our own child; `info` is plain data.
        let waited = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if waited == 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let sched = Sched::read(pid);
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: wait4 on our own child, writing into local plain data.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if got == pid {
            let tv = |t: libc::timeval| {
                Duration::from_secs(t.tv_sec.max(0) as u64)
                    + Duration::from_micros(t.tv_usec.clamp(0, 999_999) as u64)
            };
            let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
            return Ok((std::process::ExitStatus::from_raw(status), (cpu, sched)));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A stream read on its own thread into a shared buffer, so that what it read can be
/// taken even if the stream never ends.
struct Reader {
    buf: Arc<Mutex<CappedBuf>>,
    eof: mpsc::Receiver<()>,
    /// The pipe, to see whether bytes are still waiting to be read.
    fd: RawFd,
}

impl Reader {
    fn spawn(r: impl Read + AsRawFd + Send + 'static, cap: usize) -> Reader {
        let fd = r.as_raw_fd();
        let buf = Arc::new(Mutex::new(CappedBuf::new(cap)));
        let (tx, eof) = mpsc::channel();
        let shared = Arc::clone(&buf);
        thread::spawn(move || {
            read_capped(r, &shared);
            let _ = tx.send(());
        });
        Reader { buf, eof, fd }
    }

    /// The stream's bytes once the test has exited: at EOF, or after killing its group
    /// when something still holds the pipe, or, when a process outside the group (its own
    /// session) holds it, what was read by then.
    fn finish(self, pgid: i32) -> CappedBuf {
        if self.eof.recv_timeout(LEAK_GRACE).is_err() {
            kill_pgid(pgid);
            let since = Instant::now();
            while self.eof.recv_timeout(LEAK_GRACE).is_err() {
                if drained(self.fd, since) {
                    break;
                }
            }
        }
        std::mem::take(&mut *self.buf.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Whether reading a pipe that never reached EOF may stop: nothing written is still
/// waiting in it (a reader that lags under load is waited for, so a test's last lines,
/// its libtest result among them, are never cut), or it has been drained for too long.
fn drained(fd: RawFd, since: Instant) -> bool {
    let mut pending: libc::c_int = 0;
    // SAFETY: FIONREAD writes the number of unread bytes into `pending`; on a descriptor
    // that is already closed it fails, which counts as drained.
    let ok = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut pending) } == 0;
    !ok || pending <= 0 || since.elapsed() >= LEAK_DRAIN_MAX
}

fn kill_pgid(pgid: i32) {
    // SAFETY: killpg on a process group id we created; at worst the group is already gone.
    unsafe {
        libc::killpg(pgid, libc::SIGKILL);
    }
}

/// Length of `b` without a trailing, incomplete UTF-8 sequence.
fn complete_utf8_prefix(b: &[u8]) -> usize {
    for back in 1..=3.min(b.len()) {
        let i = b.len() - back;
        let lead = b[i];
        if lead & 0xC0 == 0xC0 {
            let need = if lead >= 0xF0 {
                4
            } else if lead >= 0xE0 {
                3
            } else {
                2
            };
            return if back < need { i } else { b.len() };
        }
        if lead & 0x80 == 0 {
            break;
        }
    }
    b.len()
}

/// Reads after which a reader that got less than a full chunk waits [`BATCH`] before
/// reading again. pytest writes each progress dot with its own write(2): read as it comes,
/// that woke this thread once a test (5,000 wake-ups, ~7% more CPU for a trivial suite's
/// pytest writing into our pipe than into /dev/null). A process that writes little (one
/// test's process) never reaches it, so its end is not delayed; at most one BATCH is added
/// to the end of a long one. A full chunk means more is waiting: read on at once.
const CHATTY_READS: u32 = 64;
const BATCH: Duration = Duration::from_millis(10);

fn read_capped(mut r: impl Read, buf: &Mutex<CappedBuf>) {
    let mut chunk = [0u8; 16 * 1024];
    let mut reads = 0u32;
    loop {
        match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(&chunk[..n]);
                reads = reads.saturating_add(1);
                if reads >= CHATTY_READS && n < chunk.len() {
                    thread::sleep(BATCH);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
}

fn kill_group(e: &Entry, reason: KillReason) {
    let _ = e
        .killed
        .compare_exchange(0, reason.code(), Ordering::SeqCst, Ordering::SeqCst);
    // SAFETY: plain syscall on a process group we created with process_group(0).
    unsafe {
        libc::killpg(e.pgid, libc::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        c
    }

    #[test]
    fn a_process_writing_a_byte_at_a_time_is_read_whole() {
        // Past CHATTY_READS the reader batches: nothing may be lost or cut at the end.
        let t = ProcessTable::new(None);
        let out = t
            .run(
                sh("i=0; while [ $i -lt 300 ]; do printf .; printf x >&2; i=$((i+1)); done; echo end"),
                None,
                1 << 20,
                None,
            )
            .unwrap();
        assert_eq!(
            out.stdout.contiguous(),
            format!("{}end\n", ".".repeat(300)).into_bytes()
        );
        assert_eq!(out.stderr.contiguous(), "x".repeat(300).into_bytes());
    }

    #[test]
    fn capped_buf_keeps_head_and_tail() {
        let mut b = CappedBuf::new(8);
        for chunk in [&b"abcdefgh"[..], b"ijkl", b"mnopqrstuvwxyz"] {
            b.push(chunk);
        }
        let c = b.to_captured();
        assert_eq!(b.total(), 26);
        assert!(c.text.starts_with("ab"), "{}", c.text);
        assert!(c.text.ends_with("uvwxyz"), "{}", c.text);
        assert_eq!(c.truncated_bytes, 18);
    }

    #[test]
    fn captures_both_streams_and_exit_code() {
        let t = ProcessTable::new(None);
        let out = t
            .run(sh("echo out; echo err >&2; exit 3"), None, 1024, None)
            .unwrap();
        assert_eq!(out.exit, ExitKind::Code(3));
        assert_eq!(out.stdout.contiguous(), b"out\n");
        assert_eq!(out.stderr.contiguous(), b"err\n");
        assert_eq!(out.killed, None);
    }

    #[test]
    fn merged_streams_keep_the_order_written() {
        let t = ProcessTable::new(None);
        let mut lines = Vec::new();
        let mut on_line = |l: &[u8], _: &Registration| lines.push(l.to_vec());
        let out = t
            .run_merged(
                sh("echo a; echo b >&2; echo c; echo d >&2"),
                None,
                1024,
                Some(&mut on_line),
            )
            .unwrap();
        assert_eq!(out.exit, ExitKind::Code(0));
        assert_eq!(lines, [&b"a\n"[..], b"b\n", b"c\n", b"d\n"]);
        assert_eq!(out.stdout.contiguous(), b"a\nb\nc\nd\n");
        assert_eq!(out.stderr.total(), 0);
    }

    #[test]
    fn cpu_time_counts_the_descendants_waited_for() {
        let t = ProcessTable::new(None);
        // The work is in grandchildren (`yes`, `head`) that the shell waits for.
        let work = "(yes | head -c 300000000 > /dev/null); echo done";
        let out = t.run(sh(work), None, 1024, None).unwrap();
        assert_eq!(out.stdout.contiguous(), b"done\n");
        assert!(out.cpu > Duration::from_millis(10), "{:?}", out.cpu);
        if cfg!(target_os = "linux") {
            assert!(out.sched.is_some(), "the zombie's schedstat is read");
        }
        let mut on_line = |_: &[u8], _: &Registration| {};
        let out = t.run(sh(work), None, 1024, Some(&mut on_line)).unwrap();
        assert!(out.cpu > Duration::from_millis(10), "{:?}", out.cpu);
    }

    #[test]
    fn timeout_kills_the_whole_group() {
        let t = ProcessTable::new(None);
        let started = Instant::now();
        // The grandchild sleeps too; killing only the shell would leave it holding the pipe
        // for 300 s. The bound tells the two apart with minutes to spare on a loaded
        // machine (it measures no speed).
        let out = t
            .run(
                sh("sleep 300 & sleep 300"),
                Some(Duration::from_millis(200)),
                1024,
                None,
            )
            .unwrap();
        assert_eq!(out.killed, Some(KillReason::TestTimeout));
        assert_eq!(out.exit, ExitKind::Signal(libc::SIGKILL));
        assert!(started.elapsed() < Duration::from_secs(150));
    }

    #[test]
    fn signals_are_reported() {
        let t = ProcessTable::new(None);
        let out = t.run(sh("kill -ABRT $$"), None, 1024, None).unwrap();
        assert_eq!(out.exit, ExitKind::Signal(libc::SIGABRT));
    }

    #[test]
    fn stop_all_kills_running_and_later_processes() {
        let t = ProcessTable::new(None);
        let t2 = Arc::clone(&t);
        let h = thread::spawn(move || t2.run(sh("sleep 30"), None, 1024, None).unwrap());
        thread::sleep(Duration::from_millis(100));
        t.stop_all(KillReason::Interrupted);
        assert_eq!(h.join().unwrap().killed, Some(KillReason::Interrupted));
        let later = t.run(sh("sleep 30"), None, 1024, None).unwrap();
        assert_eq!(later.killed, Some(KillReason::Interrupted));
    }

    /// `sh` that leaves `sleep 3600` in a session of its own holding both pipes, prints
    /// its pid and exits: killing the group cannot reach it.
    fn leaves_a_daemon() -> Command {
        sh("setsid sleep 3600 & echo $!")
    }

    fn kill_daemon(stdout: &[u8]) {
        let pid: i32 = String::from_utf8_lossy(stdout).trim().parse().unwrap();
        // SAFETY: kill(2) on the sleep this test started.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }

    #[test]
    fn a_daemon_holding_the_pipes_does_not_hang_the_read() {
        let t = ProcessTable::new(None);
        let out = t.run(leaves_a_daemon(), None, 1024, None).unwrap();
        assert_eq!(out.exit, ExitKind::Code(0));
        kill_daemon(&out.stdout.contiguous());
    }

    #[test]
    fn a_daemon_holding_the_pipes_does_not_hang_a_streaming_read() {
        let t = ProcessTable::new(None);
        let mut lines = Vec::new();
        let mut on_line = |l: &[u8], _: &Registration| lines.push(l.to_vec());
        let out = t
            .run(leaves_a_daemon(), None, 1024, Some(&mut on_line))
            .unwrap();
        assert_eq!(out.exit, ExitKind::Code(0));
        assert_eq!(lines.len(), 1);
        assert_eq!(out.stdout.contiguous(), lines[0]);
        kill_daemon(&lines[0]);
    }
}
