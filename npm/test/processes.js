'use strict';
// What the sharding and coverage tests share: the work directory run-all.sh prepares
// (TESTFLOW_JEST_WORK, with Jest and jest-testflow installed), copies of fixtures in it,
// and starting Jest and cargo-testflow with a clean environment, one at a time or at once.
// Not a test file: node --test loads it, finds no tests, and moves on.
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const WORK = process.env.TESTFLOW_JEST_WORK;
const BIN = process.env.TESTFLOW_BIN;
if (!WORK) throw new Error('set TESTFLOW_JEST_WORK (see tests/run-all.sh)');
const JEST = path.join(WORK, 'node_modules', 'jest', 'bin', 'jest.js');
const RUNS = path.join(WORK, 'runs');

/** A fresh copy of tests/fixtures/NAME under the work directory. */
function copyFixture(name) {
  fs.mkdirSync(RUNS, { recursive: true });
  const dir = fs.mkdtempSync(path.join(RUNS, `${name}-`));
  fs.cpSync(path.join(REPO, 'tests', 'fixtures', name), dir, { recursive: true });
  return dir;
}

/** The environment without the caller's testflow and CI-shard variables, plus `extra`. */
function cleanEnv(extra = {}) {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('TESTFLOW_') || k.startsWith('CI_NODE')) delete env[k];
  return { ...env, NO_COLOR: '1', ...extra };
}

function jest(dir, args = [], env = {}) {
  const res = spawnSync(process.execPath, [JEST, ...args], { cwd: dir, env: cleanEnv(env), encoding: 'utf8', timeout: 120000, maxBuffer: 256 * 1024 * 1024 });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

function testflow(dir, args, env = {}) {
  const res = spawnSync(BIN, ['testflow', ...args], { cwd: dir, env: cleanEnv(env), encoding: 'utf8', timeout: 180000, maxBuffer: 256 * 1024 * 1024 });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** Run commands at once; resolves to their { status, stdout, stderr } in order. */
function parallel(dir, commands, env = {}) {
  return Promise.all(
    commands.map(
      ([cmd, args]) =>
        new Promise((resolve, reject) => {
          const child = spawn(cmd, args, { cwd: dir, env: cleanEnv(env) });
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (d) => (stdout += d));
          child.stderr.on('data', (d) => (stderr += d));
          child.on('error', reject);
          child.on('close', (status) => resolve({ status, stdout, stderr }));
        }),
    ),
  );
}

module.exports = { REPO, WORK, BIN, JEST, RUNS, copyFixture, cleanEnv, jest, testflow, parallel };
