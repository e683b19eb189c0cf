//! `testflow._native`: the testflow engine for Python. Thin: types and calls only; the
//! pytest rules live in `testflow::frameworks::pytest`.

use std::path::PathBuf;

use pyo3::exceptions::{PyException, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple, PyType};

use testflow::error::{Error as EngineError, Kind};
use testflow::frameworks::pytest::compare::Compare;
use testflow::frameworks::pytest::recorder::PytestRecorder;
use testflow::frameworks::pytest::{Phase, PytestVerdict, safe_text};
use testflow::model::Run;
use testflow::report::{self, ReportSpec};

/// The exception classes: `TestflowError` and a subclass per engine error kind
/// (`testflow::error::Kind`); each exception raised has the kind's `code`.
struct Exceptions {
    base: Py<PyType>,
    by_kind: Vec<(Kind, Py<PyType>)>,
}

static EXCEPTIONS: PyOnceLock<Exceptions> = PyOnceLock::new();

/// Python's name for each kind's class. Each class is also the builtin this module raised
/// before it had its own (`ValueError` for a bad argument, `RuntimeError` otherwise), so
/// `except ValueError` keeps working.
fn class_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Config => "ConfigError",
        Kind::Metadata | Kind::Build | Kind::Environment => "BuildError",
        Kind::NoTests => "NoTestsError",
        Kind::NotFound => "NotFoundError",
        Kind::GateFailed => "GateFailedError",
        Kind::RunRecord => "RunRecordError",
        Kind::Interrupted | Kind::Internal => "InternalError",
    }
}

fn exceptions(py: Python<'_>) -> PyResult<&'static Exceptions> {
    fn new_class<'py>(
        py: Python<'py>,
        name: &str,
        bases: Vec<Bound<'py, PyType>>,
    ) -> PyResult<Bound<'py, PyType>> {
        let attrs = PyDict::new(py);
        attrs.set_item("__module__", "testflow")?;
        py.get_type::<PyType>()
            .call1((name, PyTuple::new(py, bases)?, attrs))?
            .cast_into::<PyType>()
            .map_err(PyErr::from)
    }
    EXCEPTIONS.get_or_try_init(py, || {
        let base = new_class(py, "TestflowError", vec![py.get_type::<PyException>()])?;
        let mut made: Vec<(&str, Py<PyType>)> = Vec::new();
        let mut by_kind = Vec::new();
        for kind in Kind::ALL {
            let name = class_of(kind);
            let class = match made.iter().find(|(n, _)| *n == name) {
                Some((_, c)) => c.clone_ref(py),
                None => {
                    let builtin = if kind == Kind::Config {
                        py.get_type::<PyValueError>()
                    } else {
                        py.get_type::<PyRuntimeError>()
                    };
                    let c = new_class(py, name, vec![base.clone(), builtin])?;
                    made.push((name, c.clone().unbind()));
                    c.unbind()
                }
            };
            by_kind.push((kind, class));
        }
        Ok(Exceptions {
            base: base.unbind(),
            by_kind,
        })
    })
}

/// The engine's error as the exception of its kind (the message as the engine wrote it;
/// everything but a bad argument starts with `testflow: `, as before).
fn raise(e: EngineError) -> PyErr {
    Python::attach(|py| {
        let kind = e.kind();
        let message = match kind {
            Kind::Config => e.to_string(),
            _ => format!("testflow: {e}"),
        };
        match exceptions(py) {
            Ok(x) => {
                let class = x
                    .by_kind
                    .iter()
                    .find(|(k, _)| *k == kind)
                    .map_or(&x.base, |(_, c)| c);
                let err = PyErr::from_type(class.bind(py).clone(), message);
                match err.value(py).setattr("code", kind.code()) {
                    Ok(()) => err,
                    Err(e) => e,
                }
            }
            Err(err) => err,
        }
    })
}

/// A failed call into the engine: sorted by the engine (`Error::recording`).
fn runtime(e: anyhow::Error) -> PyErr {
    raise(EngineError::recording(e))
}

/// A bad argument: `ConfigError` (a `ValueError`).
fn invalid(e: anyhow::Error) -> PyErr {
    raise(EngineError::config(e))
}

/// Any text from Python, as bytes: a `str` (lone surrogates too: a message built with
/// `surrogateescape`, a file name that is not UTF-8) as its `surrogateescape` bytes
/// (`surrogatepass` for surrogates that are not escaped bytes), `bytes` as they are,
/// anything else as `str(obj)`. Never fails on content, so a hook never raises over text.
struct Text(Vec<u8>);

impl Text {
    fn str(&self) -> String {
        safe_text(&self.0)
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for Text {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Text> {
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(Text(b.as_bytes().to_vec()));
        }
        let s = match obj.cast::<PyString>() {
            Ok(s) => s.to_owned(),
            Err(_) => obj.str()?,
        };
        if let Ok(t) = s.to_str() {
            return Ok(Text(t.as_bytes().to_vec()));
        }
        for errors in ["surrogateescape", "surrogatepass"] {
            if let Ok(b) = s.call_method1("encode", ("utf-8", errors))
                && let Ok(b) = b.cast::<PyBytes>()
            {
                return Ok(Text(b.as_bytes().to_vec()));
            }
        }
        Ok(Text(s.to_string_lossy().into_owned().into_bytes()))
    }
}

fn text(t: &Option<Text>) -> Option<String> {
    t.as_ref().map(Text::str)
}

fn bytes(t: &Option<Text>) -> Option<&[u8]> {
    t.as_ref().map(|t| t.0.as_slice())
}

/// The text made safe for the schema (`\xNN` for bytes that are not UTF-8), as the
/// engine would record it: node ids sent over xdist's channel must match.
#[pyfunction]
fn safe(t: Text) -> String {
    t.str()
}

/// A pytest session being recorded. One per process, alive for the whole session.
#[pyclass(frozen, module = "testflow._native")]
struct Recorder {
    inner: PytestRecorder,
}

#[pymethods]
impl Recorder {
    /// Start recording. `reports` are `FORMAT=PATH` entries (comma lists allowed);
    /// `TESTFLOW_EVENTS` / `TESTFLOW_REPORT` come from the environment. A bad report
    /// spec raises ValueError; an unwritable state directory raises RuntimeError.
    /// `selection`: when it shards, the run records which shard it is.
    #[new]
    #[pyo3(signature = (root, reports = Vec::new(), selection = None))]
    fn new(
        root: PathBuf,
        reports: Vec<String>,
        selection: Option<PyRef<'_, Selection>>,
    ) -> PyResult<Recorder> {
        // A bad report spec (here, in TESTFLOW_REPORT or the file) is the engine's
        // `Invalid` setting: ConfigError.
        let shard = selection.and_then(|s| s.inner.shard_info());
        let inner = PytestRecorder::start(&root, &reports, shard).map_err(runtime)?;
        Ok(Recorder { inner })
    }

    /// The run directory (`.testflow/runs/<id>`), or the directory of the driver's log.
    #[getter]
    fn run_dir(&self) -> Option<String> {
        self.inner
            .recorder()
            .run_dir()
            .map(|p| p.to_string_lossy().into_owned())
    }

    #[getter]
    fn events_path(&self) -> String {
        self.inner
            .recorder()
            .events_path()
            .to_string_lossy()
            .into_owned()
    }

    /// `[(nodeid, 0-based line or None)]` of the collected tests.
    fn collected(&self, items: Vec<(Text, Option<u32>)>) {
        self.inner
            .collected(items.into_iter().map(|(id, l)| (id.str(), l)).collect());
    }

    /// `pytest_runtest_logstart`; `line` is pytest's 0-based `location[1]`.
    #[pyo3(signature = (nodeid, line = None))]
    fn logstart(&self, nodeid: Text, line: Option<u32>) -> PyResult<()> {
        self.inner.logstart(&nodeid.str(), line).map_err(runtime)
    }

    /// One `TestReport`, as plain fields.
    #[pyo3(signature = (nodeid, when, outcome, duration, wasxfail = None, exc_type = None,
        message = None, crash_file = None, crash_line = None, longrepr = None,
        stdout = None, stderr = None, log = None, subtest = None, compare = None))]
    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        nodeid: Text,
        when: Text,
        outcome: Text,
        duration: f64,
        wasxfail: Option<Text>,
        exc_type: Option<Text>,
        message: Option<Text>,
        crash_file: Option<Text>,
        crash_line: Option<u32>,
        longrepr: Option<Text>,
        stdout: Option<Text>,
        stderr: Option<Text>,
        log: Option<Text>,
        subtest: Option<Text>,
        compare: Option<(Text, Text, Text)>,
    ) -> PyResult<()> {
        let (nodeid, when, outcome) = (nodeid.str(), when.str(), outcome.str());
        let compare = compare.map(|(op, l, r)| (op.str(), l.str(), r.str()));
        let (wasxfail, exc_type, message) = (text(&wasxfail), text(&exc_type), text(&message));
        let (crash_file, longrepr, subtest) = (text(&crash_file), text(&longrepr), text(&subtest));
        self.inner
            .report(&Phase {
                nodeid: &nodeid,
                when: &when,
                outcome: &outcome,
                duration,
                wasxfail: wasxfail.as_deref(),
                exc_type: exc_type.as_deref(),
                message: message.as_deref(),
                crash_file: crash_file.as_deref(),
                crash_line,
                longrepr: longrepr.as_deref(),
                stdout: bytes(&stdout),
                stderr: bytes(&stderr),
                log: bytes(&log),
                subtest: subtest.as_deref(),
                compare: compare
                    .as_ref()
                    .map(|(op, left, right)| Compare { op, left, right }),
            })
            .map_err(runtime)
    }

    fn logfinish(&self, nodeid: Text) -> PyResult<()> {
        self.inner.logfinish(&nodeid.str()).map_err(runtime)
    }

    /// A failed `CollectReport` (import error, syntax error).
    #[pyo3(signature = (nodeid, exc_type, message, longrepr))]
    fn collect_error(
        &self,
        nodeid: Text,
        exc_type: Option<Text>,
        message: Text,
        longrepr: Text,
    ) -> PyResult<()> {
        self.inner
            .collect_error(
                &nodeid.str(),
                text(&exc_type).as_deref(),
                &message.str(),
                &longrepr.str(),
            )
            .map_err(runtime)
    }

    fn run_error(&self, kind: Text, message: Text) -> PyResult<()> {
        self.inner
            .run_error(&kind.str(), &message.str())
            .map_err(runtime)
    }

    /// `pytest_keyboard_interrupt` (KeyboardInterrupt, `pytest.exit()`): records it; the
    /// tests still running fail as interrupted.
    fn interrupted(&self, message: Text) -> PyResult<()> {
        self.inner.interrupted(&message.str()).map_err(runtime)
    }

    /// End the run, write the reports; returns the summary as a dict. With
    /// `exit_status` (pytest's session status) and `statuses` (`[(nodeid, status)]`, the
    /// word `pytest_report_teststatus` gave each test report), the record is reconciled
    /// with pytest's own verdict first: each disagreement is a `reconcile` run error.
    #[pyo3(signature = (completed = true, reason = None, statuses = None, exit_status = None))]
    fn finish<'py>(
        &self,
        py: Python<'py>,
        completed: bool,
        reason: Option<Text>,
        statuses: Option<Vec<(Text, Text)>>,
        exit_status: Option<i32>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let reason = text(&reason);
        let verdict = exit_status.map(|exit_status| PytestVerdict {
            reports: statuses
                .unwrap_or_default()
                .into_iter()
                .map(|(id, s)| (id.str(), s.str()))
                .collect(),
            exit_status,
        });
        let run = py
            .detach(|| {
                self.inner
                    .finish(completed, reason.as_deref(), verdict.as_ref())
            })
            .map_err(runtime)?;
        let d = summary_dict(py, &run)?;
        // The configured gates, judged by the engine as `cargo testflow run` judges (an
        // owned run only): the plugin fails the session on a failed one.
        match self.inner.gate_report(&run) {
            Some(g) => {
                let gate = PyDict::new(py);
                gate.set_item("passed", g.passed)?;
                gate.set_item("text", testflow::gate::render_human(&g))?;
                d.set_item("gate", gate)?;
            }
            None => d.set_item("gate", py.None())?,
        }
        Ok(d)
    }
}

/// Which collected tests this process runs, and in what order: the shard, `--last-failed`
/// and the order, decided by the engine (`testflow::selection`). Built once in the process
/// that owns the session (it reads history); xdist workers get it as JSON.
#[pyclass(frozen, module = "testflow._native")]
struct Selection {
    inner: testflow::selection::Selection,
}

#[pymethods]
impl Selection {
    /// `shard` is `K/N`; with `shard_from_env`, `TESTFLOW_SHARD` and the CI's variables are
    /// read when `shard` is not given. `strategy` is timings, hash or count (default:
    /// timings when history has durations, else hash); `order` is default, failed-first,
    /// slowest-first or fastest-first (not given: `$TESTFLOW_ORDER`; `last_failed` also
    /// from `$TESTFLOW_LAST_FAILED`, resolved by `testflow::settings::order`). Bad values
    /// raise ValueError.
    #[new]
    #[pyo3(signature = (root, shard = None, strategy = None, order = None, last_failed = false, shard_from_env = false))]
    fn new(
        py: Python<'_>,
        root: PathBuf,
        shard: Option<&str>,
        strategy: Option<&str>,
        order: Option<&str>,
        last_failed: bool,
        shard_from_env: bool,
    ) -> PyResult<Selection> {
        use testflow::shard::{ShardSpec, Strategy};
        let spec = match shard {
            Some(s) => Some(ShardSpec::parse(s).map_err(invalid)?),
            None if shard_from_env => ShardSpec::from_process_env().map_err(invalid)?,
            None => None,
        };
        let strategy = strategy.map(Strategy::parse).transpose().map_err(invalid)?;
        let order = order
            .map(testflow::session::Order::parse)
            .transpose()
            .map_err(invalid)?;
        // The engine resolves the order for every door: the option, else $TESTFLOW_ORDER
        // (and $TESTFLOW_LAST_FAILED).
        let (order, last_failed) =
            testflow::settings::order(order, last_failed).map_err(invalid)?;
        let inner = py.detach(|| {
            testflow::selection::Selection::new(&root, spec, strategy, order, last_failed)
        });
        Ok(Selection { inner })
    }

    #[staticmethod]
    fn from_json(s: &str) -> PyResult<Selection> {
        let inner = testflow::selection::Selection::from_json(s).map_err(invalid)?;
        Ok(Selection { inner })
    }

    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    /// Does it change the collected tests at all?
    #[getter]
    fn active(&self) -> bool {
        self.inner.is_active()
    }

    /// `(K, N, strategy)` when sharding.
    #[getter]
    fn shard(&self) -> Option<(u32, u32, String)> {
        self.inner
            .shard_info()
            .map(|s| (s.index, s.total, s.strategy.to_string()))
    }

    /// Indices of `nodeids` to run, in order, and lines for the terminal.
    fn apply(&self, py: Python<'_>, nodeids: Vec<String>) -> (Vec<usize>, Vec<String>) {
        py.detach(|| {
            let a = self.inner.apply(&nodeids, testflow::selection::Grain::Test);
            (a.keep, a.notes)
        })
    }
}

fn summary_dict<'py>(py: Python<'py>, run: &Run) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let s = &run.summary;
    for (k, v) in [
        ("total", s.total),
        ("passed", s.passed),
        ("failed", s.failed),
        ("error", s.error),
        ("skipped", s.skipped),
        ("xfailed", s.xfailed),
        ("xpassed", s.xpassed),
        ("timeout", s.timeout),
        ("crashed", s.crashed),
        ("flaky", s.flaky),
    ] {
        d.set_item(k, v)?;
    }
    d.set_item("duration_ms", s.duration_ms)?;
    d.set_item("run_id", &run.run_id)?;
    // Why the run is not a pass beyond its tests (run errors, not completed).
    d.set_item("distrust", run.distrust())?;
    // The engine's verdict on the tests: failures that count (quarantined ones do not),
    // and the quarantined tests that failed.
    let counted = run.verdict_summary().failures();
    d.set_item("counted_failures", counted)?;
    d.set_item("quarantined_failures", s.failures().saturating_sub(counted))?;
    Ok(d)
}

/// Check `FORMAT=PATH[,FORMAT=PATH…]`; returns `[(format, path)]` or raises ValueError.
#[pyfunction]
fn parse_reports(spec: &str) -> PyResult<Vec<(String, String)>> {
    Ok(testflow::recorder::parse_report_list(spec)
        .map_err(invalid)?
        .into_iter()
        .map(|r| {
            (
                r.format.name().to_owned(),
                r.path.to_string_lossy().into_owned(),
            )
        })
        .collect())
}

/// Write a report (`FORMAT=PATH`) from a recorded run: a run directory, `run.json`
/// or `events.jsonl` (an unfinished log is folded: a crashed test shows as crashed).
#[pyfunction]
fn write_report(py: Python<'_>, run: PathBuf, spec: &str) -> PyResult<()> {
    let spec = ReportSpec::parse(spec).map_err(invalid)?;
    py.detach(|| {
        let run = testflow::store::load_run(&run)?;
        report::write(&run, &spec)
    })
    .map_err(runtime)
}

/// The run (schema: docs/schema.md) as a JSON string, from a run directory, `run.json`
/// or `events.jsonl`.
#[pyfunction]
fn load_run(py: Python<'_>, run: PathBuf) -> PyResult<String> {
    py.detach(|| {
        let run = testflow::store::load_run(&run)?;
        serde_json_string(&run)
    })
    .map_err(runtime)
}

fn serde_json_string(run: &Run) -> anyhow::Result<String> {
    let bytes = report::render(run, report::ReportFormat::Json)?;
    Ok(String::from_utf8(bytes)?)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Recorder>()?;
    m.add_class::<Selection>()?;
    m.add_function(wrap_pyfunction!(parse_reports, m)?)?;
    m.add_function(wrap_pyfunction!(safe, m)?)?;
    m.add_function(wrap_pyfunction!(write_report, m)?)?;
    m.add_function(wrap_pyfunction!(load_run, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    let x = exceptions(m.py())?;
    m.add("TestflowError", x.base.clone_ref(m.py()))?;
    for (_, class) in &x.by_kind {
        let name: String = class.bind(m.py()).getattr("__name__")?.extract()?;
        m.add(name.as_str(), class.clone_ref(m.py()))?;
    }
    Ok(())
}
