//! Finding a test id someone typed: exact, else what they probably meant.
//!
//! Rust ids hold a `$` (`calc::integ$adds`), which a shell expands when the id is not
//! quoted: `calc::integ$adds` unquoted arrives as `calc::integ`. So an id that is not
//! found is also compared with what a shell would have made of each known id.

/// How many close matches a "not found" message lists.
pub const MAX_SUGGESTIONS: usize = 5;

/// What a shell makes of `id` unquoted: each `$name` (and `$0`…`$9`) expands to nothing
/// (when the variable is unset, as `$tests` is).
pub fn shell_expanded(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    let mut chars = id.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            Some(d) if d.is_ascii_digit() => {
                chars.next();
            }
            Some(n) if n.is_ascii_alphabetic() || *n == '_' => {
                while chars
                    .peek()
                    .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '_')
                {
                    chars.next();
                }
            }
            _ => out.push('$'),
        }
    }
    out
}

/// `id` as one shell word: in single quotes when it holds anything a shell would change.
pub fn shell_quoted(id: &str) -> String {
    let plain = id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-:./@#=+,".contains(c));
    if plain {
        id.to_owned()
    } else {
        format!("'{}'", id.replace('\'', r"'\''"))
    }
}

/// Levenshtein distance over chars, stopping early once it exceeds `cap`.
fn distance(a: &str, b: &str, cap: usize) -> Option<usize> {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > cap {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        if cur.iter().min().is_some_and(|m| *m > cap) {
            return None;
        }
        prev = cur;
    }
    prev.last().copied().filter(|d| *d <= cap)
}

/// Suggestions for an id that was not found among `known`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Suggestions {
    /// Known ids that a shell turns into the query (an unquoted `$`).
    pub unquoted: Vec<String>,
    /// Known ids that contain the query, or are a few edits from it, closest first.
    pub close: Vec<String>,
}

pub fn suggest<'a>(query: &str, known: impl IntoIterator<Item = &'a str>) -> Suggestions {
    let q = query.to_lowercase();
    let cap = (query.chars().count() / 3).max(2);
    let mut unquoted = Vec::new();
    let mut scored: Vec<(usize, usize, &str)> = Vec::new();
    for id in known {
        if id.contains('$') && shell_expanded(id) == query {
            unquoted.push(id.to_owned());
            continue;
        }
        let lower = id.to_lowercase();
        if !q.is_empty() && lower.contains(&q) {
            // A part of the id: the shortest ids that contain it first.
            scored.push((0, id.len(), id));
        } else if let Some(d) = distance(&q, &lower, cap) {
            scored.push((1, d, id));
        } else if let Some(d) = distance(&q, &shell_expanded(&lower), cap) {
            scored.push((1, d, id));
        }
    }
    scored.sort();
    scored.dedup_by(|a, b| a.2 == b.2);
    unquoted.sort();
    unquoted.dedup();
    Suggestions {
        unquoted,
        close: scored
            .into_iter()
            .take(MAX_SUGGESTIONS)
            .map(|(_, _, id)| id.to_owned())
            .collect(),
    }
}

/// "no test `q` …" with what the user probably meant, for an error message.
pub fn not_found(what: &str, query: &str, known: &[String]) -> String {
    let s = suggest(query, known.iter().map(String::as_str));
    let mut msg = format!("no test `{query}` {what}");
    for id in &s.unquoted {
        msg.push_str(&format!(
            "\n  did you mean {}? A shell drops an unquoted `$name`: put test ids in single quotes",
            shell_quoted(id)
        ));
    }
    if !s.close.is_empty() {
        msg.push_str("\n  closest recorded ids:");
        for id in &s.close {
            msg.push_str(&format!("\n    {}", shell_quoted(id)));
        }
    } else if s.unquoted.is_empty() {
        msg.push_str(&format!(
            "\n  no recorded id is close to it ({} ids recorded)",
            known.len()
        ));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_shell_drops_dollar_words() {
        assert_eq!(shell_expanded("calc$tests::adds"), "calc::adds");
        assert_eq!(shell_expanded("calc::integ$adds"), "calc::integ");
        assert_eq!(shell_expanded("a$1b"), "ab");
        assert_eq!(shell_expanded("cost $ 5$"), "cost $ 5$");
        assert_eq!(shell_quoted("calc::integ$adds"), "'calc::integ$adds'");
        assert_eq!(
            shell_quoted("tests/test_a.py::test_b"),
            "tests/test_a.py::test_b"
        );
        assert_eq!(shell_quoted("it's"), r"'it'\''s'");
    }

    #[test]
    fn suggests_the_quoted_id_a_part_and_a_typo() {
        let known = ids(&[
            "calc$tests::fails_panic",
            "calc$tests::passes",
            "calc::integ$adds",
        ]);
        let s = suggest("calc::fails_panic", known.iter().map(String::as_str));
        assert_eq!(s.unquoted, ["calc$tests::fails_panic"]);
        let s = suggest("passes", known.iter().map(String::as_str));
        assert_eq!(s.close, ["calc$tests::passes"]);
        let s = suggest("calc::integ$ads", known.iter().map(String::as_str));
        assert_eq!(s.close, ["calc::integ$adds"]);
        let s = suggest("zzz", known.iter().map(String::as_str));
        assert_eq!(s, Suggestions::default());
        let msg = not_found("in run r", "calc::fails_panic", &known);
        assert!(
            msg.contains("did you mean 'calc$tests::fails_panic'?"),
            "{msg}"
        );
        assert!(msg.contains("single quotes"), "{msg}");
    }
}
