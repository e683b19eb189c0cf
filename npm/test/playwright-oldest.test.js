'use strict';
// jest-testflow/playwright on the oldest Playwright Test it reads (1.40.1; README's "1.40
// and newer"): the tests of tests/fixtures/playwright-basic that need no browser, through
// the reporter, agreeing test by test with Playwright's own JSON report of the same run.
// TESTFLOW_PLAYWRIGHT_OLDEST_WORK=<dir> holds <dir>/node_modules/{@playwright/test,
// jest-testflow} (tests/run-all.sh installs it); skipped without it.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { OLDEST, project, playwright, readJson, playwrightOwn, ours, checkBasic } = require('./playwright-helpers');

const PAGE = 'tests/web.spec.js#a page in chromium';

test(`Playwright ${OLDEST.version}: the reporter records every attempt, agreeing with Playwright's own JSON report`, { skip: !OLDEST.work && 'TESTFLOW_PLAYWRIGHT_OLDEST_WORK not set' }, () => {
  const dir = project('playwright-basic', OLDEST);
  // Two workers: each failure restarts its worker, the slow part on a loaded machine.
  const r = playwright(dir, ['--grep-invert=a page in chromium', '--workers=2'], {}, undefined, OLDEST.work);
  assert.equal(r.status, 1, r.stderr);
  const run = readJson(path.join(dir, 'out', 'run.json'));
  checkBasic(dir, run, [PAGE]);
  const own = playwrightOwn(dir);
  assert.deepEqual(ours(run), own.tests);
  assert.equal(own.errors, 0);
  assert.equal(run.summary.total, 11);
  const junit = fs.readFileSync(path.join(dir, 'out', 'junit.xml'), 'utf8');
  assert.match(junit, /\[\[ATTACHMENT\|test-results\/[^\]]*\/note-[0-9a-f]+\.txt\]\]/);
});
