#!/usr/bin/env node
// Builds the testflow napi addon with cargo and puts it next to this package as
// `testflow.node`. Runs on `npm install` (the package's install script) and by hand:
//   node scripts/build.js            release build
//   TESTFLOW_ADDON_PROFILE=dev node scripts/build.js   faster debug build
//
// The Rust sources: the testflow checkout around this package (npm/ in a checkout), or
// rust/ inside it (a tarball made by `npm pack`, which copies them in: see
// scripts/pack-sources.js). Cargo builds into $CARGO_TARGET_DIR, else the shared cache
// ${XDG_CACHE_HOME:-~/.cache}/testflow/target, which `pip install ./python` uses too, so
// the second door reuses the engine the first built, and nothing is built into the
// checkout. Cargo locks that directory, so two installs at once wait for each other.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const pkgDir = path.resolve(__dirname, '..');
const dest = path.join(pkgDir, 'testflow.node');

/** Where cargo builds: $CARGO_TARGET_DIR, else the per-user cache shared with the pip install. */
function targetDir(env = process.env) {
  if (env.CARGO_TARGET_DIR) return path.resolve(env.CARGO_TARGET_DIR);
  const cache = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.join(env.HOME || os.homedir(), '.cache');
  return path.join(cache, 'testflow', 'target');
}

function isCheckout(dir) {
  return fs.existsSync(path.join(dir, 'bindings', 'node', 'Cargo.toml')) && fs.existsSync(path.join(dir, 'Cargo.toml'));
}

/** Every file under `dir`, relative to it. */
function filesUnder(dir, rel = '') {
  const out = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = path.join(rel, e.name);
    if (e.isDirectory()) out.push(...filesUnder(dir, r));
    else out.push(r);
  }
  return out;
}

/** True when `checkout` holds exactly the files packed into `packed` (byte for byte). */
function sameSources(packed, checkout) {
  try {
    return filesUnder(packed)
      .filter((f) => f !== 'CHECKOUT')
      .every((f) => fs.readFileSync(path.join(packed, f)).equals(fs.readFileSync(path.join(checkout, f))));
  } catch {
    return false; // a file missing from the checkout: it has moved on
  }
}

/**
 * The cargo workspace to build from, and why: the checkout around the package (npm/ in a
 * checkout, or a file: link to it); for a packed install, the checkout `npm pack` ran in
 * while it still holds exactly the packed sources (cargo then reuses the engine the pip
 * install compiled from it); else the packed sources themselves (rust/).
 */
function sourceDir(dir = pkgDir) {
  const around = path.resolve(dir, '..');
  if (isCheckout(around)) return { dir: around, from: 'the checkout around the package' };
  const packed = path.join(dir, 'rust');
  if (!fs.existsSync(path.join(packed, 'bindings', 'node', 'Cargo.toml'))) return undefined;
  let recorded;
  try {
    recorded = fs.readFileSync(path.join(packed, 'CHECKOUT'), 'utf8').trim();
  } catch {}
  if (recorded && isCheckout(recorded) && sameSources(packed, recorded)) {
    return { dir: recorded, from: `the checkout it was packed from (${recorded}), which holds the same sources` };
  }
  return { dir: packed, from: 'the sources packed into it' };
}

function fail(msg) {
  process.stderr.write(`jest-testflow: ${msg}\n`);
  process.exit(1);
}

function main() {
  if (process.env.TESTFLOW_SKIP_ADDON_BUILD) return;
  const source = sourceDir();
  if (!source) {
    if (fs.existsSync(dest)) return; // a package that ships its addon
    // A published release: the addon comes prebuilt in this platform's optional package.
    const { resolveAddon } = require('../native');
    if (resolveAddon().from === 'prebuilt package') return;
    const { platformKey } = require('../platform');
    fail(
      `no addon for this machine: the prebuilt package jest-testflow-${platformKey()} is not installed ` +
        `(npm skips it when installing with --no-optional/--omit=optional, or when no release was built for this platform), ` +
        `and there are no Rust sources to build it from (neither ${path.join(pkgDir, '..', 'bindings/node')} nor ${path.join(pkgDir, 'rust')}): ` +
        `install a tarball made by \`npm pack <testflow checkout>/npm\`, which carries them`,
    );
  }
  const cargo = process.env.CARGO || 'cargo';
  const profile = process.env.TESTFLOW_ADDON_PROFILE || 'release';
  const target = targetDir();
  const repo = source.dir;
  const manifest = path.join(repo, 'Cargo.toml');
  const args = ['build', '--locked', '--manifest-path', manifest, '-p', 'testflow-node', '--profile', profile, '--target-dir', target, '--message-format=json-render-diagnostics'];
  process.stderr.write(`jest-testflow: building the addon from ${source.from} (${cargo} ${args.slice(0, -1).join(' ')}) …\n`);
  const res = spawnSync(cargo, args, { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 256 * 1024 * 1024 });
  if (res.error) {
    fail(`cannot run cargo (${res.error.code || res.error.message}): install Rust from https://rustup.rs and run \`node ${path.join(pkgDir, 'scripts/build.js')}\``);
  }
  if (res.status !== 0) fail(`cargo build of the addon failed (exit ${res.status}); see the errors above`);
  let lib;
  for (const line of res.stdout.toString().split('\n')) {
    if (!line.startsWith('{')) continue;
    const msg = JSON.parse(line);
    if (msg.reason === 'compiler-artifact' && msg.target && msg.target.name === 'testflow_node') {
      lib = msg.filenames.find((f) => /\.(so|dylib|dll)$/.test(f));
    }
  }
  if (!lib) fail('cargo did not report the addon library (testflow_node cdylib)');
  const tmp = `${dest}.${process.pid}.tmp`;
  fs.copyFileSync(lib, tmp);
  fs.renameSync(tmp, dest); // atomic: a running Jest never sees half a library
  process.stderr.write(`jest-testflow: addon ready at ${dest}\n`);
}

if (require.main === module) main();

module.exports = { targetDir, sourceDir };
