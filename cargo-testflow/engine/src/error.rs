//! The errors a command (or a binding's call) ends with: one enum at the boundary, one
//! mapping to exit codes ([`Error::exit_code`]) and one to the names the bindings translate
//! into their own exception types ([`Error::kind`], [`Kind::code`]).
//!
//! Inside the modules errors stay `anyhow` with context. [`Error::from`] sorts an
//! `anyhow::Error` by the marker type in its chain (`MetadataFailed`, `NotRecorded`, …) and
//! keeps the whole error, so the message is exactly what the chain says.

use crate::exit_code;

/// Why a command or a binding's call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad command line, configuration file or argument (exit 2).
    #[error("{0:#}")]
    Config(anyhow::Error),
    /// `cargo metadata` failed: no workspace there, or a broken manifest (exit 101).
    #[error("{0:#}")]
    Metadata(anyhow::Error),
    /// The build failed before any test could run (exit 101).
    #[error("{0:#}")]
    Build(anyhow::Error),
    /// A tool a suite needs is missing or cannot start (exit 101, like a build failure).
    #[error("{0:#}")]
    Environment(anyhow::Error),
    /// No suite and no test to run (exit 4).
    #[error("{0:#}")]
    NoTests(anyhow::Error),
    /// A reading command found nothing of what was asked: no runs yet, an unknown run or
    /// test id (exit 5).
    #[error("{0:#}")]
    NotFound(anyhow::Error),
    /// A required quality gate failed (exit 3); the gates' names.
    #[error("required gates failed: {}", .0.join(", "))]
    GateFailed(Vec<String>),
    /// A run's record (its event log, `run.json`, a report, the state directory) could not
    /// be read or written (exit 1).
    #[error("{0:#}")]
    RunRecord(anyhow::Error),
    /// Stopped by a signal (exit 128 + the signal number).
    #[error("stopped by signal {0}")]
    Interrupted(i32),
    /// testflow itself failed (exit 1).
    #[error("{0:#}")]
    Internal(anyhow::Error),
}

/// The variant of an [`Error`] without its payload: what the bindings translate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Config,
    Metadata,
    Build,
    Environment,
    NoTests,
    NotFound,
    GateFailed,
    RunRecord,
    Interrupted,
    Internal,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Config,
        Kind::Metadata,
        Kind::Build,
        Kind::Environment,
        Kind::NoTests,
        Kind::NotFound,
        Kind::GateFailed,
        Kind::RunRecord,
        Kind::Interrupted,
        Kind::Internal,
    ];

    /// A stable name for the kind, the Node addon's `err.code` and the Python exception's
    /// `code` attribute.
    pub fn code(self) -> &'static str {
        match self {
            Kind::Config => "TESTFLOW_CONFIG",
            Kind::Metadata => "TESTFLOW_METADATA",
            Kind::Build => "TESTFLOW_BUILD",
            Kind::Environment => "TESTFLOW_ENVIRONMENT",
            Kind::NoTests => "TESTFLOW_NO_TESTS",
            Kind::NotFound => "TESTFLOW_NOT_FOUND",
            Kind::GateFailed => "TESTFLOW_GATE_FAILED",
            Kind::RunRecord => "TESTFLOW_RUN_RECORD",
            Kind::Interrupted => "TESTFLOW_INTERRUPTED",
            Kind::Internal => "TESTFLOW_INTERNAL",
        }
    }
}

impl Error {
    /// A bad argument or setting (exit 2).
    pub fn config(e: impl Into<anyhow::Error>) -> Self {
        Error::Config(e.into())
    }

    /// An error while recording or reading a run: sorted like [`Error::from`], and what has
    /// no marker is a [`Error::RunRecord`] rather than [`Error::Internal`].
    pub fn recording(e: anyhow::Error) -> Self {
        classify(e, Error::RunRecord)
    }

    pub fn kind(&self) -> Kind {
        match self {
            Error::Config(_) => Kind::Config,
            Error::Metadata(_) => Kind::Metadata,
            Error::Build(_) => Kind::Build,
            Error::Environment(_) => Kind::Environment,
            Error::NoTests(_) => Kind::NoTests,
            Error::NotFound(_) => Kind::NotFound,
            Error::GateFailed(_) => Kind::GateFailed,
            Error::RunRecord(_) => Kind::RunRecord,
            Error::Interrupted(_) => Kind::Interrupted,
            Error::Internal(_) => Kind::Internal,
        }
    }

    /// The process exit code for this error (the constants of [`exit_code`]).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) => exit_code::USAGE,
            Error::Metadata(_) | Error::Build(_) | Error::Environment(_) => exit_code::BUILD_FAILED,
            Error::NoTests(_) => exit_code::NO_TESTS,
            Error::NotFound(_) => exit_code::NOT_FOUND,
            Error::GateFailed(_) => exit_code::GATE_FAILED,
            Error::Interrupted(signal) => exit_code::for_signal(*signal),
            Error::RunRecord(_) | Error::Internal(_) => exit_code::INTERNAL,
        }
    }
}

/// Sorts by the marker types anywhere in the chain; anything else is [`Error::Internal`].
impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        classify(e, Error::Internal)
    }
}

fn classify(e: anyhow::Error, otherwise: fn(anyhow::Error) -> Error) -> Error {
    use crate::frameworks::EnvironmentError;
    use crate::frameworks::cargo::{BuildFailed, MetadataFailed};
    // An `Error` as it was made (no context added since): itself.
    if e.is::<Error>() && e.chain().count() == 1 {
        return match e.downcast::<Error>() {
            Ok(inner) => inner,
            Err(e) => otherwise(e),
        };
    }
    // Otherwise the whole chain is kept, so the message still has every context.
    if let Some(inner) = e.downcast_ref::<Error>() {
        return match inner {
            Error::Config(_) => Error::Config(e),
            Error::Metadata(_) => Error::Metadata(e),
            Error::Build(_) => Error::Build(e),
            Error::Environment(_) => Error::Environment(e),
            Error::NoTests(_) => Error::NoTests(e),
            Error::NotFound(_) => Error::NotFound(e),
            Error::RunRecord(_) => Error::RunRecord(e),
            // Their messages are their own: the exit code is what must survive.
            Error::GateFailed(names) => Error::GateFailed(names.clone()),
            Error::Interrupted(signal) => Error::Interrupted(*signal),
            Error::Internal(_) => otherwise(e),
        };
    }
    if e.is::<MetadataFailed>() {
        Error::Metadata(e)
    } else if e.is::<BuildFailed>() {
        Error::Build(e)
    } else if e.is::<EnvironmentError>() {
        Error::Environment(e)
    } else if e.is::<crate::session::NothingToRun>() {
        Error::NoTests(e)
    } else if e.is::<crate::store::NotRecorded>() {
        Error::NotFound(e)
    } else if e.is::<crate::settings::Invalid>() {
        Error::Config(e)
    } else {
        otherwise(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn markers_sort_into_their_variant_and_exit_code() {
        let cases: Vec<(anyhow::Error, Kind, i32)> = vec![
            (
                crate::frameworks::cargo::MetadataFailed("no Cargo.toml".into()).into(),
                Kind::Metadata,
                exit_code::BUILD_FAILED,
            ),
            (
                crate::frameworks::cargo::BuildFailed {
                    diagnostics: String::new(),
                }
                .into(),
                Kind::Build,
                exit_code::BUILD_FAILED,
            ),
            (
                crate::frameworks::EnvironmentError("pytest is not installed".into()).into(),
                Kind::Environment,
                exit_code::BUILD_FAILED,
            ),
            (
                crate::session::NothingToRun("/p".into()).into(),
                Kind::NoTests,
                exit_code::NO_TESTS,
            ),
            (
                crate::store::NotRecorded("no runs".into()).into(),
                Kind::NotFound,
                exit_code::NOT_FOUND,
            ),
            (
                Error::config(anyhow::anyhow!("bad key")).into(),
                Kind::Config,
                exit_code::USAGE,
            ),
            (
                anyhow::anyhow!("disk full"),
                Kind::Internal,
                exit_code::INTERNAL,
            ),
        ];
        for (e, kind, code) in cases {
            let shown = format!("{e:#}");
            let err = Error::from(e);
            assert_eq!((err.kind(), err.exit_code()), (kind, code), "{shown}");
            // The message is the chain's, unchanged.
            assert_eq!(err.to_string(), shown);
        }
    }

    #[test]
    fn context_added_on_top_is_kept_in_the_message() {
        let e = Err::<(), _>(crate::store::NotRecorded("run `x` is not recorded".into()))
            .context("show")
            .unwrap_err();
        let err = Error::from(e);
        assert_eq!(err.kind(), Kind::NotFound);
        assert_eq!(err.to_string(), "show: run `x` is not recorded");

        let e = Err::<(), _>(Error::Interrupted(libc::SIGHUP))
            .context("running the tests")
            .unwrap_err();
        assert_eq!(Error::from(e).exit_code(), exit_code::HANGUP);

        let e = Err::<(), _>(Error::config(anyhow::anyhow!("t.toml:3: `run.jobs` = 0")))
            .context("loading the configuration")
            .unwrap_err();
        let err = Error::from(e);
        assert_eq!(err.exit_code(), exit_code::USAGE);
        assert_eq!(
            err.to_string(),
            "loading the configuration: t.toml:3: `run.jobs` = 0"
        );
    }

    #[test]
    fn outcomes_and_recording_errors_have_their_own_codes() {
        assert_eq!(
            Error::GateFailed(vec!["min_tests".into()]).exit_code(),
            exit_code::GATE_FAILED
        );
        assert_ne!(exit_code::GATE_FAILED, exit_code::INTERNAL);
        assert_eq!(
            Error::Interrupted(libc::SIGTERM).exit_code(),
            exit_code::TERMINATED
        );
        let e = Error::recording(anyhow::anyhow!("cannot write .testflow/runs"));
        assert_eq!(
            (e.kind(), e.exit_code()),
            (Kind::RunRecord, exit_code::INTERNAL)
        );
        // A marker still wins over the recording fallback.
        let e = Error::recording(crate::store::NotRecorded("no runs".into()).into());
        assert_eq!(e.kind(), Kind::NotFound);
        let codes: std::collections::HashSet<_> = Kind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(codes.len(), Kind::ALL.len());
    }
}
