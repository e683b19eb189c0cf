//! PLACEHOLDER replaced by the panic-parser branch.
use crate::model::{Category, Failure};
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    Code(i32),
    Signal(i32),
}
pub fn parse_failure(
    _test_name: &str,
    _stdout: &[u8],
    stderr: &[u8],
    exit: ExitKind,
    json_message: Option<&str>,
) -> Failure {
    Failure {
        category: Category::RuntimeError,
        message: json_message.map(str::to_owned).unwrap_or_else(|| {
            format!(
                "{exit:?} {}",
                String::from_utf8_lossy(stderr).lines().next().unwrap_or("")
            )
        }),
        ..Failure::default()
    }
}
pub fn signal_name(sig: i32) -> String {
    format!("signal {sig}")
}
