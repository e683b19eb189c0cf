use std::borrow::Cow;

use anyhow::{Context, Result};

use crate::model::{Run, error_kind};

/// The run itself (`report --format json` reads back as the stored run), except when its
/// stored summary contradicts its tests: then the summary is recounted and the mismatch
/// is one of its `errors`, so a reader that looks only at `summary` never sees a false
/// pass and the file reads back exactly as distrusted. (An unfinished run already says
/// so: `completed: false`.)
pub(super) fn render(run: &Run) -> Result<Vec<u8>> {
    let mismatch = run
        .distrust_errors()
        .into_iter()
        .filter(|e| e.kind == error_kind::SUMMARY_MISMATCH)
        .find(|e| !run.errors.contains(e));
    let run = match mismatch {
        None => Cow::Borrowed(run),
        Some(e) => {
            let mut honest = run.clone();
            honest.summary = run.recomputed_summary();
            honest.errors.push(e);
            Cow::Owned(honest)
        }
    };
    let mut out =
        serde_json::to_vec_pretty(run.as_ref()).context("cannot serialize the run as JSON")?;
    out.push(b'\n');
    Ok(out)
}
