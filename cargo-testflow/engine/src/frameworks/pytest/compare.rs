//! Expected and actual of a failed pytest `assert left == right`, the way
//! `cargo::failure` gets them from Rust's `assert_eq!`: `right` is what was expected,
//! `left` what the code gave (pytest's own diff reads the same way).
//!
//! Preferred source: the plugin's `pytest_assertrepr_compare` hook, which sees the two
//! objects and hands over their full reprs. Fallback: the `assert X == Y` line of
//! pytest's message, which pytest shortens (`saferepr`) to a limit: a value that may
//! have been shortened is not taken.

/// What `pytest_assertrepr_compare(config, op, left, right)` saw: reprs of the operands.
#[derive(Clone, Copy, Debug)]
pub struct Compare<'a> {
    pub op: &'a str,
    pub left: &'a str,
    pub right: &'a str,
}

/// Longest value kept (test data is untrusted; the plugin caps too).
pub const VALUE_CAP: usize = 8 * 1024;

/// pytest's `saferepr` limit (`DEFAULT_REPR_MAX_SIZE`): a value this long in the
/// message may have been cut in the middle.
const SAFEREPR_MAX: usize = 240;

/// `(expected, actual)` for a failed `==` assertion, or `None` when the failure is not
/// one (or the values cannot be told apart reliably).
pub fn expected_actual(compare: Option<&Compare<'_>>, message: &str) -> Option<(String, String)> {
    let assert_line = message
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("assert "))?;
    if let Some(c) = compare {
        // The hook also runs for comparisons a test caught (`pytest.raises`): take it only
        // when the failing assertion is an `==` too.
        if c.op == "==" && assert_line.contains(" == ") {
            return Some((cap(c.right), cap(c.left)));
        }
        return None;
    }
    from_message(assert_line)
}

/// `assert 4 == 5` → ("5", "4"). Only one ` == ` and values short enough to be whole.
fn from_message(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix("assert ")?;
    let mut parts = rest.split(" == ");
    let (left, right) = (parts.next()?.trim(), parts.next()?.trim());
    if parts.next().is_some()
        || left.is_empty()
        || right.is_empty()
        || left.len() >= SAFEREPR_MAX
        || right.len() >= SAFEREPR_MAX
        || left.starts_with("not ")
    {
        return None;
    }
    Some((right.to_owned(), left.to_owned()))
}

fn cap(s: &str) -> String {
    if s.len() <= VALUE_CAP {
        return s.to_owned();
    }
    let mut end = VALUE_CAP;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &s[..end], s.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hooks_reprs_win_right_is_expected() {
        let c = Compare {
            op: "==",
            left: "{'a': 1,\n 'b': 2}",
            right: "{'a': 1,\n 'b': 3}",
        };
        let msg = "assert {'a': 1, 'b': 2} == {'a': 1, 'b': 3}\n  \n  Omitting 1 identical items";
        assert_eq!(
            expected_actual(Some(&c), msg),
            Some(("{'a': 1,\n 'b': 3}".into(), "{'a': 1,\n 'b': 2}".into()))
        );
    }

    #[test]
    fn a_stale_comparison_is_not_taken_for_another_assertion() {
        let c = Compare {
            op: "==",
            left: "1",
            right: "2",
        };
        assert_eq!(expected_actual(Some(&c), "assert False"), None);
        assert_eq!(expected_actual(Some(&c), "boom"), None);
        let ne = Compare { op: "!=", ..c };
        assert_eq!(expected_actual(Some(&ne), "assert 1 != 1"), None);
    }

    #[test]
    fn the_message_is_the_fallback() {
        assert_eq!(
            expected_actual(None, "assert 4 == 5"),
            Some(("5".into(), "4".into()))
        );
        assert_eq!(
            expected_actual(
                None,
                "values differ\nassert 'abc' == 'abd'\n  \n  - abd\n  + abc"
            ),
            Some(("'abd'".into(), "'abc'".into()))
        );
        // Ambiguous or possibly shortened: nothing rather than something wrong.
        assert_eq!(expected_actual(None, "assert a == b == c"), None);
        assert_eq!(expected_actual(None, "assert x"), None);
        let long = format!("assert '{}' == 'b'", "a".repeat(300));
        assert_eq!(expected_actual(None, &long), None);
    }

    #[test]
    fn huge_values_are_capped_on_a_char_boundary() {
        let big = "é".repeat(VALUE_CAP);
        let c = Compare {
            op: "==",
            left: &big,
            right: "1",
        };
        let (_, actual) = expected_actual(Some(&c), "assert 'é…' == 1").unwrap();
        assert!(actual.len() < VALUE_CAP + 40, "{}", actual.len());
        assert!(actual.ends_with("more bytes)"), "{actual}");
    }
}
