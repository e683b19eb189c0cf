'use strict';
// jest-testflow on every supported Jest major (tests/run-all.sh, "Jest versions"): the
// tests/fixtures/jest-versions project, run by each version through the reporter and
// through `cargo testflow run`, must give per test the outcome that version's own
// `--json` output (written by the same run) gives. Jest 23 must fail closed, naming it.
//
// TESTFLOW_JEST_VERSIONS=<dir> holds one directory per version, <dir>/<version>/
// node_modules/jest (run-all.sh installs them); TESTFLOW_BIN is the cargo-testflow binary.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const VERSIONS = process.env.TESTFLOW_JEST_VERSIONS;
const BIN = process.env.TESTFLOW_BIN;
const SUPPORTED = ['24.9.0', '26.6.3', '27.5.1', '29.7.0', '30.5.2'];
const UNSUPPORTED = '23.6.0';
// The installed jest-testflow (a copy from `npm pack`, not the checkout's npm/).
const REPORTER = VERSIONS && path.join(VERSIONS, '30.5.2', 'node_modules', 'jest-testflow');

function versionDir(v) {
  const dir = path.join(VERSIONS, v);
  if (!fs.existsSync(path.join(dir, 'node_modules', 'jest', 'package.json'))) {
    throw new Error(`Jest ${v} is not installed in ${dir} (tests/run-all.sh installs it)`);
  }
  // `cargo testflow run` finds the reporter in the project's node_modules: the one
  // run-all.sh installed (from the packed tarball) into Jest 30.5.2's directory.
  const link = path.join(dir, 'node_modules', 'jest-testflow');
  if (v !== '30.5.2') {
    let current;
    try {
      current = fs.readlinkSync(link);
    } catch {}
    if (current !== REPORTER) {
      fs.rmSync(link, { recursive: true, force: true });
      fs.symlinkSync(REPORTER, link, 'dir');
    }
  }
  return dir;
}

/** A fresh copy of `fixture` inside the version's directory (it finds that Jest). */
function project(v, fixture) {
  const runs = path.join(versionDir(v), 'runs');
  fs.mkdirSync(runs, { recursive: true });
  // Real path: Jest reports real paths, and a version directory may be a symlink.
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(runs, `${path.basename(fixture)}-`)));
  fs.cpSync(path.join(REPO, 'tests', 'fixtures', fixture), dir, { recursive: true });
  return dir;
}

function env(extra) {
  const e = { ...process.env, NO_COLOR: '1' };
  for (const k of Object.keys(e)) if (k.startsWith('TESTFLOW_') || k.startsWith('CI_NODE')) delete e[k];
  return { ...e, ...extra };
}

function run(cmd, args, cwd, extra = {}) {
  const r = spawnSync(cmd, args, { cwd, env: env(extra), encoding: 'utf8', timeout: 240000, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Jest `v` with jest-testflow next to its default reporter, writing out/run.json. */
function jest(v, dir, args) {
  const bin = path.join(VERSIONS, v, 'node_modules', 'jest', 'bin', 'jest.js');
  const reporters = ['--reporters=default', `--reporters=${REPORTER}`];
  return run(process.execPath, [bin, '--ci', ...reporters, ...args], dir, { TESTFLOW_REPORT: 'json=out/run.json' });
}

/** What Jest's own --json says: id → passed | failed | skipped, or error for a file that failed to run. */
function jestOwn(dir, file) {
  const own = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  const out = {};
  for (const f of own.testResults) {
    const rel = path.relative(dir, f.name).split(path.sep).join('/');
    if (f.assertionResults.length === 0 && f.status === 'failed') {
      out[rel] = 'error';
      continue;
    }
    for (const a of f.assertionResults) {
      const id = `${rel}#${[...a.ancestorTitles, a.title].join(' › ')}`;
      assert.ok(!(id in out), `the fixture has one test per full title (${id})`);
      out[id] = { passed: 'passed', failed: 'failed' }[a.status] || 'skipped';
    }
  }
  return out;
}

/** testflow's outcomes in the same terms. */
function recorded(run) {
  const out = {};
  for (const t of run.tests) {
    const o = t.outcome;
    out[t.id] = o === 'passed' || o === 'skipped' ? o : o === 'error' && !t.id.includes('#') ? 'error' : 'failed';
  }
  return out;
}

function assertSameAsJest(v, dir, run) {
  const theirs = jestOwn(dir, 'own.json');
  assert.equal(Object.keys(theirs).length, 7, `Jest ${v}: 6 tests and a file that fails to load`);
  assert.deepEqual(recorded(run), theirs, `Jest ${v}: testflow agrees with jest --json`);
  assert.deepEqual(run.errors || [], [], `Jest ${v}: no run error`);
  const t = Object.fromEntries(run.tests.map((x) => [x.id, x]));
  assert.equal(t['src/outcomes.test.js#fails an expectation'].failure.kind, 'toBe');
  assert.equal(t['src/outcomes.test.js#fails an expectation'].failure.category, 'assertion');
  assert.equal(t['src/outcomes.test.js#group › nested › throws a TypeError'].failure.kind, 'TypeError');
  assert.equal(t['src/outcomes.test.js#group › nested › is todo'].failure, undefined);
  assert.equal(t['src/broken.test.js'].failure.category, 'import_error');
}

for (const v of SUPPORTED) {
  test(`Jest ${v}: the reporter and cargo testflow run agree with jest --json`, { skip: !VERSIONS && 'TESTFLOW_JEST_VERSIONS not set' }, () => {
    const dir = project(v, 'jest-versions');
    const r = jest(v, dir, ['--json', '--outputFile=own.json']);
    assert.equal(r.status, 1, r.stderr);
    const fromReporter = JSON.parse(fs.readFileSync(path.join(dir, 'out', 'run.json'), 'utf8'));
    assert.equal(fromReporter.completed, true);
    assertSameAsJest(v, dir, fromReporter);

    if (!BIN) return;
    fs.rmSync(path.join(dir, 'own.json'));
    const d = run(BIN, ['testflow', 'run', '--format', 'json', '--', '--json', '--outputFile=own.json'], dir);
    assert.equal(d.status, 100, d.stderr);
    const driven = JSON.parse(d.stdout);
    assert.deepEqual(driven.frameworks, ['jest']);
    assertSameAsJest(v, dir, driven);
  });
}

test(`Jest ${UNSUPPORTED} fails closed, naming the version, in both doors`, { skip: !VERSIONS && 'TESTFLOW_JEST_VERSIONS not set' }, () => {
  const dir = project(UNSUPPORTED, 'fail-closed/jest-unsupported-version');
  const r = jest(UNSUPPORTED, dir, []);
  assert.notEqual(r.status, 0, r.stderr);
  assert.match(r.stderr, /Jest 23\.6\.0 \(in .*\) is not supported: testflow reads Jest 24 or newer/);
  const run1 = JSON.parse(fs.readFileSync(path.join(dir, 'out', 'run.json'), 'utf8'));
  assert.ok(run1.errors.some((e) => e.kind === 'build' && /Jest 23\.6\.0/.test(e.message)), JSON.stringify(run1.errors));

  if (!BIN) return;
  const d = run(BIN, ['testflow', 'run', '--format', 'json'], dir);
  assert.equal(d.status, 101, d.stderr);
  const driven = JSON.parse(d.stdout);
  assert.equal(driven.tests.length, 0);
  assert.ok(driven.errors.some((e) => e.kind === 'build' && /Jest 23\.6\.0 .*is not supported/.test(e.message)), JSON.stringify(driven.errors));
  assert.match(d.stderr, /Jest 23\.6\.0/);
});
