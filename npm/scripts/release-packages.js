#!/usr/bin/env node
// Lays out the npm packages of a release, ready for `npm publish`:
//   OUT/<key>/        jest-testflow-<key>: one prebuilt addon, os/cpu/libc set so npm
//                     installs it only where it runs (the napi-rs convention);
//   OUT/jest-testflow/ the package users install, its optionalDependencies naming every
//                     platform package at the same version, and no install script (there
//                     is no checkout to build from; a missing addon is a clear load error).
//
//   node npm/scripts/release-packages.js --version 0.2.0 --addons DIR --out DIR
// DIR holds testflow.<key>.node files (<key> as in npm/platform.js, e.g. linux-x64-gnu),
// the release workflow's per-platform build artifacts. Publish OUT/<key>/ first, then
// OUT/jest-testflow/.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { TARGETS, packageConstraints } = require('../platform');

const pkgDir = path.resolve(__dirname, '..');

function fail(msg) {
  process.stderr.write(`release-packages: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i];
    const value = argv[i + 1];
    if (!['--version', '--addons', '--out'].includes(key)) fail(`unknown argument ${key} (expected --version, --addons, --out)`);
    if (value === undefined) fail(`${key} needs a value`);
    out[key.slice(2)] = value;
  }
  for (const k of ['version', 'addons', 'out']) if (!out[k]) fail(`--${k} is required`);
  if (!/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(out.version)) fail(`--version ${out.version} is not a semver version like 0.2.0`);
  return out;
}

function writeJson(file, value) {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const root = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  const addons = fs.readdirSync(args.addons).filter((f) => /^testflow\..+\.node$/.test(f)).sort();
  if (addons.length === 0) fail(`no testflow.<platform>.node files in ${args.addons}`);
  fs.mkdirSync(args.out, { recursive: true });

  const platforms = [];
  for (const file of addons) {
    const key = file.slice('testflow.'.length, -'.node'.length);
    if (!TARGETS[key]) fail(`${file}: unknown platform ${key} (known: ${Object.keys(TARGETS).join(', ')})`);
    const name = `${root.name}-${key}`;
    const dir = path.join(args.out, key);
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(path.join(args.addons, file), path.join(dir, file));
    writeJson(path.join(dir, 'package.json'), {
      name,
      version: args.version,
      description: `The ${key} (${TARGETS[key]}) build of the jest-testflow native addon`,
      license: root.license,
      repository: root.repository,
      main: file,
      files: [file],
      ...packageConstraints(key),
    });
    fs.writeFileSync(path.join(dir, 'README.md'), `# ${name}\n\nThe prebuilt ${TARGETS[key]} addon of [jest-testflow](https://www.npmjs.com/package/${root.name}). Install \`${root.name}\`, not this package.\n`);
    platforms.push(name);
  }

  const dir = path.join(args.out, root.name);
  fs.mkdirSync(path.join(dir, 'scripts'), { recursive: true });
  // Not the Rust sources `npm pack` adds (rust/): the published package loads its
  // platform package's addon and builds nothing.
  const files = root.files.filter((f) => f !== 'rust/');
  for (const f of files) {
    const src = path.join(pkgDir, f);
    if (!fs.existsSync(src)) fail(`${src} is listed in package.json "files" but missing`);
    fs.copyFileSync(src, path.join(dir, f));
  }
  const published = { ...root, version: args.version, files };
  delete published.scripts;
  published.optionalDependencies = Object.fromEntries(platforms.map((p) => [p, args.version]));
  writeJson(path.join(dir, 'package.json'), published);
  process.stdout.write(`${[...platforms, root.name].map((p) => `${p}@${args.version}`).join('\n')}\n`);
}

main();
