//! `cargo testflow watch`: watch the project, and on each burst of changes run a round:
//! `cargo testflow run --affected --changed PATH… --order failed-first` (or, with `--all`,
//! everything) as a child process of this binary. A newer change interrupts the running
//! round (SIGINT: the run keeps what it recorded), waits for it to end and starts the next,
//! which covers the cancelled round's changes too.
//!
//! A child process per round keeps cancelling simple and safe: the run's own interrupt
//! handling ends it, and nothing of a cancelled run lives on in this process.
//!
//! The parts: [`events`] (which paths count; bursts into change sets), [`rounds`] (the
//! state machine), `tree` (the file watches), `child` (the round's process), [`keys`]
//! (`q` and `r` on stdin). What happens is told to a [`WatchListener`] as [`WatchEvent`]s;
//! the library never prints.

mod child;
pub mod events;
mod git;
pub mod keys;
pub mod rounds;
mod tree;

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::Error;
use crate::model::Summary;
use events::{Coalescer, Filter};
use rounds::{Action, Input, Reach, Rounds, Scope};

/// The longest `--debounce` (one minute): a longer pause is no longer a burst.
pub const MAX_DEBOUNCE_MS: u64 = 60_000;

/// What each round runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The tests the changes affect (`run --affected --changed PATH…`).
    Affected,
    /// Every test, every round (`run`).
    All,
}

/// How watching ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// `q` on stdin.
    Quit,
    /// A signal (Ctrl-C: 2).
    Signal(i32),
}

impl StopReason {
    pub fn exit_code(self) -> i32 {
        match self {
            StopReason::Quit => crate::exit_code::OK,
            StopReason::Signal(s) => crate::exit_code::for_signal(s),
        }
    }
}

impl Serialize for StopReason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        match self {
            StopReason::Quit => m.serialize_entry("reason", "quit")?,
            StopReason::Signal(sig) => {
                m.serialize_entry("reason", "signal")?;
                m.serialize_entry("signal", sig)?;
            }
        }
        m.serialize_entry("exit_code", &self.exit_code())?;
        m.end()
    }
}

/// How a round's process ended, and what its run recorded.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RoundEnd {
    /// `cargo testflow run`'s exit code (see its --help); none when a signal ended it.
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// The run it recorded (none when it wrote no report: a usage error, a kill).
    pub run_id: Option<String>,
    /// Counted from the run's tests (as verdicts are), not taken from its stored summary.
    pub summary: Option<Summary>,
    /// How many run errors the run has (any makes it fail closed).
    pub run_errors: Option<usize>,
}

/// What happens while watching, in order. As JSON: one object per line, its kind in
/// `"event"`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum WatchEvent {
    /// Watches are in place.
    Watching {
        root: String,
        files: usize,
        mode: Mode,
        debounce_ms: u64,
    },
    /// A round's process is starting: the paths changed since the last round (empty on
    /// the first round and for `r`), whether it runs everything, and its command line.
    RoundStarted {
        round: u64,
        changed: Vec<String>,
        all: bool,
        command: Vec<String>,
    },
    RoundFinished {
        round: u64,
        #[serde(flatten)]
        end: RoundEnd,
    },
    /// Interrupted by newer changes (or by quitting); what it recorded is kept.
    RoundCancelled {
        round: u64,
        #[serde(flatten)]
        end: RoundEnd,
    },
    /// The round's process could not be started; watching goes on.
    RoundNotStarted { round: u64, error: String },
    /// Something went wrong that does not stop watching (a directory that could not be
    /// watched).
    Warning { message: String },
    Stopped {
        #[serde(flatten)]
        reason: StopReason,
    },
}

pub trait WatchListener {
    fn event(&mut self, event: &WatchEvent);
}

pub struct WatchOptions {
    /// The project root: what is watched, and what `--changed` paths are relative to.
    pub root: PathBuf,
    pub mode: Mode,
    pub debounce: Duration,
    /// The `cargo-testflow` binary the rounds run.
    pub program: PathBuf,
    /// The user's `run` options, after ours (so `--` and its framework arguments stay last).
    pub run_args: Vec<String>,
    /// Pass `--order failed-first` (not when the user's options name an order).
    pub failed_first: bool,
    /// Paths the rounds write inside the project (reports), never taken as changes.
    pub outputs: Vec<PathBuf>,
    /// Send the rounds' stdout to stderr (when stdout carries the JSON events).
    pub child_stdout_to_stderr: bool,
}

/// What the loop waits for.
enum Msg {
    Fs(notify::Result<notify::Event>),
    Key(keys::Key),
    /// The round's process has ended (not yet reaped).
    Exited(u64),
}

/// How often the loop looks for a signal while nothing else happens.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// Watch until `q` or a signal; the reason (its exit code: 0 for `q`). A project that
/// cannot be watched is a usage error (exit 2) that says why.
pub fn watch(opts: &WatchOptions, listener: &mut dyn WatchListener) -> anyhow::Result<StopReason> {
    if !opts.root.is_dir() {
        return Err(Error::config(anyhow::anyhow!(
            "cannot watch {}: no such directory",
            opts.root.display()
        ))
        .into());
    }
    let filter = filter_for(opts);
    let (tx, rx) = mpsc::channel::<Msg>();
    let fs_tx = tx.clone();
    let mut tree = tree::Tree::new(&opts.root, &filter, move |e| {
        let _ = fs_tx.send(Msg::Fs(e));
    })
    .map_err(Error::config)?;
    let key_tx = tx.clone();
    let _terminal = keys::listen(move |k| key_tx.send(Msg::Key(k)).is_ok());
    let reports = child::ReportDir::new()?;
    listener.event(&WatchEvent::Watching {
        root: opts.root.display().to_string(),
        files: tree.files(),
        mode: opts.mode,
        debounce_ms: opts.debounce.as_millis() as u64,
    });

    let mut coalescer = Coalescer::new(opts.debounce);
    let mut rounds = Rounds::new();
    let mut running: Option<child::RoundProcess> = None;
    let mut signalled = false;
    let mut pending = rounds.on(Input::Changes(Scope::reach(Reach::Default)));
    loop {
        // Carry out what the state machine asked; starting a round may fail, which is
        // one more input.
        while let Some(action) = (!pending.is_empty()).then(|| pending.remove(0)) {
            match action {
                Action::Start { round, scope } => {
                    let args = child::args(opts, &scope, &reports.path(round));
                    listener.event(&WatchEvent::RoundStarted {
                        round,
                        changed: scope.changed(),
                        all: opts.mode == Mode::All || scope.reach == Reach::All,
                        command: args.clone(),
                    });
                    match child::RoundProcess::spawn(opts, round, &args, &reports, {
                        let tx = tx.clone();
                        move || {
                            let _ = tx.send(Msg::Exited(round));
                        }
                    }) {
                        Ok(p) => running = Some(p),
                        Err(e) => pending.extend(rounds.on(Input::StartFailed(format!(
                            "cannot start {}: {e:#}",
                            opts.program.display()
                        )))),
                    }
                }
                Action::Interrupt => {
                    if let Some(p) = &running {
                        p.interrupt();
                        if signalled {
                            // The round gets its own grace time to wind down: give us as much.
                            crate::interrupt::winding_down();
                        }
                    }
                }
                Action::Kill => {
                    if let Some(p) = &running {
                        p.kill();
                    }
                }
                Action::Emit(event) => listener.event(&event),
                Action::Exit(reason) => return Ok(reason),
            }
        }

        let timeout = coalescer
            .deadline()
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(SIGNAL_POLL)
            .min(SIGNAL_POLL);
        match rx.recv_timeout(timeout) {
            Ok(Msg::Fs(Ok(event))) => {
                let now = Instant::now();
                for change in tree.changes(&event, &filter, listener) {
                    match change {
                        tree::Change::File(path) => coalescer.add(&path, now),
                        tree::Change::Unnamed => coalescer.add_unnamed(now),
                    }
                }
                if event.need_rescan() {
                    // Events were lost (the kernel's queue overflowed): run everything.
                    coalescer.add_unnamed(now);
                }
            }
            Ok(Msg::Fs(Err(e))) => listener.event(&WatchEvent::Warning {
                message: format!("file events: {e}"),
            }),
            Ok(Msg::Key(keys::Key::Quit)) => {
                pending.extend(rounds.on(Input::Quit(StopReason::Quit)));
            }
            Ok(Msg::Key(keys::Key::RerunAll)) => pending.extend(rounds.on(Input::RerunAll)),
            Ok(Msg::Exited(round)) => {
                if let Some(p) = running.take_if(|p| p.round == round) {
                    pending.extend(rounds.on(Input::Exited(p.reap())));
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                anyhow::bail!("watch: the event channel closed")
            }
        }
        if let Some(sig) = crate::interrupt::received()
            && !signalled
        {
            signalled = true;
            pending.extend(rounds.on(Input::Quit(StopReason::Signal(sig))));
        }
        if let Some(mut changes) = coalescer.take_due(Instant::now()) {
            git::drop_ignored(&opts.root, &mut changes);
            if !changes.is_empty() {
                pending.extend(rounds.on(Input::Changes(Scope::of(changes))));
            }
        }
    }
}

/// The built-in rules, plus the store and the rounds' reports when they are inside the
/// project, plus what git ignores there.
fn filter_for(opts: &WatchOptions) -> Filter {
    let mut filter = Filter::new();
    let store = crate::store::Store::for_project(&opts.root);
    let inside = |p: &std::path::Path| {
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
        abs.strip_prefix(&opts.root)
            .ok()
            .and_then(|r| r.to_str())
            .map(str::to_owned)
    };
    for p in std::iter::once(store.root()).chain(opts.outputs.iter().map(PathBuf::as_path)) {
        if let Some(rel) = inside(p) {
            filter.ignore_prefix(&rel);
        }
    }
    for rel in git::ignored_now(&opts.root) {
        filter.ignore_prefix(&rel);
    }
    filter
}
