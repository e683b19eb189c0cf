'use strict';
// `cargo testflow run --coverage` on a Jest project, end to end (Jest's own --coverage,
// Istanbul JSON). The fixture (tests/fixtures/jest-coverage, see its EXPECTED.md)
// measures only src/calc.js, and every test file reaches lines no other file does: two
// shards each cover strictly less than the whole, and merged they give the whole again.
// Same setup as sharding.test.js (TESTFLOW_JEST_WORK, TESTFLOW_BIN).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { BIN, copyFixture, testflow, parallel } = require('./processes');

const skip = !BIN && 'TESTFLOW_BIN not set';

// All four test files run (EXPECTED.md): src/calc.js only.
const FULL = { lines: [17, 22], branches: [12, 16], functions: [4, 5] };

const project = () => copyFixture('jest-coverage');

const ratio = (r) => [r.covered, r.total];
const totals = (cov) => ({ lines: ratio(cov.totals.lines), branches: ratio(cov.totals.branches), functions: ratio(cov.totals.functions) });
function perFile(cov) {
  const out = {};
  for (const f of cov.files) {
    out[f.path] = { lines: ratio(f.lines), branches: ratio(f.branches), functions: ratio(f.functions) };
  }
  return out;
}
const runDir = (dir, run) => path.join(dir, '.testflow', 'runs', run.run_id);

/** Lines with hits per file in an LCOV file. */
function coveredLines(lcov) {
  const out = {};
  let current = null;
  for (const line of fs.readFileSync(lcov, 'utf8').split('\n')) {
    if (line.startsWith('SF:')) current = out[line.slice(3)] = new Set();
    else if (line.startsWith('DA:')) {
      const [n, hits] = line.slice(3).split(',').map(Number);
      if (hits > 0) current.add(n);
    }
  }
  return out;
}

function runCoverage(dir, args = []) {
  const r = testflow(dir, ['run', '--coverage', '--format', 'json', '-q', ...args]);
  assert.ok(r.stdout, r.stderr);
  return { ...r, run: JSON.parse(r.stdout) };
}

test('run --coverage collects Jest coverage with exact totals', { skip }, () => {
  const dir = project();
  const { status, stderr, run } = runCoverage(dir);
  assert.equal(status, 0, stderr);
  assert.equal(run.summary.total, 10);
  assert.equal(run.summary.passed, 10);
  const cov = run.coverage;
  assert.deepEqual(cov.frameworks, [{ framework: 'jest', status: 'collected' }]);
  assert.deepEqual(cov.reports, ['coverage/jest/coverage-final.json']);
  const d = runDir(dir, run);
  assert.ok(fs.existsSync(path.join(d, 'coverage', 'jest', 'coverage-final.json')));
  assert.ok(!fs.existsSync(path.join(dir, 'coverage')), 'Jest wrote into the run, not the project');
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(d, 'run.json'), 'utf8')).coverage, cov);

  // collectCoverageFrom: only src/calc.js, never the test files.
  assert.deepEqual(perFile(cov), { 'src/calc.js': FULL });
  assert.deepEqual(totals(cov), FULL);
  assert.equal(cov.previous, undefined, 'the first run has nothing to compare with');

  const lcov = path.join(d, 'coverage', 'merged.lcov');
  const lines = coveredLines(lcov);
  assert.deepEqual(Object.keys(lines), ['src/calc.js']);
  assert.equal(lines['src/calc.js'].size, 17);
  for (const n of [38, 39, 40, 42, 43]) assert.ok(!lines['src/calc.js'].has(n), `describe's line ${n} never runs`);

  // The one function no test calls is the first gap.
  const g = testflow(dir, ['coverage', 'gaps', '--run', run.run_id, '--format', 'json']);
  assert.equal(g.status, 0, g.stderr);
  const gaps = JSON.parse(g.stdout).gaps;
  assert.deepEqual([gaps[0].file, gaps[0].function], ['src/calc.js', 'describe']);
  assert.deepEqual(gaps.map((x) => x.function), ['describe']);
});

/** Files in Jest's transform cache under `cacheDir` (one per transformed, instrumented file and cache key). */
function transformCacheFiles(cacheDir) {
  if (!fs.existsSync(cacheDir)) return [];
  return fs
    .readdirSync(cacheDir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && path.join(e.parentPath ?? e.path, e.name).includes('jest-transform-cache'))
    .map((e) => path.join(e.parentPath ?? e.path, e.name));
}

// Jest's coverageDirectory is part of its project config, and so of every transform cache
// key: a directory new each run (the run's own) made every coverage run re-transform and
// re-instrument every file (bench/RESULTS.md, 2026-12-02 and 2026-12-03).
test('a second run --coverage reuses Jest\'s transform cache, with the same coverage', { skip }, () => {
  const dir = project();
  const cache = path.join(dir, 'jest-cache');
  const first = runCoverage(dir, ['--', `--cacheDirectory=${cache}`]);
  assert.equal(first.status, 0, first.stderr);
  const after1 = transformCacheFiles(cache);
  assert.ok(after1.length >= 5, `Jest cached its transforms in ${cache}: ${after1.length} files`);
  const second = runCoverage(dir, ['--', `--cacheDirectory=${cache}`]);
  assert.equal(second.status, 0, second.stderr);
  assert.notEqual(second.run.run_id, first.run.run_id);
  assert.deepEqual(transformCacheFiles(cache).sort(), after1.sort(), 'the second run transformed nothing again');
  const { previous, ...cov2 } = second.run.coverage;
  assert.equal(previous.run_id, first.run.run_id);
  assert.deepEqual(cov2, first.run.coverage);
  assert.deepEqual(totals(cov2), FULL);
  const report = (r) => JSON.parse(fs.readFileSync(path.join(runDir(dir, r), 'coverage', 'jest', 'coverage-final.json'), 'utf8'));
  assert.deepEqual(report(second.run), report(first.run), 'the same Istanbul report, hit counts included');
});

test('two parallel shards with coverage merge into the unsharded coverage', { skip }, async () => {
  const dir = project();
  const { status, stderr, run: full } = runCoverage(dir);
  assert.equal(status, 0, stderr);

  // Whole files per shard; count keeps the split stable (two files each).
  const results = await parallel(
    dir,
    [1, 2].map((k) => [
      BIN,
      ['testflow', 'run', '--coverage', '--shard', `${k}/2`, '--shard-strategy', 'count', '-j', '2', '--format', 'json', '-q'],
    ]),
  );
  const shards = results.map((res, i) => {
    assert.equal(res.status, 0, `shard ${i + 1}: ${res.stderr}`);
    return JSON.parse(res.stdout);
  });
  const ran = shards.flatMap((s) => s.tests.map((t) => t.id)).sort();
  assert.deepEqual(ran, full.tests.map((t) => t.id).sort(), 'every test in exactly one shard');

  const fullLines = coveredLines(path.join(runDir(dir, full), 'coverage', 'merged.lcov'))['src/calc.js'];
  const shardLines = [];
  shards.forEach((s, i) => {
    assert.ok(s.tests.length > 0, `shard ${i + 1} is empty`);
    const cov = s.coverage;
    assert.deepEqual(cov.frameworks, [{ framework: 'jest', status: 'collected' }], `shard ${i + 1}`);
    // Each shard wrote its own report, in its own run directory.
    assert.ok(fs.existsSync(path.join(runDir(dir, s), 'coverage', 'jest', 'coverage-final.json')));
    assert.equal(cov.totals.lines.total, 22);
    assert.ok(cov.totals.lines.covered < 17, `shard ${i + 1} alone: ${JSON.stringify(cov.totals)}`);
    assert.ok(cov.totals.branches.covered < 12, `shard ${i + 1} alone: ${JSON.stringify(cov.totals)}`);
    shardLines.push(coveredLines(path.join(runDir(dir, s), 'coverage', 'merged.lcov'))['src/calc.js']);
  });
  assert.deepEqual(new Set([...shardLines[0], ...shardLines[1]]), fullLines, 'together they cover what the whole run covers');

  const out = path.join(dir, 'merged');
  const m = testflow(dir, ['merge', ...shards.map((s) => s.run_id), '-o', out, '--format', 'json']);
  assert.equal(m.status, 0, m.stderr);
  const merged = JSON.parse(m.stdout).coverage;
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8')).coverage, merged);
  assert.deepEqual(merged.frameworks, [{ framework: 'jest', status: 'collected' }]);
  assert.deepEqual(perFile(merged), perFile(full.coverage));
  assert.deepEqual(totals(merged), FULL);
  assert.deepEqual(coveredLines(path.join(out, 'coverage', 'merged.lcov'))['src/calc.js'], fullLines);

  const rep = testflow(dir, ['coverage', 'report', '--run', out, '--format', 'json']);
  assert.equal(rep.status, 0, rep.stderr);
  const report = JSON.parse(rep.stdout);
  assert.deepEqual(perFile(report), { 'src/calc.js': FULL });
  assert.deepEqual(totals(report), FULL);
});
