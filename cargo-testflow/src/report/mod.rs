//! PLACEHOLDER: replaced by the reports branch.
use crate::model::Run;
use std::path::PathBuf;
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportFormat {
    Json,
    Junit,
}
impl ReportFormat {
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        match s {
            "json" => Ok(Self::Json),
            "junit" => Ok(Self::Junit),
            _ => anyhow::bail!("bad format"),
        }
    }
}
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportSpec {
    pub format: ReportFormat,
    pub path: PathBuf,
}
impl ReportSpec {
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        let (f, p) = s
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("want FORMAT=PATH"))?;
        Ok(Self {
            format: ReportFormat::parse(f)?,
            path: p.into(),
        })
    }
}
pub fn render(run: &Run, _format: ReportFormat) -> anyhow::Result<Vec<u8>> {
    Ok(serde_json::to_vec_pretty(run)?)
}
pub fn write(run: &Run, spec: &ReportSpec) -> anyhow::Result<()> {
    crate::store::write_atomic(&spec.path, &render(run, spec.format)?)
}
