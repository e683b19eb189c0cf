//! `cargo testflow watch` for people: a line per event, and the status line.

use crate::watch::{Mode, RoundEnd, StopReason, WatchEvent};

/// The line under each round: what is watched and the keys.
pub fn status_line(files: usize) -> String {
    format!(
        "watching {}; q to quit; r to rerun all",
        super::plural(files as u64, "file", "files")
    )
}

/// The line(s) for one event (none for events that only programs need).
pub fn line(event: &WatchEvent, files: usize) -> Option<String> {
    Some(match event {
        WatchEvent::Watching { root, mode, .. } => format!(
            "watching {} in {} ({} each round); q to quit; r to rerun all",
            super::plural(files as u64, "file", "files"),
            super::safe(root),
            match mode {
                Mode::Affected => "the affected tests",
                Mode::All => "every test",
            }
        ),
        WatchEvent::RoundStarted {
            round,
            changed,
            all,
            ..
        } => {
            let what = if *all {
                "every test"
            } else {
                "the affected tests"
            };
            match changed.as_slice() {
                [] => format!("round {round}: {what}"),
                [one] => format!("round {round}: {what} (changed: {})", super::safe(one)),
                [first, rest @ ..] => format!(
                    "round {round}: {what} (changed: {} and {} more)",
                    super::safe(first),
                    rest.len()
                ),
            }
        }
        WatchEvent::RoundFinished { round, end } => {
            format!("round {round} {}\n{}", ended(end), status_line(files))
        }
        WatchEvent::RoundCancelled { round, .. } => {
            format!("round {round} cancelled (newer changes; what it recorded is kept)")
        }
        WatchEvent::RoundNotStarted { round, error } => format!(
            "round {round} could not start: {}\n{}",
            super::safe(error),
            status_line(files)
        ),
        WatchEvent::Warning { message } => format!("warning: {}", super::safe(message)),
        WatchEvent::Stopped { reason } => match reason {
            StopReason::Quit => "stopped watching".to_owned(),
            StopReason::Signal(s) => format!("stopped watching (signal {s})"),
        },
    })
}

fn ended(end: &RoundEnd) -> String {
    let how = match (end.exit_code, end.signal) {
        (Some(0), _) => "passed".to_owned(),
        (Some(c), _) => format!("failed (exit {c})"),
        (None, Some(s)) => format!("ended by signal {s}"),
        (None, None) => "ended".to_owned(),
    };
    match &end.summary {
        Some(s) => format!("{how}: {}", super::counts(s)),
        None => how,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_read_as_sentences() {
        let started = WatchEvent::RoundStarted {
            round: 2,
            changed: vec!["src/lib.rs".into(), "src/a.rs".into()],
            all: false,
            command: vec![],
        };
        assert_eq!(
            line(&started, 3).unwrap(),
            "round 2: the affected tests (changed: src/lib.rs and 1 more)"
        );
        let finished = WatchEvent::RoundFinished {
            round: 2,
            end: RoundEnd {
                exit_code: Some(100),
                summary: Some(crate::model::Summary {
                    passed: 3,
                    failed: 1,
                    ..Default::default()
                }),
                ..RoundEnd::default()
            },
        };
        assert_eq!(
            line(&finished, 1).unwrap(),
            "round 2 failed (exit 100): 3 passed, 1 failed\nwatching 1 file; q to quit; r to rerun all"
        );
    }
}
