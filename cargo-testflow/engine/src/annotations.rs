//! GitHub Actions annotations: one `::error file=…,line=…,title=…::message` workflow
//! command per failing test, so failures show on the pull request's diff.
//!
//! GitHub keeps 10 error annotations per step (50 per job): we emit run errors first (they
//! decide the verdict), then new failures (not failing in the previous run), then the rest
//! by the size of their root-cause group, and count what did not fit. Test names and
//! messages are test-controlled: they are escaped so they can never end the command early
//! or start another (`::add-mask::`, `::stop-commands::`).

use std::collections::{HashMap, HashSet};

use crate::analyze;
use crate::model::{Run, TestCase};

/// Error annotations GitHub shows per step.
pub const PER_STEP: usize = 10;
/// Longest message we put in one annotation (GitHub truncates long ones anyway).
const MAX_MESSAGE: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub file: Option<String>,
    pub line: Option<u32>,
    pub title: String,
    pub message: String,
}

/// What `annotate` chose: the commands to print, and how many failures did not fit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Annotations {
    pub lines: Vec<String>,
    pub omitted: usize,
}

/// Which command is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Run,
    Merge,
}

/// Should this command annotate? Only on GitHub Actions (`GITHUB_ACTIONS=true`). A shard's
/// run leaves it to `merge`, which ranks every shard's failures together (annotating both
/// would show each failure twice). `TESTFLOW_ANNOTATIONS=never` turns it off, `always`
/// makes shards annotate too.
pub fn wanted(door: Door, is_shard: bool) -> bool {
    wanted_in(
        std::env::var("GITHUB_ACTIONS").ok().as_deref(),
        std::env::var("TESTFLOW_ANNOTATIONS").ok().as_deref(),
        door,
        is_shard,
    )
}

fn wanted_in(github: Option<&str>, setting: Option<&str>, door: Door, is_shard: bool) -> bool {
    if github != Some("true") {
        return false;
    }
    match setting.map(str::trim) {
        Some("never" | "off" | "0" | "false") => false,
        Some("always") => true,
        _ => door == Door::Merge || !is_shard,
    }
}

/// Escape a workflow command's message.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escape a workflow command's property value (`file=`, `title=`).
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

impl Annotation {
    pub fn command(&self) -> String {
        let mut props = Vec::new();
        if let Some(file) = &self.file {
            props.push(format!("file={}", escape_property(file)));
            if let Some(line) = self.line.filter(|&l| l > 0) {
                props.push(format!("line={line}"));
            }
        }
        props.push(format!("title={}", escape_property(&self.title)));
        format!(
            "::error {}::{}",
            props.join(","),
            escape_data(&self.message)
        )
    }
}

/// The ranked annotations for a run. `failed_before` holds the ids that failed in the
/// previous comparable run (`None`: no previous run, so nothing is called new).
pub fn annotate(run: &Run, failed_before: Option<&HashSet<String>>, limit: usize) -> Annotations {
    let mut all: Vec<Annotation> = run
        .errors
        .iter()
        .map(|e| Annotation {
            file: None,
            line: None,
            title: format!("testflow run error ({})", e.kind),
            message: cap(&e.message),
        })
        .collect();

    // Group size by root cause, from the same analysis `cargo testflow analyze` prints.
    let analysis = analyze::analyze(run);
    let mut group_of: HashMap<&str, (usize, u64)> = HashMap::new();
    for (i, g) in analysis.groups.iter().enumerate() {
        for t in &g.tests {
            group_of.entry(t.id.as_str()).or_insert((i, g.count));
        }
    }
    let mut failing: Vec<(&TestCase, bool, (usize, u64))> = run
        .failed_tests()
        .map(|t| {
            let new = failed_before.is_some_and(|before| !before.contains(&t.id));
            let group = group_of
                .get(t.id.as_str())
                .copied()
                .unwrap_or((usize::MAX, 0));
            (t, new, group)
        })
        .collect();
    // New first; then bigger groups; groups kept together in analysis order; then by id.
    failing.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then(b.2.1.cmp(&a.2.1))
            .then(a.2.0.cmp(&b.2.0))
            .then(a.0.id.cmp(&b.0.id))
    });
    all.extend(
        failing
            .into_iter()
            .map(|(t, new, (_, size))| for_test(t, new, size)),
    );

    let omitted = all.len().saturating_sub(limit);
    Annotations {
        lines: all.iter().take(limit).map(Annotation::command).collect(),
        omitted,
    }
}

fn for_test(t: &TestCase, new: bool, group_size: u64) -> Annotation {
    let location = t.failure.as_ref().and_then(|f| f.location.as_ref());
    let (file, line) = match location {
        Some(l) => (Some(l.file.clone()), Some(l.line)),
        None => (t.file.clone(), t.line),
    };
    let mut title = format!("{} {}", t.outcome.as_str().to_uppercase(), t.id);
    if new {
        title.push_str(" (new)");
    }
    if group_size > 1 {
        title.push_str(&format!(" (1 of {group_size} with this cause)"));
    }
    let mut message = match &t.failure {
        Some(f) => {
            // The first line names the kind once (the rule every report uses), then the rest.
            let mut m = f.headline();
            for line in f.message.lines().skip(1) {
                m.push('\n');
                m.push_str(line);
            }
            if let (Some(e), Some(a)) = (&f.expected, &f.actual) {
                m.push_str(&format!("\nexpected: {e}\n  actual: {a}"));
            }
            m
        }
        None => format!("{} (no message recorded)", t.outcome.as_str()),
    };
    message = cap(&message);
    Annotation {
        file,
        line,
        title,
        message,
    }
}

fn cap(s: &str) -> String {
    if s.len() <= MAX_MESSAGE {
        return s.to_owned();
    }
    let mut end = MAX_MESSAGE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}… ({} more bytes in the report)",
        &s[..end],
        s.len() - end
    )
}

/// What a command prints for GitHub Actions, when it should annotate ([`wanted`]).
#[derive(Debug, Default)]
pub struct Github {
    /// The workflow commands, one per line, for stdout (or stderr when stdout carries JSON:
    /// the runner reads both).
    pub commands: String,
    /// The step summary could not be appended to (the failures that did not fit are
    /// counted there).
    pub warning: Option<String>,
}

/// On GitHub Actions: the run's failures as `::error` annotations (ranked against the
/// previous run on the branch in the history at `store_root`, within the step's limit),
/// and the ones that did not fit counted in `$GITHUB_STEP_SUMMARY`. `None` when this
/// command should not annotate.
pub fn github(run: &Run, store_root: Option<&std::path::Path>, door: Door) -> Option<Github> {
    if !wanted(door, run.shard.is_some()) {
        return None;
    }
    let before = store_root
        .and_then(|root| crate::history::History::open(root).ok())
        .and_then(|h| h.failed_before(run).ok().flatten());
    let chosen = annotate(run, before.as_ref(), PER_STEP);
    let commands = chosen.lines.iter().map(|l| format!("{l}\n")).collect();
    let warning = match (
        omitted_note(chosen.omitted),
        std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()),
    ) {
        (Some(note), Some(path)) => {
            crate::report::append_to_step_summary(&note, std::path::Path::new(&path))
                .err()
                .map(|e| format!("{e:#}"))
        }
        _ => None,
    };
    Some(Github { commands, warning })
}

/// The step-summary note for failures that did not fit in the annotations.
pub fn omitted_note(omitted: usize) -> Option<String> {
    (omitted > 0).then(|| {
        format!(
            "\n> {omitted} more failure{} not annotated (GitHub shows {PER_STEP} annotations per step); every failure is in the testflow summary and reports.\n",
            if omitted == 1 { "" } else { "s" }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Attempt, Category, Failure, Framework, Location, Outcome, RunError, TestMeta,
    };

    fn test(id: &str, outcome: Outcome, message: &str, line: u32) -> TestCase {
        let failure = outcome.is_failure().then(|| Failure {
            category: Category::Assertion,
            kind: Some("assert_eq".into()),
            message: message.into(),
            location: Some(Location {
                file: "src/lib.rs".into(),
                line,
                column: None,
            }),
            expected: Some("1".into()),
            actual: Some("2".into()),
            ..Failure::default()
        });
        TestCase::from_attempts(
            TestMeta {
                id: id.into(),
                framework: Framework::Rust,
                name: id.into(),
                suite: vec![],
                file: Some("src/lib.rs".into()),
                line: None,
                binary: None,
            },
            vec![Attempt {
                attempt: 1,
                outcome,
                duration_ms: 1.0,
                started_at: None,
                failure,
                concurrent: None,
                attachments: vec![],
            }],
        )
    }

    fn run(tests: Vec<TestCase>) -> Run {
        Run::of_tests("r", chrono::Utc::now(), tests, 0.0)
    }

    #[test]
    fn properties_and_data_are_escaped_so_a_name_cannot_inject_a_command() {
        let a = Annotation {
            file: Some("a,b:c.rs".into()),
            line: Some(3),
            title: "x::add-mask::secret,\nline".into(),
            message: "100% bad\r\n::add-mask::secret".into(),
        };
        let cmd = a.command();
        assert_eq!(
            cmd,
            "::error file=a%2Cb%3Ac.rs,line=3,title=x%3A%3Aadd-mask%3A%3Asecret%2C%0Aline::100%25 bad%0D%0A::add-mask::secret"
        );
        // One line, and the only `::` that starts a command is ours.
        assert!(!cmd.contains('\n') && !cmd.contains('\r'));
        // The test's `::add-mask::` stays inside the message: a command only starts a line.
        assert!(cmd.starts_with("::error ") && cmd.matches("::add-mask::").count() == 1);
    }

    #[test]
    fn run_errors_first_then_new_failures_then_by_group_size_within_the_limit() {
        let mut r = run(vec![
            test("lonely", Outcome::Failed, "unique cause", 1),
            test("g1", Outcome::Failed, "shared cause", 2),
            test("g2", Outcome::Failed, "shared cause", 2),
            test("fresh", Outcome::Failed, "another cause", 4),
            test("ok", Outcome::Passed, "", 5),
        ]);
        r.errors.push(RunError {
            kind: "reconcile".into(),
            message: "pytest said 5 tests, we saw 4".into(),
        });
        let before: HashSet<String> = ["lonely", "g1", "g2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let a = annotate(&r, Some(&before), 4);
        assert_eq!(a.omitted, 1);
        assert!(
            a.lines[0].contains("title=testflow run error (reconcile)"),
            "{:?}",
            a.lines
        );
        assert!(a.lines[1].contains("FAILED fresh (new)"), "{:?}", a.lines);
        assert!(
            a.lines[2].contains("FAILED g1 (1 of 2 with this cause)"),
            "{:?}",
            a.lines
        );
        assert!(a.lines[3].contains("FAILED g2"), "{:?}", a.lines);
        assert!(a.lines.iter().all(|l| !l.contains(" ok")));
        assert!(a.lines[1].contains("file=src/lib.rs,line=4,"));
        assert!(a.lines[1].contains("expected: 1%0A  actual: 2"));
    }

    #[test]
    fn without_history_nothing_is_called_new_and_a_green_run_has_no_annotations() {
        let r = run(vec![test("a", Outcome::Failed, "x", 1)]);
        let a = annotate(&r, None, PER_STEP);
        assert!(!a.lines[0].contains("(new)"));
        assert_eq!(
            annotate(
                &run(vec![test("b", Outcome::Passed, "", 1)]),
                None,
                PER_STEP
            ),
            Annotations::default()
        );
        assert_eq!(omitted_note(0), None);
        assert!(omitted_note(3).expect("note").contains("3 more failures"));
    }

    #[test]
    fn only_on_github_and_a_shard_leaves_it_to_merge() {
        assert!(!wanted_in(None, None, Door::Run, false));
        assert!(!wanted_in(Some("false"), Some("always"), Door::Run, false));
        assert!(wanted_in(Some("true"), None, Door::Run, false));
        assert!(!wanted_in(Some("true"), None, Door::Run, true));
        assert!(wanted_in(Some("true"), None, Door::Merge, false));
        assert!(wanted_in(Some("true"), Some("always"), Door::Run, true));
        assert!(!wanted_in(Some("true"), Some("never"), Door::Merge, false));
    }

    #[test]
    fn long_messages_are_capped_on_a_char_boundary() {
        let long = "é".repeat(5000);
        let capped = cap(&long);
        assert!(capped.len() < 4200);
        assert!(capped.contains("more bytes in the report"));
    }
}
