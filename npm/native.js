'use strict';
// Loads the napi addon once. A missing or broken addon is one clear error that says
// what to do, never Node's loader stack.
//
// Where the addon comes from, first found wins:
//   1. TESTFLOW_NODE_ADDON (a path), for testing a build by hand;
//   2. testflow.node next to this file: built from a checkout by scripts/build.js;
//   3. the prebuilt per-platform package of a published release
//      (jest-testflow-<platform>, see platform.js), installed as an optional dependency.
const path = require('node:path');
const fs = require('node:fs');
const { platformKey } = require('./platform');

const localAddon = path.join(__dirname, 'testflow.node');
let native;
let failure;

function cleanError(message) {
  const err = new Error(message);
  err.stack = message; // Jest prints `stack`: keep it to the one message
  return err;
}

/** The prebuilt addon's path if this platform's package is installed, else undefined. */
function prebuiltAddon() {
  const key = platformKey();
  const pkg = `jest-testflow-${key}`;
  try {
    const manifest = require.resolve(`${pkg}/package.json`, { paths: [__dirname] });
    const file = path.join(path.dirname(manifest), `testflow.${key}.node`);
    return fs.existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
}

/** The addon this process would load, and where it came from. */
function resolveAddon() {
  if (process.env.TESTFLOW_NODE_ADDON) return { file: process.env.TESTFLOW_NODE_ADDON, from: 'TESTFLOW_NODE_ADDON' };
  if (fs.existsSync(localAddon)) return { file: localAddon, from: 'checkout build' };
  const prebuilt = prebuiltAddon();
  if (prebuilt) return { file: prebuilt, from: 'prebuilt package' };
  return { file: localAddon, from: 'missing' };
}

function load() {
  if (native) return native;
  if (failure) throw failure;
  const { file } = resolveAddon();
  try {
    native = require(file);
    return native;
  } catch (e) {
    const missing = e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(file);
    const why = missing
      ? `the native addon is missing: no ${localAddon} and no prebuilt package jest-testflow-${platformKey()} for this platform`
      : `the native addon ${file} could not be loaded: ${String((e && e.message) || e).split('\n')[0]}`;
    failure = cleanError(
      `jest-testflow: ${why}.\n` +
        `  Build it (needs cargo): node ${path.join(__dirname, 'scripts', 'build.js')}\n` +
        `  or rerun its install script: npm rebuild jest-testflow`,
    );
    throw failure;
  }
}

module.exports = { load, cleanError, resolveAddon, addonPath: localAddon };
