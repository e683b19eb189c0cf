'use strict';
// What the Jest reporter hands the addon for each test, and when it asks for the engine's
// error: the per-test calls are the reporter's whole cost (bench/RESULTS.md), so they are
// lean, and these tests hold them to the same contract as before. A recorder stand-in
// records the calls. Uses the jest-testflow installed in TESTFLOW_JEST_WORK.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { WORK, RUNS } = require('./processes');

const pkg = (name) => require(path.join(WORK, 'node_modules', name));

function reporterWith(recorder) {
  const Reporter = pkg('jest-testflow');
  fs.mkdirSync(RUNS, { recursive: true });
  const dir = fs.mkdtempSync(path.join(RUNS, 'calls-'));
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "name": "calls", "private": true }\n');
  const reporter = new Reporter({ rootDir: dir }, { silent: true });
  // Not a Jest run: it must not report one that ended early.
  process.removeListener('exit', reporter._onExit);
  reporter._recorder = recorder;
  return { reporter, dir };
}

/** A recorder stand-in: every call is kept; `fail` names the calls that return false. */
function fakeRecorder(fail = new Set(), error = undefined) {
  const calls = [];
  const rec = {};
  for (const m of ['caseStarted', 'caseResult', 'caseResultArgs', 'fileResult', 'runError', 'finish']) {
    rec[m] = (...args) => {
      calls.push([m, args]);
      return !fail.has(m);
    };
  }
  rec.getLastError = () => {
    calls.push(['getLastError', []]);
    return fail.size ? error : undefined;
  };
  rec.getLastErrorCode = () => undefined;
  return { rec, calls };
}

const failing = (file) => ({
  ancestorTitles: ['outer', 'inner'],
  title: 'adds',
  status: 'failed',
  duration: 12.5,
  failureMessages: ['Error: expected 3\n    at Object.<anonymous> (' + file + ':4:5)'],
  failureDetails: [{ matcherResult: { pass: false, expected: 3, actual: 2 } }],
  invocations: 2,
  location: { line: 4, column: 5 },
  startedAt: 1764789012345,
});

test('a test result crosses as arguments with exactly the fields its file result carries', () => {
  const { rec, calls } = fakeRecorder();
  const { reporter, dir } = reporterWith(rec);
  const file = path.join(dir, 'a.test.js');
  const result = failing(file);
  reporter.onTestCaseResult({ path: file }, result);
  reporter.onTestFileResult({ path: file }, { testFilePath: file, testResults: [result] });
  const [[m1, args], [m2, [f, list, execError]]] = calls.filter(([m]) => m !== 'getLastError');
  assert.equal(m1, 'caseResultArgs');
  assert.equal(m2, 'fileResult');
  assert.equal(f, file);
  assert.equal(execError, undefined);
  const [obj] = list;
  const order = ['file', 'ancestorTitles', 'title', 'status', 'durationMs', 'invocations', 'line', 'column', 'startedAt', 'failureMessages', 'failureDetailsJson'];
  assert.deepEqual(args, order.map((k) => obj[k]));
  assert.deepEqual(Object.keys(obj).sort(), [...order].sort());
  assert.deepEqual(args.slice(0, 9), [file, ['outer', 'inner'], 'adds', 'failed', 12.5, 2, 4, 5, 1764789012345]);
  assert.deepEqual(args[9], result.failureMessages);
  assert.deepEqual(JSON.parse(args[10]), result.failureDetails);
  // A passing test without location: no failure fields, no position.
  reporter.onTestCaseResult({ path: file }, { ancestorTitles: [], title: 't', status: 'passed', failureMessages: [], failureDetails: [], location: null });
  const last = calls.filter(([m]) => m === 'caseResultArgs').at(-1)[1];
  assert.deepEqual(last, [file, [], 't', 'passed', undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
});

test('the engine error is asked for only when a per-test call fails, and then fails the run', () => {
  const { rec, calls } = fakeRecorder();
  const { reporter, dir } = reporterWith(rec);
  const file = path.join(dir, 'a.test.js');
  for (let i = 0; i < 3; i++) {
    reporter.onTestCaseStart({ path: file }, { ancestorTitles: [], title: `t${i}`, startedAt: i });
    reporter.onTestCaseResult({ path: file }, { ancestorTitles: [], title: `t${i}`, status: 'passed', startedAt: i });
  }
  assert.equal(calls.filter(([m]) => m === 'getLastError').length, 0, 'no call failed: nothing to ask');
  assert.equal(reporter.getLastError(), undefined);

  const bad = fakeRecorder(new Set(['caseStarted']), 'testflow: cannot write event log x');
  const r2 = reporterWith(bad.rec).reporter;
  const written = [];
  const write = process.stderr.write;
  process.stderr.write = (s) => (written.push(String(s)), true);
  try {
    r2.onTestCaseStart({ path: file }, { ancestorTitles: [], title: 't', startedAt: 1 });
  } finally {
    process.stderr.write = write;
  }
  assert.equal(bad.calls.filter(([m]) => m === 'getLastError').length, 1, 'a failed call is followed by getLastError');
  const err = r2.getLastError();
  assert.ok(err instanceof Error);
  assert.equal(err.message, 'testflow: cannot write event log x');
  assert.deepEqual(written, ['testflow: cannot write event log x\n'], 'said once');
});

test('an exception in a per-test hook still fails the run', () => {
  const { rec } = fakeRecorder();
  rec.caseResultArgs = () => {
    throw new TypeError('boom');
  };
  const { reporter, dir } = reporterWith(rec);
  const write = process.stderr.write;
  process.stderr.write = () => true;
  try {
    reporter.onTestCaseResult({ path: path.join(dir, 'a.test.js') }, { title: 't', status: 'passed' });
  } finally {
    process.stderr.write = write;
  }
  assert.match(reporter.getLastError().message, /onTestCaseResult failed: TypeError: boom/);
});

test('text is passed as it is when it needs nothing, and made safe when it does', () => {
  const { safeText } = pkg('jest-testflow');
  assert.equal(safeText('plain › text é 😀'), 'plain › text é 😀');
  assert.equal(safeText('a\uD800b'), 'a\\uD800b');
  assert.equal(safeText('\uDC00x'), '\\uDC00x');
  assert.equal(safeText('pair \uD83D\uDE00 and lone \uD83D'), 'pair \uD83D\uDE00 and lone \\uD83D');
  assert.equal(safeText(undefined), '');
  assert.equal(safeText(42), '42');
  const long = 'x'.repeat(256 * 1024 + 10);
  const cut = safeText(long);
  assert.ok(cut.includes('\n[… testflow cut 10 characters …]\n'), 'over the cap: cut in the middle');
  assert.equal(cut.replace(/\n\[… testflow cut 10 characters …\]\n/, '').length, 256 * 1024);
  assert.equal(safeText('y'.repeat(256 * 1024)), 'y'.repeat(256 * 1024), 'at the cap: kept');
});
