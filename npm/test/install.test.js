'use strict';
// Installing jest-testflow from a checkout: `npm pack` carries the Rust sources the
// install script builds from (and leaves the checkout as it was), the work dir's
// jest-testflow is a copy from that tarball (run-all.sh installs it), and the install
// script names what is missing when it has nothing to build from. The build itself is
// the work dir's install, which every other test here uses.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { REPO, WORK, RUNS, cleanEnv } = require('./processes');
const { targetDir, sourceDir } = require('../scripts/build');

const INSTALLED = path.join(WORK, 'node_modules', 'jest-testflow');

function sh(cmd, args, opts) {
  return spawnSync(cmd, args, { encoding: 'utf8', timeout: 300000, env: cleanEnv(), ...opts });
}

test('npm pack carries the sources cargo builds the addon from, and leaves npm/ as it was', () => {
  fs.mkdirSync(RUNS, { recursive: true });
  const dest = fs.mkdtempSync(path.join(RUNS, 'pack-'));
  const before = fs.readdirSync(path.join(REPO, 'npm')).sort();
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const res = sh(npm, ['pack', path.join(REPO, 'npm'), '--pack-destination', dest, '--loglevel=error'], { cwd: dest });
  assert.equal(res.status, 0, res.stderr);
  const [tarball] = fs.readdirSync(dest).filter((f) => f.endsWith('.tgz'));
  assert.ok(tarball, `npm pack wrote no tarball: ${res.stdout}`);
  const list = sh('tar', ['tzf', path.join(dest, tarball)]);
  assert.equal(list.status, 0, list.stderr);
  const files = list.stdout.trim().split('\n');
  for (const f of ['rust/CHECKOUT', 'rust/Cargo.toml', 'rust/Cargo.lock', 'rust/cargo-testflow/Cargo.toml', 'rust/cargo-testflow/engine/src/lib.rs', 'rust/cargo-testflow/schema/src/lib.rs', 'rust/bindings/node/Cargo.toml', 'rust/bindings/node/build.rs', 'rust/bindings/node/src/lib.rs', 'scripts/build.js', 'native.js']) {
    assert.ok(files.includes(`package/${f}`), `${f} is in the tarball`);
  }
  assert.deepEqual(files.filter((f) => /(^|\/)target\/|\.node$/.test(f)), [], 'no build output in the tarball');
  assert.deepEqual(fs.readdirSync(path.join(REPO, 'npm')).sort(), before, 'npm/ is as it was (postpack removed rust/)');
});

test('the installed jest-testflow is a copy from the tarball, with its addon, naming the checkout it was packed in', () => {
  assert.ok(!fs.lstatSync(INSTALLED).isSymbolicLink(), `${INSTALLED} is a copy, not a file: link`);
  assert.equal(fs.readFileSync(path.join(INSTALLED, 'rust', 'CHECKOUT'), 'utf8').trim(), REPO, 'the tarball names the checkout it was packed in');
  assert.ok(fs.statSync(path.join(INSTALLED, 'testflow.node')).size > 0, 'the install script built the addon');
  assert.ok(!fs.existsSync(path.join(REPO, 'npm', 'rust')), 'no sources left in the checkout');
});

test('the addon builds in $CARGO_TARGET_DIR, else the per-user cache shared with the pip install', () => {
  assert.equal(targetDir({ CARGO_TARGET_DIR: '/t/x', HOME: '/h' }), path.resolve('/t/x'));
  assert.equal(targetDir({ XDG_CACHE_HOME: '/c', HOME: '/h' }), path.join('/c', 'testflow', 'target'));
  assert.equal(targetDir({ HOME: '/h' }), path.join('/h', '.cache', 'testflow', 'target'));
  // A relative XDG_CACHE_HOME is invalid (XDG base directory spec): ignored.
  assert.equal(targetDir({ XDG_CACHE_HOME: 'rel', HOME: '/h' }), path.join('/h', '.cache', 'testflow', 'target'));
  assert.equal(sourceDir(path.join(REPO, 'npm')).dir, REPO, 'in a checkout: the workspace around npm/');
});

test('a packed install builds from its checkout while that holds the same sources, else from its own copy', () => {
  // A copy of the installed package (with its rust/ and CHECKOUT) whose checkout is a
  // fake one holding the same files: then one file differs, then the checkout is gone.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'testflow-sources-'));
  try {
    const pkg = path.join(dir, 'node_modules', 'jest-testflow');
    fs.cpSync(path.join(INSTALLED, 'rust'), path.join(pkg, 'rust'), { recursive: true });
    const checkout = path.join(dir, 'checkout');
    fs.cpSync(path.join(pkg, 'rust'), checkout, { recursive: true });
    fs.writeFileSync(path.join(pkg, 'rust', 'CHECKOUT'), `${checkout}\n`);
    assert.equal(sourceDir(pkg).dir, checkout);
    fs.appendFileSync(path.join(checkout, 'cargo-testflow', 'engine', 'src', 'lib.rs'), '// changed since npm pack\n');
    assert.equal(sourceDir(pkg).dir, path.join(pkg, 'rust'), 'the checkout moved on: the packed sources');
    fs.rmSync(checkout, { recursive: true });
    assert.equal(sourceDir(pkg).dir, path.join(pkg, 'rust'), 'no checkout: the packed sources');
    assert.match(sourceDir(pkg).from, /packed into it/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('with no sources and no prebuilt addon, the install script fails naming what is missing', () => {
  // Outside any checkout: the installed package without its rust/ and its addon.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'testflow-nosources-'));
  try {
    const pkg = path.join(dir, 'node_modules', 'jest-testflow');
    fs.cpSync(INSTALLED, pkg, { recursive: true, filter: (p) => !p.startsWith(path.join(INSTALLED, 'rust')) && !p.endsWith('.node') });
    const res = sh(process.execPath, [path.join(pkg, 'scripts', 'build.js')], { cwd: pkg });
    assert.equal(res.status, 1, res.stderr);
    assert.match(res.stderr, /no Rust sources to build it from .*rust.*npm pack <testflow checkout>\/npm/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
