'use strict';
// Fail closed (issue 12): real Jest on the tests/fixtures/fail-closed/jest-* projects,
// through the reporter (`jest --reporters=jest-testflow`) and through `cargo testflow run`.
// A failure is never reported green: each case asserts the exact outcomes, the run errors
// and a non-zero exit.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { BIN, RUNS, copyFixture, jest, testflow } = require('./processes');

function fixture(name) {
  fs.mkdirSync(path.join(RUNS, 'fail-closed'), { recursive: true });
  return copyFixture(path.join('fail-closed', name));
}

function latestRunDir(dir) {
  const runs = path.join(dir, '.testflow', 'runs');
  const ids = fs.readdirSync(runs).sort();
  return path.join(runs, ids[ids.length - 1]);
}

function latestRun(dir) {
  return JSON.parse(fs.readFileSync(path.join(latestRunDir(dir), 'run.json'), 'utf8'));
}

/** id → [outcome, attempt outcomes…] */
function outcomes(run) {
  return Object.fromEntries(run.tests.map((t) => [t.id, [t.outcome, ...t.attempts.map((a) => `${a.attempt}:${a.outcome}`)]]));
}

const REPORTER = ['--ci', '--reporters=default', '--reporters=jest-testflow'];

test('tests sharing a title are separate tests; attempts come only from jest.retryTimes (reporter)', () => {
  const dir = fixture('jest-duplicate-titles');
  const r = jest(dir, REPORTER);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /Tests: {7}4 failed, 4 passed, 8 total/);
  const run = latestRun(dir);
  assert.deepEqual(outcomes(run), {
    'same-title.test.js#math › adds': ['failed', '1:failed'],
    'same-title.test.js#math › adds@2': ['passed', '1:passed'],
    'same-title.test.js#is two': ['failed', '1:failed'],
    'same-title.test.js#is two@2': ['passed', '1:passed'],
    'same-title.test.js#is two@3': ['failed', '1:failed'],
    'retried.test.js#flaky': ['passed', '1:failed', '2:passed'],
    'retried.test.js#twice': ['failed', '1:failed', '2:failed'],
    'retried.test.js#twice@2': ['passed', '1:passed'],
  });
  const adds2 = run.tests.find((t) => t.id === 'same-title.test.js#math › adds@2');
  assert.equal(adds2.name, 'adds', 'the name stays Jest\'s title');
  assert.deepEqual(adds2.suite, ['math']);
  assert.equal(run.errors, undefined, 'Jest and testflow agree: no reconcile error');
  const gate = testflow(dir, ['gate', '--run', path.join(latestRunDir(dir), 'run.json')]);
  assert.equal(gate.status, 3, gate.stdout);
});

test('tests sharing a title fail the driven run as Jest does (cargo testflow run)', { skip: !BIN && 'TESTFLOW_BIN not set' }, () => {
  const dir = fixture('jest-duplicate-titles');
  // Only the two `adds`: before, one FLAKY test, PASSED, exit 0.
  const r = testflow(dir, ['run', '--framework', 'jest', '--format', 'json', 'adds']);
  assert.equal(r.status, 100, r.stderr);
  const run = JSON.parse(r.stdout);
  const o = outcomes(run);
  assert.deepEqual(o['same-title.test.js#math › adds'], ['failed', '1:failed']);
  assert.deepEqual(o['same-title.test.js#math › adds@2'], ['passed', '1:passed']);
  assert.equal(run.tests.filter((t) => t.outcome !== 'skipped').length, 2);
  assert.equal(run.errors, undefined);
  const gate = testflow(dir, ['gate']);
  assert.equal(gate.status, 3, gate.stdout);
});

test('process.exit(0) in band before the end of the run fails it (reporter and driver)', { skip: !BIN && 'TESTFLOW_BIN not set' }, () => {
  const dir = fixture('jest-process-exit');
  // Jest itself exits 0 here (it never reaches fails.test.js).
  const r = jest(dir, [...REPORTER, '-i']);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /process\.exit called with "0"/);
  assert.match(r.stderr, /testflow: Jest exited before the end of the run; failing it/);
  const run = latestRun(dir);
  assert.equal(run.completed, false);
  assert.deepEqual(outcomes(run), { 'a-passes.test.js#passes': ['passed', '1:passed'] });
  assert.deepEqual(run.errors.map((e) => e.kind), ['reconcile']);
  assert.match(run.errors[0].message, /^Jest's process exited \(status 0\) before the end of the run \(onRunComplete never ran\)/);

  const d = testflow(dir, ['run', '--framework', 'jest', '-j', '1', '--format', 'json']);
  assert.equal(d.status, 102, d.stderr);
  const driven = JSON.parse(d.stdout);
  assert.deepEqual(outcomes(driven), { 'a-passes.test.js#passes': ['passed', '1:passed'] });
  const kinds = driven.errors.map((e) => e.kind);
  assert.deepEqual(kinds, ['reconcile', 'reconcile']);
  assert.match(driven.errors[0].message, /^Jest's process exited \(status 0\)/);
  assert.match(driven.errors[1].message, /Jest ended \(exit code 1\) before jest-testflow saw the end of the run/);
});

test('Jest failing a run with every test passed (obsolete snapshot under --ci) is a reconcile error', { skip: !BIN && 'TESTFLOW_BIN not set' }, () => {
  const dir = fixture('jest-obsolete-snapshot');
  const r = jest(dir, REPORTER);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /1 snapshot obsolete/);
  const run = latestRun(dir);
  assert.deepEqual(outcomes(run), { 'snap.test.js#matches': ['passed', '1:passed'] });
  assert.deepEqual(run.errors, [{ kind: 'reconcile', message: 'Jest reports a snapshot failure, but testflow recorded no failure' }]);
  assert.match(r.stderr, /Jest's results and testflow's record disagree/);

  const d = testflow(dir, ['run', '--framework', 'jest', '--format', 'json']);
  assert.equal(d.status, 102, d.stderr);
  const driven = JSON.parse(d.stdout);
  assert.deepEqual(driven.errors.map((e) => e.message), ['Jest reports a snapshot failure, but testflow recorded no failure']);
  const gate = testflow(dir, ['gate']);
  assert.equal(gate.status, 3, gate.stdout);
  assert.match(gate.stdout, /no_run_errors .* FAIL/);
});

test('text that cannot cross into Rust is made safe, and every failure stays a failure', () => {
  const dir = fixture('jest-hostile-text');
  const r = jest(dir, REPORTER);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /Tests: {7}4 failed, 2 passed, 6 total/);
  assert.doesNotMatch(r.stderr, /jest-testflow's .* failed|testflow: internal/);
  const run = latestRun(dir);
  const t = Object.fromEntries(run.tests.map((x) => [x.id, x]));
  assert.deepEqual(Object.keys(t), [
    'hostile.test.js#lone surrogate in the message',
    'hostile.test.js#title \\uD800',
    'hostile.test.js#title \\uD801',
    'hostile.test.js#huge message',
    'hostile.test.js#42',
    'hostile.test.js#passes',
  ]);
  assert.equal(t['hostile.test.js#lone surrogate in the message'].failure.message, 'Error: caf\\uDCE9 is not valid UTF-16');
  assert.equal(t['hostile.test.js#title \\uD800'].outcome, 'failed');
  assert.equal(t['hostile.test.js#title \\uD801'].outcome, 'passed');
  const huge = t['hostile.test.js#huge message'];
  assert.equal(huge.outcome, 'failed');
  assert.match(huge.failure.message, /^Error: x+\n\[… testflow cut \d+ characters …\]\nx+$/);
  assert.ok(huge.failure.message.length < 300 * 1024, `capped: ${huge.failure.message.length}`);
  assert.equal(t['hostile.test.js#42'].failure.message, 'Error: thrown: Symbol(not an error)');
  assert.equal(run.errors, undefined);
});

test('an exception inside a reporter hook is a recorded run error, never a lost result', () => {
  const dir = fixture('jest-hostile-text');
  // A reporter before ours hands it a result whose title throws when read.
  fs.writeFileSync(
    path.join(dir, 'poison.js'),
    `module.exports = class {
  onTestCaseResult(_test, result) {
    if (result.title === 'passes') Object.defineProperty(result, 'title', { get() { throw new Error('poisoned title'); } });
  }
};\n`,
  );
  const r = jest(dir, ['--ci', '--reporters=default', '--reporters=./poison.js', '--reporters=jest-testflow', '-t', 'passes']);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /testflow: jest-testflow's onTestCaseResult failed: Error: poisoned title/);
  const run = latestRun(dir);
  assert.deepEqual(run.errors.map((e) => e.kind), ['internal']);
  assert.match(run.errors[0].message, /poisoned title/);
  const gate = testflow(dir, ['gate', '--run', path.join(latestRunDir(dir), 'run.json')]);
  assert.equal(gate.status, 3, gate.stdout);
});
