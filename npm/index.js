'use strict';
// jest-testflow: a Jest reporter that hands every result to the testflow engine.
// Thin on purpose: it flattens Jest's objects into strings and numbers; what they mean
// (ids, outcomes, categories, retries, crashes) is decided in the engine
// (cargo-testflow/src/frameworks/jest.rs). Calls are synchronous and never throw; an
// engine error fails the run through getLastError().
const { load, cleanError } = require('./native');

/** `{junit: 'a.xml'}`, `'junit=a.xml,json=b.json'` or `['junit=a.xml']` → `'junit=a.xml,…'`. */
function reportList(reports) {
  if (!reports) return undefined;
  if (typeof reports === 'string') return reports;
  if (Array.isArray(reports)) return reports.join(',');
  return Object.entries(reports)
    .map(([format, file]) => `${format}=${file}`)
    .join(',');
}

function flatten(file, r) {
  return {
    file,
    ancestorTitles: r.ancestorTitles || [],
    title: r.title,
    status: r.status,
    durationMs: typeof r.duration === 'number' ? r.duration : undefined,
    failureMessages: r.failureMessages && r.failureMessages.length ? r.failureMessages : undefined,
    failureDetailsJson: detailsJson(r.failureDetails),
    invocations: typeof r.invocations === 'number' ? r.invocations : undefined,
    line: r.location ? r.location.line : undefined,
    column: r.location ? r.location.column : undefined,
  };
}

function detailsJson(details) {
  if (!details || details.length === 0) return undefined;
  try {
    return JSON.stringify(details);
  } catch {
    return undefined; // circular: the messages still carry the text
  }
}

function execErrorText(e) {
  if (!e) return undefined;
  const message = e.message || '';
  const stack = e.stack || '';
  if (!stack) return message || undefined;
  return stack.includes(message) ? stack : `${message}\n${stack}`;
}

class TestflowReporter {
  constructor(globalConfig, options, _context) {
    const opts = options || {};
    const native = load();
    this._recorder = new native.Recorder({
      rootDir: opts.rootDir || globalConfig.rootDir,
      reports: reportList(opts.reports),
      // `jest --shard K/N`: the run records which shard it is (the sequencer picks its files).
      shard: globalConfig.shard ? `${globalConfig.shard.shardIndex}/${globalConfig.shard.shardCount}` : undefined,
    });
    this._error = undefined;
    this._silent = Boolean(opts.silent);
    this._check();
  }

  _check() {
    if (this._error) return;
    const message = this._recorder.getLastError();
    if (message) {
      this._error = cleanError(message);
      // Jest fails the run on getLastError() but never shows the error: say it once.
      process.stderr.write(`${message}\n`);
    }
  }

  onTestCaseStart(test, info) {
    this._recorder.caseStarted(test.path, info.ancestorTitles || [], info.title);
  }

  onTestCaseResult(test, result) {
    this._recorder.caseResult(flatten(test.path, result));
  }

  onTestFileResult(test, testResult) {
    const file = testResult.testFilePath || test.path;
    this._recorder.fileResult(
      file,
      (testResult.testResults || []).map((r) => flatten(file, r)),
      execErrorText(testResult.testExecError),
    );
  }

  onRunComplete(_contexts, results) {
    if (results && results.runExecError) {
      this._recorder.runError('jest', execErrorText(results.runExecError) || 'Jest failed to run');
    }
    const interrupted = Boolean(results && results.wasInterrupted);
    const summary = this._recorder.finish(!interrupted, interrupted ? 'interrupted' : undefined);
    this._check();
    if (summary && summary.runDir && !this._silent) {
      process.stderr.write(`testflow: run recorded in ${summary.runDir}\n`);
    }
  }

  getLastError() {
    this._check();
    return this._error;
  }
}

module.exports = TestflowReporter;
module.exports.default = TestflowReporter;
module.exports.TestflowReporter = TestflowReporter;
