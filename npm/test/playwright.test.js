'use strict';
// jest-testflow/playwright's reporter door on Playwright Test 1.65.1 (see playwright-helpers.js).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { VERSION, skip, skipBin, BASIC, project, playwright, testflow, readJson, latestRun, byId, playwrightOwn, ours, checkBasic } = require('./playwright-helpers');

test(`Playwright ${VERSION}: the reporter records every attempt, agreeing with Playwright's own JSON report`, { skip }, () => {
  const dir = project('playwright-basic');
  const r = playwright(dir);
  assert.equal(r.status, 1, r.stderr);
  const run = readJson(path.join(dir, 'out', 'run.json'));
  checkBasic(dir, run);
  const own = playwrightOwn(dir);
  assert.deepEqual(ours(run), own.tests);
  assert.equal(own.errors, 0);
  const junit = fs.readFileSync(path.join(dir, 'out', 'junit.xml'), 'utf8');
  assert.match(junit, /<testcase name="outer › inner › throws a TypeError" classname="tests\/basic.spec.js"/);
  // Attachments linked from the test case by path (Jenkins' and GitLab's convention).
  assert.match(junit, /\[\[ATTACHMENT\|test-results\/[^\]]*\/note-[0-9a-f]+\.txt\]\]/);
  // The same run owns .testflow/ (history for the next shard plan).
  assert.equal(latestRun(dir).summary.total, 12);
  assert.match(r.stderr, /testflow: run recorded in /);
});

test(`Playwright ${VERSION}: a file that fails to load and process.exit in a test fail closed`, { skip }, () => {
  const dir = project('playwright-crash');
  // Playwright refuses the whole run when a file does not load: one entry, no test ran.
  const all = playwright(dir);
  assert.equal(all.status, 1, all.stderr);
  const run = readJson(path.join(dir, 'out', 'run.json'));
  assert.deepEqual(run.tests.map((t) => [t.id, t.outcome]), [['tests/import-error.spec.js', 'error']]);
  const imp = run.tests[0].failure;
  assert.equal(imp.category, 'import_error');
  assert.match(imp.message, /Cannot find module '.\/does-not-exist'/);
  assert.equal(imp.location.file, 'tests/import-error.spec.js');
  assert.equal(imp.location.line, 2);
  assert.equal(playwrightOwn(dir).errors, 1);

  // process.exit(3) in a test: Playwright's worker dies; the test that ran is the crash.
  const exit = playwright(dir, ['tests/exit.spec.js', 'tests/ok.spec.js']);
  assert.equal(exit.status, 1, exit.stderr);
  const erun = readJson(path.join(dir, 'out', 'run.json'));
  assert.deepEqual(Object.fromEntries(erun.tests.map((t) => [t.id, t.outcome])), {
    'tests/exit.spec.js#before the exit': 'passed',
    'tests/exit.spec.js#calls process.exit': 'crashed',
    'tests/exit.spec.js#after the exit': 'passed',
    'tests/ok.spec.js#passes': 'passed',
  });
  const crash = byId(erun)['tests/exit.spec.js#calls process.exit'].failure;
  assert.equal(crash.category, 'crash');
  assert.match(crash.message, /worker process exited unexpectedly \(code=3/);
  assert.deepEqual(ours(erun), playwrightOwn(dir).tests);
});

test(`Playwright ${VERSION}: a passing run is green, and a reporter that never sees onEnd is not`, { skip }, () => {
  const dir = project('playwright-crash');
  const ok = playwright(dir, ['tests/ok.spec.js']);
  assert.equal(ok.status, 0, ok.stderr);
  const run = readJson(path.join(dir, 'out', 'run.json'));
  assert.equal(run.summary.passed, 1);
  assert.equal(run.errors, undefined);
  // A reporter that ends Playwright's process with status 0 before the run's end.
  fs.writeFileSync(path.join(dir, 'exit-reporter.cjs'), 'module.exports = class { onTestEnd() { process.exit(0); } };\n');
  fs.rmSync(path.join(dir, '.testflow'), { recursive: true, force: true });
  const cut = playwright(dir, ['tests/ok.spec.js'], {}, 'jest-testflow/playwright,./exit-reporter.cjs');
  assert.notEqual(cut.status, 0, cut.stderr);
  assert.match(cut.stderr, /Playwright exited before the end of the run/);
  const early = latestRun(dir);
  assert.equal(early.completed, false);
  assert.ok(early.errors.some((e) => e.kind === 'reconcile' && /onEnd never ran/.test(e.message)), JSON.stringify(early.errors));
  // A broken addon is never a pass either: onEnd turns Playwright's status to failed.
  const broken = playwright(dir, ['tests/ok.spec.js'], { TESTFLOW_NODE_ADDON: path.join(dir, 'missing.node') });
  assert.equal(broken.status, 1, broken.stderr);
  assert.match(broken.stderr, /jest-testflow: the native addon/);
});

test(`Playwright ${VERSION}: --shard K/N applies testflow's plan at test grain in preprocess`, { skip }, () => {
  const dir = project('playwright-crash');
  const args = ['tests/exit.spec.js', 'tests/ok.spec.js', '--grep-invert=calls process.exit'];
  const seen = [];
  for (const k of [1, 2]) {
    const r = playwright(dir, [...args, `--shard=${k}/2`], { TESTFLOW_SHARD_STRATEGY: 'count' });
    assert.equal(r.status, 0, r.stderr);
    const run = readJson(path.join(dir, 'out', 'run.json'));
    assert.deepEqual(run.shard, { index: k, total: 2, strategy: 'count' });
    assert.match(r.stderr, new RegExp(`testflow: shard ${k}/2 \\(count\\)`));
    // Single tests, round-robin over the sorted ids: not Playwright's own split, which
    // keeps the tests of a file that is not fully parallel together (exit.spec.js's two,
    // then ok.spec.js).
    seen.push(run.tests.map((t) => t.id));
    assert.deepEqual(ours(run), playwrightOwn(dir).tests);
  }
  assert.deepEqual(seen.map((ids) => ids.sort()), [['tests/exit.spec.js#after the exit', 'tests/ok.spec.js#passes'], ['tests/exit.spec.js#before the exit']]);
});
