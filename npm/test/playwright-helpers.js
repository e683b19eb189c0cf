'use strict';
// What npm/test/playwright.test.js (the reporter door) and playwright-driver.test.js
// (`cargo testflow run`) share; two files so that run-all.sh runs them side by side.
//
// jest-testflow/playwright on Playwright Test 1.65.1 (tests/run-all.sh, "Node: Playwright"):
// real Playwright on copies of tests/fixtures/playwright-*, through the reporter door
// (checked against Playwright's own JSON report of the same run) and through `cargo
// testflow run`, asserting on run.json, JUnit and exit statuses; testflow's shard plan
// applied in the reporter's preprocess. The page test uses Debian's chromium
// ($TESTFLOW_CHROMIUM, else /usr/bin/chromium); the request-fixture and pure tests need none.
//
// TESTFLOW_PLAYWRIGHT_WORK=<dir> holds <dir>/node_modules/{@playwright/test,jest-testflow}
// (run-all.sh installs them; jest-testflow is the packed one); TESTFLOW_BIN is the
// cargo-testflow binary. Without the variable these tests are skipped; run-all.sh runs them.
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const WORK = process.env.TESTFLOW_PLAYWRIGHT_WORK;
const BIN = process.env.TESTFLOW_BIN;
const VERSION = '1.65.1';
const skip = !WORK && 'TESTFLOW_PLAYWRIGHT_WORK not set';
const skipBin = skip || (!BIN && 'TESTFLOW_BIN not set');
// The oldest Playwright the reporter reads (playwright-oldest.test.js), in its own work dir.
const OLDEST = { work: process.env.TESTFLOW_PLAYWRIGHT_OLDEST_WORK, version: '1.40.1' };

function checkWork(work, version) {
  for (const pkg of ['@playwright/test', 'jest-testflow']) {
    if (!fs.existsSync(path.join(work, 'node_modules', pkg, 'package.json'))) {
      throw new Error(`${pkg} is not installed in ${work} (tests/run-all.sh installs it)`);
    }
  }
  const v = JSON.parse(fs.readFileSync(path.join(work, 'node_modules', 'playwright', 'package.json'), 'utf8')).version;
  assert.equal(v, version, `Playwright ${version} is the tested version in ${work}`);
}

/** A fresh copy of `fixture` inside the work dir (it finds that Playwright). */
function project(fixture, { work, version } = { work: WORK, version: VERSION }) {
  checkWork(work, version);
  const runs = path.join(work, 'runs');
  fs.mkdirSync(runs, { recursive: true });
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(runs, `${fixture}-`)));
  fs.cpSync(path.join(REPO, 'tests', 'fixtures', fixture), dir, { recursive: true });
  return dir;
}

/** A port nobody listens on, for the fixture's web server. */
function freePort() {
  const r = spawnSync(process.execPath, ['-e', "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"], { encoding: 'utf8' });
  return r.stdout.trim();
}

function env(extra) {
  const e = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', CI: '1' };
  for (const k of Object.keys(e)) {
    // TESTFLOW_NODE_ADDON and TESTFLOW_CHROMIUM stay: a hand run may point at its own.
    if (k.startsWith('TESTFLOW_') && k !== 'TESTFLOW_NODE_ADDON' && k !== 'TESTFLOW_CHROMIUM') delete e[k];
    if (k.startsWith('PW_') || k.startsWith('PLAYWRIGHT_')) delete e[k];
  }
  return { ...e, FIXTURE_PORT: freePort(), ...extra };
}

function run(cmd, args, cwd, extra = {}) {
  const r = spawnSync(cmd, args, { cwd, env: env(extra), encoding: 'utf8', timeout: 240000, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `playwright test` in `dir` with our reporter (and Playwright's JSON report). */
function playwright(dir, args = [], extra = {}, reporters = 'list,jest-testflow/playwright,json', work = WORK) {
  const bin = path.join(work, 'node_modules', '@playwright', 'test', 'cli.js');
  return run(process.execPath, [bin, 'test', `--reporter=${reporters}`, ...args], dir, {
    TESTFLOW_REPORT: 'json=out/run.json,junit=out/junit.xml',
    PLAYWRIGHT_JSON_OUTPUT_NAME: 'out/playwright.json',
    ...extra,
  });
}

function testflow(dir, args, extra = {}) {
  return run(BIN, ['testflow', ...args], dir, extra);
}

function readJson(p) {
  return JSON.parse(fs.readFileSync(p, 'utf8'));
}

function latestRun(dir) {
  const runs = path.join(dir, '.testflow', 'runs');
  const ids = fs.readdirSync(runs).sort();
  return readJson(path.join(runs, ids[ids.length - 1], 'run.json'));
}

function byId(run) {
  return Object.fromEntries(run.tests.map((t) => [t.id, t]));
}

/** Playwright's own JSON report: id → expected | unexpected | flaky | skipped; load errors apart. */
function playwrightOwn(dir) {
  const own = readJson(path.join(dir, 'out', 'playwright.json'));
  const out = {};
  const walk = (s, file, titles) => {
    for (const spec of s.specs || []) {
      for (const t of spec.tests) out[`${file}#${[...titles, spec.title].join(' › ')}`] = t.status;
    }
    for (const child of s.suites || []) walk(child, file, [...titles, child.title]);
  };
  const testDir = path.relative(dir, own.config.rootDir).split(path.sep).join('/');
  for (const s of own.suites) walk(s, `${testDir}/${s.file}`, []);
  return { tests: out, errors: own.errors.length, stats: own.stats };
}

/** What testflow recorded, in Playwright's terms (test.outcome()). */
function ours(run) {
  const out = {};
  for (const t of run.tests) {
    if (!t.id.includes('#')) continue;
    const o = t.outcome;
    out[t.id] = o === 'skipped' ? 'skipped' : ['failed', 'error', 'timeout', 'crashed'].includes(o) ? 'unexpected' : t.flaky ? 'flaky' : 'expected';
  }
  return out;
}

const BASIC = {
  'tests/basic.spec.js#adds numbers': 'passed',
  'tests/basic.spec.js#compares badly': 'failed',
  'tests/basic.spec.js#is skipped': 'skipped',
  'tests/basic.spec.js#is fixme': 'skipped',
  'tests/basic.spec.js#is too slow': 'timeout',
  'tests/basic.spec.js#outer › inner › throws a TypeError': 'failed',
  'tests/basic.spec.js#outer › same title': 'passed',
  'tests/basic.spec.js#other › same title': 'failed',
  'tests/flaky.spec.js#flaky › passes on the second attempt': 'passed',
  'tests/web.spec.js#the request fixture reaches the local server': 'passed',
  'tests/web.spec.js#a page in chromium': 'passed',
  'tests/web.spec.js#attaches a file': 'failed',
};

/** The fixture's record (`left out`: ids the run did not select). */
function checkBasic(dir, run, leftOut = []) {
  assert.deepEqual(run.frameworks, ['playwright']);
  const expected = Object.fromEntries(Object.entries(BASIC).filter(([id]) => !leftOut.includes(id)));
  assert.deepEqual(Object.fromEntries(run.tests.map((x) => [x.id, x.outcome])), expected);
  assert.equal(run.errors, undefined, JSON.stringify(run.errors));
  assert.equal(run.completed, true);
  const t = byId(run);
  const bad = t['tests/basic.spec.js#compares badly'];
  assert.equal(bad.failure.category, 'assertion');
  assert.equal(bad.failure.kind, 'toBe');
  assert.equal(bad.failure.expected, '3');
  assert.equal(bad.failure.actual, '2');
  assert.deepEqual(bad.failure.location, { file: 'tests/basic.spec.js', line: 8, column: 17 });
  assert.equal(bad.line, 7);
  const thrown = t['tests/basic.spec.js#outer › inner › throws a TypeError'];
  assert.deepEqual(thrown.suite, ['outer', 'inner']);
  assert.equal(thrown.name, 'throws a TypeError');
  assert.equal(thrown.failure.category, 'runtime_error');
  assert.equal(thrown.failure.kind, 'TypeError');
  assert.equal(t['tests/basic.spec.js#is skipped'].reason, 'skip: not on this platform');
  assert.equal(t['tests/basic.spec.js#is fixme'].reason, 'fixme');
  const slow = t['tests/basic.spec.js#is too slow'];
  assert.equal(slow.failure.category, 'timeout');
  assert.equal(slow.failure.message, 'Test timeout of 300ms exceeded.');
  const flaky = t['tests/flaky.spec.js#flaky › passes on the second attempt'];
  assert.equal(flaky.flaky, true);
  assert.deepEqual(flaky.attempts.map((a) => a.outcome), ['failed', 'passed']);
  assert.equal(flaky.attempts[0].failure.stdout.text, 'attempt 1\n');
  // Attachments by path, relative to the project, on the attempt that made them.
  const att = t['tests/web.spec.js#attaches a file'].attempts[0].attachments;
  const note = att.find((a) => a.name === 'note');
  assert.equal(note.content_type, 'text/plain');
  assert.match(note.path, /^test-results\/.*\/note-[0-9a-f]+\.txt$/);
  assert.equal(fs.readFileSync(path.join(dir, note.path), 'utf8'), 'a note');
  assert.equal(t['tests/basic.spec.js#adds numbers'].attempts[0].attachments, undefined);
}

module.exports = { REPO, WORK, BIN, VERSION, OLDEST, skip, skipBin, BASIC, project, playwright, testflow, readJson, latestRun, byId, playwrightOwn, ours, checkBasic };
