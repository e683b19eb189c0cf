#!/usr/bin/env node
// `npm pack` of npm/ in a testflow checkout (the package's prepack and postpack scripts):
//   node scripts/pack-sources.js copy    copies the Rust sources the addon is built from
//                                        into rust/, so the tarball builds anywhere with
//                                        cargo (a tarball carries no workspace around it);
//   node scripts/pack-sources.js clean   removes rust/ again (postpack).
// Copied: the workspace manifest and Cargo.lock, the engine and the schema crates
// (cargo-testflow/engine, cargo-testflow/schema: manifests and src/), the command line's
// manifest and src/ (a workspace member cargo reads) and the bindings (manifests, build scripts, src/): what `cargo build --locked
// -p testflow-node` reads. Not copied: tests, fixtures, benches, target/.
// npm runs postpack only when the pack succeeded: after a failed `npm pack`, npm/rust/ is
// left (git shows it) until the next pack or `node scripts/pack-sources.js clean`; the
// install script in a checkout builds from the checkout, never from it.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const pkgDir = path.resolve(__dirname, '..');
const repo = path.resolve(pkgDir, '..');
const out = path.join(pkgDir, 'rust');

// Paths relative to the checkout; directories are copied whole.
const SOURCES = [
  'Cargo.toml',
  'Cargo.lock',
  'cargo-testflow/Cargo.toml',
  'cargo-testflow/src',
  'cargo-testflow/engine/Cargo.toml',
  'cargo-testflow/engine/src',
  'cargo-testflow/schema/Cargo.toml',
  'cargo-testflow/schema/src',
  'bindings/node/Cargo.toml',
  'bindings/node/build.rs',
  'bindings/node/src',
  // A workspace member: cargo reads its manifest (the python crate is not built here).
  'bindings/python/Cargo.toml',
  'bindings/python/src',
];

function fail(msg) {
  process.stderr.write(`jest-testflow pack: ${msg}\n`);
  process.exit(1);
}

function copy() {
  fs.rmSync(out, { recursive: true, force: true });
  for (const rel of SOURCES) {
    const src = path.join(repo, rel);
    if (!fs.existsSync(src)) fail(`${src} is missing: \`npm pack\` of jest-testflow works only in a testflow checkout`);
    fs.cpSync(src, path.join(out, rel), { recursive: true, filter: (p) => path.basename(p) !== 'target' });
  }
  // Where the sources came from: an install on this machine builds from there while the
  // checkout still holds exactly these sources (scripts/build.js), so that the engine
  // cargo compiles is the one `pip install ./python` compiled (cargo keys a build by its
  // source path; the same sources at another path are compiled again).
  fs.writeFileSync(path.join(out, 'CHECKOUT'), `${repo}\n`);
}

function clean() {
  fs.rmSync(out, { recursive: true, force: true });
}

const cmd = process.argv[2];
if (cmd === 'copy') copy();
else if (cmd === 'clean') clean();
else fail(`unknown command ${cmd} (expected copy or clean)`);
