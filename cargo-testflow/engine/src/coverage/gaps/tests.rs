//! The fixture project `tests/fixtures/coverage-gaps/` (see its EXPECTED.md) and small
//! inline sources for each language's rules.

use std::path::PathBuf;

use super::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn gaps_dir() -> PathBuf {
    fixtures().join("coverage-gaps")
}

/// (name, start, end, complexity) of every function in a fixture source.
fn spans(file: &str) -> Vec<(String, u32, u32, u32)> {
    let src = std::fs::read_to_string(gaps_dir().join(file)).unwrap();
    functions(&src, Language::of(file).unwrap())
        .into_iter()
        .map(|f| (f.name, f.start_line, f.end_line, f.complexity))
        .collect()
}

fn names_and_complexity(src: &str, lang: Language) -> Vec<(String, u32)> {
    functions(src, lang)
        .into_iter()
        .map(|f| (f.name, f.complexity))
        .collect()
}

fn owned(v: &[(&str, u32, u32, u32)]) -> Vec<(String, u32, u32, u32)> {
    v.iter()
        .map(|(n, s, e, c)| (n.to_string(), *s, *e, *c))
        .collect()
}

#[test]
fn python_functions_methods_and_nested_defs() {
    assert_eq!(
        spans("app/shop.py"),
        owned(&[
            // for, if, and, if
            ("total", 4, 11, 5),
            ("Cart.__init__", 15, 16, 1),
            ("Cart.add", 18, 19, 1),
            // except, conditional expression; not the nested receipt()
            ("Cart.checkout", 21, 30, 3),
            ("Cart.checkout.receipt", 22, 23, 1),
            // comprehension for and if
            ("unused", 33, 34, 3),
        ])
    );
}

#[test]
fn javascript_declarations_arrows_and_methods() {
    assert_eq!(
        spans("web/cart.js"),
        owned(&[
            // if, ??, &&, ?:
            ("price", 2, 8, 5),
            ("fmt", 10, 12, 1),
            ("Basket.constructor", 15, 17, 1),
            // for-of, two cases (not default), || in the anonymous callback, ?:
            ("Basket.sum", 19, 33, 6),
        ])
    );
}

#[test]
fn typescript_skips_signatures_without_bodies() {
    assert_eq!(
        spans("web/util.ts"),
        owned(&[
            ("Base.describe", 7, 9, 1),
            ("clamp", 12, 16, 3),
            // for, catch, if
            ("retry", 18, 26, 4),
            ("Geometry.square", 29, 31, 1),
        ])
    );
}

#[test]
fn rust_impl_methods_trait_impls_modules_and_nested_fns() {
    assert_eq!(
        spans("rust/stack.rs"),
        owned(&[
            ("Stack::new", 8, 10, 1),
            // 3 arms (2 decisions) and a guard
            ("Stack::pop_or", 12, 18, 4),
            ("Stack::default", 22, 24, 1),
            // ?, if, &&, ||
            ("parse", 27, 33, 5),
            // the closure's if belongs to shout
            ("text::shout", 36, 42, 2),
            ("text::shout::bang", 38, 40, 1),
        ])
    );
}

/// (function, priority, missed, coverable, ranges) in rank order.
fn ranking(report: &GapsReport) -> Vec<(String, u64, u32, u32, String)> {
    report
        .gaps
        .iter()
        .map(|g| {
            (
                g.function.clone(),
                g.priority,
                g.missed_lines,
                g.coverable_lines,
                g.missed_ranges.clone(),
            )
        })
        .collect()
}

#[test]
fn fixture_ranking_is_known() {
    let dir = gaps_dir();
    let cov = crate::coverage::load(&[dir.join("lcov.info")], &dir).unwrap();
    let report = rank(&cov, &dir);
    let expect: Vec<(String, u64, u32, u32, String)> = [
        ("Cart.checkout", 18, 6, 7, "25-30"),
        ("Basket.sum", 12, 2, 8, "26-27"),
        // ties on 8: more missed lines first, then path
        ("text::shout", 8, 4, 4, "36-37, 41-42"),
        ("Stack::pop_or", 8, 2, 7, "14, 16"),
        ("retry", 8, 2, 6, "22-23"),
        ("clamp", 6, 2, 4, "14-15"),
        // ties on 5 and 1 missed: path order
        ("total", 5, 1, 8, "10"),
        ("parse", 5, 1, 7, "30"),
        ("price", 5, 1, 5, "4"),
        // same path, same missed: line order
        ("Stack::default", 3, 3, 3, "22-24"),
        ("text::shout::bang", 3, 3, 3, "38-40"),
        ("unused", 3, 1, 2, "34"),
        ("Cart.checkout.receipt", 2, 2, 2, "22-23"),
        ("fmt", 1, 1, 2, "11"),
        ("Base.describe", 1, 1, 1, "8"),
    ]
    .iter()
    .map(|(f, p, m, c, r)| (f.to_string(), *p, *m, *c, r.to_string()))
    .collect();
    assert_eq!(ranking(&report), expect);
    assert_eq!(report.files_analyzed, 4);
    assert_eq!(report.functions_analyzed, 20);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    let first = &report.gaps[0];
    assert_eq!(
        (
            first.file.as_str(),
            first.start_line,
            first.end_line,
            first.complexity,
            first.language
        ),
        ("app/shop.py", 21, 30, 3, Language::Python)
    );
}

#[test]
fn unreadable_and_unknown_files_are_skipped_with_a_reason() {
    let dir = gaps_dir();
    let cov = crate::coverage::load(&[dir.join("lcov-missing.info")], &dir).unwrap();
    let report = rank(&cov, &dir);
    assert_eq!(report.files_analyzed, 1);
    assert_eq!(ranking(&report)[0].0, "total");
    let skipped: Vec<(&str, SkipReason)> = report
        .skipped
        .iter()
        .map(|s| (s.file.as_str(), s.reason))
        .collect();
    assert_eq!(
        skipped,
        [
            ("app/gone.py", SkipReason::Unreadable),
            ("tools/build.go", SkipReason::UnknownLanguage)
        ]
    );
    assert!(
        report.skipped[0].detail.starts_with("cannot read source:"),
        "{}",
        report.skipped[0].detail
    );
    assert_eq!(report.skipped[1].detail, "unknown language (.go)");
    let human = render_human(&report, None);
    assert!(
        human.ends_with(
            "note: skipped 2 files: app/gone.py (cannot read source: No such file or directory (os error 2)), tools/build.go (unknown language (.go))\n"
        ),
        "{human}"
    );
}

#[test]
fn human_table_is_ranked_and_limited() {
    let dir = gaps_dir();
    let cov = crate::coverage::load(&[dir.join("lcov.info")], &dir).unwrap();
    let human = render_human(&rank(&cov, &dir), Some(2));
    assert_eq!(
        human,
        "\
#  priority  missed  cx  location        function       missed lines
1        18     6/7   3  app/shop.py:21  Cart.checkout  25-30
2        12     2/8   6  web/cart.js:19  Basket.sum     26-27

15 gaps in 20 functions of 4 files (priority = missed lines × complexity); showing the top 2 (--limit 0 for all)
"
    );
}

#[test]
fn ranges_are_compact() {
    assert_eq!(ranges(&[]), "");
    assert_eq!(ranges(&[7]), "7");
    assert_eq!(ranges(&[12, 13, 14, 20]), "12-14, 20");
    assert_eq!(ranges(&[1, 3, 4, 6, 7, 8]), "1, 3-4, 6-8");
}

#[test]
fn a_source_with_syntax_errors_still_yields_its_functions() {
    let py = "\
def good(a):
    if a:
        return 1
    return 2

def broken(:
    return (

def after(b):
    return b or 3
";
    let found = names_and_complexity(py, Language::Python);
    assert_eq!(found.first(), Some(&("good".to_owned(), 2)), "{found:?}");
    assert!(
        found.iter().any(|(n, c)| n == "after" && *c == 2),
        "{found:?}"
    );
    let js =
        "function ok(x) { return x ?? 1; }\nfunction bad( { if (\nconst late = (y) => y || 2;\n";
    let found = names_and_complexity(js, Language::JavaScript);
    assert_eq!(found.first(), Some(&("ok".to_owned(), 2)), "{found:?}");
    let rs = "fn fine() -> u8 { if true { 1 } else { 2 } }\nfn broken( { let = ; }\n";
    let found = names_and_complexity(rs, Language::Rust);
    assert_eq!(found.first(), Some(&("fine".to_owned(), 2)), "{found:?}");
}

#[test]
fn python_match_cases_and_boolean_chains() {
    let src = "\
def kind(x, y):
    match x:
        case 1:
            return 'one'
        case [a, b] if a:
            return 'pair'
        case _:
            return 'other' if y and x or y else 'none'

@decorator
async def fetch(url):
    while url:
        try:
            pass
        except ValueError:
            pass
        except (KeyError, OSError):
            pass
    f = lambda v: v if v else 0
    return {k: v for k, v in url.items() if v}
";
    assert_eq!(
        names_and_complexity(src, Language::Python),
        [
            // case 1, case [a, b], its guard, `x if … else`, and, or: not `case _`
            ("kind".to_owned(), 7),
            // while, 2 excepts, the lambda's conditional, comprehension for and if
            ("fetch".to_owned(), 7),
        ]
    );
}

#[test]
fn javascript_bindings_name_anonymous_functions() {
    let src = "\
const api = {
  get(id) { return id || null; },
  post: async (body) => body ?? {},
  'del': function () { return 1; },
};
exports.handler = function (e) { do { e--; } while (e > 0); };
class Store {
  #cache = new Map();
  load = (k) => this.#cache.get(k) && k;
  static *keys() { for (const k in this) yield k; }
}
setTimeout(() => { if (x) y(); }, 10);
export default function () { return a ? 1 : 2; }
function outer() {
  [1, 2].forEach(function (v) { if (v) console.log(v); });
  function inner() { switch (a) { case 1: break; default: break; } }
}
";
    assert_eq!(
        names_and_complexity(src, Language::JavaScript),
        [
            ("api.get".to_owned(), 2),
            ("api.post".to_owned(), 2),
            ("api.del".to_owned(), 1),
            ("exports.handler".to_owned(), 2),
            ("Store.load".to_owned(), 2),
            ("Store.keys".to_owned(), 2),
            ("<anonymous>".to_owned(), 2),
            ("default".to_owned(), 2),
            // the anonymous callback's if is outer's
            ("outer".to_owned(), 2),
            ("outer.inner".to_owned(), 2),
        ]
    );
}

#[test]
fn typescript_and_tsx_grammars() {
    let ts = "\
abstract class Repo<T> {
  abstract find(id: string): T | undefined;
  private cache: Map<string, T> = new Map();
  public get = (id: string): T | undefined => this.cache.get(id) ?? this.find(id);
}
function overload(x: string): string;
function overload(x: number): number;
function overload(x: any): any { return typeof x === 'string' ? x : x + 1; }
";
    assert_eq!(
        names_and_complexity(ts, Language::TypeScript),
        [("Repo.get".to_owned(), 2), ("overload".to_owned(), 2)]
    );
    let tsx = "\
export const Row = ({ on }: { on: boolean }) => <div>{on && <b>on</b>}</div>;
export function List(props: { items: string[] }) {
  return <ul>{props.items.map((i) => <li key={i}>{i || '-'}</li>)}</ul>;
}
";
    assert_eq!(Language::of("ui/List.tsx"), Some(Language::Tsx));
    assert_eq!(
        names_and_complexity(tsx, Language::Tsx),
        [("Row".to_owned(), 2), ("List".to_owned(), 2)]
    );
}

#[test]
fn rust_let_chains_loops_and_trait_defaults() {
    let src = "\
trait Shape {
    fn area(&self) -> f64;
    fn big(&self) -> bool {
        self.area() > 10.0
    }
}
impl<'a> Shape for &'a Square {
    fn area(&self) -> f64 { loop { break 1.0; } }
}
fn drain(v: &mut Vec<Option<u8>>) -> Option<u8> {
    while let Some(x) = v.pop() {
        if let Some(y) = x && y > 2 {
            return Some(y);
        }
    }
    for _ in 0..3 {}
    let n = v.first()?.as_ref()?;
    match n { 0 => None, _ => Some(*n) }
}
";
    assert_eq!(
        names_and_complexity(src, Language::Rust),
        [
            ("Shape::big".to_owned(), 1),
            // `loop` is not a decision
            ("&'a Square::area".to_owned(), 1),
            // while let, if let, && in the let chain, for, two ?, a second match arm
            ("drain".to_owned(), 8),
        ]
    );
}

#[test]
fn deeply_nested_code_does_not_overflow_the_stack() {
    let src = format!("function deep() {{ return {}1; }}", "a && ".repeat(20_000));
    assert_eq!(
        names_and_complexity(&src, Language::JavaScript),
        [("deep".to_owned(), 20_001)]
    );
}

#[test]
fn lines_of_a_nested_function_are_not_its_parents() {
    let fns = vec![
        FunctionSpan {
            name: "outer".into(),
            start_line: 1,
            end_line: 10,
            complexity: 2,
        },
        FunctionSpan {
            name: "outer.inner".into(),
            start_line: 3,
            end_line: 5,
            complexity: 1,
        },
    ];
    let fc = FileCoverage {
        lines: [
            (1, 1),
            (2, 0),
            (3, 0),
            (4, 0),
            (5, 0),
            (6, 1),
            (9, 0),
            (12, 0),
        ]
        .into_iter()
        .collect(),
        ..Default::default()
    };
    let gaps = gaps_of("a.py", Language::Python, &fns, &fc);
    let got: Vec<(&str, u32, u32, &str, u64)> = gaps
        .iter()
        .map(|g| {
            (
                g.function.as_str(),
                g.missed_lines,
                g.coverable_lines,
                g.missed_ranges.as_str(),
                g.priority,
            )
        })
        .collect();
    assert_eq!(
        got,
        [("outer", 2, 4, "2, 9", 4), ("outer.inner", 3, 3, "3-5", 3)]
    );
}

#[test]
fn a_source_that_is_not_utf8_keeps_its_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("latin1.py"),
        b"# caf\xe9\ndef f(x):\n    if x:\n        return 1\n",
    )
    .unwrap();
    let mut cov = Coverage::default();
    cov.files.insert(
        "latin1.py".into(),
        FileCoverage {
            lines: [(2, 1), (3, 1), (4, 0)].into_iter().collect(),
            ..Default::default()
        },
    );
    let report = rank(&cov, dir.path());
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(
        ranking(&report),
        [("f".to_owned(), 2, 1, 3, "4".to_owned())]
    );
}

#[test]
fn functions_without_missed_lines_are_not_gaps() {
    let fns = functions("def f():\n    return 1\n", Language::Python);
    let fc = FileCoverage {
        lines: [(1, 1), (2, 4)].into_iter().collect(),
        ..Default::default()
    };
    assert!(gaps_of("f.py", Language::Python, &fns, &fc).is_empty());
}

/// Real reports (`tests/fixtures/coverage/README.md`) with the sources they measured,
/// copied into `tests/fixtures/coverage/sources/`.
#[test]
fn real_coveragepy_json_with_its_source() {
    let dir = fixtures().join("coverage/sources/pyproj");
    let report_file = fixtures().join("coverage/coveragepy-real.json");
    let cov = crate::coverage::load(&[report_file], &dir).unwrap();
    let report = rank(&cov, &dir);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!(report.functions_analyzed, 5);
    assert_eq!(
        ranking(&report),
        [
            ("unused".to_owned(), 6, 3, 4, "12-14".to_owned()),
            ("divide".to_owned(), 2, 1, 4, "7".to_owned()),
        ]
    );
}

#[test]
fn real_istanbul_json_with_its_source() {
    let bytes = std::fs::read(fixtures().join("coverage/istanbul-jest-real.json")).unwrap();
    // Jest wrote absolute paths under the project it ran in.
    let cov = crate::coverage::parse(
        &bytes,
        "istanbul-jest-real.json",
        Path::new("/work/target-cov/jsproj"),
    )
    .unwrap();
    let dir = fixtures().join("coverage/sources/jsproj");
    let report = rank(&cov, &dir);
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    // add, divide, and the arrow function `unused` (whose line ran: its body is on it)
    assert_eq!(report.functions_analyzed, 3);
    assert_eq!(
        ranking(&report),
        [("divide".to_owned(), 2, 1, 3, "7".to_owned())]
    );
}
