'use strict';
// jest-testflow: a Jest reporter that hands every result to the testflow engine.
// Thin on purpose: it flattens Jest's objects into strings and numbers; what they mean
// (ids, outcomes, categories, retries, crashes) is decided in the engine
// (cargo-testflow/engine/src/frameworks/jest/). Calls are synchronous and never throw; an
// engine error fails the run through getLastError().
const fs = require('node:fs');
const path = require('node:path');
const { load, cleanError } = require('./native');

const JEST_PACKAGES = ['jest', 'jest-cli', '@jest/core'];

function readPackage(file) {
  try {
    const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
    return pkg && typeof pkg === 'object' ? pkg : undefined;
  } catch {
    return undefined;
  }
}

/** The version of the Jest running this reporter (undefined when it cannot be told);
 * whether it is supported is the engine's call. */
function jestVersion(rootDir) {
  // `jest` / `npx jest`: the package holding the main script.
  try {
    let dir = path.dirname(fs.realpathSync(require.main.filename));
    for (;;) {
      const pkg = readPackage(path.join(dir, 'package.json'));
      if (pkg) {
        if (JEST_PACKAGES.includes(pkg.name) && typeof pkg.version === 'string') return pkg.version;
        break;
      }
      const up = path.dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  } catch {}
  // Jest started through its API: the project's own Jest.
  for (const name of JEST_PACKAGES) {
    try {
      const pkg = readPackage(require.resolve(`${name}/package.json`, { paths: [rootDir, process.cwd()] }));
      if (pkg && typeof pkg.version === 'string') return pkg.version;
    } catch {}
  }
  return undefined;
}

/** `{junit: 'a.xml'}`, `'junit=a.xml,json=b.json'` or `['junit=a.xml']` → `'junit=a.xml,…'`. */
function reportList(reports) {
  if (!reports) return undefined;
  if (typeof reports === 'string') return reports;
  if (Array.isArray(reports)) return reports.join(',');
  return Object.entries(reports)
    .map(([format, file]) => `${format}=${file}`)
    .join(',');
}

// Text that crosses into Rust must be a well-formed string: the addon's string
// conversion throws on a non-string and replaces lone UTF-16 surrogates. A lone surrogate
// becomes the six characters `\uXXXX` (docs/schema.md); a string over MAX_TEXT is cut in
// the middle with a marker, as captured output is.
const MAX_TEXT = 256 * 1024;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const ANY_SURROGATE = /[\uD800-\uDFFF]/;

function safeText(v) {
  // The usual case, for every test: a string that needs nothing done.
  if (typeof v === 'string' && v.length <= MAX_TEXT && !ANY_SURROGATE.test(v)) return v;
  let s;
  if (typeof v === 'string') s = v;
  else if (v === undefined || v === null) s = '';
  else {
    try {
      s = typeof v === 'symbol' ? v.toString() : String(v);
    } catch {
      s = `[${typeof v} that cannot be shown]`;
    }
    if (typeof s !== 'string') s = `[${typeof v}]`;
  }
  s = s.replace(LONE_SURROGATE, (c) => `\\u${c.charCodeAt(0).toString(16).toUpperCase()}`);
  if (s.length > MAX_TEXT) {
    let head = Math.floor(MAX_TEXT / 4);
    let tail = s.length - (MAX_TEXT - head);
    // Never split a surrogate pair.
    if (/[\uD800-\uDBFF]/.test(s[head - 1])) head -= 1;
    if (/[\uDC00-\uDFFF]/.test(s[tail])) tail += 1;
    s = `${s.slice(0, head)}\n[… testflow cut ${tail - head} characters …]\n${s.slice(tail)}`;
  }
  return s;
}

function optText(v) {
  return v === undefined || v === null ? undefined : safeText(v);
}

function safeTexts(list) {
  return Array.isArray(list) ? list.map(safeText) : [];
}

/** A count or position that fits the addon's u32, else undefined. */
function safeUint(v) {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : undefined;
}

function safeTime(v) {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function safeCount(v) {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
}

/** One AssertionResult as the addon's `caseResultArgs` arguments, in its order. */
function resultArgs(file, r) {
  r = r || {};
  const location = r.location && typeof r.location === 'object' ? r.location : undefined;
  const messages = safeTexts(r.failureMessages);
  return [
    safeText(file),
    safeTexts(r.ancestorTitles),
    safeText(r.title),
    safeText(r.status),
    typeof r.duration === 'number' && Number.isFinite(r.duration) ? r.duration : undefined,
    safeUint(r.invocations),
    location ? safeUint(location.line) : undefined,
    location ? safeUint(location.column) : undefined,
    safeTime(r.startedAt === undefined ? r.startAt : r.startedAt),
    messages.length ? messages : undefined,
    detailsJson(r.failureDetails),
  ];
}

/** One AssertionResult as the addon's `CaseResult` object (`fileResult`'s list). */
function flatten(file, r) {
  const [f, ancestorTitles, title, status, durationMs, invocations, line, column, startedAt, failureMessages, failureDetailsJson] =
    resultArgs(file, r);
  return { file: f, ancestorTitles, title, status, durationMs, failureMessages, failureDetailsJson, invocations, line, column, startedAt };
}

function detailsJson(details) {
  if (!Array.isArray(details) || details.length === 0) return undefined;
  try {
    const json = JSON.stringify(details);
    // Over the cap it is dropped whole (cut JSON is not JSON): the messages carry the text.
    return typeof json === 'string' && json.length <= MAX_TEXT ? safeText(json) : undefined;
  } catch {
    return undefined; // circular or BigInt: the messages still carry the text
  }
}

/** Jest's AggregatedResult as the engine's totals (it compares them with what it recorded). */
function totals(results) {
  const files = Array.isArray(results.testResults) ? results.testResults : [];
  const failedFiles = [];
  const failedToRun = [];
  for (const f of files) {
    if (!f) continue;
    const file = safeText(f.testFilePath);
    if (f.testExecError) {
      failedToRun.push([file, safeText(execErrorText(f.testExecError) || f.failureMessage || 'the test file failed to run')]);
    }
    if (f.testExecError || safeCount(f.numFailingTests) > 0) failedFiles.push(file);
  }
  return {
    numTotalTests: safeCount(results.numTotalTests),
    numPassedTests: safeCount(results.numPassedTests),
    numFailedTests: safeCount(results.numFailedTests),
    numPendingTests: safeCount(results.numPendingTests),
    numTodoTests: safeCount(results.numTodoTests),
    numTotalTestSuites: safeCount(results.numTotalTestSuites),
    numFailedTestSuites: safeCount(results.numFailedTestSuites),
    numRuntimeErrorTestSuites: safeCount(results.numRuntimeErrorTestSuites),
    success: typeof results.success === 'boolean' ? results.success : undefined,
    wasInterrupted: Boolean(results.wasInterrupted),
    snapshotFailure: Boolean(results.snapshot && results.snapshot.failure),
    runExecError: results.runExecError ? safeText(execErrorText(results.runExecError) || 'Jest failed to run') : undefined,
    failedFiles,
    failedToRun,
  };
}

function execErrorText(e) {
  if (!e) return undefined;
  let message = '';
  let stack = '';
  try {
    message = safeText(e.message);
    stack = safeText(e.stack);
  } catch {}
  if (!stack) return message || undefined;
  return stack.includes(message) ? stack : `${message}\n${stack}`;
}

function describe(e) {
  try {
    return safeText((e && (e.stack || e.message)) || e);
  } catch {
    return 'an unprintable exception';
  }
}

class TestflowReporter {
  constructor(globalConfig, options, _context) {
    const opts = options || {};
    const native = load();
    const rootDir = safeText(opts.rootDir || globalConfig.rootDir);
    this._recorder = new native.Recorder({
      rootDir,
      // Without the option the engine takes the project root above Jest's rootDir.
      rootGiven: Boolean(opts.rootDir),
      reports: optText(reportList(opts.reports)),
      // `jest --shard K/N`: the run records which shard it is (the sequencer picks its files).
      shard: globalConfig.shard ? `${globalConfig.shard.shardIndex}/${globalConfig.shard.shardCount}` : undefined,
      // The engine fails the run closed on a Jest it cannot read (or cannot name).
      jestVersion: optText(jestVersion(rootDir)),
    });
    // Jest 24 only calls onTestResult; 26+ call onTestFileResult instead of it. A
    // file result handed over twice (a dispatcher that calls both) is recorded once.
    this._fileResults = new WeakSet();
    this._error = undefined;
    this._silent = Boolean(opts.silent);
    this._finished = false;
    this._check();
    // Jest's process can end without onRunComplete (process.exit in a test running in
    // band): the run must not look complete, and the exit status must not be 0.
    this._onExit = (code) => this._exitedEarly(code);
    process.once('exit', this._onExit);
  }

  _check() {
    if (this._error) return;
    const message = this._recorder.getLastError();
    if (message) {
      this._error = cleanError(message);
      // The engine's error kind (TESTFLOW_CONFIG, TESTFLOW_RUN_RECORD, …), when it is one.
      const code = this._recorder.getLastErrorCode();
      if (code) this._error.code = code;
      // Jest fails the run on getLastError() but never shows the error: say it once.
      process.stderr.write(`${message}\n`);
    }
  }

  /** Run one hook body: an exception never reaches Jest; it is recorded and fails the run.
   * A body that returns `true` (the addon's per-test calls, which return false when they
   * fail and only then leave an error behind) is not followed by a getLastError call. */
  _guard(hook, body) {
    try {
      if (body() === true) return;
    } catch (e) {
      const message = `testflow: jest-testflow's ${hook} failed: ${describe(e)}`;
      try {
        this._recorder.runError('internal', message);
      } catch {}
      if (!this._error) {
        this._error = cleanError(message);
        process.stderr.write(`${message}\n`);
      }
    }
    this._check();
  }

  onTestCaseStart(test, info) {
    this._guard('onTestCaseStart', () => {
      info = info || {};
      return this._recorder.caseStarted(
        safeText(test && test.path),
        safeTexts(info.ancestorTitles),
        safeText(info.title),
        undefined,
        undefined,
        safeTime(info.startedAt),
      );
    });
  }

  onTestCaseResult(test, result) {
    // One call with the fields as arguments: no object for the addon to take apart.
    this._guard('onTestCaseResult', () => this._recorder.caseResultArgs(...resultArgs(test && test.path, result)));
  }

  onTestFileResult(test, testResult) {
    this._fileResult('onTestFileResult', test, testResult);
  }

  onTestResult(test, testResult) {
    this._fileResult('onTestResult', test, testResult);
  }

  _fileResult(hook, test, testResult) {
    this._guard(hook, () => {
      testResult = testResult || {};
      if (typeof testResult === 'object') {
        if (this._fileResults.has(testResult)) return;
        this._fileResults.add(testResult);
      }
      const file = testResult.testFilePath || (test && test.path);
      const results = Array.isArray(testResult.testResults) ? testResult.testResults : [];
      // Jest 24's testExecError may carry no text; its failureMessage always does.
      const execError = testResult.testExecError
        ? execErrorText(testResult.testExecError) || optText(testResult.failureMessage) || 'the test file failed to run'
        : undefined;
      this._recorder.fileResult(
        safeText(file),
        results.map((r) => flatten(file, r)),
        execError,
      );
    });
  }

  onRunComplete(_contexts, results) {
    this._finished = true;
    process.removeListener('exit', this._onExit);
    this._guard('onRunComplete', () => {
      results = results || {};
      const interrupted = Boolean(results.wasInterrupted);
      const summary = this._recorder.finish(!interrupted, interrupted ? 'interrupted' : undefined, totals(results));
      if (summary && summary.runDir && !this._silent) {
        process.stderr.write(`testflow: run recorded in ${summary.runDir}\n`);
      }
    });
  }

  _exitedEarly(code) {
    if (this._finished) return;
    this._finished = true;
    try {
      this._recorder.runError(
        'reconcile',
        `Jest's process exited (status ${code}) before the end of the run (onRunComplete never ran): ` +
          'a test or module may have called process.exit; tests that had not run are missing',
      );
      const summary = this._recorder.finish(false, 'exited');
      if (summary && summary.runDir && !this._silent) {
        process.stderr.write(`testflow: incomplete run recorded in ${summary.runDir}\n`);
      }
    } catch {}
    process.stderr.write('testflow: Jest exited before the end of the run; failing it\n');
    if (!process.exitCode) process.exitCode = 1;
  }

  getLastError() {
    this._check();
    return this._error;
  }
}

module.exports = TestflowReporter;
module.exports.default = TestflowReporter;
module.exports.TestflowReporter = TestflowReporter;
module.exports.safeText = safeText;
