//! JavaScript and TypeScript sources for tree-sitter: which grammar a file's extension
//! needs. Shared by coverage gaps and the Vitest test locator.

use std::path::Path;

/// The grammar a JS-family file is parsed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsDialect {
    JavaScript,
    TypeScript,
    Tsx,
}

impl JsDialect {
    /// The dialect of a file, from its extension (JSX is in the JavaScript grammar).
    pub fn of(path: &str) -> Option<JsDialect> {
        let ext = Path::new(path).extension()?.to_str()?;
        Some(match ext {
            "js" | "jsx" | "mjs" | "cjs" => JsDialect::JavaScript,
            "ts" | "mts" | "cts" => JsDialect::TypeScript,
            "tsx" => JsDialect::Tsx,
            _ => return None,
        })
    }

    pub fn grammar(self) -> tree_sitter::Language {
        match self {
            JsDialect::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            JsDialect::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            JsDialect::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
        }
    }
}
