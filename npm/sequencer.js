'use strict';
// testSequencer: "jest-testflow/sequencer". The engine decides (cargo-testflow/engine/src/
// selection.rs and ordering.rs); this file only hands it the file list.
//
// shard(): with `jest --shard K/N`, this shard's files from a timing-based plan over
// testflow's history (whole files; each file's test durations summed), hash when there is
// no history; TESTFLOW_SHARD_STRATEGY=timings|hash|count overrides.
// sort(): failed-first, then new, then slowest-first from the latest testflow run; or
// TESTFLOW_ORDER=failed-first|slowest-first|fastest-first; TESTFLOW_LAST_FAILED=1 keeps
// only the files that failed last time. The engine reads those variables and orders
// (settings::order, selection::sort_files). Without any recorded run it keeps Jest's order.
const path = require('node:path');
const { existsSync } = require('node:fs');
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

/** Jest's tests (one per file and project) in the order of `files`, dropping the rest. */
function pick(tests, files) {
  const byPath = new Map();
  for (const t of tests) {
    if (!byPath.has(t.path)) byPath.set(t.path, []);
    byPath.get(t.path).push(t);
  }
  const out = [];
  for (const p of files) out.push(...(byPath.get(p) || []).splice(0));
  return out;
}

function hasHistory(rootDir) {
  const root = load().projectRoot(rootDir);
  return existsSync(path.join(root, '.testflow')) || Boolean(process.env.TESTFLOW_DIR);
}

class TestflowSequencer extends Base {
  shard(tests, options) {
    if (tests.length === 0) return tests;
    const rootDir = tests[0].context.config.rootDir;
    const files = [...new Set(tests.map((t) => t.path))].sort();
    const selected = load().selectFiles({
      rootDir,
      files,
      shardIndex: options.shardIndex,
      shardCount: options.shardCount,
    });
    if (!process.env.TESTFLOW_EVENTS) {
      for (const n of selected.notes) process.stderr.write(`testflow: ${n}\n`);
    }
    return pick(tests, selected.files);
  }

  sort(tests) {
    if (tests.length === 0) return tests;
    const rootDir = tests[0].context.config.rootDir;
    if (!hasHistory(rootDir)) return super.sort(tests);
    return pick(tests, load().sortFiles(rootDir, tests.map((t) => t.path)));
  }
}

module.exports = TestflowSequencer;
module.exports.default = TestflowSequencer;
