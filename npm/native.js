'use strict';
// Loads the napi addon once. A missing or broken addon is one clear error that says
// what to do, never Node's loader stack.
const path = require('node:path');

const addonPath = process.env.TESTFLOW_NODE_ADDON || path.join(__dirname, 'testflow.node');
let native;
let failure;

function cleanError(message) {
  const err = new Error(message);
  err.stack = message; // Jest prints `stack`: keep it to the one message
  return err;
}

function load() {
  if (native) return native;
  if (failure) throw failure;
  try {
    native = require(addonPath);
    return native;
  } catch (e) {
    const missing = e && e.code === 'MODULE_NOT_FOUND' && String(e.message).includes(addonPath);
    const why = missing
      ? `the native addon is missing (${addonPath})`
      : `the native addon ${addonPath} could not be loaded: ${String((e && e.message) || e).split('\n')[0]}`;
    failure = cleanError(
      `jest-testflow: ${why}.\n` +
        `  Build it (needs cargo): node ${path.join(__dirname, 'scripts', 'build.js')}\n` +
        `  or rerun its install script: npm rebuild jest-testflow`,
    );
    throw failure;
  }
}

module.exports = { load, cleanError, addonPath };
