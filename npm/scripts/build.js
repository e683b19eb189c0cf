#!/usr/bin/env node
// Builds the testflow napi addon with cargo and puts it next to this package as
// `testflow.node`. Runs on `npm install` (the package's install script) and by hand:
//   node scripts/build.js            release build
//   TESTFLOW_ADDON_PROFILE=dev node scripts/build.js   faster debug build
// Needs the testflow repository around this package (bindings/node) and cargo.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const pkgDir = path.resolve(__dirname, '..');
const repo = path.resolve(pkgDir, '..');
const manifest = path.join(repo, 'Cargo.toml');
const dest = path.join(pkgDir, 'testflow.node');

function fail(msg) {
  process.stderr.write(`jest-testflow: ${msg}\n`);
  process.exit(1);
}

if (process.env.TESTFLOW_SKIP_ADDON_BUILD) {
  process.exit(0);
}
if (!fs.existsSync(path.join(repo, 'bindings', 'node', 'Cargo.toml'))) {
  if (fs.existsSync(dest)) process.exit(0); // a packed package that ships its addon
  // A published release: the addon comes prebuilt in this platform's optional package.
  const { resolveAddon } = require('../native');
  if (resolveAddon().from === 'prebuilt package') process.exit(0);
  const { platformKey } = require('../platform');
  fail(
    `no addon for this machine: the prebuilt package jest-testflow-${platformKey()} is not installed ` +
      `(npm skips it when installing with --no-optional/--omit=optional, or when no release was built for this platform), ` +
      `and ${path.join(repo, 'bindings/node')} is missing, so it cannot be built either (install from a testflow checkout: npm install <testflow>/npm)`,
  );
}
const cargo = process.env.CARGO || 'cargo';
const profile = process.env.TESTFLOW_ADDON_PROFILE || 'release';
const args = ['build', '--manifest-path', manifest, '-p', 'testflow-node', '--profile', profile, '--message-format=json-render-diagnostics'];
process.stderr.write(`jest-testflow: building the addon (${cargo} ${args.slice(0, 7).join(' ')}) …\n`);
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
