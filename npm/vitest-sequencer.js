'use strict';
// sequence.sequencer: "jest-testflow/vitest-sequencer". The engine decides (cargo-testflow/
// engine/src/selection.rs and ordering.rs); this file only hands it the file list, like
// the Jest sequencer (sequencer.js).
//
// shard(): with `vitest --shard K/N`, this shard's files from a timing-based plan over
// testflow's history (whole files; each file's test durations summed), hash when there is
// no history; TESTFLOW_SHARD_STRATEGY=timings|hash|count overrides.
// sort(): failed-first, then new, then slowest-first from the latest testflow run; or
// TESTFLOW_ORDER / TESTFLOW_LAST_FAILED=1. Without any recorded run it keeps Vitest's order.
//
// It does not extend Vitest's BaseSequencer (vitest/node is ESM-only, and this package
// must not resolve Vitest from where it is installed): Vitest only calls these two methods.
const path = require('node:path');
const { existsSync } = require('node:fs');
const { load } = require('./native');

function rootOf(ctx) {
  return (ctx && ctx.config && ctx.config.root) || process.cwd();
}

/** Vitest's specifications in the order of `files` (module ids), dropping the rest. */
function pick(specs, files) {
  const byPath = new Map();
  for (const s of specs) {
    const id = moduleId(s);
    if (!byPath.has(id)) byPath.set(id, []);
    byPath.get(id).push(s);
  }
  const out = [];
  for (const f of files) out.push(...(byPath.get(f) || []).splice(0));
  return out;
}

/** A TestSpecification's file (Vitest 3 and 4: `moduleId`; the older tuple: `[project, file]`). */
function moduleId(spec) {
  if (spec && typeof spec.moduleId === 'string') return spec.moduleId;
  return Array.isArray(spec) ? spec[1] : String(spec);
}

class TestflowVitestSequencer {
  constructor(ctx) {
    this.ctx = ctx;
  }

  async shard(specs) {
    if (specs.length === 0) return specs;
    const shard = this.ctx.config.shard;
    if (!shard) return specs;
    const files = [...new Set(specs.map(moduleId))].sort();
    const selected = load().selectFiles({
      rootDir: rootOf(this.ctx),
      files,
      shardIndex: shard.index,
      shardCount: shard.count,
    });
    if (!process.env.TESTFLOW_EVENTS) {
      for (const n of selected.notes) process.stderr.write(`testflow: ${n}\n`);
    }
    return pick(specs, selected.files);
  }

  async sort(specs) {
    if (specs.length === 0) return specs;
    const rootDir = rootOf(this.ctx);
    const root = load().projectRoot(rootDir);
    if (!existsSync(path.join(root, '.testflow')) && !process.env.TESTFLOW_DIR) return specs;
    return pick(specs, load().sortFiles(rootDir, specs.map(moduleId)));
  }
}

module.exports = TestflowVitestSequencer;
module.exports.default = TestflowVitestSequencer;
module.exports.TestflowVitestSequencer = TestflowVitestSequencer;
