//! `cargo testflow quarantine add|remove`: entries written into the configuration file.

use std::path::Path;

use anyhow::{Context, Result, bail};

/// The keys leading to the testflow table in `path` (by its name).
fn table_path(path: &Path, doc: &toml_edit::DocumentMut) -> Result<Vec<&'static str>> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    Ok(match name {
        "Cargo.toml" => {
            if doc
                .get("workspace")
                .and_then(|w| w.get("metadata"))
                .and_then(|m| m.get("testflow"))
                .is_some()
                || doc.get("package").is_none()
            {
                vec!["workspace", "metadata", "testflow"]
            } else {
                vec!["package", "metadata", "testflow"]
            }
        }
        "pyproject.toml" => vec!["tool", "testflow"],
        "package.json" => bail!(
            "{}: `quarantine add` and `remove` edit TOML files only; add the entry to the \"testflow\".\"quarantine\" array by hand",
            path.display()
        ),
        _ => vec![],
    })
}

fn read_doc(path: &Path) -> Result<toml_edit::DocumentMut> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    text.parse::<toml_edit::DocumentMut>()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The testflow table of `doc`, created (as implicit tables) when missing.
fn testflow_table<'d>(
    doc: &'d mut toml_edit::DocumentMut,
    keys: &[&str],
    path: &Path,
) -> Result<&'d mut toml_edit::Table> {
    let mut t = doc.as_table_mut();
    for k in keys {
        let item = t.entry(k).or_insert_with(|| {
            let mut n = toml_edit::Table::new();
            n.set_implicit(true);
            toml_edit::Item::Table(n)
        });
        t = item
            .as_table_mut()
            .with_context(|| format!("{}: `{k}` is not a table", path.display()))?;
    }
    Ok(t)
}

/// What `add` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    New,
    Replaced,
}

/// Add (or replace, by the same id or pattern) an entry in the configuration file,
/// keeping the rest of the file (comments, order, formatting) as it is.
pub fn add(path: &Path, rule: &crate::config::QuarantineRule) -> Result<Added> {
    let mut doc = read_doc(path)?;
    let keys = table_path(path, &doc)?;
    let table = testflow_table(&mut doc, &keys, path)?;
    let mut fresh = toml_edit::Table::new();
    let key = if rule.id.is_some() { "id" } else { "pattern" };
    let target = rule
        .id
        .clone()
        .or_else(|| rule.pattern.clone())
        .unwrap_or_default();
    fresh.insert(key, toml_edit::value(target.clone()));
    fresh.insert(
        "reason",
        toml_edit::value(rule.reason.clone().unwrap_or_default()),
    );
    if let Some(u) = &rule.until {
        fresh.insert("until", toml_edit::value(u.clone()));
    }
    let same =
        |t: &dyn toml_edit::TableLike| t.get(key).and_then(|v| v.as_str()) == Some(target.as_str());
    let added = match table.get_mut("quarantine") {
        None => {
            let mut aot = toml_edit::ArrayOfTables::new();
            aot.push(fresh);
            table.insert("quarantine", toml_edit::Item::ArrayOfTables(aot));
            Added::New
        }
        Some(toml_edit::Item::ArrayOfTables(aot)) => {
            let found = aot.iter().position(|t| same(t));
            match found.and_then(|i| aot.get_mut(i)) {
                Some(t) => {
                    for k in ["id", "pattern", "reason", "until"] {
                        t.remove(k);
                    }
                    for (k, v) in fresh.iter() {
                        t.insert(k, v.clone());
                    }
                    Added::Replaced
                }
                None => {
                    aot.push(fresh);
                    Added::New
                }
            }
        }
        Some(item) => {
            let arr = item.as_array_mut().with_context(|| {
                format!(
                    "{}: `quarantine` is neither [[quarantine]] tables nor an array",
                    path.display()
                )
            })?;
            let inline = fresh.into_inline_table();
            let found = arr
                .iter_mut()
                .filter_map(|v| v.as_inline_table_mut())
                .find(|t| same(*t));
            match found {
                Some(t) => {
                    *t = inline;
                    Added::Replaced
                }
                None => {
                    arr.push(inline);
                    Added::New
                }
            }
        }
    };
    write_atomic(path, &doc.to_string())?;
    Ok(added)
}

/// Remove the entries whose id or pattern is `target`; how many were removed.
pub fn remove(path: &Path, target: &str) -> Result<usize> {
    let mut doc = read_doc(path)?;
    let keys = table_path(path, &doc)?;
    let table = testflow_table(&mut doc, &keys, path)?;
    let is_it = |t: &dyn toml_edit::TableLike| {
        ["id", "pattern"]
            .iter()
            .any(|k| t.get(k).and_then(|v| v.as_str()) == Some(target))
    };
    let mut removed = 0;
    let mut now_empty = false;
    match table.get_mut("quarantine") {
        Some(toml_edit::Item::ArrayOfTables(aot)) => {
            let before = aot.len();
            aot.retain(|t| !is_it(t));
            removed = before - aot.len();
            now_empty = aot.is_empty();
        }
        Some(item) => {
            if let Some(arr) = item.as_array_mut() {
                let before = arr.len();
                arr.retain(|v| !v.as_inline_table().is_some_and(|t| is_it(t)));
                removed = before - arr.len();
                now_empty = arr.is_empty();
            }
        }
        None => {}
    }
    if now_empty {
        table.remove("quarantine");
    }
    if removed > 0 {
        write_atomic(path, &doc.to_string())?;
    }
    Ok(removed)
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let Some(path) = crate::files::replace_target(path) else {
        return std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()));
    };
    let path = path.as_path();
    let tmp = path.with_extension("toml.testflow-tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
