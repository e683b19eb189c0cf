'use strict';
// jest-testflow/playwright: a Playwright Test reporter that hands every attempt to the
// testflow engine through the same napi addon as the Jest and Vitest reporters. Thin on
// purpose: it flattens Playwright's TestCase/TestResult into strings and numbers; ids,
// outcomes, attempts, categories and the reconciliation with Playwright's own end of the
// run are the engine's (cargo-testflow/engine/src/frameworks/playwright/). Calls are
// synchronous and never throw; an engine error fails the run (onEnd returns status
// `failed`, so Playwright exits 1) and is printed once.
//
//   reporter: [['list'], ['jest-testflow/playwright', { reports: { junit: 'out.xml' } }]]
//
// With `--shard K/N` on Playwright 1.62+ (`preprocess`, `testRun.skipSharding()`; 1.65.1
// is tested; older ones only pass `--shard` through to Playwright's own split), the shard
// is testflow's plan at test grain (timings from history, else hash;
// TESTFLOW_SHARD_STRATEGY overrides) instead of Playwright's own split, unless a serial
// describe block is in the run (its tests must stay in one worker: Playwright's split).
const fs = require('node:fs');
const path = require('node:path');
const { load } = require('./native');
const { safeText } = require('./index');

function optText(v) {
  return v === undefined || v === null ? undefined : safeText(v);
}

function safeUint(v) {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : undefined;
}

function safeMs(v) {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

function flattenError(e) {
  e = e && typeof e === 'object' ? e : { message: e };
  const loc = e.location && typeof e.location === 'object' ? e.location : undefined;
  return {
    message: optText(e.message),
    stack: optText(e.stack),
    value: optText(e.value),
    file: loc ? optText(loc.file) : undefined,
    line: loc ? safeUint(loc.line) : undefined,
    column: loc ? safeUint(loc.column) : undefined,
  };
}

/**
 * What a suite is: `suite.type` (Playwright 1.44+), else its depth, which the reporter
 * API fixes (root → project → file → describe blocks) on 1.40 to 1.43.
 */
function suiteType(s) {
  if (typeof s.type === 'string') return s.type;
  let depth = 0;
  for (let p = s.parent; p; p = p.parent) depth += 1;
  return ['root', 'project', 'file'][depth] || 'describe';
}

/** The project a test belongs to, and its describe titles (outermost first). */
function placeOf(test) {
  const suite = [];
  let project = '';
  for (let p = test.parent; p; p = p.parent) {
    const type = suiteType(p);
    if (type === 'describe') suite.unshift(safeText(p.title));
    if (type === 'project') {
      const pr = typeof p.project === 'function' ? p.project() : undefined;
      project = safeText((pr && pr.name) || p.title);
    }
  }
  return { suite, project };
}

function flattenCase(test) {
  const { suite, project } = placeOf(test);
  const loc = test.location || {};
  return {
    key: safeText(test.id),
    file: safeText(loc.file),
    project,
    suite,
    title: safeText(test.title),
    line: safeUint(loc.line),
  };
}

function skipReason(test) {
  const list = Array.isArray(test.annotations) ? test.annotations : [];
  const a = list.find((x) => x && (x.type === 'skip' || x.type === 'fixme'));
  if (!a) return undefined;
  return a.description ? `${a.type}: ${safeText(a.description)}` : a.type;
}

function flattenResult(test, result) {
  return {
    key: safeText(test.id),
    retry: safeUint(result.retry) || 0,
    status: safeText(result.status),
    expectedStatus: safeText(test.expectedStatus),
    durationMs: safeMs(result.duration),
    errors: (Array.isArray(result.errors) && result.errors.length ? result.errors : result.error ? [result.error] : []).map(flattenError),
    attachments: (Array.isArray(result.attachments) ? result.attachments : [])
      .filter((a) => a && a.path)
      .map((a) => ({ name: safeText(a.name), contentType: optText(a.contentType), path: safeText(a.path) })),
    skipReason: optText(skipReason(test)),
  };
}

function describe(e) {
  try {
    return safeText((e && (e.stack || e.message)) || e);
  } catch {
    return 'an unprintable exception';
  }
}

function reportList(reports) {
  if (!reports) return undefined;
  if (typeof reports === 'string') return reports;
  if (Array.isArray(reports)) return reports.join(',');
  return Object.entries(reports)
    .map(([format, file]) => `${format}=${file}`)
    .join(',');
}

/** The running Playwright's version (the engine refuses one it cannot read). */
function playwrightVersion(config, root) {
  if (config && typeof config.version === 'string') return config.version;
  try {
    const file = require.resolve('playwright/package.json', { paths: [root, process.cwd()] });
    return JSON.parse(fs.readFileSync(file, 'utf8')).version;
  } catch {
    return undefined;
  }
}

function rootOf(config, opts) {
  if (opts.rootDir) return safeText(opts.rootDir);
  if (config && config.configFile) return safeText(path.dirname(config.configFile));
  return safeText((config && config.rootDir) || process.cwd());
}

function allTests(suite) {
  try {
    return suite.allTests();
  } catch {
    return [];
  }
}

/** A describe block in serial mode anywhere in the run (its tests share one worker). */
function hasSerial(suite, testRun) {
  const walk = (s) => {
    for (const child of s.suites || []) {
      if (suiteType(child) === 'describe' && testRun.mode(child) === 'serial') return true;
      if (walk(child)) return true;
    }
    return false;
  };
  try {
    return walk(suite);
  } catch {
    return true;
  }
}

class TestflowPlaywrightReporter {
  constructor(options) {
    this._options = options || {};
    this._recorder = undefined;
    this._failed = false;
    this._ended = false;
    this._error = undefined;
  }

  printsToStdio() {
    return false;
  }

  _start(config) {
    if (this._recorder) return;
    const opts = this._options;
    const root = rootOf(config, opts);
    const shard = config && config.shard && config.shard.total ? `${config.shard.current}/${config.shard.total}` : undefined;
    this._recorder = new (load().PlaywrightRecorder)({
      rootDir: root,
      rootGiven: Boolean(opts.rootDir),
      reports: optText(reportList(opts.reports)),
      shard,
      playwrightVersion: optText(playwrightVersion(config, root)),
    });
    // The runner's process can end without onEnd (a crash, process.exit in global
    // setup): the run must not look complete, nor the status be 0.
    this._onExit = () => this._exitedEarly();
    process.prependOnceListener('exit', this._onExit);
  }

  _fail(message) {
    if (this._failed) return;
    this._failed = true;
    this._error = message;
    process.stderr.write(`${message}\n`);
    if (!process.exitCode) process.exitCode = 1;
  }

  _check() {
    const message = this._recorder && this._recorder.getLastError();
    if (message) this._fail(message);
  }

  /** One hook body: an exception never reaches Playwright; it is recorded and fails the run. */
  _guard(hook, body) {
    try {
      body();
    } catch (e) {
      const message = `testflow: jest-testflow/playwright's ${hook} failed: ${describe(e)}`;
      try {
        if (this._recorder) this._recorder.runError('internal', message);
      } catch {}
      this._fail(message);
    }
    this._check();
  }

  _call(hook, fn) {
    this._guard(hook, () => {
      if (!this._recorder) throw new Error('the recorder did not start (onBegin never ran)');
      fn(this._recorder);
    });
  }

  /** `--shard K/N`: testflow's plan at test grain replaces Playwright's split. */
  async preprocess({ config, suite, testRun }) {
    this._guard('preprocess', () => {
      this._start(config);
      if (!config || !config.shard || !config.shard.total || typeof testRun.skipSharding !== 'function') return;
      if (hasSerial(suite, testRun)) {
        if (!process.env.TESTFLOW_EVENTS) {
          process.stderr.write("testflow: a serial describe block is in the run: Playwright's own shard split applies\n");
        }
        return;
      }
      const tests = allTests(suite);
      const plan = this._recorder.planShard(
        (config.projects || []).length,
        tests.map(flattenCase),
        `${config.shard.current}/${config.shard.total}`,
      );
      if (!plan) return;
      testRun.skipSharding();
      const keep = new Set(plan.keep);
      tests.forEach((t, i) => {
        if (!keep.has(i)) testRun.exclude(t);
      });
      if (!process.env.TESTFLOW_EVENTS) {
        for (const n of plan.notes) process.stderr.write(`testflow: ${n}\n`);
      }
    });
  }

  onBegin(config, suite) {
    this._suite = suite; // onEnd reads every test's outcome() from it
    this._guard('onBegin', () => {
      this._start(config);
      this._recorder.begin((config.projects || []).length, allTests(suite).map(flattenCase));
    });
  }

  onTestBegin(test, result) {
    this._call('onTestBegin', (r) => r.testBegin(safeText(test.id), safeUint(result && result.retry) || 0));
  }

  onTestEnd(test, result) {
    this._call('onTestEnd', (r) => r.testEnd(flattenResult(test, result || {})));
  }

  _output(stderr, chunk, test, result) {
    if (!test || !this._recorder) return;
    const text = Buffer.isBuffer(chunk) ? chunk.toString('utf8') : safeText(chunk);
    this._call(stderr ? 'onStdErr' : 'onStdOut', (r) => r.output(safeText(test.id), safeUint(result && result.retry) || 0, stderr, text));
  }

  onStdOut(chunk, test, result) {
    this._output(false, chunk, test, result);
  }

  onStdErr(chunk, test, result) {
    this._output(true, chunk, test, result);
  }

  onError(error) {
    // Before onBegin (a config that fails to load): start so the error is recorded.
    this._guard('onError', () => {
      if (!this._recorder) this._start(undefined);
      this._recorder.error(flattenError(error));
    });
  }

  onEnd(result) {
    this._ended = true;
    if (this._onExit) process.removeListener('exit', this._onExit);
    this._guard('onEnd', () => {
      if (!this._recorder) this._start(undefined);
      const status = safeText((result && result.status) || 'unknown');
      const outcomes = this._tests().map((t) => [safeText(t.id), safeText(typeof t.outcome === 'function' ? t.outcome() : 'unknown')]);
      const summary = this._recorder.finish(status, outcomes);
      if (summary && summary.runDir && !this._options.silent) {
        process.stderr.write(`testflow: run recorded in ${summary.runDir}\n`);
      }
    });
    // A run testflow cannot vouch for is never a pass: Playwright exits 1.
    if (this._failed) return { status: 'failed' };
    return undefined;
  }

  /** The tests of the run, as onBegin's suite holds them at the end. */
  _tests() {
    return this._suite ? allTests(this._suite) : [];
  }

  onExit() {
    if (!this._ended) this._exitedEarly();
  }

  _exitedEarly() {
    if (this._ended || !this._recorder) return;
    this._ended = true;
    try {
      const summary = this._recorder.finish(null, null);
      if (summary && summary.runDir && !this._options.silent) {
        process.stderr.write(`testflow: incomplete run recorded in ${summary.runDir}\n`);
      }
    } catch {}
    this._fail('testflow: Playwright exited before the end of the run (onEnd never ran); failing it');
  }
}

module.exports = TestflowPlaywrightReporter;
module.exports.default = TestflowPlaywrightReporter;
module.exports.TestflowPlaywrightReporter = TestflowPlaywrightReporter;
