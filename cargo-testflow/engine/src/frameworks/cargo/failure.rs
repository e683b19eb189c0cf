//! Turns the output of one failed Rust test (libtest unit/integration test or doctest)
//! into a [`Failure`].
//!
//! Works on text only, so it accepts what any toolchain printed: panic headers from
//! before Rust 1.73 (`panicked at 'msg', file:l:c`), from 1.73 on (`panicked at file:l:c:`
//! then the message) and from 1.91 on (with a thread id, `thread 'x' (123) panicked`).

use std::sync::LazyLock;

use regex::Regex;

use crate::model::{Category, Failure, Location};

/// How the test process ended (shared with the process runner).
pub use crate::process::ExitKind;

// The patterns are constants, so compiling them cannot fail at run time.
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("constant regex")
}

static ANSI: LazyLock<Regex> = LazyLock::new(|| {
    re(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
});
/// Any generation of panic header; `rest` tells old (`'msg', file:l:c`) from new (`file:l:c:`).
static PANIC_HEADER: LazyLock<Regex> =
    LazyLock::new(|| re(r"thread '(?P<thread>.*?)'(?: \(\d+\))? panicked at (?P<rest>.*)$"));
static NEW_LOCATION: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?P<file>.+):(?P<line>\d+):(?P<col>\d+):$"));
/// End of an old-style quoted message: `…', src/main.rs:3:5` (very old Rust had no column).
static OLD_END: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?P<msg>.*)', (?P<file>.+?):(?P<line>\d+)(?::(?P<col>\d+))?$"));
static LIBTEST_LINE: LazyLock<Regex> = LazyLock::new(|| re(r"^test .+ \.\.\. \S"));
static NEW_ASSERT: LazyLock<Regex> =
    LazyLock::new(|| re(r"^assertion `left (?P<op>==|!=) right` failed"));
static OLD_ASSERT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?s)^(?P<head>assertion failed: `\(left (?P<op>==|!=) right\)`)\n\s*left: `(?P<left>.*)`,\n\s*right: `(?P<right>.*?)`(?:: (?P<custom>.*))?$",
    )
});
static NO_PANIC: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?m)test did not panic as expected(?: at (?P<file>.+):(?P<line>\d+):(?P<col>\d+))?\s*$")
});
static WRONG_PANIC: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"panic did not contain expected string\n\s*panic message: (?P<actual>.*)\n\s*expected substring: (?P<expected>.*)",
    )
});
static NON_STRING_PANIC: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"expected panic with string value,\n\s*found non-string value: (?P<actual>.*)\n\s*expected substring: (?P<expected>.*)",
    )
});
static ERR_LINE: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^Error: "));
static COMPILE_ERROR: LazyLock<Regex> = LazyLock::new(|| re(r"(?m)^error(?:\[E\d+\])?: (?:.*)$"));
static ARROW: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?m)^\s*--> (?P<file>.+):(?P<line>\d+):(?P<col>\d+)\s*$"));
static DOCTEST_STATUS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?m)^Test executable failed \((?:exit status: (?P<code>-?\d+)|signal: (?P<sig>\d+)[^\n]*?)\)\.?$",
    )
});

/// One panic report found in the output.
#[derive(Debug)]
struct Panic {
    thread: String,
    location: Option<Location>,
    message: String,
    backtrace: Option<String>,
}

impl Panic {
    /// Panics the runtime raises on its own before aborting (`panic in a function that
    /// cannot unwind`, …); they point into std, the one before them is the real cause.
    fn is_runtime(&self) -> bool {
        let in_std = self
            .location
            .as_ref()
            .is_some_and(|l| l.file.contains("/rustc/") || l.file.starts_with("library/"));
        in_std
            || self
                .message
                .starts_with("panic in a function that cannot unwind")
            || self
                .message
                .starts_with("panic in a destructor during cleanup")
    }

    /// Older libtest also panicked with this after a `Result` test printed `Error:`.
    fn is_termination_value(&self) -> bool {
        self.message
            .contains("the test returned a termination value with a non-zero status code")
    }
}

/// Build a `Failure` for one failed Rust test from its output. `stdout`/`stderr` are the
/// raw bytes of the test process run as `<bin> --exact NAME --nocapture` (panic text is on
/// stderr), or, in libtest JSON mode, the JSON event's `stdout` field passed as `stdout`
/// with empty stderr and `json_message` set to the event's `message` field.
/// Never panics, whatever the bytes. Does NOT fill `Failure.stdout`/`stderr` (the caller does).
pub fn parse_failure(
    test_name: &str,
    stdout: &[u8],
    stderr: &[u8],
    exit: ExitKind,
    json_message: Option<&str>,
) -> Failure {
    let stdout = clean(&String::from_utf8_lossy(stdout));
    let stderr = clean(&String::from_utf8_lossy(stderr));
    let json_message = json_message.map(clean).unwrap_or_default();
    // Doctest runners print every failure into one stdout; keep only this test's part.
    let stdout = own_section(&stdout, test_name).unwrap_or(&stdout);
    let text = if stderr.is_empty() {
        stdout.to_owned()
    } else {
        format!("{stdout}\n{stderr}")
    };
    let notes = format!("{json_message}\n{text}");

    let lines: Vec<&str> = text.split('\n').collect();
    let panics = find_panics(&lines);
    let err = find_err(&text);
    let doctest = DOCTEST_STATUS.captures(&text);
    let doctest_signal = doctest
        .as_ref()
        .and_then(|c| c.name("sig"))
        .and_then(|m| m.as_str().parse::<i32>().ok());

    let signal = match exit {
        ExitKind::Signal(n) => Some(n),
        ExitKind::Code(_) => doctest_signal,
    };
    if let Some(sig) = signal {
        return crash(sig, &panics, test_name, &lines);
    }

    if let Some(f) = should_panic(&notes, &panics, test_name) {
        return f;
    }
    if notes.contains("Test compiled successfully, but it's marked `compile_fail`") {
        return simple(
            Category::Assertion,
            "compile_fail",
            "Test compiled successfully, but it's marked `compile_fail`.",
        );
    }
    if let Some(f) = compile_error(&text, &panics, err.is_some()) {
        return f;
    }

    let usable: Vec<&Panic> = panics
        .iter()
        .filter(|p| err.is_none() || !p.is_termination_value())
        .collect();
    let own = usable
        .iter()
        .rev()
        .find(|p| p.thread == test_name && !p.is_runtime());
    if let Some(p) = own {
        return from_panic(p);
    }
    if let Some((message, backtrace)) = err {
        return Failure {
            category: Category::RuntimeError,
            kind: Some("Err".into()),
            message,
            details: backtrace,
            ..Failure::default()
        };
    }
    if let Some(p) = choose(&usable, test_name) {
        return from_panic(p);
    }

    let message = match doctest {
        Some(c) => c
            .get(0)
            .map_or("", |m| m.as_str())
            .trim_end_matches('.')
            .to_owned(),
        None => match exit {
            ExitKind::Code(n) => format!("test failed with exit code {n}"),
            ExitKind::Signal(n) => killed_by(n),
        },
    };
    Failure {
        category: Category::RuntimeError,
        message,
        ..Failure::default()
    }
}

/// Signal name for a number: 6 -> "SIGABRT", 11 -> "SIGSEGV", 9 -> "SIGKILL", etc.
pub fn signal_name(sig: i32) -> String {
    known_signal(sig).map_or_else(|| format!("signal {sig}"), str::to_owned)
}

#[cfg(unix)]
fn known_signal(sig: i32) -> Option<&'static str> {
    // libc constants, because numbers differ between Linux and the BSDs/macOS.
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGTTIN => "SIGTTIN",
        libc::SIGTTOU => "SIGTTOU",
        libc::SIGURG => "SIGURG",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGWINCH => "SIGWINCH",
        libc::SIGIO => "SIGIO",
        libc::SIGSYS => "SIGSYS",
        _ => return None,
    };
    Some(name)
}

#[cfg(not(unix))]
fn known_signal(sig: i32) -> Option<&'static str> {
    // Only the numbers POSIX fixes; a non-unix caller should rarely see signals at all.
    Some(match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => return None,
    })
}

fn killed_by(sig: i32) -> String {
    match known_signal(sig) {
        Some(name) => format!("process killed by signal {sig} ({name})"),
        None => format!("process killed by signal {sig}"),
    }
}

/// Strip ANSI escapes and CR of CRLF so the patterns see plain lines.
fn clean(s: &str) -> String {
    ANSI.replace_all(s, "").replace("\r\n", "\n")
}

/// The lines between `---- NAME stdout ----` and the next section or the summary.
fn own_section<'a>(stdout: &'a str, test_name: &str) -> Option<&'a str> {
    let marker = format!("---- {test_name} stdout ----");
    let start = stdout.find(&marker)? + marker.len();
    let body = stdout.get(start..)?;
    let body = body.strip_prefix('\n').unwrap_or(body);
    let mut end = body.len();
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        let l = line.trim_end();
        if (l.starts_with("---- ") && l.ends_with(" stdout ----"))
            || l == "failures:"
            || l.starts_with("test result: ")
        {
            end = offset;
            break;
        }
        offset += line.len();
    }
    body.get(..end)
}

fn is_stop_line(l: &str) -> bool {
    let t = l.trim_end();
    t.starts_with("note: run with `RUST_BACKTRACE")
        || t == "stack backtrace:"
        || t == "thread caused non-unwinding panic. aborting."
        || t.starts_with("fatal runtime error:")
        || PANIC_HEADER.is_match(t)
        || LIBTEST_LINE.is_match(t)
}

fn is_indented(l: &str) -> bool {
    l.starts_with(' ') || l.starts_with('\t')
}

/// Index one past the last line of a message starting at `start`: it ends at a stop line,
/// or at blank lines followed by non-indented text (indented text after a blank line is
/// still part of a pretty-printed value).
fn message_end(lines: &[&str], start: usize) -> usize {
    let mut j = start;
    while j < lines.len() {
        let l = lines[j];
        if is_stop_line(l) {
            return j;
        }
        if l.trim().is_empty() {
            let next = (j + 1..lines.len()).find(|&k| !lines[k].trim().is_empty());
            match next {
                Some(k) if is_indented(lines[k]) && !is_stop_line(lines[k]) => j = k,
                _ => return j,
            }
        } else {
            j += 1;
        }
    }
    j
}

fn join_trimmed(lines: &[&str]) -> String {
    let joined = lines.join("\n");
    joined.trim_end().to_owned()
}

/// A `stack backtrace:` block at `at`, and the index after it.
fn backtrace_at(lines: &[&str], at: usize) -> (Option<String>, usize) {
    if lines.get(at).map(|l| l.trim_end()) != Some("stack backtrace:") {
        return (None, at);
    }
    let mut k = at + 1;
    while k < lines.len()
        && (is_indented(lines[k]) || lines[k].starts_with("note: Some details are omitted"))
    {
        k += 1;
    }
    (Some(join_trimmed(&lines[at..k])), k)
}

fn location(file: &str, line: &str, col: Option<&str>) -> Option<Location> {
    Some(Location {
        file: file.to_owned(),
        line: line.parse().ok()?,
        column: col.and_then(|c| c.parse().ok()),
    })
}

fn find_panics(lines: &[&str]) -> Vec<Panic> {
    let mut panics = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(c) = PANIC_HEADER.captures(lines[i]) else {
            i += 1;
            continue;
        };
        let thread = c.name("thread").map_or("", |m| m.as_str()).to_owned();
        let rest = c.name("rest").map_or("", |m| m.as_str());
        let (loc, message, next) = if let Some(first) = rest.strip_prefix('\'') {
            old_style(lines, i, first)
        } else {
            let loc = NEW_LOCATION.captures(rest).and_then(|l| {
                location(
                    l.name("file")?.as_str(),
                    l.name("line")?.as_str(),
                    l.name("col").map(|m| m.as_str()),
                )
            });
            let end = message_end(lines, i + 1);
            (loc, join_trimmed(&lines[i + 1..end]), end)
        };
        // The "run with RUST_BACKTRACE" note sits between a message and nothing else.
        let mut at = next;
        if lines
            .get(at)
            .is_some_and(|l| l.starts_with("note: run with `RUST_BACKTRACE"))
        {
            at += 1;
        }
        let (backtrace, after) = backtrace_at(lines, at);
        panics.push(Panic {
            thread,
            location: loc,
            message,
            backtrace,
        });
        i = after.max(i + 1);
    }
    panics
}

/// Pre-1.73 header: the message is quoted and may span lines until `', file:l:c`.
fn old_style(lines: &[&str], header: usize, first: &str) -> (Option<Location>, String, usize) {
    // A quoted message longer than this is not a panic we can delimit; give up on it.
    const MAX_LINES: usize = 2000;
    let mut parts: Vec<&str> = vec![first];
    let mut k = header;
    loop {
        let last = parts.last().copied().unwrap_or("");
        if let Some(c) = OLD_END.captures(last) {
            let loc = location(
                c.name("file").map_or("", |m| m.as_str()),
                c.name("line").map_or("", |m| m.as_str()),
                c.name("col").map(|m| m.as_str()),
            );
            let msg_last = c.name("msg").map_or("", |m| m.as_str());
            let mut msg_parts = parts[..parts.len() - 1].to_vec();
            msg_parts.push(msg_last);
            return (loc, join_trimmed(&msg_parts), k + 1);
        }
        k += 1;
        if k >= lines.len() || k - header > MAX_LINES || PANIC_HEADER.is_match(lines[k]) {
            return (None, first.to_owned(), header + 1);
        }
        parts.push(lines[k]);
    }
}

/// The panic that explains the failure: the last one, preferring the test's own thread
/// and panics the runtime did not raise itself.
fn choose<'a>(panics: &[&'a Panic], test_name: &str) -> Option<&'a Panic> {
    let own = |p: &&&Panic| p.thread == test_name;
    let real = |p: &&&Panic| !p.is_runtime();
    let rev = || panics.iter().rev();
    rev()
        .find(|p| own(p) && real(p))
        .or_else(|| rev().find(real))
        .or_else(|| rev().find(own))
        .or_else(|| panics.last())
        .copied()
}

/// Classify a panic message: (kind, category, message, expected, actual).
fn classify(
    message: &str,
) -> (
    &'static str,
    Category,
    String,
    Option<String>,
    Option<String>,
) {
    if let Some(c) = NEW_ASSERT.captures(message) {
        let kind = if &c["op"] == "==" {
            "assert_eq"
        } else {
            "assert_ne"
        };
        let lines: Vec<&str> = message.split('\n').collect();
        let left = lines.iter().position(|l| l.starts_with("  left: "));
        let right =
            left.and_then(|i| (i + 1..lines.len()).find(|&k| lines[k].starts_with(" right: ")));
        if let (Some(i), Some(j)) = (left, right) {
            let value = |from: usize, to: usize, prefix: &str| {
                let mut v = vec![lines[from].strip_prefix(prefix).unwrap_or(lines[from])];
                v.extend_from_slice(&lines[from + 1..to]);
                join_trimmed(&v)
            };
            return (
                kind,
                Category::Assertion,
                join_trimmed(&lines[..i]),
                Some(value(j, lines.len(), " right: ")),
                Some(value(i, j, "  left: ")),
            );
        }
        return (kind, Category::Assertion, message.to_owned(), None, None);
    }
    if let Some(c) = OLD_ASSERT.captures(message) {
        let kind = if &c["op"] == "==" {
            "assert_eq"
        } else {
            "assert_ne"
        };
        let head = &c["head"];
        let msg = match c.name("custom") {
            Some(custom) => format!("{head}: {}", custom.as_str()),
            None => head.to_owned(),
        };
        return (
            kind,
            Category::Assertion,
            msg,
            Some(c["right"].to_owned()),
            Some(c["left"].to_owned()),
        );
    }
    if message.starts_with("assertion failed: ") {
        return (
            "assert",
            Category::Assertion,
            message.to_owned(),
            None,
            None,
        );
    }
    let message = if message.is_empty() {
        "(empty panic message)".to_owned()
    } else {
        message.to_owned()
    };
    ("panic", Category::RuntimeError, message, None, None)
}

fn from_panic(p: &Panic) -> Failure {
    let (kind, category, message, expected, actual) = classify(&p.message);
    Failure {
        category,
        kind: Some(kind.into()),
        message,
        location: p.location.clone(),
        expected,
        actual,
        details: p.backtrace.clone(),
        ..Failure::default()
    }
}

fn simple(category: Category, kind: &str, message: &str) -> Failure {
    Failure {
        category,
        kind: Some(kind.into()),
        message: message.into(),
        ..Failure::default()
    }
}

/// Killed by a signal: keep any panic that led to it (panic while unwinding, panic in
/// a function that cannot unwind), since the abort itself says nothing.
fn crash(sig: i32, panics: &[Panic], test_name: &str, lines: &[&str]) -> Failure {
    let base = killed_by(sig);
    let all: Vec<&Panic> = panics.iter().collect();
    let mut f = Failure {
        category: Category::Crash,
        kind: Some(signal_name(sig)),
        signal: Some(sig),
        ..Failure::default()
    };
    if let Some(p) = choose(&all, test_name) {
        let (_, _, message, expected, actual) = classify(&p.message);
        f.message = format!("{base} after panic: {message}");
        f.location = p.location.clone();
        f.expected = expected;
        f.actual = actual;
        let mut details: Vec<String> = panics
            .iter()
            .map(|q| {
                let at = q
                    .location
                    .as_ref()
                    .map(|l| match l.column {
                        Some(c) => format!(" at {}:{}:{}", l.file, l.line, c),
                        None => format!(" at {}:{}", l.file, l.line),
                    })
                    .unwrap_or_default();
                format!("thread '{}' panicked{at}:\n{}", q.thread, q.message)
            })
            .collect();
        if let Some(bt) = &p.backtrace {
            details.push(bt.clone());
        }
        f.details = Some(details.join("\n\n"));
        return f;
    }
    // Stack overflow and allocation failure abort without a panic, but say why.
    let notes: Vec<&str> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| {
            l.starts_with("fatal runtime error:")
                || l.ends_with("has overflowed its stack")
                || (l.starts_with("memory allocation of ") && l.ends_with(" failed"))
        })
        .collect();
    let headline = notes
        .iter()
        .find(|l| l.starts_with("fatal runtime error:"))
        .or_else(|| notes.first());
    f.message = match headline {
        Some(h) => format!("{base}: {h}"),
        None => base,
    };
    if !notes.is_empty() {
        f.details = Some(notes.join("\n"));
    }
    f
}

/// `should_panic` failures, from libtest's note (stdout) or the JSON event's message.
fn should_panic(notes: &str, panics: &[Panic], test_name: &str) -> Option<Failure> {
    let all: Vec<&Panic> = panics.iter().collect();
    let panic_location = || choose(&all, test_name).and_then(|p| p.location.clone());
    if let Some(c) = WRONG_PANIC.captures(notes) {
        let actual = debug_value(&c["actual"]);
        let expected = debug_value(&c["expected"]);
        return Some(Failure {
            category: Category::Assertion,
            kind: Some("should_panic".into()),
            message: format!(
                "panic did not contain expected string: panic message {:?}, expected substring {:?}",
                actual, expected
            ),
            location: panic_location(),
            expected: Some(expected),
            actual: Some(actual),
            details: Some(c[0].trim_end().to_owned()),
            ..Failure::default()
        });
    }
    if let Some(c) = NON_STRING_PANIC.captures(notes) {
        let actual = c["actual"].trim().trim_matches('`').to_owned();
        let expected = debug_value(&c["expected"]);
        return Some(Failure {
            category: Category::Assertion,
            kind: Some("should_panic".into()),
            message: format!(
                "panic payload was not a string ({actual}), expected substring {expected:?}"
            ),
            location: panic_location(),
            expected: Some(expected),
            actual: Some(actual),
            details: Some(c[0].trim_end().to_owned()),
            ..Failure::default()
        });
    }
    if let Some(c) = NO_PANIC.captures(notes) {
        let loc = match (c.name("file"), c.name("line")) {
            (Some(file), Some(line)) => location(
                file.as_str(),
                line.as_str(),
                c.name("col").map(|m| m.as_str()),
            ),
            _ => None,
        };
        return Some(Failure {
            category: Category::Assertion,
            kind: Some("should_panic".into()),
            message: "test did not panic as expected".into(),
            location: loc,
            ..Failure::default()
        });
    }
    if notes.contains("Test executable succeeded, but it's marked `should_panic`") {
        return Some(simple(
            Category::Assertion,
            "should_panic",
            "Test executable succeeded, but it's marked `should_panic`.",
        ));
    }
    None
}

/// A value printed with `{:?}`, possibly inside backticks with a trailing comma (pre-1.73):
/// a quoted string is unescaped, anything else is kept as printed.
fn debug_value(raw: &str) -> String {
    let v = raw.trim().trim_end_matches(',');
    let v = v
        .strip_prefix('`')
        .and_then(|s| s.strip_suffix('`'))
        .unwrap_or(v);
    match v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(inner) => unescape(inner),
        None => v.to_owned(),
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('u') => {
                // \u{XXXX}
                let rest: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let code = rest.trim_start_matches('{');
                match u32::from_str_radix(code, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => {
                        out.push_str("\\u");
                        out.push_str(&rest);
                        out.push('}');
                    }
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// The `Error: …` a `Result`-returning test prints, with its backtrace if it has one.
fn find_err(text: &str) -> Option<(String, Option<String>)> {
    let m = ERR_LINE.find_iter(text).last()?;
    let after = text.get(m.end()..)?;
    let lines: Vec<&str> = after.split('\n').collect();
    let mut end = lines.len();
    let mut backtrace = None;
    for (k, l) in lines.iter().enumerate() {
        let t = l.trim_end();
        if t == "Stack backtrace:" || t == "stack backtrace:" {
            end = k;
            let bt_end = (k + 1..lines.len())
                .find(|&n| !lines[n].trim().is_empty() && !is_indented(lines[n]))
                .unwrap_or(lines.len());
            backtrace = Some(join_trimmed(&lines[k..bt_end]));
            break;
        }
        if k > 0 && (PANIC_HEADER.is_match(t) || LIBTEST_LINE.is_match(t)) {
            end = k;
            break;
        }
    }
    let message = join_trimmed(&lines[..end]);
    let message = if message.is_empty() {
        "Error: (empty)".to_owned()
    } else {
        message
    };
    Some((message, backtrace))
}

/// A doctest that did not compile: rustc's diagnostics in the doctest's stdout.
fn compile_error(text: &str, panics: &[Panic], has_err: bool) -> Option<Failure> {
    let couldnt = text.contains("Couldn't compile the test.");
    let coded = text.contains("error[E");
    // An error code alone could be output the test printed, so it needs no other cause.
    let is_compile_error = couldnt || (coded && panics.is_empty() && !has_err);
    if !is_compile_error {
        return None;
    }
    let first = COMPILE_ERROR
        .find_iter(text)
        .find(|m| !m.as_str().starts_with("error: aborting due to"))?;
    let after = text.get(first.start()..).unwrap_or("");
    let loc = ARROW.captures(after).and_then(|c| {
        location(
            c.name("file")?.as_str(),
            c.name("line")?.as_str(),
            c.name("col").map(|m| m.as_str()),
        )
    });
    let block = after
        .split("Couldn't compile the test.")
        .next()
        .unwrap_or(after)
        .trim_end();
    Some(Failure {
        category: Category::BuildError,
        kind: Some("compile_error".into()),
        message: first.as_str().trim_end().to_owned(),
        location: loc,
        details: Some(block.to_owned()),
        ..Failure::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real output of small tests run with cargo/rustc 1.95 (`--exact NAME --nocapture`,
    // RUST_BACKTRACE=0 unless noted). Long forced backtraces have middle frames elided.
    const EQ_SIMPLE_OUT: &str = r#"
running 1 test
test tests::eq_simple ... FAILED

failures:

failures:
    tests::eq_simple

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 23 filtered out; finished in 0.00s

"#;

    const EQ_SIMPLE_ERR: &str = r#"
thread 'tests::eq_simple' (11248) panicked at src/lib.rs:46:9:
assertion `left == right` failed
  left: 2
 right: 3
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
"#;

    const EQ_CUSTOM_OUT: &str = r#"
running 1 test
test tests::eq_custom ... FAILED

failures:

failures:
    tests::eq_custom

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 23 filtered out; finished in 0.00s

"#;

    const EQ_CUSTOM_ERR: &str = r#"
thread 'tests::eq_custom' (11253) panicked at src/lib.rs:51:9:
assertion `left == right` failed: adding 1 went wrong
  left: 2
 right: 3
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
"#;

    const NE_SIMPLE_OUT: &str = r#"
running 1 test
test tests::ne_simple ... FAILED

failures:

failures:
    tests::ne_simple

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 23 filtered out; finished in 0.00s

"#;

    const NE_SIMPLE_ERR: &str = r#"
thread 'tests::ne_simple' (11260) panicked at src/lib.rs:56:9:
assertion `left != right` failed
  left: 2
 right: 2
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
"#;

    const EQ_PRETTY_OUT: &str = r#"
running 1 test
test tests::eq_pretty ... FAILED

failures:

failures:
    tests::eq_pretty

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 23 filtered out; finished in 0.00s

"#;

    const EQ_PRETTY_ERR: &str = r#"
thread 'tests::eq_pretty' (11265) panicked at src/lib.rs:63:9:
assertion `left == right` failed
  left: Point { x: 1, y: [1, 2] }
 right: Point { x: 2, y: [3] }
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
"#;

    const PLAIN_ASSERT_OUT: &str = r#"
running 1 test
test tests::plain_assert ... FAILED

failures:

failures:
    tests::plain_assert

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 23 filtered out; finished in 0.00s

"#;

    const PLAIN_ASSERT_ERR: &str = r#"
thread 'tests::plain_assert' (11270) panicked at src/lib.rs:69:9:
assertion failed: v > 2
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
"#;

    const UNWRAP_NONE_OUT: &str = r#"
running 1 test
test tests::unwrap_none ... FAILED

failures:

failures:
    tests::unwrap_none

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 23 filtered out; finished in 0.00s

"#;

    const UNWRAP_NONE_ERR: &str = r#"
thread 'tests::unwrap_none' (11275) panicked at src/lib.rs:80:11:
called `Option::unwrap()` on a `None` value
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
"#;

    const SPAWNED_OUT: &str = r#"
running 1 test
test tests::spawned_thread ... FAILED

failures:

failures:
    tests::spawned_thread

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 23 filtered out; finished in 0.00s

"#;

    const SPAWNED_ERR: &str = r#"
thread '<unnamed>' (11280) panicked at src/lib.rs:101:31:
in thread
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

thread 'tests::spawned_thread' (11279) panicked at src/lib.rs:101:59:
called `Result::unwrap()` on an `Err` value: Any { .. }
"#;

    const ERR_RESULT_OUT: &str = r#"
running 1 test
some stdout
test tests::err_result ... FAILED

failures:

failures:
    tests::err_result

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 23 filtered out; finished in 0.00s

"#;

    const ERR_RESULT_ERR: &str = r#"Error: "boom"
"#;

    const NO_PANIC_OUT: &str = r#"
running 1 test
test tests::no_panic - should panic ... FAILED

failures:

---- tests::no_panic stdout ----
note: test did not panic as expected at src/lib.rs:91:8

failures:
    tests::no_panic

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 23 filtered out; finished in 0.00s

"#;

    const WRONG_PANIC_OUT: &str = r#"
running 1 test
test tests::wrong_panic - should panic ... FAILED

failures:

---- tests::wrong_panic stdout ----
note: panic did not contain expected string
      panic message: "abc"
 expected substring: "xyz"

failures:
    tests::wrong_panic

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 23 filtered out; finished in 0.00s

"#;

    const WRONG_PANIC_ERR: &str = r#"
thread 'tests::wrong_panic' (11296) panicked at src/lib.rs:96:9:
abc
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
"#;

    const DOUBLE_PANIC_OUT: &str = r#"
running 1 test
"#;

    const DOUBLE_PANIC_ERR: &str = r#"
thread 'tests::double_panic' (11302) panicked at src/lib.rs:117:9:
first panic
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

thread 'tests::double_panic' (11302) panicked at src/lib.rs:36:9:
drop panicked
stack backtrace:
   0:     0x55e718cfa08a - std[e28293b1aa0f68bd]::backtrace_rs::backtrace::libunwind::trace
                               at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/../../backtrace/src/backtrace/libunwind.rs:117:9
   1:     0x55e718cfa08a - std[e28293b1aa0f68bd]::backtrace_rs::backtrace::trace_unsynchronized::<std[e28293b1aa0f68bd]::sys::backtrace::_print_fmt::{closure#1}>
                               at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/../../backtrace/src/backtrace/mod.rs:66:14
   2:     0x55e718cfa08a - std[e28293b1aa0f68bd]::sys::backtrace::_print_fmt
                               at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/sys/backtrace.rs:74:9
   3:     0x55e718cfa08a - <<std[e28293b1aa0f68bd]::sys::backtrace::BacktraceLock>::print::DisplayBacktrace as core[c1f1a4ba060b9bfa]::fmt::Display>::fmt
                               at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/sys/backtrace.rs:44:26
                               at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/sys/thread/unix.rs:118:17
  41:     0x7f524ff181f5 - start_thread
                               at ./nptl/pthread_create.c:442:8
  42:     0x7f524ff988ec - clone3
                               at ./misc/../sysdeps/unix/sysv/linux/x86_64/clone3.S:81:0
  43:                0x0 - <unknown>

thread 'tests::double_panic' (11302) panicked at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:233:5:
panic in a destructor during cleanup
thread caused non-unwinding panic. aborting.
"#;

    const OVERFLOW_OUT: &str = r#"
running 1 test
"#;

    const OVERFLOW_ERR: &str = r#"
thread 'extra::overflow' (11413) has overflowed its stack
fatal runtime error: stack overflow, aborting
"#;

    const WRONG_PAYLOAD_OUT: &str = r#"
running 1 test
test extra::wrong_payload - should panic ... FAILED

failures:

---- extra::wrong_payload stdout ----
note: expected panic with string value,
 found non-string value: `TypeId(0x0596b48cc04376e64d5c788c2aa46bdb)`
     expected substring: "xyz"

failures:
    extra::wrong_payload

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 23 filtered out; finished in 0.00s

"#;

    const WRONG_PAYLOAD_ERR: &str = r#"
thread 'extra::wrong_payload' (11421) panicked at src/lib.rs:197:9:
Box<dyn Any>
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
"#;

    const WRONG_ESCAPED_OUT: &str = r#"
running 1 test
test extra::wrong_escaped - should panic ... FAILED

failures:

---- extra::wrong_escaped stdout ----
note: panic did not contain expected string
      panic message: "got \"this\"\nok"
 expected substring: "quote \" and\nnewline"

failures:
    extra::wrong_escaped

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 23 filtered out; finished in 0.00s

"#;

    const WRONG_ESCAPED_ERR: &str = r#"
thread 'extra::wrong_escaped' (11425) panicked at src/lib.rs:203:9:
got "this"
ok
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
"#;

    const PRINTING_OUT: &str = r#"
running 1 test
hello out
test tests::printing_then_panic ... FAILED

failures:

failures:
    tests::printing_then_panic

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 23 filtered out; finished in 0.00s

"#;

    const PRINTING_ERR: &str = r#"hello err

thread 'tests::printing_then_panic' (11430) panicked at src/lib.rs:124:9:
after printing
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
"#;

    const BACKTRACE_OUT: &str = r#"
running 1 test
test tests::plain_panic ... FAILED

failures:

failures:
    tests::plain_panic

test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 23 filtered out; finished in 0.15s

"#;

    const BACKTRACE_ERR: &str = r#"
thread 'tests::plain_panic' (11436) panicked at src/lib.rs:74:9:
something broke
second line
stack backtrace:
   0: __rustc::rust_begin_unwind
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/panicking.rs:689:5
   1: core::panicking::panic_fmt
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:80:14
   2: demo::tests::plain_panic
             at ./src/lib.rs:74:9
   3: demo::tests::plain_panic::{{closure}}
             at ./src/lib.rs:73:21
   4: core::ops::function::FnOnce::call_once
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/ops/function.rs:250:5
   5: <fn() -> core::result::Result<(), alloc::string::String> as core::ops::function::FnOnce<()>>::call_once
             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/ops/function.rs:250:5
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.
"#;

    const EXTERN_C_OUT: &str = r#"
running 1 test
"#;

    const EXTERN_C_ERR: &str = r#"
thread 'more::extern_c_panic' (11658) panicked at src/lib.rs:136:5:
boom in extern C
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

thread 'more::extern_c_panic' (11658) panicked at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:225:5:
panic in a function that cannot unwind
stack backtrace:
   0:     0x56217632308a - std[e28293b1aa0f68bd]::backtrace_rs::backtrace::libunwind::trace
                               at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/../../backtrace/src/backtrace/libunwind.rs:117:9
   1:     0x56217632308a - std[e28293b1aa0f68bd]::backtrace_rs::backtrace::trace_unsynchronized::<std[e28293b1aa0f68bd]::sys::backtrace::_print_fmt::{closure#1}>
                               at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/../../backtrace/src/backtrace/mod.rs:66:14
   2:     0x56217632308a - std[e28293b1aa0f68bd]::sys::backtrace::_print_fmt
                               at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/sys/backtrace.rs:74:9
   3:     0x56217632308a - <<std[e28293b1aa0f68bd]::sys::backtrace::BacktraceLock>::print::DisplayBacktrace as core[c1f1a4ba060b9bfa]::fmt::Display>::fmt
                               at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/sys/backtrace.rs:44:26
                               at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/sys/thread/unix.rs:118:17
  43:     0x7f5fd90c91f5 - start_thread
                               at ./nptl/pthread_create.c:442:8
  44:     0x7f5fd91498ec - clone3
                               at ./misc/../sysdeps/unix/sysv/linux/x86_64/clone3.S:81:0
  45:                0x0 - <unknown>
thread caused non-unwinding panic. aborting.
"#;

    const DOC_STDOUT: &str = r#"
running 6 tests
test src/lib.rs - add (line 11) - compile fail ... FAILED
test src/lib.rs - aborts (line 179) ... FAILED
test src/lib.rs - add (line 15) ... FAILED
test src/lib.rs - add (line 3) ... FAILED
test src/lib.rs - add (line 19) ... FAILED
test src/lib.rs - add (line 7) ... FAILED

failures:

---- src/lib.rs - add (line 11) stdout ----
Test compiled successfully, but it's marked `compile_fail`.
---- src/lib.rs - aborts (line 179) stdout ----
Test executable failed (signal: 6 (SIGABRT)).

---- src/lib.rs - add (line 15) stdout ----
Test executable succeeded, but it's marked `should_panic`.
---- src/lib.rs - add (line 3) stdout ----
Test executable failed (exit status: 101).

stderr:

thread 'main' (17792) panicked at src/lib.rs:5:1:
assertion `left == right` failed
  left: 3
 right: 4
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


---- src/lib.rs - add (line 19) stdout ----
Test executable failed (exit status: 101).

stderr:

thread 'main' (18501) panicked at src/lib.rs:5:35:
called `Result::unwrap()` on an `Err` value: ParseIntError { kind: InvalidDigit }
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


---- src/lib.rs - add (line 7) stdout ----
error[E0425]: cannot find value `undefined_thing` in this scope
 --> src/lib.rs:8:9
  |
8 | let x = undefined_thing;
  |         ^^^^^^^^^^^^^^^ not found in this scope

error: aborting due to 1 previous error

For more information about this error, try `rustc --explain E0425`.
Couldn't compile the test.

failures:
    src/lib.rs - aborts (line 179)
    src/lib.rs - add (line 11)
    src/lib.rs - add (line 15)
    src/lib.rs - add (line 19)
    src/lib.rs - add (line 3)
    src/lib.rs - add (line 7)

test result: FAILED. 0 passed; 6 failed; 0 ignored; 0 measured; 0 filtered out; finished in 4.20s

all doctests ran in 4.39s; merged doctests compilation took 0.18s
"#;

    // Failed events from `RUSTC_BOOTSTRAP=1 <bin> -Z unstable-options --format json
    // --report-time` (and `cargo test --doc -- …` for the doctests), same 1.95 toolchain.
    const JSON_EVENTS: &str = r##"{ "type": "test", "name": "extra::wrong_escaped", "event": "failed", "exec_time": 0.000048442, "stdout": "\nthread 'extra::wrong_escaped' (8121) panicked at src/lib.rs:203:9:\ngot \"this\"\nok\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n", "message": "panic did not contain expected string\n      panic message: \"got \\\"this\\\"\\nok\"\n expected substring: \"quote \\\" and\\nnewline\"" }
{ "type": "test", "name": "extra::wrong_payload", "event": "failed", "exec_time": 0.000012249, "stdout": "\nthread 'extra::wrong_payload' (8122) panicked at src/lib.rs:197:9:\nBox<dyn Any>\n", "message": "expected panic with string value,\n found non-string value: `TypeId(0x0596b48cc04376e64d5c788c2aa46bdb)`\n     expected substring: \"xyz\"" }
{ "type": "test", "name": "more::eq_multiline", "event": "failed", "exec_time": 0.000016785, "stdout": "\nthread 'more::eq_multiline' (8123) panicked at src/lib.rs:145:9:\nassertion `left == right` failed: multi\nline ctx\n  left: [\n    (\n        1,\n        \"a\",\n    ),\n]\n right: [\n    (\n        2,\n        \"b\",\n    ),\n    (\n        3,\n        \"c\",\n    ),\n]\n" }
{ "type": "test", "name": "more::err_anyhowish", "event": "failed", "exec_time": 0.00004764, "stdout": "Error: Custom { kind: NotFound, error: \"file.txt missing\" }\n" }
{ "type": "test", "name": "more::expect_err", "event": "failed", "exec_time": 0.000014031, "stdout": "\nthread 'more::expect_err' (8125) panicked at src/lib.rs:166:11:\nparsing config: \"bad input\"\n" }
{ "type": "test", "name": "more::panic_any_int", "event": "failed", "exec_time": 0.00000662, "stdout": "\nthread 'more::panic_any_int' (8126) panicked at src/lib.rs:155:9:\nBox<dyn Any>\n" }
{ "type": "test", "name": "more::panic_blank_line", "event": "failed", "exec_time": 0.000005388, "stdout": "\nthread 'more::panic_blank_line' (8127) panicked at src/lib.rs:150:9:\nfirst para\n\n  indented second\nthird\n" }
{ "type": "test", "name": "tests::eq_pretty", "event": "failed", "exec_time": 0.000014051, "stdout": "\nthread 'tests::eq_pretty' (8130) panicked at src/lib.rs:63:9:\nassertion `left == right` failed\n  left: Point { x: 1, y: [1, 2] }\n right: Point { x: 2, y: [3] }\n" }
{ "type": "test", "name": "tests::eq_simple", "event": "failed", "exec_time": 0.000007351, "stdout": "\nthread 'tests::eq_simple' (8131) panicked at src/lib.rs:46:9:\nassertion `left == right` failed\n  left: 2\n right: 3\n" }
{ "type": "test", "name": "tests::err_result", "event": "failed", "exec_time": 0.000002093, "stdout": "some stdout\nError: \"boom\"\n" }
{ "type": "test", "name": "tests::ne_simple", "event": "failed", "exec_time": 0.00000695, "stdout": "\nthread 'tests::ne_simple' (8133) panicked at src/lib.rs:56:9:\nassertion `left != right` failed\n  left: 2\n right: 2\n" }
{ "type": "test", "name": "tests::no_panic", "event": "failed", "exec_time": 0.00000015, "message": "test did not panic as expected at src/lib.rs:91:8" }
{ "type": "test", "name": "tests::plain_assert", "event": "failed", "exec_time": 0.000006369, "stdout": "\nthread 'tests::plain_assert' (8135) panicked at src/lib.rs:69:9:\nassertion failed: v > 2\n" }
{ "type": "test", "name": "tests::plain_panic", "event": "failed", "exec_time": 0.000005749, "stdout": "\nthread 'tests::plain_panic' (8136) panicked at src/lib.rs:74:9:\nsomething broke\nsecond line\n" }
{ "type": "test", "name": "tests::printing_then_panic", "event": "failed", "exec_time": 0.000005388, "stdout": "hello out\nhello err\n\nthread 'tests::printing_then_panic' (8137) panicked at src/lib.rs:124:9:\nafter printing\n" }
{ "type": "test", "name": "tests::spawned_thread", "event": "failed", "exec_time": 0.00008081, "stdout": "\nthread '<unnamed>' (8139) panicked at src/lib.rs:101:31:\nin thread\n\nthread 'tests::spawned_thread' (8138) panicked at src/lib.rs:101:59:\ncalled `Result::unwrap()` on an `Err` value: Any { .. }\n" }
{ "type": "test", "name": "tests::unwrap_none", "event": "failed", "exec_time": 0.000006039, "stdout": "\nthread 'tests::unwrap_none' (8140) panicked at src/lib.rs:80:11:\ncalled `Option::unwrap()` on a `None` value\n" }
{ "type": "test", "name": "tests::wrong_panic", "event": "failed", "exec_time": 0.000006059, "stdout": "\nthread 'tests::wrong_panic' (8141) panicked at src/lib.rs:96:9:\nabc\n", "message": "panic did not contain expected string\n      panic message: \"abc\"\n expected substring: \"xyz\"" }
{ "type": "test", "name": "tests::eq_custom", "event": "failed", "exec_time": 0.000020871, "stdout": "\nthread 'tests::eq_custom' (8128) panicked at src/lib.rs:51:9:\nassertion `left == right` failed: adding 1 went wrong\n  left: 2\n right: 3\n" }
{ "type": "test", "name": "tests::eq_simple", "event": "failed", "exec_time": 0.177279776, "stdout": "\nthread 'tests::eq_simple' (8145) panicked at src/lib.rs:46:9:\nassertion `left == right` failed\n  left: 2\n right: 3\nstack backtrace:\n   0: __rustc::rust_begin_unwind\n             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/panicking.rs:689:5\n   1: core::panicking::panic_fmt\n             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:80:14\n   2: core::panicking::assert_failed_inner\n             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:439:17\n   3: core::panicking::assert_failed::<i32, i32>\n             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:394:5\n   4: demo::tests::eq_simple\n             at ./src/lib.rs:46:9\n   5: demo::tests::eq_simple::{{closure}}\n             at ./src/lib.rs:45:19\n   6: core::ops::function::FnOnce::call_once\n             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/ops/function.rs:250:5\n   7: <fn() -> core::result::Result<(), alloc::string::String> as core::ops::function::FnOnce<()>>::call_once\n             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/ops/function.rs:250:5\nnote: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.\n" }
{ "type": "test", "name": "src/lib.rs - add (line 11)", "event": "failed", "exec_time": 0.453516671, "stdout": "Test compiled successfully, but it's marked `compile_fail`." }
{ "type": "test", "name": "src/lib.rs - aborts (line 179)", "event": "failed", "exec_time": 0.507237861, "stdout": "Test executable failed (signal: 6 (SIGABRT)).\n" }
{ "type": "test", "name": "src/lib.rs - add (line 15)", "event": "failed", "exec_time": 0.886105392, "stdout": "Test executable succeeded, but it's marked `should_panic`." }
{ "type": "test", "name": "src/lib.rs - add (line 19)", "event": "failed", "exec_time": 1.089037038, "stdout": "Test executable failed (exit status: 101).\n\nstderr:\n\nthread 'main' (11318) panicked at src/lib.rs:5:35:\ncalled `Result::unwrap()` on an `Err` value: ParseIntError { kind: InvalidDigit }\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n" }
{ "type": "test", "name": "src/lib.rs - add (line 7)", "event": "failed", "exec_time": 0.19752303, "stdout": "error[E0425]: cannot find value `undefined_thing` in this scope\n --> src/lib.rs:8:9\n  |\n8 | let x = undefined_thing;\n  |         ^^^^^^^^^^^^^^^ not found in this scope\n\nerror: aborting due to 1 previous error\n\nFor more information about this error, try `rustc --explain E0425`.\nCouldn't compile the test." }
{ "type": "test", "name": "src/lib.rs - add (line 3)", "event": "failed", "exec_time": 0.553484659, "stdout": "Test executable failed (exit status: 101).\n\nstderr:\n\nthread 'main' (11734) panicked at src/lib.rs:5:1:\nassertion `left == right` failed\n  left: 3\n right: 4\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n" }"##;

    /// The `stdout` and `message` fields of the `nth` failed event for `name`.
    fn event(name: &str, nth: usize) -> (String, Option<String>) {
        let v: serde_json::Value = JSON_EVENTS
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["name"] == name)
            .nth(nth)
            .unwrap_or_else(|| panic!("no event {nth} for {name}"));
        let field = |k: &str| v[k].as_str().map(str::to_owned);
        (field("stdout").unwrap_or_default(), field("message"))
    }

    fn json(name: &str) -> Failure {
        let (stdout, message) = event(name, 0);
        parse_failure(
            name,
            stdout.as_bytes(),
            b"",
            ExitKind::Code(101),
            message.as_deref(),
        )
    }

    fn nocapture(name: &str, out: &str, err: &str) -> Failure {
        parse_failure(
            name,
            out.as_bytes(),
            err.as_bytes(),
            ExitKind::Code(101),
            None,
        )
    }

    fn loc(file: &str, line: u32, column: u32) -> Option<Location> {
        Some(Location {
            file: file.into(),
            line,
            column: Some(column),
        })
    }

    #[test]
    fn assert_eq_with_thread_id() {
        let f = nocapture("tests::eq_simple", EQ_SIMPLE_OUT, EQ_SIMPLE_ERR);
        assert_eq!(
            f,
            Failure {
                category: Category::Assertion,
                kind: Some("assert_eq".into()),
                message: "assertion `left == right` failed".into(),
                location: loc("src/lib.rs", 46, 9),
                expected: Some("3".into()),
                actual: Some("2".into()),
                ..Failure::default()
            }
        );
    }

    #[test]
    fn assert_eq_custom_message() {
        let f = nocapture("tests::eq_custom", EQ_CUSTOM_OUT, EQ_CUSTOM_ERR);
        assert_eq!(
            f.message,
            "assertion `left == right` failed: adding 1 went wrong"
        );
        assert_eq!(f.kind.as_deref(), Some("assert_eq"));
        assert_eq!(f.expected.as_deref(), Some("3"));
        assert_eq!(f.actual.as_deref(), Some("2"));
        assert_eq!(f.location, loc("src/lib.rs", 51, 9));
        assert_eq!(json("tests::eq_custom"), f);
    }

    #[test]
    fn assert_ne() {
        let f = nocapture("tests::ne_simple", NE_SIMPLE_OUT, NE_SIMPLE_ERR);
        assert_eq!(f.category, Category::Assertion);
        assert_eq!(f.kind.as_deref(), Some("assert_ne"));
        assert_eq!(f.message, "assertion `left != right` failed");
        assert_eq!(f.expected.as_deref(), Some("2"));
        assert_eq!(f.actual.as_deref(), Some("2"));
    }

    #[test]
    fn assert_eq_struct_values() {
        let f = nocapture("tests::eq_pretty", EQ_PRETTY_OUT, EQ_PRETTY_ERR);
        assert_eq!(f.actual.as_deref(), Some("Point { x: 1, y: [1, 2] }"));
        assert_eq!(f.expected.as_deref(), Some("Point { x: 2, y: [3] }"));
    }

    #[test]
    fn assert_eq_multiline_values_and_message() {
        let f = json("more::eq_multiline");
        assert_eq!(f.kind.as_deref(), Some("assert_eq"));
        assert_eq!(
            f.message,
            "assertion `left == right` failed: multi\nline ctx"
        );
        assert_eq!(
            f.actual.as_deref(),
            Some("[\n    (\n        1,\n        \"a\",\n    ),\n]")
        );
        assert_eq!(
            f.expected.as_deref(),
            Some(
                "[\n    (\n        2,\n        \"b\",\n    ),\n    (\n        3,\n        \"c\",\n    ),\n]"
            )
        );
        assert_eq!(f.location, loc("src/lib.rs", 145, 9));
        assert_eq!(f.details, None);
    }

    #[test]
    fn plain_assert() {
        let f = nocapture("tests::plain_assert", PLAIN_ASSERT_OUT, PLAIN_ASSERT_ERR);
        assert_eq!(f.category, Category::Assertion);
        assert_eq!(f.kind.as_deref(), Some("assert"));
        assert_eq!(f.message, "assertion failed: v > 2");
        assert_eq!(f.expected, None);
        assert_eq!(json("tests::plain_assert"), f);
    }

    #[test]
    fn other_panics_are_runtime_errors() {
        let f = nocapture("tests::unwrap_none", UNWRAP_NONE_OUT, UNWRAP_NONE_ERR);
        assert_eq!(f.category, Category::RuntimeError);
        assert_eq!(f.kind.as_deref(), Some("panic"));
        assert_eq!(f.message, "called `Option::unwrap()` on a `None` value");
        assert_eq!(f.location, loc("src/lib.rs", 80, 11));

        let f = json("more::expect_err");
        assert_eq!(f.message, "parsing config: \"bad input\"");
        let f = json("more::panic_any_int");
        assert_eq!(f.message, "Box<dyn Any>");
    }

    #[test]
    fn multi_line_message_and_backtrace() {
        // Run with RUST_BACKTRACE=1.
        let f = nocapture("tests::plain_panic", BACKTRACE_OUT, BACKTRACE_ERR);
        assert_eq!(f.message, "something broke\nsecond line");
        let details = f.details.expect("backtrace");
        assert!(details.starts_with("stack backtrace:\n   0: __rustc::rust_begin_unwind\n"));
        assert!(details.ends_with(
            "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace."
        ));
        // JSON mode, RUST_BACKTRACE=1 (the second eq_simple event).
        let (stdout, _) = event("tests::eq_simple", 1);
        let f = parse_failure(
            "tests::eq_simple",
            stdout.as_bytes(),
            b"",
            ExitKind::Code(101),
            None,
        );
        assert_eq!(f.message, "assertion `left == right` failed");
        assert_eq!(f.expected.as_deref(), Some("3"));
        assert!(
            f.details
                .unwrap()
                .contains("   4: demo::tests::eq_simple\n")
        );
    }

    #[test]
    fn message_keeps_indented_text_after_blank_line() {
        let f = json("more::panic_blank_line");
        assert_eq!(f.message, "first para\n\n  indented second\nthird");
        // …but stops at a blank line followed by text that is not indented.
        let err = "\nthread 'x' (1) panicked at src/lib.rs:1:1:\nboom\n\nlater output\n";
        let f = parse_failure("x", b"", err.as_bytes(), ExitKind::Code(101), None);
        assert_eq!(f.message, "boom");
    }

    #[test]
    fn output_before_the_panic_is_ignored() {
        let f = nocapture("tests::printing_then_panic", PRINTING_OUT, PRINTING_ERR);
        assert_eq!(f.message, "after printing");
        assert_eq!(json("tests::printing_then_panic").message, "after printing");
    }

    #[test]
    fn prefers_the_test_thread_then_the_last_panic() {
        let f = nocapture("tests::spawned_thread", SPAWNED_OUT, SPAWNED_ERR);
        assert_eq!(
            f.message,
            "called `Result::unwrap()` on an `Err` value: Any { .. }"
        );
        assert_eq!(f.location, loc("src/lib.rs", 101, 59));
        // Thread names the caller does not know: the last panic wins.
        let f = nocapture(
            "other",
            "",
            "\nthread 'tests::t' (2) panicked at src/a.rs:1:2:\nsecond\n\nthread '<unnamed>' (3) panicked at src/a.rs:3:4:\nfirst\n",
        );
        assert_eq!(f.message, "first");
        // The test's own thread wins even when it panicked first.
        let f = nocapture(
            "tests::t",
            "",
            "\nthread 'tests::t' (2) panicked at src/a.rs:1:2:\nmine\n\nthread '<unnamed>' (3) panicked at src/a.rs:3:4:\nother\n",
        );
        assert_eq!(f.message, "mine");
        assert_eq!(
            json("tests::spawned_thread").location,
            loc("src/lib.rs", 101, 59)
        );
    }

    #[test]
    fn result_test_returning_err() {
        let f = nocapture("tests::err_result", ERR_RESULT_OUT, ERR_RESULT_ERR);
        assert_eq!(
            f,
            Failure {
                category: Category::RuntimeError,
                kind: Some("Err".into()),
                message: "\"boom\"".into(),
                ..Failure::default()
            }
        );
        assert_eq!(json("tests::err_result"), f);
        let f = json("more::err_anyhowish");
        assert_eq!(f.kind.as_deref(), Some("Err"));
        assert_eq!(
            f.message,
            "Custom { kind: NotFound, error: \"file.txt missing\" }"
        );
    }

    #[test]
    fn should_panic_without_panic() {
        let f = nocapture("tests::no_panic", NO_PANIC_OUT, "");
        let expected = Failure {
            category: Category::Assertion,
            kind: Some("should_panic".into()),
            message: "test did not panic as expected".into(),
            location: loc("src/lib.rs", 91, 8),
            ..Failure::default()
        };
        assert_eq!(f, expected);
        assert_eq!(json("tests::no_panic"), expected);
    }

    #[test]
    fn should_panic_with_wrong_message() {
        let f = nocapture("tests::wrong_panic", WRONG_PANIC_OUT, WRONG_PANIC_ERR);
        assert_eq!(f.category, Category::Assertion);
        assert_eq!(f.kind.as_deref(), Some("should_panic"));
        assert_eq!(f.expected.as_deref(), Some("xyz"));
        assert_eq!(f.actual.as_deref(), Some("abc"));
        assert_eq!(
            f.message,
            "panic did not contain expected string: panic message \"abc\", expected substring \"xyz\""
        );
        assert_eq!(f.location, loc("src/lib.rs", 96, 9));
        assert_eq!(json("tests::wrong_panic"), f);

        let f = nocapture("extra::wrong_escaped", WRONG_ESCAPED_OUT, WRONG_ESCAPED_ERR);
        assert_eq!(f.expected.as_deref(), Some("quote \" and\nnewline"));
        assert_eq!(f.actual.as_deref(), Some("got \"this\"\nok"));

        let f = nocapture("extra::wrong_payload", WRONG_PAYLOAD_OUT, WRONG_PAYLOAD_ERR);
        assert_eq!(f.kind.as_deref(), Some("should_panic"));
        assert_eq!(f.expected.as_deref(), Some("xyz"));
        assert_eq!(
            f.actual.as_deref(),
            Some("TypeId(0x0596b48cc04376e64d5c788c2aa46bdb)")
        );
        assert_eq!(json("extra::wrong_payload"), f);
    }

    // Pre-1.73 output (format strings of core::panicking and libtest before the change;
    // no such toolchain here to run).
    #[test]
    fn old_panic_formats() {
        let err = "thread 'tests::it' panicked at 'assertion failed: `(left == right)`\n  left: `1`,\n right: `2`', src/lib.rs:10:9\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n";
        let f = nocapture("tests::it", "", err);
        assert_eq!(
            f,
            Failure {
                category: Category::Assertion,
                kind: Some("assert_eq".into()),
                message: "assertion failed: `(left == right)`".into(),
                location: loc("src/lib.rs", 10, 9),
                expected: Some("2".into()),
                actual: Some("1".into()),
                ..Failure::default()
            }
        );

        let err = "thread 'tests::it' panicked at 'assertion failed: `(left != right)`\n  left: `\"a\"`,\n right: `\"a\"`: they differ', src/lib.rs:4:5\n";
        let f = nocapture("tests::it", "", err);
        assert_eq!(f.kind.as_deref(), Some("assert_ne"));
        assert_eq!(
            f.message,
            "assertion failed: `(left != right)`: they differ"
        );
        assert_eq!(f.actual.as_deref(), Some("\"a\""));

        let f = nocapture(
            "tests::it",
            "",
            "thread 'main' panicked at 'boom, it said', src/main.rs:3:5\n",
        );
        assert_eq!(f.kind.as_deref(), Some("panic"));
        assert_eq!(f.message, "boom, it said");
        assert_eq!(f.location, loc("src/main.rs", 3, 5));

        let f = nocapture(
            "t",
            "",
            "thread 't' panicked at 'assertion failed: x > 2', src/lib.rs:7:9\n",
        );
        assert_eq!(f.kind.as_deref(), Some("assert"));
        assert_eq!(f.message, "assertion failed: x > 2");

        let out = "---- t stdout ----\nnote: panic did not contain expected string\n      panic message: `\"abc\"`,\n expected substring: `\"xyz\"`\n";
        let f = nocapture("t", out, "");
        assert_eq!(f.kind.as_deref(), Some("should_panic"));
        assert_eq!(
            (f.expected.as_deref(), f.actual.as_deref()),
            (Some("xyz"), Some("abc"))
        );

        let f = nocapture(
            "t",
            "---- t stdout ----\nnote: test did not panic as expected\n",
            "",
        );
        assert_eq!(f.message, "test did not panic as expected");
        assert_eq!(f.location, None);

        // Result tests used to panic too; the `Error:` line is what matters.
        let err = "Error: \"boom\"\nthread 't' panicked at 'assertion failed: `(left == right)`\n  left: `1`,\n right: `0`: the test returned a termination value with a non-zero status code (1) which indicates a failure', /rustc/abc/library/test/src/lib.rs:185:5\n";
        let f = nocapture("t", "", err);
        assert_eq!(f.kind.as_deref(), Some("Err"));
        assert_eq!(f.message, "\"boom\"");
    }

    #[test]
    fn signals_are_crashes() {
        let f = parse_failure(
            "tests::abort",
            b"\nrunning 1 test\n",
            b"",
            ExitKind::Signal(6),
            None,
        );
        assert_eq!(
            f,
            Failure {
                category: Category::Crash,
                kind: Some("SIGABRT".into()),
                message: "process killed by signal 6 (SIGABRT)".into(),
                signal: Some(6),
                ..Failure::default()
            }
        );
        let f = parse_failure("tests::segv", b"", b"", ExitKind::Signal(11), None);
        assert_eq!(f.kind.as_deref(), Some("SIGSEGV"));
        assert_eq!(f.message, "process killed by signal 11 (SIGSEGV)");
    }

    #[test]
    fn panic_before_abort_is_kept() {
        let f = parse_failure(
            "tests::double_panic",
            DOUBLE_PANIC_OUT.as_bytes(),
            DOUBLE_PANIC_ERR.as_bytes(),
            ExitKind::Signal(6),
            None,
        );
        assert_eq!(f.category, Category::Crash);
        assert_eq!(f.kind.as_deref(), Some("SIGABRT"));
        assert_eq!(f.signal, Some(6));
        assert_eq!(
            f.message,
            "process killed by signal 6 (SIGABRT) after panic: drop panicked"
        );
        assert_eq!(f.location, loc("src/lib.rs", 36, 9));
        let details = f.details.unwrap();
        assert!(details.starts_with(
            "thread 'tests::double_panic' panicked at src/lib.rs:117:9:\nfirst panic\n\n"
        ));
        assert!(details.contains("panic in a destructor during cleanup"));

        let f = parse_failure(
            "more::extern_c_panic",
            EXTERN_C_OUT.as_bytes(),
            EXTERN_C_ERR.as_bytes(),
            ExitKind::Signal(6),
            None,
        );
        assert_eq!(
            f.message,
            "process killed by signal 6 (SIGABRT) after panic: boom in extern C"
        );
        assert_eq!(f.location, loc("src/lib.rs", 136, 5));

        // 134 from a shell is an exit code, not a signal: classify the panic.
        let f = nocapture("tests::double_panic", DOUBLE_PANIC_OUT, DOUBLE_PANIC_ERR);
        assert_eq!(f.category, Category::RuntimeError);
        assert_eq!(f.kind.as_deref(), Some("panic"));
        assert_eq!(f.signal, None);
        assert_eq!(f.message, "drop panicked");
    }

    #[test]
    fn stack_overflow_says_why() {
        let f = parse_failure(
            "extra::overflow",
            OVERFLOW_OUT.as_bytes(),
            OVERFLOW_ERR.as_bytes(),
            ExitKind::Signal(6),
            None,
        );
        assert_eq!(
            f.message,
            "process killed by signal 6 (SIGABRT): fatal runtime error: stack overflow, aborting"
        );
        assert_eq!(
            f.details.as_deref(),
            Some(
                "thread 'extra::overflow' (11413) has overflowed its stack\nfatal runtime error: stack overflow, aborting"
            )
        );
    }

    fn doctest(name: &str) -> Failure {
        parse_failure(name, DOC_STDOUT.as_bytes(), b"", ExitKind::Code(101), None)
    }

    #[test]
    fn doctest_panic() {
        let expected = Failure {
            category: Category::Assertion,
            kind: Some("assert_eq".into()),
            message: "assertion `left == right` failed".into(),
            location: loc("src/lib.rs", 5, 1),
            expected: Some("4".into()),
            actual: Some("3".into()),
            ..Failure::default()
        };
        assert_eq!(doctest("src/lib.rs - add (line 3)"), expected);
        assert_eq!(json("src/lib.rs - add (line 3)"), expected);
        let f = doctest("src/lib.rs - add (line 19)");
        assert_eq!(
            f.message,
            "called `Result::unwrap()` on an `Err` value: ParseIntError { kind: InvalidDigit }"
        );
        assert_eq!(f.location, loc("src/lib.rs", 5, 35));
    }

    #[test]
    fn doctest_compile_error() {
        let f = doctest("src/lib.rs - add (line 7)");
        assert_eq!(f.category, Category::BuildError);
        assert_eq!(f.kind.as_deref(), Some("compile_error"));
        assert_eq!(
            f.message,
            "error[E0425]: cannot find value `undefined_thing` in this scope"
        );
        assert_eq!(f.location, loc("src/lib.rs", 8, 9));
        assert!(
            f.details
                .unwrap()
                .ends_with("For more information about this error, try `rustc --explain E0425`.")
        );
        assert_eq!(
            json("src/lib.rs - add (line 7)").message,
            "error[E0425]: cannot find value `undefined_thing` in this scope"
        );
    }

    #[test]
    fn doctest_markers_and_signal() {
        let f = doctest("src/lib.rs - add (line 15)");
        assert_eq!(
            (f.category, f.kind.as_deref()),
            (Category::Assertion, Some("should_panic"))
        );
        let f = doctest("src/lib.rs - add (line 11)");
        assert_eq!(
            (f.category, f.kind.as_deref()),
            (Category::Assertion, Some("compile_fail"))
        );
        assert_eq!(
            f.message,
            "Test compiled successfully, but it's marked `compile_fail`."
        );
        let f = doctest("src/lib.rs - aborts (line 179)");
        assert_eq!(f.category, Category::Crash);
        assert_eq!(f.signal, Some(6));
        assert_eq!(f.message, "process killed by signal 6 (SIGABRT)");
        assert_eq!(
            json("src/lib.rs - aborts (line 179)").kind.as_deref(),
            Some("SIGABRT")
        );
    }

    #[test]
    fn nothing_recognisable() {
        let f = parse_failure(
            "t",
            b"\nrunning 1 test\n",
            b"some noise\n",
            ExitKind::Code(101),
            None,
        );
        assert_eq!(
            f,
            Failure {
                category: Category::RuntimeError,
                message: "test failed with exit code 101".into(),
                ..Failure::default()
            }
        );
        let f = parse_failure("t", b"", b"", ExitKind::Signal(9), None);
        assert_eq!(f.message, "process killed by signal 9 (SIGKILL)");
        assert_eq!(f.category, Category::Crash);
    }

    #[test]
    fn ansi_colours_and_crlf_are_ignored() {
        let err = "\r\n\x1b[1mthread 'x' (1) panicked at src/lib.rs:2:3:\x1b[0m\r\n\x1b[31massertion `left == right` failed\x1b[0m\r\n  left: 1\r\n right: 2\r\n";
        let f = parse_failure("x", b"", err.as_bytes(), ExitKind::Code(101), None);
        assert_eq!(f.message, "assertion `left == right` failed");
        assert_eq!(f.location, loc("src/lib.rs", 2, 3));
        assert_eq!(
            (f.actual.as_deref(), f.expected.as_deref()),
            (Some("1"), Some("2"))
        );
    }

    #[test]
    fn signal_names() {
        assert_eq!(signal_name(6), "SIGABRT");
        assert_eq!(signal_name(11), "SIGSEGV");
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(999), "signal 999");
        assert_eq!(killed_by(999), "process killed by signal 999");
    }

    #[test]
    fn never_panics_on_cut_or_garbage_input() {
        let samples = [
            EQ_CUSTOM_ERR,
            WRONG_PANIC_OUT,
            DOC_STDOUT,
            BACKTRACE_ERR,
            "thread 'a' panicked at '\n\n",
            "thread '' (x) panicked at :99999999999:1:\n",
        ];
        let exits = [ExitKind::Code(101), ExitKind::Signal(6)];
        for s in samples {
            let bytes = s.as_bytes();
            for cut in 0..=bytes.len() {
                for exit in exits {
                    let f = parse_failure(
                        "tests::eq_custom",
                        &bytes[..cut],
                        &bytes[cut..],
                        exit,
                        Some(s),
                    );
                    assert!(!f.message.is_empty());
                }
            }
        }
        let garbage: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let f = parse_failure("t", &garbage, &garbage, ExitKind::Code(1), Some("\u{fffd}"));
        assert!(!f.message.is_empty());
    }

    #[test]
    fn large_output_with_many_blank_lines() {
        let mut err = "noise line\n\n".repeat(50_000);
        err.push_str(&"\n".repeat(50_000));
        err.push_str("\nthread 't' (1) panicked at src/a.rs:1:2:\nlate\n");
        err.push_str(&"\n".repeat(50_000));
        let f = parse_failure("t", b"", err.as_bytes(), ExitKind::Code(101), None);
        assert_eq!(f.message, "late");
    }
}
