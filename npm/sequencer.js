'use strict';
// testSequencer: "jest-testflow/sequencer". Orders test files failed-first, then new,
// then slowest-first from the latest testflow run (the engine decides; see
// cargo-testflow/src/ordering.rs). Without any recorded run it keeps Jest's own order.
const path = require('node:path');
const { load } = require('./native');

function jestBaseSequencer() {
  // This package is often a symlink into a testflow checkout: resolve Jest's sequencer
  // from the project being tested, not from here.
  for (const from of [process.cwd(), __dirname]) {
    try {
      const mod = require(require.resolve('@jest/test-sequencer', { paths: [from] }));
      return mod.default || mod;
    } catch {}
  }
  return class {
    sort(tests) {
      return tests;
    }
    cacheResults() {}
    allFailedTests(tests) {
      return tests;
    }
  };
}

const Base = jestBaseSequencer();

class TestflowSequencer extends Base {
  sort(tests) {
    if (tests.length === 0) return tests;
    const rootDir = tests[0].context.config.rootDir;
    const native = load();
    const { existsSync } = require('node:fs');
    if (!existsSync(path.join(rootDir, '.testflow')) && !process.env.TESTFLOW_DIR) {
      return super.sort(tests);
    }
    const order = native.orderFiles(rootDir, tests.map((t) => t.path));
    const byPath = new Map();
    for (const t of tests) {
      if (!byPath.has(t.path)) byPath.set(t.path, []);
      byPath.get(t.path).push(t);
    }
    const out = [];
    for (const p of order) out.push(...(byPath.get(p) || []).splice(0));
    return out;
  }
}

module.exports = TestflowSequencer;
module.exports.default = TestflowSequencer;
