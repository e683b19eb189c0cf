//! What a failed Go test printed, read into a [`Failure`]: the `file_test.go:12: message`
//! lines of `t.Errorf`/`t.Fatalf` (Go's assertions), or the panic that ended the binary,
//! located at its first frame in a test file.

use std::path::Path;

use crate::model::{Captured, Category, Failure, Location};

/// Where a package's files are: its directory relative to the project root (`""` for the
/// module's root package), and the root itself (stack frames name absolute paths).
#[derive(Clone, Copy, Debug)]
pub struct Paths<'a> {
    pub root: &'a Path,
    pub dir: &'a str,
}

impl Paths<'_> {
    /// `calc_test.go` (as `t.Errorf` names it) -> `strs/calc_test.go`.
    pub fn in_package(&self, base: &str) -> String {
        if self.dir.is_empty() {
            base.to_owned()
        } else {
            format!("{}/{base}", self.dir)
        }
    }

    /// An absolute path from a stack frame, relative to the project when inside it.
    fn relative(&self, abs: &str) -> String {
        Path::new(abs)
            .strip_prefix(self.root)
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_else(|_| abs.to_owned())
    }
}

/// One `    file.go:12: message` line of the testing package's log, with its
/// continuation lines (a multi-line message is indented further).
#[derive(Debug, PartialEq)]
pub struct LogLine {
    pub file: String,
    pub line: u32,
    pub message: String,
}

/// The testing package's log lines in a test's output.
pub fn log_lines(output: &str) -> Vec<LogLine> {
    let mut out: Vec<LogLine> = Vec::new();
    for raw in output.lines() {
        let indent = raw.len() - raw.trim_start().len();
        let text = raw.trim_start();
        if indent >= 4
            && let Some((loc, message)) = text.split_once(": ")
            && let Some((file, line)) = loc.rsplit_once(':')
            && file.ends_with(".go")
            && !file.contains(' ')
            && let Ok(line) = line.parse::<u32>()
        {
            out.push(LogLine {
                file: file.to_owned(),
                line,
                message: message.to_owned(),
            });
            continue;
        }
        // A continuation of the previous message (the testing package indents them).
        if indent >= 8
            && let Some(last) = out.last_mut()
        {
            last.message.push('\n');
            last.message.push_str(text);
        }
    }
    out
}

/// The panic a test's output holds: its message and everything from it on (the trace).
pub fn panic_of(output: &str) -> Option<(String, String)> {
    let start = output
        .match_indices('\n')
        .map(|(i, _)| i + 1)
        .chain([0])
        .filter(|&i| super::events::death_line(&output[i..]))
        .min()?;
    let trace = &output[start..];
    let first = trace.lines().next().unwrap_or("");
    Some((first.to_owned(), trace.trim_end().to_owned()))
}

/// The first frame of a stack trace in a `_test.go` file (`\t/abs/x_test.go:20 +0x58`).
fn test_frame(trace: &str, paths: Paths<'_>) -> Option<Location> {
    trace.lines().find_map(|l| {
        let l = l.strip_prefix('\t')?;
        let loc = l.split(" +0x").next()?;
        let (file, line) = loc.rsplit_once(':')?;
        if !file.ends_with("_test.go") {
            return None;
        }
        Some(Location {
            file: paths.relative(file),
            line: line.parse().ok()?,
            column: None,
        })
    })
}

/// `panic: test timed out after 3s`.
pub fn is_timeout_panic(first: &str) -> bool {
    first.starts_with("panic: test timed out after ")
}

/// The failure of a test that failed by go's own report: its panic if its output holds
/// one, else its log lines (`t.Errorf`, `t.Fatalf`).
pub fn failure(output: &str, cut: u64, paths: Paths<'_>) -> Failure {
    if let Some(f) = panic_failure(output, paths) {
        return with_output(f, output, cut);
    }
    let logs = log_lines(output);
    let message = if logs.is_empty() {
        // An example's `got:`/`want:`, or what the test printed itself.
        match tail(output, 20) {
            t if t.trim().is_empty() => {
                "the test failed without a message (t.Fail, or a failing subtest)".to_owned()
            }
            t => t,
        }
    } else {
        logs.iter()
            .map(|l| l.message.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let f = Failure {
        category: Category::Assertion,
        message,
        location: logs.first().map(|l| Location {
            file: paths.in_package(&l.file),
            line: l.line,
            column: None,
        }),
        ..Failure::default()
    };
    with_output(f, output, cut)
}

/// A panic (or a fatal runtime error) in `output`, as a failure at the frame in a test file.
pub fn panic_failure(output: &str, paths: Paths<'_>) -> Option<Failure> {
    let (first, trace) = panic_of(output)?;
    let (category, kind, message) = if is_timeout_panic(&first) {
        (Category::Timeout, "timeout", first.clone())
    } else if let Some(m) = first.strip_prefix("fatal error: ") {
        (Category::Crash, "fatal error", m.to_owned())
    } else {
        let m = first.strip_prefix("panic: ").unwrap_or(&first);
        let m = m
            .strip_suffix(" [recovered, repanicked]")
            .or_else(|| m.strip_suffix(" [recovered]"))
            .unwrap_or(m);
        if m.starts_with("unexpected call to os.Exit") {
            (Category::Crash, "os.Exit", m.to_owned())
        } else {
            (Category::RuntimeError, "panic", m.to_owned())
        }
    };
    Some(Failure {
        category,
        kind: Some(kind.to_owned()),
        message,
        location: test_frame(&trace, paths),
        details: Some(trace),
        ..Failure::default()
    })
}

fn with_output(mut f: Failure, output: &str, cut: u64) -> Failure {
    if !output.is_empty() {
        let mut c = Captured::from_bytes(output.as_bytes(), usize::MAX);
        c.truncated_bytes = cut;
        f.stdout = Some(c);
    }
    f
}

/// A test the binary died in, when nothing says how: the package's panic if it holds
/// one, else what `why` says.
pub fn crashed(
    output: &str,
    cut: u64,
    package_output: &str,
    why: &str,
    paths: Paths<'_>,
) -> Failure {
    let f = panic_failure(output, paths)
        .or_else(|| panic_failure(package_output, paths))
        .map(|mut f| {
            if f.category != Category::Timeout {
                f.category = Category::Crash;
            }
            f.message = format!("{why}: {}", f.message);
            f
        })
        .unwrap_or_else(|| Failure {
            category: Category::Crash,
            kind: Some("exit".into()),
            message: why.to_owned(),
            ..Failure::default()
        });
    with_output(f, output, cut)
}

/// The last lines of `text`, for messages.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> Paths<'static> {
        Paths {
            root: Path::new("/p"),
            dir: "sub",
        }
    }

    #[test]
    fn errorf_lines_become_the_message_at_the_first_line() {
        let out = "    calc_test.go:18: Add(2, 2) = 4, want 5\n    calc_test.go:19: second\n        more of it\n";
        let f = failure(out, 0, paths());
        assert_eq!(f.category, Category::Assertion);
        assert_eq!(f.message, "Add(2, 2) = 4, want 5\nsecond\nmore of it");
        assert_eq!(
            f.location,
            Some(Location {
                file: "sub/calc_test.go".into(),
                line: 18,
                column: None
            })
        );
        assert_eq!(f.stdout.unwrap().text, out);
    }

    #[test]
    fn a_panic_is_a_runtime_error_at_its_frame_in_the_test_file() {
        let out = "panic: assignment to entry in nil map\n\ngoroutine 20 [running]:\nex/p.TestG.func1()\n\t/p/sub/p_test.go:20 +0x58\ncreated by ex/p.TestG in goroutine 19\n\t/p/sub/p_test.go:17 +0x65\n";
        let f = failure(out, 0, paths());
        assert_eq!(f.category, Category::RuntimeError);
        assert_eq!(f.kind.as_deref(), Some("panic"));
        assert_eq!(f.message, "assignment to entry in nil map");
        assert_eq!(f.location.unwrap().file, "sub/p_test.go");
        assert!(f.details.unwrap().contains("goroutine 20"));
    }

    #[test]
    fn timeouts_exits_and_fatal_errors_have_their_own_categories() {
        let t = panic_failure(
            "panic: test timed out after 3s\n\trunning tests:\n",
            paths(),
        )
        .unwrap();
        assert_eq!(t.category, Category::Timeout);
        let e = panic_failure(
            "--- FAIL: TestX\npanic: unexpected call to os.Exit(0) during test [recovered, repanicked]\n",
            paths(),
        )
        .unwrap();
        assert_eq!(e.category, Category::Crash);
        assert_eq!(e.message, "unexpected call to os.Exit(0) during test");
        let f = panic_failure("fatal error: concurrent map writes\n", paths()).unwrap();
        assert_eq!(
            (f.category, f.message.as_str()),
            (Category::Crash, "concurrent map writes")
        );
        // A message that only mentions a panic is not one.
        assert!(panic_of("    a_test.go:3: no panic: here\n").is_none());
    }

    #[test]
    fn an_example_that_fails_says_what_it_got() {
        let f = failure("got:\nhello\nwant:\nhi\n", 0, paths());
        assert_eq!(f.message, "got:\nhello\nwant:\nhi");
        assert_eq!(f.location, None);
        assert_eq!(
            failure("", 0, paths()).message,
            "the test failed without a message (t.Fail, or a failing subtest)"
        );
    }

    #[test]
    fn a_crash_without_a_panic_says_why() {
        let f = crashed("", 0, "", "the test binary exited", paths());
        assert_eq!(f.category, Category::Crash);
        assert_eq!(f.message, "the test binary exited");
    }
}
