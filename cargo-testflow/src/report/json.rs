use anyhow::{Context, Result};

use crate::model::Run;

pub(super) fn render(run: &Run) -> Result<Vec<u8>> {
    let mut out = serde_json::to_vec_pretty(run).context("cannot serialize the run as JSON")?;
    out.push(b'\n');
    Ok(out)
}
