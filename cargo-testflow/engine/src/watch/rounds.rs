//! The rounds' state machine: idle → running → (a newer change) cancelling → running, and
//! stopping on `q` or a signal. Pure: it gets inputs and answers with actions (start a
//! round, interrupt the running one, say what happened), which the caller carries out.

use std::collections::BTreeSet;

use super::events::ChangeSet;
use super::{RoundEnd, StopReason, WatchEvent};

/// How far a round reaches, narrowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// The tests the changed paths affect (`run --affected --changed PATH…`).
    Changed,
    /// The first round: the affected tests since the last green run (`run --affected`
    /// alone), which holds every change made since.
    Default,
    /// Everything (`r`, or a change that cannot be named).
    All,
}

/// What a round runs: its reach, and the paths changed since the last round that ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub reach: Reach,
    pub paths: BTreeSet<String>,
}

impl Scope {
    pub fn reach(reach: Reach) -> Scope {
        Scope {
            reach,
            paths: BTreeSet::new(),
        }
    }

    /// A round that covers both: a cancelled round's changes are never dropped.
    pub fn merge(mut self, other: Scope) -> Scope {
        self.reach = self.reach.max(other.reach);
        self.paths.extend(other.paths);
        self
    }

    pub fn of(changes: ChangeSet) -> Scope {
        Scope {
            reach: if changes.unnamed {
                Reach::All
            } else {
                Reach::Changed
            },
            paths: changes.paths,
        }
    }

    /// The changed paths, sorted.
    pub fn changed(&self) -> Vec<String> {
        self.paths.iter().cloned().collect()
    }
}

#[derive(Debug, PartialEq)]
pub enum Input {
    Changes(Scope),
    /// `r`: run everything now.
    RerunAll,
    /// The round's process ended.
    Exited(RoundEnd),
    /// The round's process could not be started.
    StartFailed(String),
    Quit(StopReason),
}

#[derive(Debug, PartialEq)]
pub enum Action {
    Start {
        round: u64,
        scope: Scope,
    },
    /// Ask the running round to stop (SIGINT: it keeps what it recorded).
    Interrupt,
    /// Asked twice: kill the round's process group.
    Kill,
    Emit(WatchEvent),
    Exit(StopReason),
}

#[derive(Debug, PartialEq)]
enum State {
    Idle,
    Running {
        round: u64,
        scope: Scope,
    },
    /// Interrupted for newer changes; `next` runs once it has ended.
    Cancelling {
        round: u64,
        scope: Scope,
        next: Scope,
    },
    Stopping {
        round: u64,
        reason: StopReason,
    },
    Stopped,
}

#[derive(Debug)]
pub struct Rounds {
    state: State,
    last_round: u64,
    /// The scope of a round that could not start, owed to the next one.
    owed: Option<Scope>,
}

impl Default for Rounds {
    fn default() -> Self {
        Rounds::new()
    }
}

impl Rounds {
    pub fn new() -> Rounds {
        Rounds {
            state: State::Idle,
            last_round: 0,
            owed: None,
        }
    }

    /// Whether a round's process is running (or being stopped).
    pub fn running(&self) -> bool {
        matches!(
            self.state,
            State::Running { .. } | State::Cancelling { .. } | State::Stopping { .. }
        )
    }

    pub fn on(&mut self, input: Input) -> Vec<Action> {
        let state = std::mem::replace(&mut self.state, State::Stopped);
        let (state, actions) = self.step(state, input);
        self.state = state;
        actions
    }

    fn start(&mut self, scope: Scope) -> (State, Vec<Action>) {
        let scope = match self.owed.take() {
            Some(owed) => owed.merge(scope),
            None => scope,
        };
        self.last_round += 1;
        let round = self.last_round;
        (
            State::Running {
                round,
                scope: scope.clone(),
            },
            vec![Action::Start { round, scope }],
        )
    }

    fn step(&mut self, state: State, input: Input) -> (State, Vec<Action>) {
        use Action::{Emit, Exit, Interrupt, Kill};
        match (state, input) {
            (State::Stopped, _) => (State::Stopped, Vec::new()),
            (State::Idle, Input::Changes(scope)) => self.start(scope),
            (State::Idle, Input::RerunAll) => self.start(Scope::reach(Reach::All)),
            (State::Idle, Input::Quit(reason)) => (
                State::Stopped,
                vec![Emit(WatchEvent::Stopped { reason }), Exit(reason)],
            ),
            // Nothing runs: a stray report is not ours.
            (State::Idle, Input::Exited(_) | Input::StartFailed(_)) => (State::Idle, Vec::new()),

            (State::Running { round, scope }, Input::Changes(next)) => {
                (State::Cancelling { round, scope, next }, vec![Interrupt])
            }
            (State::Running { round, scope }, Input::RerunAll) => (
                State::Cancelling {
                    round,
                    scope,
                    next: Scope::reach(Reach::All),
                },
                vec![Interrupt],
            ),
            (State::Running { round, .. }, Input::Exited(end)) => (
                State::Idle,
                vec![Emit(WatchEvent::RoundFinished { round, end })],
            ),
            (State::Running { round, scope }, Input::StartFailed(error)) => {
                self.owed = Some(scope);
                (
                    State::Idle,
                    vec![Emit(WatchEvent::RoundNotStarted { round, error })],
                )
            }
            (State::Running { round, .. }, Input::Quit(reason)) => {
                (State::Stopping { round, reason }, vec![Interrupt])
            }

            (State::Cancelling { round, scope, next }, Input::Changes(more)) => (
                State::Cancelling {
                    round,
                    scope,
                    next: next.merge(more),
                },
                Vec::new(),
            ),
            (State::Cancelling { round, scope, next }, Input::RerunAll) => (
                State::Cancelling {
                    round,
                    scope,
                    next: next.merge(Scope::reach(Reach::All)),
                },
                Vec::new(),
            ),
            (State::Cancelling { round, scope, next }, Input::Exited(end)) => {
                let (state, mut actions) = self.start(scope.merge(next));
                actions.insert(0, Emit(ended_after_interrupt(round, end)));
                (state, actions)
            }
            // Already interrupted: a second SIGINT would make it exit without writing its run.
            (State::Cancelling { round, .. }, Input::Quit(reason)) => {
                (State::Stopping { round, reason }, Vec::new())
            }
            (state @ State::Cancelling { .. }, Input::StartFailed(_)) => (state, Vec::new()),

            (State::Stopping { round, reason }, Input::Exited(end)) => (
                State::Stopped,
                vec![
                    Emit(ended_after_interrupt(round, end)),
                    Emit(WatchEvent::Stopped { reason }),
                    Exit(reason),
                ],
            ),
            (State::Stopping { round, reason }, Input::Quit(_)) => {
                (State::Stopping { round, reason }, vec![Kill])
            }
            (state @ State::Stopping { .. }, _) => (state, Vec::new()),
        }
    }
}

/// A round asked to stop was cancelled, unless it had ended by itself first (the
/// interrupt crossed its exit): then it finished, and says how.
fn ended_after_interrupt(round: u64, end: RoundEnd) -> WatchEvent {
    let interrupted = end.exit_code == Some(crate::exit_code::for_signal(libc::SIGINT))
        || end.signal == Some(libc::SIGINT)
        || end.signal == Some(libc::SIGKILL);
    if interrupted || (end.exit_code.is_none() && end.signal.is_none()) {
        WatchEvent::RoundCancelled { round, end }
    } else {
        WatchEvent::RoundFinished { round, end }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(paths: &[&str]) -> Scope {
        Scope {
            reach: Reach::Changed,
            paths: paths.iter().map(|p| p.to_string()).collect(),
        }
    }

    fn all() -> Scope {
        Scope::reach(Reach::All)
    }

    fn end(code: i32) -> RoundEnd {
        RoundEnd {
            exit_code: Some(code),
            ..RoundEnd::default()
        }
    }

    #[test]
    fn a_change_while_idle_starts_a_round_and_its_end_is_reported() {
        let mut r = Rounds::new();
        assert!(!r.running());
        assert_eq!(
            r.on(Input::Changes(changed(&["src/lib.rs"]))),
            [Action::Start {
                round: 1,
                scope: changed(&["src/lib.rs"])
            }]
        );
        assert!(r.running());
        assert_eq!(
            r.on(Input::Exited(end(100))),
            [Action::Emit(WatchEvent::RoundFinished {
                round: 1,
                end: end(100)
            })]
        );
        assert!(!r.running());
        assert_eq!(
            r.on(Input::RerunAll),
            [Action::Start {
                round: 2,
                scope: all()
            }]
        );
    }

    #[test]
    fn a_newer_change_cancels_the_round_and_the_next_covers_both() {
        let mut r = Rounds::new();
        r.on(Input::Changes(changed(&["a.rs"])));
        assert_eq!(
            r.on(Input::Changes(changed(&["b.rs"]))),
            [Action::Interrupt]
        );
        // More changes while it winds down: gathered, no second interrupt.
        assert_eq!(r.on(Input::Changes(changed(&["c.rs"]))), []);
        assert_eq!(
            r.on(Input::Exited(end(130))),
            [
                Action::Emit(WatchEvent::RoundCancelled {
                    round: 1,
                    end: end(130)
                }),
                Action::Start {
                    round: 2,
                    scope: changed(&["a.rs", "b.rs", "c.rs"])
                }
            ]
        );
        assert!(r.running());
    }

    #[test]
    fn a_round_that_ended_by_itself_as_it_was_interrupted_finished() {
        let mut r = Rounds::new();
        r.on(Input::Changes(changed(&["a.rs"])));
        r.on(Input::Changes(changed(&["b.rs"])));
        let actions = r.on(Input::Exited(end(0)));
        assert_eq!(
            actions[0],
            Action::Emit(WatchEvent::RoundFinished {
                round: 1,
                end: end(0)
            })
        );
        // The next round covers both still: more tests, never fewer.
        assert_eq!(
            actions[1],
            Action::Start {
                round: 2,
                scope: changed(&["a.rs", "b.rs"])
            }
        );
        let killed = RoundEnd {
            signal: Some(libc::SIGINT),
            ..RoundEnd::default()
        };
        r.on(Input::Quit(StopReason::Quit));
        assert_eq!(
            r.on(Input::Exited(killed.clone()))[0],
            Action::Emit(WatchEvent::RoundCancelled {
                round: 2,
                end: killed
            })
        );
    }

    #[test]
    fn rerun_all_cancels_and_wins_over_changes() {
        let mut r = Rounds::new();
        r.on(Input::Changes(changed(&["a.rs"])));
        assert_eq!(r.on(Input::RerunAll), [Action::Interrupt]);
        r.on(Input::Changes(changed(&["b.rs"])));
        let actions = r.on(Input::Exited(end(130)));
        assert_eq!(
            actions[1],
            Action::Start {
                round: 2,
                scope: all().merge(changed(&["a.rs", "b.rs"]))
            }
        );
    }

    #[test]
    fn quit_while_idle_stops_at_once() {
        let mut r = Rounds::new();
        assert_eq!(
            r.on(Input::Quit(StopReason::Quit)),
            [
                Action::Emit(WatchEvent::Stopped {
                    reason: StopReason::Quit
                }),
                Action::Exit(StopReason::Quit)
            ]
        );
        // Stopped for good.
        assert_eq!(r.on(Input::Changes(changed(&["a.rs"]))), []);
    }

    #[test]
    fn quit_while_running_interrupts_waits_for_the_end_then_kills_if_asked_again() {
        let mut r = Rounds::new();
        r.on(Input::Changes(Scope::reach(Reach::Default)));
        let sig = StopReason::Signal(2);
        assert_eq!(r.on(Input::Quit(sig)), [Action::Interrupt]);
        assert_eq!(r.on(Input::Changes(changed(&["a.rs"]))), []);
        assert_eq!(r.on(Input::Quit(sig)), [Action::Kill]);
        assert_eq!(
            r.on(Input::Exited(end(130))),
            [
                Action::Emit(WatchEvent::RoundCancelled {
                    round: 1,
                    end: end(130)
                }),
                Action::Emit(WatchEvent::Stopped { reason: sig }),
                Action::Exit(sig)
            ]
        );
    }

    #[test]
    fn quit_while_cancelling_does_not_interrupt_twice_and_starts_nothing() {
        let mut r = Rounds::new();
        r.on(Input::Changes(Scope::reach(Reach::Default)));
        r.on(Input::Changes(changed(&["a.rs"])));
        assert_eq!(r.on(Input::Quit(StopReason::Quit)), []);
        let actions = r.on(Input::Exited(end(130)));
        assert!(
            !actions.iter().any(|a| matches!(a, Action::Start { .. })),
            "{actions:?}"
        );
        assert_eq!(actions.last(), Some(&Action::Exit(StopReason::Quit)));
    }

    #[test]
    fn a_round_that_cannot_start_is_reported_and_its_changes_go_to_the_next() {
        let mut r = Rounds::new();
        r.on(Input::Changes(changed(&["a.rs"])));
        assert_eq!(
            r.on(Input::StartFailed("no such file".into())),
            [Action::Emit(WatchEvent::RoundNotStarted {
                round: 1,
                error: "no such file".into()
            })]
        );
        assert!(!r.running(), "keeps watching");
        assert_eq!(
            r.on(Input::Changes(changed(&["b.rs"]))),
            [Action::Start {
                round: 2,
                scope: changed(&["a.rs", "b.rs"])
            }]
        );
    }

    #[test]
    fn scopes_merge_to_the_wider_reach_and_keep_every_path() {
        assert_eq!(all().merge(changed(&["a"])).reach, Reach::All);
        assert_eq!(all().merge(changed(&["a"])).changed(), ["a"]);
        let first = Scope::reach(Reach::Default);
        assert_eq!(changed(&["a"]).merge(first.clone()).reach, Reach::Default);
        assert_eq!(first.merge(all()).reach, Reach::All);
        assert_eq!(changed(&["b"]).merge(changed(&["a"])), changed(&["a", "b"]));
        let unnamed = ChangeSet {
            paths: ["c".to_owned()].into(),
            unnamed: true,
        };
        assert_eq!(Scope::of(unnamed).reach, Reach::All);
        assert_eq!(changed(&["b", "a"]).changed(), ["a", "b"]);
    }
}
