'use strict';
// jest-testflow/playwright's driver (`cargo testflow run`) on Playwright Test 1.65.1 (see playwright-helpers.js).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { VERSION, skip, skipBin, BASIC, project, playwright, testflow, readJson, latestRun, byId, playwrightOwn, ours, checkBasic } = require('./playwright-helpers');

test(`Playwright ${VERSION}: cargo testflow run drives Playwright with the reporter`, { skip: skipBin }, () => {
  const dir = project('playwright-basic');
  // The flaky test, the request fixture and the page: retries, webServer and chromium
  // through the driver (the whole fixture is the door test's: its rules are the same engine's).
  const r = testflow(dir, ['run', '-j', '1', '--', 'tests/flaky.spec.js', 'tests/web.spec.js']);
  assert.equal(r.status, 100, r.stderr);
  const run = latestRun(dir);
  const expected = Object.fromEntries(Object.entries(BASIC).filter(([id]) => !id.startsWith('tests/basic.spec.js')));
  assert.deepEqual(Object.fromEntries(run.tests.map((x) => [x.id, x.outcome])), expected);
  assert.equal(run.errors, undefined, JSON.stringify(run.errors));
  assert.deepEqual(run.frameworks, ['playwright']);
  const flaky = byId(run)['tests/flaky.spec.js#flaky › passes on the second attempt'];
  assert.deepEqual([flaky.flaky, flaky.attempts.map((a) => a.outcome)], [true, ['failed', 'passed']]);
  assert.ok(byId(run)['tests/web.spec.js#attaches a file'].attempts[0].attachments.some((a) => a.name === 'note'));
  assert.deepEqual(run.workers.map((w) => [w.framework, w.workers, w.basis]), [['playwright', 1, 'user']]);
  // `list`: the ids the run records.
  const listed = JSON.parse(testflow(dir, ['list', '--format', 'json']).stdout);
  assert.deepEqual(listed[0].test_list.map((t) => t.id).sort(), Object.keys(BASIC).sort());
  assert.equal(listed[0].files, 3);

  const crash = project('playwright-crash');
  const c = testflow(crash, ['run']);
  assert.equal(c.status, 100, c.stderr);
  assert.equal(byId(latestRun(crash))['tests/import-error.spec.js'].outcome, 'error');
  const broken = testflow(crash, ['list']);
  assert.equal(broken.status, 101, broken.stderr);
  assert.match(broken.stderr, /Playwright could not load the tests: Error: Cannot find module '.\/does-not-exist'/);
  // Green when Playwright is: only the passing file (arguments after `--` are Playwright's).
  const green = testflow(crash, ['run', '--', 'tests/ok.spec.js']);
  assert.equal(green.status, 0, green.stderr);
  assert.equal(latestRun(crash).summary.total, 1);
  // (-j, --retries, --test-timeout, --fail-fast, filters and --shard as Playwright's flags:
  // the engine's unit test `the_run_options_become_playwright_flags`.)
});
