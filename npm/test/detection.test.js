'use strict';
// A user's first hour: `npm init -y && npm install -D jest`, a test file, then
// `cargo testflow run`. No jest config, jest only in devDependencies, npm's default
// `test` script: still a Jest project. And `--framework jest` where Jest cannot run says
// what is missing.
//
// The project is made once in <TESTFLOW_JEST_WORK>/../jest-init (npm install takes a
// minute on a loaded machine) and reused while its Jest is the one installed there.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { REPO, WORK, BIN, cleanEnv } = require('./processes');

const JEST_VERSION = '30.5.2';

function sh(cmd, args, cwd, env = {}) {
  const r = spawnSync(cmd, args, { cwd, env: cleanEnv(env), encoding: 'utf8', timeout: 600000, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function testflow(dir, args) {
  return sh(BIN, ['testflow', ...args], dir);
}

/** The `npm init -y && npm install -D jest` project (made once, from npm's cache). */
function initProject() {
  const dir = path.resolve(WORK, '..', 'jest-init');
  const installed = path.join(dir, 'node_modules', 'jest', 'package.json');
  const fresh = !(fs.existsSync(installed) && JSON.parse(fs.readFileSync(installed, 'utf8')).version === JEST_VERSION);
  if (fresh) {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    let r = sh(npm, ['init', '-y'], dir);
    assert.equal(r.status, 0, r.stderr);
    r = sh(npm, ['install', '--save-dev', `jest@${JEST_VERSION}`, '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], dir);
    assert.equal(r.status, 0, r.stderr);
  }
  fs.rmSync(path.join(dir, '.testflow'), { recursive: true, force: true });
  fs.rmSync(path.join(dir, 'node_modules', 'jest-testflow'), { force: true });
  fs.writeFileSync(
    path.join(dir, 'sum.test.js'),
    "test('adds', () => { expect(1 + 1).toBe(2); });\ntest('is wrong', () => { expect(1 + 1).toBe(3); });\n",
  );
  return dir;
}

test('a project made by npm init -y && npm install -D jest is a Jest project', { skip: !BIN && 'TESTFLOW_BIN not set' }, () => {
  const dir = initProject();
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  assert.equal(pkg.jest, undefined, 'no jest config');
  assert.match(pkg.scripts.test, /no test specified/, "npm's default test script");
  assert.ok(pkg.devDependencies.jest, 'jest in devDependencies');
  for (const c of ['jest.config.js', 'jest.config.ts', 'jest.config.json']) assert.ok(!fs.existsSync(path.join(dir, c)));

  // Found as Jest (before: "no test suites found"); the reporter is what is missing.
  const r = testflow(dir, ['run']);
  assert.equal(r.status, 101, r.stderr);
  assert.doesNotMatch(r.stderr, /no test suites found/);
  assert.match(r.stderr, /the Jest reporter `jest-testflow` is not installed in/);

  // With the reporter installed, its tests run.
  fs.symlinkSync(path.join(WORK, 'node_modules', 'jest-testflow'), path.join(dir, 'node_modules', 'jest-testflow'), 'dir');
  const d = testflow(dir, ['run', '--format', 'json']);
  assert.equal(d.status, 100, d.stderr);
  const run = JSON.parse(d.stdout);
  assert.deepEqual(run.frameworks, ['jest']);
  const outcomes = Object.fromEntries(run.tests.map((t) => [t.id, t.outcome]));
  assert.deepEqual(outcomes, { 'sum.test.js#adds': 'passed', 'sum.test.js#is wrong': 'failed' });
});

test('--framework jest where Jest cannot run says what is missing', { skip: !BIN && 'TESTFLOW_BIN not set' }, () => {
  // Outside the work dir: no node_modules above it to find Jest in.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'testflow-nojest-'));
  try {
    fs.writeFileSync(path.join(dir, 'a.test.js'), "test('t', () => {});\n");
    let r = testflow(dir, ['run', '--framework', 'jest']);
    assert.equal(r.status, 101, r.stderr);
    assert.match(r.stderr, /no Jest project in .*: there is no package\.json; create one with `npm init -y && npm install --save-dev jest`/);

    // package.json with jest, never installed.
    fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"x","devDependencies":{"jest":"^30.5.2"}}');
    r = testflow(dir, ['run', '--framework', 'jest']);
    assert.equal(r.status, 101, r.stderr);
    assert.match(r.stderr, /jest is not installed: node_modules\/\.bin\/jest not found in .*testflow-nojest-[^ ]* or above; run npm install/);
    // Detected without --framework too, with the same message.
    r = testflow(dir, ['run']);
    assert.equal(r.status, 101, r.stderr);
    assert.match(r.stderr, /jest is not installed/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
