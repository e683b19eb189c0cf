'use strict';
// A published install, without a compiler: the release layout that
// scripts/release-packages.js writes (jest-testflow + one jest-testflow-<platform> package
// holding the prebuilt addon), installed into a project's node_modules as npm would, then
// real Jest reporting through it. The addon is the one the jest-testflow install in the
// work dir built (run-all.sh installs it from `npm pack`).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { REPO, WORK, RUNS, JEST, copyFixture, cleanEnv } = require('./processes');
const { platformKey, packageConstraints, TARGETS } = require('../platform');

const NPM = path.join(REPO, 'npm');
const KEY = platformKey();
const VERSION = '9.8.7';

function node(args, opts) {
  return spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 120000, env: cleanEnv(), ...opts });
}

/** Run release-packages.js on this checkout's addon; returns the output directory. */
function layOut() {
  fs.mkdirSync(RUNS, { recursive: true });
  const work = fs.mkdtempSync(path.join(RUNS, 'release-'));
  const addons = path.join(work, 'addons');
  fs.mkdirSync(addons);
  fs.copyFileSync(path.join(WORK, 'node_modules', 'jest-testflow', 'testflow.node'), path.join(addons, `testflow.${KEY}.node`));
  const out = path.join(work, 'out');
  const res = node([path.join(NPM, 'scripts', 'release-packages.js'), '--version', VERSION, '--addons', addons, '--out', out]);
  assert.equal(res.status, 0, res.stderr);
  assert.deepEqual(res.stdout.trim().split('\n'), [`jest-testflow-${KEY}@${VERSION}`, `jest-testflow@${VERSION}`]);
  return out;
}

/** A project whose node_modules holds the published packages (optionally without the addon one). */
function installInto(out, { withAddon = true } = {}) {
  const project = copyFixture('jest-basic');
  const modules = path.join(project, 'node_modules');
  fs.mkdirSync(modules, { recursive: true });
  fs.cpSync(path.join(out, 'jest-testflow'), path.join(modules, 'jest-testflow'), { recursive: true });
  if (withAddon) fs.cpSync(path.join(out, KEY), path.join(modules, `jest-testflow-${KEY}`), { recursive: true });
  return project;
}

test('the release layout: platform package constrained to its os/cpu/libc, root names it as an optional dependency', () => {
  const out = layOut();
  const platform = JSON.parse(fs.readFileSync(path.join(out, KEY, 'package.json'), 'utf8'));
  assert.equal(platform.name, `jest-testflow-${KEY}`);
  assert.equal(platform.version, VERSION);
  assert.equal(platform.main, `testflow.${KEY}.node`);
  assert.deepEqual(platform.files, [`testflow.${KEY}.node`]);
  for (const [k, v] of Object.entries(packageConstraints(KEY))) assert.deepEqual(platform[k], v);
  assert.ok(fs.statSync(path.join(out, KEY, `testflow.${KEY}.node`)).size > 0);

  const root = JSON.parse(fs.readFileSync(path.join(out, 'jest-testflow', 'package.json'), 'utf8'));
  assert.equal(root.version, VERSION);
  assert.deepEqual(root.optionalDependencies, { [`jest-testflow-${KEY}`]: VERSION });
  assert.equal(root.scripts, undefined, 'no install script: a published package has no checkout to build from');
  assert.ok(!root.files.includes('testflow.node'));
  for (const f of root.files) assert.ok(fs.existsSync(path.join(out, 'jest-testflow', f)), `${f} is shipped`);
});

test('release-packages.js refuses bad input with a named reason', () => {
  const work = fs.mkdtempSync(path.join(RUNS, 'release-bad-'));
  const addons = path.join(work, 'addons');
  fs.mkdirSync(addons);
  fs.writeFileSync(path.join(addons, 'testflow.plan9-mips.node'), '');
  const script = path.join(NPM, 'scripts', 'release-packages.js');
  let res = node([script, '--version', '1.0.0', '--addons', addons, '--out', path.join(work, 'o')]);
  assert.equal(res.status, 2);
  assert.match(res.stderr, /unknown platform plan9-mips/);
  res = node([script, '--version', 'v1', '--addons', addons, '--out', path.join(work, 'o')]);
  assert.equal(res.status, 2);
  assert.match(res.stderr, /not a semver version/);
  assert.ok(Object.keys(TARGETS).includes(KEY), `this machine (${KEY}) is a platform the release builds`);
});

test('installed from the release layout, the addon loads from the platform package and Jest records through it', () => {
  const project = installInto(layOut());
  const pkg = path.join(project, 'node_modules', 'jest-testflow');
  // Its build script (npm rebuild) has nothing to build and says nothing is wrong.
  let res = node([path.join(pkg, 'scripts', 'build.js')], { cwd: project });
  assert.equal(res.status, 0, res.stderr);
  res = node(['-e', "const n = require('jest-testflow/native'); const r = n.resolveAddon(); n.load(); console.log(JSON.stringify(r))"], { cwd: project });
  assert.equal(res.status, 0, res.stderr);
  const resolved = JSON.parse(res.stdout);
  assert.equal(resolved.from, 'prebuilt package');
  assert.equal(fs.realpathSync(resolved.file), fs.realpathSync(path.join(project, 'node_modules', `jest-testflow-${KEY}`, `testflow.${KEY}.node`)));

  // Real Jest (from the work dir) with the published reporter resolved from the project.
  res = spawnSync(process.execPath, [JEST, '--ci', '--reporters=default', '--reporters=jest-testflow'], { cwd: project, env: cleanEnv(), encoding: 'utf8', timeout: 180000 });
  const runs = path.join(project, '.testflow', 'runs');
  assert.ok(fs.existsSync(runs), `no run recorded: ${res.stderr}`);
  const [id] = fs.readdirSync(runs);
  const run = JSON.parse(fs.readFileSync(path.join(runs, id, 'run.json'), 'utf8'));
  assert.ok(run.tests.length > 0, 'the run has tests');
  assert.ok(run.tests.every((t) => t.framework === 'jest'));
});

test('without the platform package the reporter fails with the package it needs, not a loader stack', () => {
  const project = installInto(layOut(), { withAddon: false });
  const res = node(['-e', "require('jest-testflow/native').load()"], { cwd: project });
  assert.notEqual(res.status, 0);
  assert.match(res.stderr, new RegExp(`no prebuilt package jest-testflow-${KEY}`));
  assert.doesNotMatch(res.stderr, /Require stack/);
  const build = node([path.join(project, 'node_modules', 'jest-testflow', 'scripts', 'build.js')], { cwd: project });
  assert.equal(build.status, 1);
  assert.match(build.stderr, new RegExp(`prebuilt package jest-testflow-${KEY} is not installed`));
});
