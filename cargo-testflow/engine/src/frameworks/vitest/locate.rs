//! Each Vitest test's line, found in its file instead of by Vitest.
//!
//! Vitest gives a test's line only with `--includeTaskLocation`: it then reads the stack of
//! an `Error` made at every test's definition, in the workers, which cost the driven run
//! 5–14% more CPU (bench/RESULTS.md, 2026-12-02). Instead, each file that produced results
//! is parsed once with tree-sitter, in the reporter, and its `test(…)`/`it(…)` calls (with
//! `.skip`, `.only`, `.each`, `.for`, `describe` blocks, `test.extend` fixtures, …) are
//! matched to Vitest's results by title path. The line is the one V8 puts in the stack
//! trace Vitest would read: the callee's last name (`test`, `skip` in `test.skip(`), or the
//! `(` of a call on a call (`test.each([…])(`).
//!
//! A line is given only when the match is certain; otherwise the test has none (never a
//! wrong one). Titles that are not literals (`${x}`, `%s` and `$a` in `.each`, names) match
//! any text there; calls inside other functions (helpers) match under any describes;
//! calls of unknown functions with a title and a callback (wrappers) are possible tests
//! that give no line. A call is *sure* when it has a literal title path from the file's
//! top and runs exactly once (not in a loop, a function, an `.each`, under a condition or
//! after a describe's `return`): the results with one title path take the sure calls that
//! match it, in file order, when there are exactly as many; else a lone result takes the
//! one call it matches, if there is one and it is a test call; the others have no line,
//! and so has every result of a call that runs at most once but matched several. What
//! this cannot see: a test made in another module (a shared helper) under a title path
//! that a call here which did not run also matches.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use regex::Regex;
use tree_sitter::{Node, Parser};

use crate::js_syntax::JsDialect;

/// Larger test files are not parsed (generated or bundled: their lines would not help).
const MAX_SOURCE: u64 = 4 * 1024 * 1024;
/// How deep a callee chain or a title's `+` is followed.
const MAX_DEPTH: usize = 64;

/// The lines of the tests of one file, read from `path`: `tests` are title paths
/// (describes, then the test's title), in Vitest's order; `None` where not certain.
pub fn lines_in_file(path: &Path, tests: &[Vec<&str>]) -> Vec<Option<u32>> {
    let source = JsDialect::of(&path.to_string_lossy()).and_then(|dialect| {
        let size = std::fs::metadata(path).ok()?.len();
        (size <= MAX_SOURCE)
            .then(|| std::fs::read_to_string(path).ok())
            .flatten()
            .map(|s| (s, dialect))
    });
    match source {
        Some((source, dialect)) => lines(&source, dialect, tests),
        None => vec![None; tests.len()],
    }
}

/// The lines of `tests` (title paths in Vitest's order) in `source`.
pub fn lines(source: &str, dialect: JsDialect, tests: &[Vec<&str>]) -> Vec<Option<u32>> {
    let sites = sites(source, dialect);
    let mut out = vec![None; tests.len()];
    let candidates: Vec<Vec<usize>> = tests
        .iter()
        .map(|t| (0..sites.len()).filter(|&s| sites[s].matches(t)).collect())
        .collect();
    let mut same_path: HashMap<&[&str], Vec<usize>> = HashMap::new();
    for (i, t) in tests.iter().enumerate() {
        same_path.entry(t.as_slice()).or_default().push(i);
    }
    // Which site each result takes.
    let mut taken: Vec<Option<usize>> = vec![None; tests.len()];
    for group in same_path.values() {
        let cands = &candidates[group[0]];
        let sure: Vec<usize> = cands.iter().copied().filter(|&s| sites[s].sure).collect();
        if sure.len() == group.len() {
            // Each of these calls made one of the results (and nothing else made one with
            // this path): Vitest collects them in file order.
            for (&i, &s) in group.iter().zip(&sure) {
                taken[i] = Some(s);
            }
        } else if let ([i], [s]) = (&group[..], &cands[..])
            && sites[*s].test
        {
            taken[*i] = Some(*s);
        }
    }
    let mut uses = vec![0usize; sites.len()];
    for s in taken.iter().flatten() {
        uses[*s] += 1;
    }
    for (i, s) in taken.iter().enumerate() {
        if let Some(s) = *s
            && (uses[s] == 1 || sites[s].repeats)
        {
            out[i] = Some(sites[s].line);
        }
    }
    out
}

/// Part of a title: literal text, or any text (a substitution, a placeholder, a name).
#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Text(String),
    Any,
}

type Title = Vec<Piece>;

/// Whether `title` can be the text `s`.
fn title_matches(title: &[Piece], s: &str) -> bool {
    let mut rest = s;
    let mut pieces = title;
    if let [Piece::Text(t), tail @ ..] = title {
        match rest.strip_prefix(t.as_str()) {
            Some(r) => rest = r,
            None => return false,
        }
        pieces = tail;
    }
    if pieces.is_empty() {
        return rest.is_empty();
    }
    // Pieces alternate (see `tidy`): each text here follows an `Any`.
    let texts: Vec<&str> = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Text(t) => Some(t.as_str()),
            Piece::Any => None,
        })
        .collect();
    let open_end = pieces.last() == Some(&Piece::Any);
    for (k, t) in texts.iter().enumerate() {
        if k + 1 == texts.len() && !open_end {
            return rest.ends_with(t);
        }
        match rest.find(t) {
            Some(at) => rest = &rest[at + t.len()..],
            None => return false,
        }
    }
    true
}

/// Adjacent texts joined, adjacent `Any`s merged, empty texts dropped.
fn tidy(pieces: Vec<Piece>) -> Title {
    let mut out: Title = Vec::new();
    for p in pieces {
        match p {
            Piece::Text(t) if t.is_empty() => {}
            Piece::Text(t) => match out.last_mut() {
                Some(Piece::Text(a)) => a.push_str(&t),
                _ => out.push(Piece::Text(t)),
            },
            Piece::Any => {
                if out.last() != Some(&Piece::Any) {
                    out.push(Piece::Any);
                }
            }
        }
    }
    out
}

/// `.each`/`.for` titles: Vitest's placeholders (`%s`, `%#`, `$a.b`, …) are any text.
fn with_placeholders(title: Title) -> Title {
    static PLACEHOLDER: OnceLock<Regex> = OnceLock::new();
    let re = crate::frameworks::jest::re(&PLACEHOLDER, r"%[sdjifoOc#$%]|\$[$\w.]+");
    let mut out = Vec::new();
    for p in title {
        let Piece::Text(t) = p else {
            out.push(p);
            continue;
        };
        let mut at = 0;
        for m in re.find_iter(&t) {
            out.push(Piece::Text(t[at..m.start()].to_owned()));
            out.push(Piece::Any);
            at = m.end();
        }
        out.push(Piece::Text(t[at..].to_owned()));
    }
    tidy(out)
}

/// A call that defines a test, or may.
#[derive(Debug)]
struct Site {
    /// Enclosing describes' titles, then the test's.
    path: Vec<Title>,
    /// The path starts at the file (not inside a function called from anywhere).
    anchored: bool,
    /// May run more than once (in a loop, a function, an `.each`).
    repeats: bool,
    /// A test call; `false`: a call of an unknown function with a title and a callback.
    test: bool,
    /// Certain to make exactly one test with this literal path (anchored, run once, not
    /// under a condition).
    sure: bool,
    line: u32,
}

impl Site {
    fn matches(&self, path: &[&str]) -> bool {
        let n = self.path.len();
        let fits = if self.anchored {
            n == path.len()
        } else {
            n <= path.len()
        };
        fits && self
            .path
            .iter()
            .zip(&path[path.len() - n..])
            .all(|(t, s)| title_matches(t, s))
    }
}

fn literal(path: &[Title]) -> bool {
    path.iter()
        .all(|t| t.iter().all(|p| matches!(p, Piece::Text(_))))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Test,
    Suite,
}

/// What a callee is: Vitest's `test`/`describe` (chained), or what returns one when
/// called (`test.each(…)`, `test.skipIf(…)`, `test.extend(…)`).
#[derive(Clone, Copy, Debug)]
enum Callee {
    Api { kind: Kind, each: bool },
    Factory { kind: Kind, each: bool },
}

#[derive(Clone, Debug)]
struct Scope {
    path: Vec<Title>,
    anchored: bool,
    repeats: bool,
    /// May not run (under an `if`, `?:`, `&&`, `try`, or after a `return`).
    conditional: bool,
}

const FUNCTIONS: [&str; 7] = [
    "arrow_function",
    "function_expression",
    "function_declaration",
    "generator_function",
    "generator_function_declaration",
    "method_definition",
    "class_static_block",
];
const LOOPS: [&str; 4] = [
    "for_statement",
    "for_in_statement",
    "while_statement",
    "do_statement",
];
const CONDITIONS: [&str; 5] = [
    "if_statement",
    "switch_statement",
    "ternary_expression",
    "try_statement",
    "binary_expression",
];
/// Wrappers a callee may sit in (TypeScript's among them).
const WRAPPERS: [&str; 5] = [
    "parenthesized_expression",
    "non_null_expression",
    "as_expression",
    "satisfies_expression",
    "instantiation_expression",
];

struct Scanner<'s> {
    src: &'s [u8],
    /// Names bound to Vitest's API: `test`, `it`, `describe`, `suite`, import aliases,
    /// `const myTest = test.extend(…)`.
    names: HashMap<String, Kind>,
    scopes: Vec<Scope>,
    sites: Vec<Site>,
}

fn sites(source: &str, dialect: JsDialect) -> Vec<Site> {
    let mut parser = Parser::new();
    if parser.set_language(&dialect.grammar()).is_err() {
        return vec![];
    }
    let Some(tree) = parser.parse(source, None) else {
        return vec![];
    };
    let names = [
        ("test", Kind::Test),
        ("it", Kind::Test),
        ("describe", Kind::Suite),
        ("suite", Kind::Suite),
    ];
    let mut s = Scanner {
        src: source.as_bytes(),
        names: names.iter().map(|(n, k)| (n.to_string(), *k)).collect(),
        scopes: vec![
            Scope {
                path: vec![],
                anchored: true,
                repeats: false,
                conditional: false,
            },
            // Inside any function that is not a describe's callback.
            Scope {
                path: vec![],
                anchored: false,
                repeats: true,
                conditional: true,
            },
        ],
        sites: vec![],
    };
    s.walk(tree.root_node());
    s.sites
}

impl<'s> Scanner<'s> {
    fn text(&self, n: Node<'_>) -> &'s str {
        n.utf8_text(self.src).unwrap_or("")
    }

    /// Depth first in source order (an alias is bound before the calls after it), with an
    /// explicit stack: a deeply nested file cannot overflow the reporter's.
    fn walk(&mut self, root: Node<'_>) {
        let mut stack = vec![(root, 0usize)];
        while let Some((node, scope)) = stack.pop() {
            let kind = node.kind();
            let mut inner = scope;
            let mut next: Vec<(Node<'_>, usize)> = Vec::new();
            if kind == "call_expression" {
                if let Some(children) = self.call(node, scope) {
                    next = children;
                }
            } else if kind == "import_statement" {
                self.import(node);
            } else if kind == "variable_declarator" {
                self.alias(node);
            } else if FUNCTIONS.contains(&kind) {
                inner = 1;
            } else if LOOPS.contains(&kind) && !self.scopes[scope].repeats {
                let mut s = self.scopes[scope].clone();
                s.repeats = true;
                self.scopes.push(s);
                inner = self.scopes.len() - 1;
            } else if CONDITIONS.contains(&kind) && !self.scopes[scope].conditional {
                // Every binary expression, not only `&&`, `||`, `??`: erring towards "may not run".
                let mut s = self.scopes[scope].clone();
                s.conditional = true;
                self.scopes.push(s);
                inner = self.scopes.len() - 1;
            }
            if next.is_empty() {
                let mut c = node.walk();
                next = node.children(&mut c).map(|n| (n, inner)).collect();
            }
            stack.extend(next.into_iter().rev());
        }
    }

    fn callee(&self, node: Node<'_>) -> Option<Callee> {
        self.callee_at(node, 0)
    }

    /// `depth`: how far down a chain (no chain of Vitest's API is long; a generated one may be).
    fn callee_at(&self, node: Node<'_>, depth: usize) -> Option<Callee> {
        if depth > MAX_DEPTH {
            return None;
        }
        let kind = node.kind();
        if WRAPPERS.contains(&kind) {
            return self.callee_at(node.named_child(0)?, depth + 1);
        }
        match kind {
            "identifier" => self
                .names
                .get(self.text(node))
                .map(|&kind| Callee::Api { kind, each: false }),
            "member_expression" => {
                let Callee::Api { kind, each } =
                    self.callee_at(node.child_by_field_name("object")?, depth + 1)?
                else {
                    return None;
                };
                let prop = self.text(node.child_by_field_name("property")?);
                match (kind, prop) {
                    (_, "skip" | "only" | "todo" | "concurrent" | "sequential")
                    | (Kind::Test, "fails")
                    | (Kind::Suite, "shuffle") => Some(Callee::Api { kind, each }),
                    (Kind::Test, "describe" | "suite") => Some(Callee::Api {
                        kind: Kind::Suite,
                        each,
                    }),
                    (_, "each" | "for") => Some(Callee::Factory { kind, each: true }),
                    (_, "skipIf" | "runIf") | (Kind::Test, "extend") => {
                        Some(Callee::Factory { kind, each })
                    }
                    _ => None,
                }
            }
            "call_expression" => {
                match self.callee_at(node.child_by_field_name("function")?, depth + 1)? {
                    Callee::Factory { kind, each } => Some(Callee::Api { kind, each }),
                    Callee::Api { .. } => None,
                }
            }
            _ => None,
        }
    }

    /// A call: a test or a describe is recorded; a describe's callback body is walked in
    /// the describe's scope. Returns the children to walk when they are not the node's own.
    fn call<'t>(&mut self, node: Node<'t>, scope: usize) -> Option<Vec<(Node<'t>, usize)>> {
        let function = node.child_by_field_name("function")?;
        let args = node
            .child_by_field_name("arguments")
            .filter(|a| a.kind() == "arguments")?;
        let mut c = args.walk();
        let list: Vec<Node<'t>> = args
            .named_children(&mut c)
            .filter(|n| n.kind() != "comment")
            .collect();
        let first = *list.first()?;
        let callee = self.callee(function);
        let parent = self.scopes[scope].clone();
        let site = |path_end: Title, repeats: bool, test: bool| {
            let path: Vec<Title> = parent.path.iter().cloned().chain([path_end]).collect();
            let repeats = parent.repeats || repeats;
            Site {
                sure: test && parent.anchored && !repeats && !parent.conditional && literal(&path),
                path,
                anchored: parent.anchored,
                repeats,
                test,
                line: call_line(function, args),
            }
        };
        match callee {
            Some(Callee::Api {
                kind: Kind::Test,
                each,
            }) => {
                let title = self.title(first, each);
                self.sites.push(site(title, each, true));
                None
            }
            Some(Callee::Api {
                kind: Kind::Suite,
                each,
            }) => {
                let callback = list
                    .iter()
                    .rev()
                    .find(|n| matches!(n.kind(), "arrow_function" | "function_expression"))?;
                let body = callback.child_by_field_name("body")?;
                self.scopes.push(Scope {
                    path: site(self.title(first, each), false, true).path,
                    anchored: parent.anchored,
                    repeats: parent.repeats || each,
                    conditional: parent.conditional || returns_early(body),
                });
                let own = self.scopes.len() - 1;
                let mut out = vec![(function, scope)];
                out.extend(
                    list.iter()
                        .filter(|n| n.id() != callback.id())
                        .map(|n| (*n, scope)),
                );
                out.push((body, own));
                Some(out)
            }
            Some(Callee::Factory { .. }) => None,
            None => {
                // `wrapper('title', () => …)`: perhaps a test under another name.
                let titled = matches!(first.kind(), "string" | "template_string");
                let callback = list[1..].iter().any(|n| FUNCTIONS.contains(&n.kind()));
                if titled && callback {
                    let title = self.title(first, true);
                    self.sites.push(site(title, true, false));
                }
                None
            }
        }
    }

    /// The title an argument gives; in an `.each`/`.for`, placeholders are any text.
    fn title(&self, node: Node<'_>, each: bool) -> Title {
        let title = tidy(self.pieces(node, 0));
        if each {
            with_placeholders(title)
        } else {
            title
        }
    }

    fn pieces(&self, node: Node<'_>, depth: usize) -> Vec<Piece> {
        if depth > MAX_DEPTH {
            return vec![Piece::Any];
        }
        let mut c = node.walk();
        match node.kind() {
            "string" => node
                .named_children(&mut c)
                .map(|p| self.literal(p))
                .collect(),
            "template_string" => node
                .named_children(&mut c)
                .map(|p| match p.kind() {
                    "template_substitution" => Piece::Any,
                    _ => self.literal(p),
                })
                .collect(),
            "binary_expression"
                if node
                    .child_by_field_name("operator")
                    .is_some_and(|o| self.text(o) == "+") =>
            {
                let side = |f| {
                    node.child_by_field_name(f)
                        .map(|n| self.pieces(n, depth + 1))
                };
                match (side("left"), side("right")) {
                    (Some(mut l), Some(r)) => {
                        l.extend(r);
                        l
                    }
                    _ => vec![Piece::Any],
                }
            }
            "parenthesized_expression" => match node.named_child(0) {
                Some(n) => self.pieces(n, depth + 1),
                None => vec![Piece::Any],
            },
            _ => vec![Piece::Any],
        }
    }

    /// A string's fragment or escape sequence as text (`Any` when it cannot be decoded).
    fn literal(&self, node: Node<'_>) -> Piece {
        let text = self.text(node);
        match node.kind() {
            "escape_sequence" => unescape(text).map_or(Piece::Any, Piece::Text),
            "string_fragment" => Piece::Text(text.to_owned()),
            _ => Piece::Any,
        }
    }

    /// `import { test as t, describe } from 'vitest'`: the local names.
    fn import(&mut self, node: Node<'_>) {
        let from = node
            .child_by_field_name("source")
            .map(|s| self.text(s).trim_matches(['"', '\'']));
        if from != Some("vitest") {
            return;
        }
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            if n.kind() == "import_specifier" {
                let name = n.child_by_field_name("name").map(|x| self.text(x));
                let local = n.child_by_field_name("alias").map(|x| self.text(x));
                if let (Some(name), Some(local)) = (name, local)
                    && let Some(&kind) = self.names.get(name)
                {
                    self.names.insert(local.to_owned(), kind);
                }
                continue;
            }
            let mut c = n.walk();
            stack.extend(n.named_children(&mut c));
        }
    }

    /// `const myTest = test.extend(…)` (or any name bound to Vitest's API).
    fn alias(&mut self, node: Node<'_>) {
        let Some(name) = node.child_by_field_name("name") else {
            return;
        };
        if name.kind() != "identifier" {
            return;
        }
        if let Some(Callee::Api { kind, each: false }) = node
            .child_by_field_name("value")
            .and_then(|v| self.callee(v))
        {
            self.names.insert(self.text(name).to_owned(), kind);
        }
    }
}

/// Whether a describe's callback has a `return` of its own (the calls after it may not run).
fn returns_early(body: Node<'_>) -> bool {
    let mut stack = vec![body];
    while let Some(n) = stack.pop() {
        if n.kind() == "return_statement" {
            return true;
        }
        if !FUNCTIONS.contains(&n.kind()) {
            let mut c = n.walk();
            stack.extend(n.named_children(&mut c));
        }
    }
    false
}

/// The line V8 gives the call in a stack trace: where the callee's last name starts
/// (`test(`, `test.skip(`), else where its arguments start (`test.each([…])(`).
fn call_line(function: Node<'_>, args: Node<'_>) -> u32 {
    let at = match function.kind() {
        "identifier" => function,
        "member_expression" => function.child_by_field_name("property").unwrap_or(args),
        _ => args,
    };
    at.start_position().row as u32 + 1
}

/// One JavaScript escape sequence (`\n`, `\x41`, `\u{1F600}`, `\\`, a line continuation).
fn unescape(seq: &str) -> Option<String> {
    let body = seq.strip_prefix('\\')?;
    let hex = |h: &str| u32::from_str_radix(h, 16).ok();
    let code = match body {
        "n" => '\n',
        "r" => '\r',
        "t" => '\t',
        "b" => '\u{8}',
        "f" => '\u{c}',
        "v" => '\u{b}',
        "0" => '\0',
        "\n" | "\r\n" | "\r" | "\u{2028}" | "\u{2029}" => return Some(String::new()),
        _ if body.starts_with('x') && body.len() == 3 => char::from_u32(hex(&body[1..])?)?,
        _ if body.starts_with("u{") && body.ends_with('}') => {
            char::from_u32(hex(&body[2..body.len() - 1])?)?
        }
        _ if body.starts_with('u') && body.len() == 5 => char::from_u32(hex(&body[1..])?)?,
        _ if body.chars().count() == 1 && !body.starts_with(|c: char| c.is_ascii_digit()) => {
            body.chars().next()?
        }
        _ => return None,
    };
    Some(code.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines `source` gives the title paths (` > ` between describes and title).
    fn located(source: &str, dialect: JsDialect, tests: &[&str]) -> Vec<Option<u32>> {
        let paths: Vec<Vec<&str>> = tests.iter().map(|t| t.split(" > ").collect()).collect();
        lines(source, dialect, &paths)
    }

    fn js(source: &str, tests: &[&str]) -> Vec<Option<u32>> {
        located(source, JsDialect::JavaScript, tests)
    }

    #[test]
    fn nested_describes_and_modifiers_give_the_line_of_the_callees_last_name() {
        let src = "\
import { describe, expect, it, test } from 'vitest';
test('adds', () => {
  expect(1 + 1).toBe(2);
});
describe('outer', () => {
  describe('inner', { timeout: 5 }, () => {
    it('nested', () => {});
    test.skip('skipped', () => {});
    test.todo('todo');
  });
  test.concurrent.only('concurrent', async () => {});
});
test
  .skip('on the next line', () => {});
";
        assert_eq!(
            js(
                src,
                &[
                    "adds",
                    "outer > inner > nested",
                    "outer > inner > skipped",
                    "outer > inner > todo",
                    "outer > concurrent",
                    "on the next line",
                ]
            ),
            [Some(2), Some(7), Some(8), Some(9), Some(11), Some(14)]
        );
        // A path the file does not have, or the right title under other describes: none.
        assert_eq!(js(src, &["nested", "outer > adds", "missing"]), [None; 3]);
    }

    #[test]
    fn each_and_for_titles_match_with_their_placeholders_at_the_calls_parenthesis() {
        let src = "\
test.each([
  [1, 1, 2],
  [1, 2, 3],
])('add(%i, %i) -> %i', (a, b, expected) => {});
test.for([{ a: 1 }, { a: 2 }])('for $a', ({ a }) => {});
describe.each([{ name: 'x' }])('with $name', ({ name }) => {
  test('inside', () => {});
});
test.each`
  a    | b
  ${1} | ${2}
`('table $a + $b', ({ a, b }) => {});
test.skipIf(false)('skip if', () => {});
test.skip.each([1])('%s%% done', () => {});
";
        assert_eq!(
            js(
                src,
                &[
                    "add(1, 1) -> 2",
                    "add(1, 2) -> 3",
                    "for 1",
                    "for 2",
                    "with 'x' > inside",
                    "table 1 + 2",
                    "skip if",
                    "1% done",
                ]
            ),
            [
                Some(4),
                Some(4),
                Some(5),
                Some(5),
                Some(7),
                Some(12),
                Some(13),
                Some(14)
            ]
        );
        assert_eq!(js(src, &["sub(1, 1) -> 2", "for"]), [None, None]);
    }

    #[test]
    fn template_literal_escaped_and_concatenated_titles() {
        let src = "\
describe(`group`, () => {
  test(`sum of ${1 + 2}`, () => {});
  test(`plain template`, () => {});
  test('it\\'s \\u00e9t\\u{e9}', () => {});
  test(\"tab\\there\", () => {});
  test('con' + 'cat' + 'ena' + `ted`, () => {});
});
";
        assert_eq!(
            js(
                src,
                &[
                    "group > sum of 3",
                    "group > plain template",
                    "group > it's été",
                    "group > tab\there",
                    "group > concatenated",
                ]
            ),
            [Some(2), Some(3), Some(4), Some(5), Some(6)]
        );
        // The template's literal parts must be there.
        assert_eq!(js(src, &["group > product of 3"]), [None]);
    }

    #[test]
    fn duplicate_titles_take_sure_calls_in_order_and_are_unknown_otherwise() {
        let src = "\
describe('twice', () => {
  test('same', () => {});
  test('same', () => {});
});
for (const n of [1, 2]) {
  test('in a loop', () => {});
}
if (process.env.X) test('maybe', () => {});
test('maybe', () => {});
test('once', () => {});
";
        assert_eq!(
            js(
                src,
                &[
                    "twice > same",
                    "twice > same",
                    "in a loop",
                    "in a loop",
                    "maybe",
                    "maybe",
                    "once",
                    "once",
                ]
            ),
            [Some(2), Some(3), None, None, None, None, None, None]
        );
        // One `maybe`: the sure call's (the other did not run); one `in a loop`: the loop's.
        // One `twice > same` for two sure calls: not what the file says, so none.
        assert_eq!(
            js(src, &["maybe", "in a loop", "twice > same"]),
            [Some(9), Some(6), None]
        );
    }

    #[test]
    fn a_title_two_calls_can_make_is_unknown() {
        let src = "\
test('adds 1', () => {});
for (const n of [1, 2]) test(`adds ${n}`, () => {});
wrapper('wrapped', () => {});
test('wrapped', () => {});
describe('x', () => {
  if (flag) return;
  test('after a return', () => {});
});
";
        // `adds 1` is sure and alone with its path; `adds 2` only the template makes.
        assert_eq!(js(src, &["adds 1", "adds 2"]), [Some(1), Some(2)]);
        // Two `adds 1`: the sure call and one more, from the loop or elsewhere.
        assert_eq!(js(src, &["adds 1", "adds 1"]), [None, None]);
        // `wrapper` may make a test `wrapped`: the sure `test` is alone with the path.
        assert_eq!(js(src, &["wrapped"]), [Some(4)]);
        assert_eq!(js(src, &["wrapped", "wrapped"]), [None, None]);
        // After a `return` a call may not run, but it is still the only one with the path.
        assert_eq!(js(src, &["x > after a return"]), [Some(7)]);
    }

    #[test]
    fn helpers_aliases_and_fixtures() {
        let src = "\
import { test as check, describe } from 'vitest';
import { helperTest } from './helpers';
const withFixture = check.extend({ answer: async ({}, use) => use(42) });
function group() {
  check('in a helper', () => {});
}
describe('x', () => group());
withFixture('with a fixture', ({ answer }) => {});
helperTest('elsewhere', () => {});
";
        // `elsewhere`: a possible test of an unknown function, which gives no line.
        assert_eq!(
            js(src, &["x > in a helper", "with a fixture", "elsewhere"]),
            [Some(5), Some(8), None]
        );
        // A helper that makes tests of any title anywhere: only sure calls keep a line.
        let named = format!(
            "{src}function named(title) {{\n  check(title, () => {{}});\n}}\nnamed('by name');\n"
        );
        assert_eq!(
            js(&named, &["x > in a helper", "with a fixture", "by name"]),
            [None, Some(8), Some(11)]
        );
    }

    #[test]
    fn typescript_and_tsx_sources() {
        let ts = "\
import { describe, expect, test } from 'vitest';
interface Case { input: number; expected: number }
const cases: Case[] = [{ input: 1, expected: 2 }];
describe('typed', () => {
  test<{ x: number }>('with types', () => {
    const x: number = 1;
    expect(x as number).toBe(1);
  });
  test.each<Case>(cases)('doubles $input', ({ input, expected }: Case) => {});
});
";
        assert_eq!(
            located(
                ts,
                JsDialect::TypeScript,
                &["typed > with types", "typed > doubles 1"]
            ),
            [Some(5), Some(9)]
        );
        let tsx = "\
import { test } from 'vitest';
const view = (n: number) => <div>{n}</div>;
test('renders', () => { view(1); });
";
        assert_eq!(located(tsx, JsDialect::Tsx, &["renders"]), [Some(3)]);
    }

    #[test]
    fn broken_or_missing_sources_give_no_lines_and_never_fail() {
        let src = "test('before', () => {});\ntest('broken', () => {\n";
        let got = js(src, &["before", "broken"]);
        assert_eq!(got[0], Some(1));
        assert_eq!(js("", &["a"]), [None]);
        // Deep nesting is walked without recursion.
        let deep = format!(
            "{}test('deep', () => {{}}){}",
            "[".repeat(5000),
            "]".repeat(5000)
        );
        assert_eq!(js(&deep, &["deep"]), [Some(1)]);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            lines_in_file(&dir.path().join("gone.test.js"), &[vec!["a"]]),
            [None]
        );
        let vue = dir.path().join("a.test.vue");
        std::fs::write(&vue, "test('a', () => {});\n").unwrap();
        assert_eq!(lines_in_file(&vue, &[vec!["a"]]), [None]);
        let file = dir.path().join("a.test.mjs");
        std::fs::write(&file, "test('a', () => {});\n").unwrap();
        assert_eq!(lines_in_file(&file, &[vec!["a"]]), [Some(1)]);
    }

    #[test]
    fn titles_match_literal_parts_in_order() {
        let t = |p: &[Option<&str>]| -> Title {
            tidy(
                p.iter()
                    .map(|x| x.map_or(Piece::Any, |s| Piece::Text(s.into())))
                    .collect(),
            )
        };
        assert!(title_matches(&t(&[Some("a")]), "a"));
        assert!(!title_matches(&t(&[Some("a")]), "ab"));
        assert!(title_matches(&t(&[]), ""));
        assert!(title_matches(&t(&[None]), "anything"));
        assert!(title_matches(&t(&[Some("a"), None, Some("b")]), "ab"));
        assert!(title_matches(&t(&[Some("a"), None, Some("b")]), "a-b"));
        assert!(!title_matches(&t(&[Some("a"), None, Some("b")]), "a"));
        assert!(!title_matches(&t(&[Some("ab"), None, Some("b")]), "ab"));
        assert!(title_matches(
            &t(&[None, Some("x"), None, Some("y")]),
            "1x2y"
        ));
        assert!(!title_matches(
            &t(&[None, Some("x"), None, Some("y")]),
            "1y2x"
        ));
        assert!(title_matches(&t(&[Some("a"), None]), "abc"));
    }
}
