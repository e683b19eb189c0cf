//! Coverage gaps: the functions whose uncovered lines are most worth a test, ranked by
//! missed lines × complexity.
//!
//! Sources are parsed with tree-sitter (Python, JavaScript, TypeScript/TSX, Rust), so a
//! function's span is the grammar's, and a file with syntax errors still yields the
//! functions tree-sitter recovers.
//!
//! **Functions**: Python `def`/`async def` (`Class.method`, `outer.inner`); JS/TS function
//! declarations, methods (`Class.method`), and function expressions / arrow functions
//! bound to a variable, property, object key or class field (named after it); Rust `fn`
//! items with a body (`Type::method` for inherent and trait impls, `Trait::method` for
//! default methods, `module::fn`). Anonymous functions (callbacks, closures, lambdas)
//! belong to the function around them; one at the top level is `<anonymous>`.
//!
//! **Lines**: a function's coverable lines are the lines of the report inside its span,
//! less those inside a named function nested in it (they are that function's). Missed
//! lines are those with a hit count of 0.
//!
//! **Complexity** = 1 + decision points, counted in the function's own code (not in
//! nested named functions):
//! - Python: `if`, `elif`, `for`, `while`, `except`, each `and`/`or`, `x if c else y`,
//!   each comprehension `for` and `if`, each `case` except a bare `case _:`;
//! - JS/TS: `if`, `for`, `for…in`/`for…of`, `while`, `do`, each `case` (not `default`),
//!   `catch`, `?:`, each `&&`, `||`, `??`;
//! - Rust: `if` / `if let`, `while` / `while let`, `for`, each `match` arm after the first
//!   (n arms are n − 1 decisions), each match guard, each `&&` / `||` (in let chains
//!   too), each `?`. `loop` is not a decision.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use tree_sitter::{Node, Parser};

use super::{Coverage, FileCoverage};
use crate::js_syntax::JsDialect;

/// A source language testflow can find functions in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Python,
    JavaScript,
    TypeScript,
    Tsx,
    Rust,
}

impl Language {
    /// The language of a file, from its extension.
    pub fn of(path: &str) -> Option<Language> {
        let ext = Path::new(path).extension()?.to_str()?;
        Some(match ext {
            "py" => Language::Python,
            "rs" => Language::Rust,
            _ => match JsDialect::of(path)? {
                JsDialect::JavaScript => Language::JavaScript,
                JsDialect::TypeScript => Language::TypeScript,
                JsDialect::Tsx => Language::Tsx,
            },
        })
    }

    fn grammar(self) -> tree_sitter::Language {
        match self {
            Language::Python => tree_sitter_python::LANGUAGE.into(),
            Language::JavaScript => JsDialect::JavaScript.grammar(),
            Language::TypeScript => JsDialect::TypeScript.grammar(),
            Language::Tsx => JsDialect::Tsx.grammar(),
            Language::Rust => tree_sitter_rust::LANGUAGE.into(),
        }
    }

    fn separator(self) -> &'static str {
        match self {
            Language::Rust => "::",
            _ => ".",
        }
    }
}

/// A function found in a source file. Lines are 1-based and inclusive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FunctionSpan {
    pub name: String,
    pub start_line: u32,
    pub end_line: u32,
    pub complexity: u32,
}

/// One function with uncovered lines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// Path relative to the project root, as in the coverage report.
    pub file: String,
    /// Qualified name: `Class.method`, `outer.inner`, `Type::method`, `module::fn`.
    pub function: String,
    pub language: Language,
    pub start_line: u32,
    pub end_line: u32,
    pub complexity: u32,
    /// How many of the function's coverable lines were not run.
    pub missed_lines: u32,
    /// Lines of the report inside the function (less nested functions' lines).
    pub coverable_lines: u32,
    /// The missed lines as ranges: `12-14, 20`.
    pub missed_ranges: String,
    /// missed_lines × complexity.
    pub priority: u64,
}

/// Why a file of the coverage report was not analysed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The source could not be read (moved, deleted, not UTF-8, …).
    Unreadable,
    /// The file's extension is not one of the supported languages.
    UnknownLanguage,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub file: String,
    pub reason: SkipReason,
    /// What went wrong, for people.
    pub detail: String,
}

/// The ranked gaps of a coverage report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GapsReport {
    /// Files whose source was parsed.
    pub files_analyzed: usize,
    /// Functions found in them (with or without gaps).
    pub functions_analyzed: usize,
    /// Highest priority first.
    pub gaps: Vec<Gap>,
    /// Files of the report that were not analysed, in path order.
    pub skipped: Vec<Skipped>,
}

/// Find every function of `source` with its span and complexity, in source order
/// (an enclosing function before the functions nested in it).
pub fn functions(source: &str, lang: Language) -> Vec<FunctionSpan> {
    let mut parser = Parser::new();
    functions_with(&mut parser, source, lang)
}

fn functions_with(parser: &mut Parser, source: &str, lang: Language) -> Vec<FunctionSpan> {
    if parser.set_language(&lang.grammar()).is_err() {
        return Vec::new();
    }
    let Some(tree) = parser.parse(source, None) else {
        return Vec::new();
    };
    Walker {
        lang,
        src: source.as_bytes(),
        out: Vec::new(),
        scopes: Vec::new(),
    }
    .walk(tree.root_node())
}

/// Rank the functions of every file in `cov` (sources read from `root.join(path)`).
/// Files are parsed in parallel, one chunk per core.
pub fn rank(cov: &Coverage, root: &Path) -> GapsReport {
    let files: Vec<(&String, &FileCoverage)> = cov.files.iter().collect();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(files.len().max(1));
    let chunk = files.len().div_ceil(threads).max(1);
    let results: Vec<FileResult> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut parser = Parser::new();
                    part.iter()
                        .map(|(path, fc)| analyse_file(&mut parser, path, fc, root))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            // A panic is a bug: surface it rather than drop a chunk of files.
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut report = GapsReport::default();
    for r in results {
        match r {
            FileResult::Skipped(s) => report.skipped.push(s),
            FileResult::Done { functions, gaps } => {
                report.files_analyzed += 1;
                report.functions_analyzed += functions;
                report.gaps.extend(gaps);
            }
        }
    }
    report.gaps.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(b.missed_lines.cmp(&a.missed_lines))
            .then_with(|| a.file.cmp(&b.file))
            .then(a.start_line.cmp(&b.start_line))
            .then_with(|| a.function.cmp(&b.function))
    });
    report.skipped.sort_by(|a, b| a.file.cmp(&b.file));
    report
}

enum FileResult {
    Skipped(Skipped),
    Done { functions: usize, gaps: Vec<Gap> },
}

fn analyse_file(parser: &mut Parser, path: &str, fc: &FileCoverage, root: &Path) -> FileResult {
    let skip = |reason, detail: String| {
        FileResult::Skipped(Skipped {
            file: path.to_owned(),
            reason,
            detail,
        })
    };
    let Some(lang) = Language::of(path) else {
        let ext = Path::new(path)
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_else(|| "no extension".to_owned());
        return skip(
            SkipReason::UnknownLanguage,
            format!("unknown language ({ext})"),
        );
    };
    let bytes = match std::fs::read(root.join(path)) {
        Ok(b) => b,
        Err(e) => return skip(SkipReason::Unreadable, format!("cannot read source: {e}")),
    };
    // Not UTF-8 (a Latin-1 comment): replacing bad bytes keeps the line numbers.
    let source = String::from_utf8_lossy(&bytes);
    let fns = functions_with(parser, &source, lang);
    FileResult::Done {
        functions: fns.len(),
        gaps: gaps_of(path, lang, &fns, fc),
    }
}

/// The gaps of one file's functions (`fns` in source order, as [`functions`] gives them).
fn gaps_of(path: &str, lang: Language, fns: &[FunctionSpan], fc: &FileCoverage) -> Vec<Gap> {
    // Each coverable line belongs to the innermost function around it: functions come
    // outer before inner, so a nested function overwrites its parent's lines.
    let mut owner: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, f) in fns.iter().enumerate() {
        for (line, _) in fc.lines.range(f.start_line..=f.end_line) {
            owner.insert(*line, i);
        }
    }
    let mut missed: Vec<Vec<u32>> = vec![Vec::new(); fns.len()];
    let mut coverable = vec![0u32; fns.len()];
    for (line, i) in owner {
        coverable[i] += 1;
        if fc.lines.get(&line) == Some(&0) {
            missed[i].push(line);
        }
    }
    fns.iter()
        .zip(missed)
        .zip(coverable)
        .filter(|((_, m), _)| !m.is_empty())
        .map(|((f, m), cov)| Gap {
            file: path.to_owned(),
            function: f.name.clone(),
            language: lang,
            start_line: f.start_line,
            end_line: f.end_line,
            complexity: f.complexity,
            missed_lines: m.len() as u32,
            coverable_lines: cov,
            missed_ranges: ranges(&m),
            priority: m.len() as u64 * u64::from(f.complexity),
        })
        .collect()
}

/// Sorted line numbers as ranges: `[12, 13, 14, 20]` → `12-14, 20`.
pub fn ranges(lines: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        let start = lines[i];
        let mut end = start;
        while i + 1 < lines.len() && lines[i + 1] == end + 1 {
            i += 1;
            end = lines[i];
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}-{end}");
        }
        i += 1;
    }
    out
}

/// A name scope open during the walk: a class, impl, module or function.
struct Scope {
    node_id: usize,
    /// Part of qualified names (none for an anonymous function folded into its parent).
    name: Option<String>,
    /// Index in `out` of the function whose complexity this scope's code adds to.
    function: Option<usize>,
}

struct Walker<'a> {
    lang: Language,
    src: &'a [u8],
    out: Vec<FunctionSpan>,
    scopes: Vec<Scope>,
}

impl Walker<'_> {
    /// Pre-order walk without recursion (generated code can nest deeper than the stack).
    fn walk(mut self, root: Node<'_>) -> Vec<FunctionSpan> {
        let mut cursor = root.walk();
        loop {
            self.enter(cursor.node());
            if cursor.goto_first_child() {
                continue;
            }
            loop {
                self.leave(cursor.node());
                if cursor.goto_next_sibling() {
                    break;
                }
                if !cursor.goto_parent() {
                    return self.out;
                }
            }
        }
    }

    fn text(&self, node: Node<'_>) -> String {
        node.utf8_text(self.src).unwrap_or("?").to_owned()
    }

    fn current_function(&self) -> Option<usize> {
        self.scopes.last().and_then(|s| s.function)
    }

    fn qualified(&self, name: &str) -> String {
        let mut parts: Vec<&str> = self
            .scopes
            .iter()
            .filter_map(|s| s.name.as_deref())
            .collect();
        parts.push(name);
        parts.join(self.lang.separator())
    }

    fn enter(&mut self, node: Node<'_>) {
        if let Some(scope) = self.scope_of(node) {
            self.scopes.push(scope);
            return;
        }
        let d = self.decisions(node);
        if d > 0
            && let Some(i) = self.current_function()
        {
            self.out[i].complexity += d;
        }
    }

    fn leave(&mut self, node: Node<'_>) {
        if self.scopes.last().is_some_and(|s| s.node_id == node.id()) {
            self.scopes.pop();
        }
    }

    /// The scope `node` opens, if any (a new function is pushed to `out`).
    fn scope_of(&mut self, node: Node<'_>) -> Option<Scope> {
        let parent_fn = self.current_function();
        let class = |name: Option<String>| {
            Some(Scope {
                node_id: node.id(),
                name,
                function: parent_fn,
            })
        };
        let kind = node.kind();
        match self.lang {
            Language::Python => match kind {
                "function_definition" => self.function(node, self.field_text(node, "name")),
                "class_definition" => class(self.field_text(node, "name")),
                _ => None,
            },
            Language::JavaScript | Language::TypeScript | Language::Tsx => match kind {
                "function_declaration"
                | "generator_function_declaration"
                | "method_definition"
                | "function_expression"
                | "generator_function"
                | "arrow_function" => {
                    // A signature without a body is not code to cover.
                    node.child_by_field_name("body")?;
                    let name = match kind {
                        "function_declaration"
                        | "generator_function_declaration"
                        | "method_definition" => self.field_text(node, "name"),
                        _ => self
                            .binding_name(node)
                            .or_else(|| self.field_text(node, "name")),
                    };
                    self.function(node, name)
                }
                "class_declaration" | "abstract_class_declaration" | "class" => class(
                    self.field_text(node, "name")
                        .or_else(|| self.binding_name(node)),
                ),
                "internal_module" | "module" => class(self.field_text(node, "name")),
                // `const api = { get() {}, post: () => {} }`: `api.get`, `api.post`.
                "object" => self.binding_name(node).and_then(|n| class(Some(n))),
                _ => None,
            },
            Language::Rust => match kind {
                "function_item" => {
                    // A signature without a body is not code to cover.
                    node.child_by_field_name("body")?;
                    self.function(node, self.field_text(node, "name"))
                }
                "impl_item" => {
                    let ty = node.child_by_field_name("type")?;
                    // `impl<T> Stack<T>`: `Stack`.
                    let base = match ty.kind() {
                        "generic_type" => ty.child_by_field_name("type").unwrap_or(ty),
                        _ => ty,
                    };
                    class(Some(self.text(base)))
                }
                "trait_item" => class(self.field_text(node, "name")),
                "mod_item" if node.child_by_field_name("body").is_some() => {
                    class(self.field_text(node, "name"))
                }
                _ => None,
            },
        }
    }

    /// Open a function scope: a named function gets its own entry; an anonymous one
    /// inside another function adds to that one.
    fn function(&mut self, node: Node<'_>, name: Option<String>) -> Option<Scope> {
        let parent_fn = self.current_function();
        if name.is_none() && parent_fn.is_some() {
            return Some(Scope {
                node_id: node.id(),
                name: None,
                function: parent_fn,
            });
        }
        let name = name.unwrap_or_else(|| "<anonymous>".to_owned());
        self.out.push(FunctionSpan {
            name: self.qualified(&name),
            start_line: node.start_position().row as u32 + 1,
            end_line: node.end_position().row as u32 + 1,
            complexity: 1,
        });
        Some(Scope {
            node_id: node.id(),
            name: Some(name),
            function: Some(self.out.len() - 1),
        })
    }

    fn field_text(&self, node: Node<'_>, field: &str) -> Option<String> {
        node.child_by_field_name(field).map(|n| self.text(n))
    }

    /// The name a JS/TS value is bound to: `const f = …`, `obj.f = …`, `{ f: … }`,
    /// a class field `f = …`.
    fn binding_name(&self, node: Node<'_>) -> Option<String> {
        let parent = node.parent()?;
        let is_value = |field: &str| parent.child_by_field_name(field) == Some(node);
        let name = match parent.kind() {
            "variable_declarator" if is_value("value") => {
                let n = parent.child_by_field_name("name")?;
                (n.kind() == "identifier").then(|| self.text(n))?
            }
            "assignment_expression" if is_value("right") => {
                let left = self.text(parent.child_by_field_name("left")?);
                left.strip_prefix("this.").unwrap_or(&left).to_owned()
            }
            "pair" if is_value("value") => {
                let key = self.text(parent.child_by_field_name("key")?);
                key.trim_matches(|c| c == '"' || c == '\'').to_owned()
            }
            "field_definition" if is_value("value") => {
                self.text(parent.child_by_field_name("property")?)
            }
            "public_field_definition" if is_value("value") => {
                self.text(parent.child_by_field_name("name")?)
            }
            // `export default function () {}`
            "export_statement" => "default".to_owned(),
            _ => return None,
        };
        Some(name)
    }

    /// How many decision points `node` itself is (see the module comment).
    fn decisions(&self, node: Node<'_>) -> u32 {
        let kind = node.kind();
        let operator = || {
            node.child_by_field_name("operator")
                .map(|o| o.kind())
                .unwrap_or("")
        };
        let hit = match self.lang {
            Language::Python => match kind {
                "if_statement"
                | "elif_clause"
                | "for_statement"
                | "while_statement"
                | "except_clause"
                | "boolean_operator"
                | "conditional_expression"
                | "for_in_clause"
                | "if_clause" => true,
                "case_clause" => !self.is_wildcard_case(node),
                _ => false,
            },
            Language::JavaScript | Language::TypeScript | Language::Tsx => match kind {
                "if_statement" | "for_statement" | "for_in_statement" | "while_statement"
                | "do_statement" | "switch_case" | "catch_clause" | "ternary_expression" => true,
                "binary_expression" => matches!(operator(), "&&" | "||" | "??"),
                _ => false,
            },
            Language::Rust => match kind {
                "if_expression" | "while_expression" | "for_expression" | "try_expression" => true,
                "binary_expression" => matches!(operator(), "&&" | "||"),
                "&&" => node.parent().is_some_and(|p| p.kind() == "let_chain"),
                "match_pattern" => node.child_by_field_name("condition").is_some(),
                "match_block" => {
                    let mut c = node.walk();
                    let arms = node
                        .named_children(&mut c)
                        .filter(|n| n.kind() == "match_arm")
                        .count() as u32;
                    return arms.saturating_sub(1);
                }
                _ => false,
            },
        };
        u32::from(hit)
    }

    /// `case _:` without a guard: Python's default case.
    fn is_wildcard_case(&self, node: Node<'_>) -> bool {
        if node.child_by_field_name("guard").is_some() {
            return false;
        }
        let mut c = node.walk();
        let patterns: Vec<Node<'_>> = node
            .named_children(&mut c)
            .filter(|n| n.kind() == "case_pattern")
            .collect();
        patterns.len() == 1 && self.text(patterns[0]).trim() == "_"
    }
}

/// The ranked gaps for people: at most `limit` rows (all when `None`), then a note on
/// skipped files.
pub fn render_human(report: &GapsReport, limit: Option<usize>) -> String {
    let mut out = String::new();
    let shown = &report.gaps[..limit.unwrap_or(usize::MAX).min(report.gaps.len())];
    if report.gaps.is_empty() {
        let _ = writeln!(
            out,
            "No coverage gaps: every line of the {} functions in {} files was run.",
            report.functions_analyzed, report.files_analyzed
        );
    } else {
        let rows: Vec<[String; 7]> = shown
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let mut missed = g.missed_ranges.clone();
                if missed.chars().count() > 60 {
                    missed = missed.chars().take(59).collect::<String>() + "…";
                }
                [
                    format!("{}", i + 1),
                    g.priority.to_string(),
                    format!("{}/{}", g.missed_lines, g.coverable_lines),
                    g.complexity.to_string(),
                    format!("{}:{}", g.file, g.start_line),
                    g.function.clone(),
                    missed,
                ]
            })
            .collect();
        let head = [
            "#",
            "priority",
            "missed",
            "cx",
            "location",
            "function",
            "missed lines",
        ];
        let mut width: [usize; 7] = head.map(str::len);
        for r in &rows {
            for (w, c) in width.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: [&str; 7]| {
            let mut s = String::new();
            for (i, (c, w)) in cells.iter().zip(width).enumerate() {
                let pad = w.saturating_sub(c.chars().count());
                match i {
                    0..=3 => {
                        s.push_str(&" ".repeat(pad));
                        s.push_str(c);
                    }
                    6 => s.push_str(c),
                    _ => {
                        s.push_str(c);
                        s.push_str(&" ".repeat(pad));
                    }
                }
                if i < 6 {
                    s.push_str("  ");
                }
            }
            s.trim_end().to_owned()
        };
        let _ = writeln!(out, "{}", line(head));
        for r in &rows {
            let _ = writeln!(out, "{}", line(r.each_ref().map(String::as_str)));
        }
        let _ = write!(
            out,
            "\n{} gaps in {} functions of {} files (priority = missed lines × complexity)",
            report.gaps.len(),
            report.functions_analyzed,
            report.files_analyzed
        );
        if shown.len() < report.gaps.len() {
            let _ = write!(out, "; showing the top {} (--limit 0 for all)", shown.len());
        }
        out.push('\n');
    }
    if !report.skipped.is_empty() {
        let list: Vec<String> = report
            .skipped
            .iter()
            .take(3)
            .map(|s| format!("{} ({})", s.file, s.detail))
            .collect();
        let more = report.skipped.len().saturating_sub(3);
        let _ = writeln!(
            out,
            "note: skipped {} file{}: {}{}",
            report.skipped.len(),
            if report.skipped.len() == 1 { "" } else { "s" },
            list.join(", "),
            if more > 0 {
                format!(", and {more} more (--format json lists them)")
            } else {
                String::new()
            }
        );
    }
    out
}

#[cfg(test)]
mod tests;
