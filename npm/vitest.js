'use strict';
// jest-testflow/vitest: a Vitest reporter (Vitest 3 and later) that hands every result to
// the testflow engine through the same napi addon as the Jest reporter. Thin on purpose:
// it flattens Vitest's reported tasks into strings and numbers; ids, outcomes, attempts,
// categories and the reconciliation with Vitest's own end of the run are the engine's
// (cargo-testflow/engine/src/frameworks/vitest/). Calls are synchronous and never throw;
// an engine error fails the run (exit status 1) and is printed once.
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

/** Vitest formats expected/actual as strings already; anything else is shown as JSON. */
function shown(v) {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return safeText(v);
  try {
    return safeText(JSON.stringify(v));
  } catch {
    return safeText(v);
  }
}

function flattenError(e) {
  e = e && typeof e === 'object' ? e : { message: e };
  return {
    name: optText(e.name),
    message: safeText(e.message),
    stack: optText(e.stack),
    expected: shown(e.expected),
    actual: shown(e.actual),
    kind: optText(e.type),
    testName: optText(e.VITEST_TEST_NAME),
    testPath: optText(e.VITEST_TEST_PATH),
  };
}

function errors(list) {
  return Array.isArray(list) ? list.map(flattenError) : [];
}

function suiteOf(test) {
  const suite = [];
  for (let p = test.parent; p && p.type === 'suite'; p = p.parent) suite.unshift(safeText(p.name));
  return suite;
}

function flattenCase(test) {
  return {
    taskId: safeText(test.id),
    file: safeText(test.module && test.module.moduleId),
    suite: suiteOf(test),
    name: safeText(test.name),
    line: test.location ? safeUint(test.location.line) : undefined,
  };
}

function flattenResult(test) {
  const result = (typeof test.result === 'function' && test.result()) || { state: 'pending' };
  const diagnostic = typeof test.diagnostic === 'function' ? test.diagnostic() : undefined;
  return {
    case: flattenCase(test),
    state: safeText(result.state),
    mode: safeText(test.options && test.options.mode),
    durationMs: diagnostic ? safeMs(diagnostic.duration) : undefined,
    retryCount: diagnostic ? safeUint(diagnostic.retryCount) : undefined,
    errors: errors(result.errors),
    note: optText(result.note),
  };
}

function allTests(module) {
  try {
    return [...module.children.allTests()];
  } catch {
    return [];
  }
}

function flattenModule(module) {
  return {
    file: safeText(module.moduleId),
    state: safeText(typeof module.state === 'function' ? module.state() : undefined),
    errors: errors(typeof module.errors === 'function' ? module.errors() : []),
    tests: allTests(module).map(flattenResult),
  };
}

function describe(e) {
  try {
    return safeText((e && (e.stack || e.message)) || e);
  } catch {
    return 'an unprintable exception';
  }
}

/** The running Vitest's version (the engine refuses one it cannot read). */
function vitestVersion(vitest, root) {
  if (vitest && typeof vitest.version === 'string') return vitest.version;
  try {
    const file = require.resolve('vitest/package.json', { paths: [root, process.cwd()] });
    return JSON.parse(fs.readFileSync(file, 'utf8')).version;
  } catch {
    return undefined;
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

class TestflowVitestReporter {
  /** `reporters: [['jest-testflow/vitest', { reports: { junit: 'out.xml' } }]]` */
  constructor(options) {
    this._options = options || {};
    this._recorder = undefined;
    this._failed = false;
    this._finished = false;
  }

  onInit(vitest) {
    this._vitest = vitest;
    this._start();
  }

  /** Watch mode: each rerun after the first is a run of its own. */
  onTestRunStart() {
    if (this._finished) {
      this._finished = false;
      this._failed = false;
      this._start();
    }
  }

  _start() {
    const vitest = this._vitest;
    this._guard('onInit', () => {
      const config = (vitest && vitest.config) || {};
      const opts = this._options;
      const root = safeText(opts.rootDir || config.root || process.cwd());
      const shard = config.shard && config.shard.count ? `${config.shard.index}/${config.shard.count}` : undefined;
      this._recorder = new (load().VitestRecorder)({
        rootDir: root,
        rootGiven: Boolean(opts.rootDir),
        reports: optText(reportList(opts.reports)),
        shard,
        vitestVersion: optText(vitestVersion(vitest, root)),
      });
      // Vitest's process can end without onTestRunEnd (a crash, process.exit in a
      // setup file or reporter): the run must not look complete, nor the status be 0.
      // `cargo testflow run --shard`: testflow's plan applies through our sequencer unless
      // the project chose a sequencer of its own (Vitest creates it after onInit).
      const seq = config.sequence;
      if (process.env.TESTFLOW_VITEST_SEQUENCER === '1' && seq && (!seq.sequencer || seq.sequencer.name === 'BaseSequencer')) {
        seq.sequencer = require('./vitest-sequencer');
      }
      // First in line: Vitest 3's own exit listener calls process.exit() again, which ends
      // the process before later listeners run.
      this._onExit = () => this._exitedEarly();
      process.prependOnceListener('exit', this._onExit);
    });
  }

  _fail(message) {
    if (this._failed) return;
    this._failed = true;
    process.stderr.write(`${message}\n`);
    if (!process.exitCode) process.exitCode = 1;
  }

  _check() {
    const message = this._recorder && this._recorder.getLastError();
    if (message) this._fail(message);
  }

  /** One hook body: an exception never reaches Vitest; it is recorded and fails the run. */
  _guard(hook, body) {
    try {
      body();
    } catch (e) {
      const message = `testflow: jest-testflow/vitest's ${hook} failed: ${describe(e)}`;
      try {
        if (this._recorder) this._recorder.runError('internal', message);
      } catch {}
      this._fail(message);
    }
    this._check();
  }

  _call(hook, fn) {
    this._guard(hook, () => {
      if (!this._recorder) throw new Error('the recorder did not start (onInit never ran)');
      fn(this._recorder);
    });
  }

  onTestModuleCollected(module) {
    this._call('onTestModuleCollected', (r) => r.moduleCollected(allTests(module).map(flattenCase)));
  }

  onTestCaseReady(test) {
    this._call('onTestCaseReady', (r) => r.caseReady(flattenCase(test)));
  }

  onTestCaseResult(test) {
    this._call('onTestCaseResult', (r) => r.caseResult(flattenResult(test)));
  }

  onUserConsoleLog(log) {
    if (!log || !log.taskId) return;
    this._call('onUserConsoleLog', (r) => r.consoleLog(safeText(log.taskId), log.type === 'stderr', safeText(log.content)));
  }

  onTestModuleEnd(module) {
    this._call('onTestModuleEnd', (r) => r.moduleEnd(flattenModule(module)));
  }

  onTestRunEnd(modules, unhandledErrors, reason) {
    this._finished = true;
    if (this._onExit) process.removeListener('exit', this._onExit);
    this._call('onTestRunEnd', (r) => {
      const list = Array.isArray(modules) ? modules.map(flattenModule) : [];
      const summary = r.finish(list, errors(unhandledErrors), optText(reason));
      if (summary && summary.runDir && !this._options.silent) {
        process.stderr.write(`testflow: run recorded in ${summary.runDir}\n`);
      }
    });
  }

  _exitedEarly() {
    if (this._finished || !this._recorder) return;
    this._finished = true;
    try {
      this._recorder.runError(
        'reconcile',
        "Vitest's process exited before the end of the run (onTestRunEnd never ran): tests that had not run are missing",
      );
      const summary = this._recorder.finish(null, null, null);
      if (summary && summary.runDir && !this._options.silent) {
        process.stderr.write(`testflow: incomplete run recorded in ${summary.runDir}\n`);
      }
    } catch {}
    this._fail('testflow: Vitest exited before the end of the run; failing it');
  }
}

module.exports = TestflowVitestReporter;
module.exports.default = TestflowVitestReporter;
module.exports.TestflowVitestReporter = TestflowVitestReporter;
module.exports.projectRoot = (root) => load().projectRoot(path.resolve(root));
