'use strict';
// History, shards and merging for Jest: the distributed path on one machine. Four
// `jest --shard K/N` processes run at once with the testflow sequencer (timings from
// history at file grain), `cargo testflow merge` joins them, and the merge must equal the
// unsharded run. Same setup as e2e.test.js (TESTFLOW_JEST_WORK, TESTFLOW_BIN).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { BIN, JEST, copyFixture, jest, testflow, parallel } = require('./processes');

const RECORD = ['--ci', '--reporters=default', '--reporters=jest-testflow'];
const project = () => copyFixture('jest-shard');

function runs(dir) {
  const root = path.join(dir, '.testflow', 'runs');
  return fs
    .readdirSync(root)
    .sort()
    .map((id) => JSON.parse(fs.readFileSync(path.join(root, id, 'run.json'), 'utf8')));
}

function outcomes(run) {
  const out = {};
  for (const t of run.tests) {
    assert.ok(!(t.id in out), `${t.id} recorded twice`);
    out[t.id] = t.outcome;
  }
  return out;
}

/** Every test in exactly one shard, whole files per shard, the slow files apart. */
function checkShards(full, shards, strategy) {
  const testShard = {};
  const fileShard = {};
  shards.forEach((run, i) => {
    assert.deepEqual(run.shard, { index: i + 1, total: 4, strategy });
    for (const t of run.tests) {
      assert.ok(!(t.id in testShard), `${t.id} ran in shards ${testShard[t.id]} and ${i + 1}`);
      testShard[t.id] = i + 1;
      assert.ok(!(t.file in fileShard) || fileShard[t.file] === i + 1, `${t.file} was split`);
      fileShard[t.file] = i + 1;
    }
  });
  assert.deepEqual(Object.keys(testShard).sort(), Object.keys(outcomes(full)).sort(), 'every test in exactly one shard');
  if (strategy === 'timings') {
    assert.notEqual(fileShard['src/slow.test.js'], fileShard['src/medium.test.js'], 'the two slow files go apart');
  }
}

test('four parallel jest --shard runs merge into the unsharded run', async () => {
  const dir = project();
  const r = jest(dir, RECORD);
  assert.equal(r.status, 1, r.stderr);
  const [full] = runs(dir);
  assert.equal(full.shard, undefined);
  assert.equal(full.summary.total, 16);

  // History has the unsharded run now: the sequencer plans by its timings.
  const results = await parallel(
    dir,
    [1, 2, 3, 4].map((k) => [process.execPath, [JEST, ...RECORD, `--shard=${k}/4`]]),
  );
  results.forEach((res, i) => {
    assert.ok([0, 1].includes(res.status), `shard ${i + 1}: ${res.stderr}`);
    assert.match(res.stderr, new RegExp(`testflow: shard ${i + 1}/4 \\(timings\\): \\d of 7 files`));
  });
  const shards = runs(dir)
    .slice(1)
    .sort((a, b) => a.shard.index - b.shard.index);
  assert.equal(shards.length, 4);
  checkShards(full, shards, 'timings');

  if (BIN) {
    const out = path.join(dir, 'merged');
    const m = testflow(dir, ['merge', ...shards.map((s) => s.run_id), '-o', out, '--format', 'json']);
    assert.equal(m.status, 100, m.stderr);
    const merged = JSON.parse(m.stdout);
    assert.deepEqual(outcomes(merged), outcomes(full), 'same tests, same outcomes');
    assert.equal(merged.completed, true);
    assert.ok(!(merged.errors || []).some((e) => e.kind === 'duplicate' || e.kind === 'missing'));
  }
});

test('an empty jest shard exits 0 with --passWithNoTests and says so', () => {
  const dir = project();
  const r = jest(dir, [...RECORD, '--shard=4/4', '--passWithNoTests', 'src/a.test'], { TESTFLOW_SHARD_STRATEGY: 'count' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /testflow: shard 4\/4 \(count\): 0 of 1 files/);
  const [run] = runs(dir);
  assert.deepEqual(run.shard, { index: 4, total: 4, strategy: 'count' });
  assert.equal(run.summary.total, 0);
});

test('the sequencer orders by history and runs only the last failures on request', () => {
  const dir = project();
  assert.equal(jest(dir, RECORD).status, 1);
  const list = (env, args = []) =>
    jest(dir, ['--listTests', ...args], env)
      .stdout.split('\n')
      .filter((l) => l.endsWith('.test.js'))
      .map((l) => path.relative(dir, l));
  assert.deepEqual(list({ TESTFLOW_ORDER: 'slowest-first' }).slice(0, 2), ['src/slow.test.js', 'src/medium.test.js']);
  assert.deepEqual(list({ TESTFLOW_ORDER: 'fastest-first' }).slice(-2), ['src/medium.test.js', 'src/slow.test.js']);
  assert.deepEqual(list({ TESTFLOW_ORDER: 'failed-first' })[0], 'src/math.test.js');
  assert.deepEqual(list({ TESTFLOW_LAST_FAILED: '1' }), ['src/math.test.js']);
  // The four shards' file lists partition the files.
  const all = [1, 2, 3, 4].flatMap((k) => list({}, [`--shard=${k}/4`]));
  assert.deepEqual([...all].sort(), list({}).sort());
  assert.equal(new Set(all).size, 7);
  const bad = jest(dir, ['--listTests', '--shard=1/4'], { TESTFLOW_SHARD_STRATEGY: 'fastest' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /a shard strategy is timings, hash or count/);
});

test('cargo testflow run --shard splits a Jest project; the shards merge into the unsharded run', { skip: !BIN && 'TESTFLOW_BIN not set' }, async () => {
  const dir = project();
  const r = testflow(dir, ['run', '--format', 'json', '-q']);
  assert.equal(r.status, 100, r.stderr);
  const full = JSON.parse(r.stdout);
  assert.equal(full.summary.total, 16);

  const lf = testflow(dir, ['run', '--last-failed', '--format', 'json', '-q']);
  assert.equal(lf.status, 100, lf.stderr);
  assert.deepEqual([...new Set(JSON.parse(lf.stdout).tests.map((t) => t.file))], ['src/math.test.js']);

  const results = await parallel(
    dir,
    [1, 2, 3, 4].map((k) => [BIN, ['testflow', 'run', '-j', '2', '--shard', `${k}/4`, '--format', 'json', '-q']]),
  );
  const shards = results.map((res, i) => {
    assert.ok([0, 100].includes(res.status), `shard ${i + 1}: ${res.stderr}`);
    return JSON.parse(res.stdout);
  });
  checkShards(full, shards, 'timings');
  const m = testflow(dir, ['merge', ...shards.map((s) => s.run_id), '-o', path.join(dir, 'merged'), '--format', 'json']);
  assert.equal(m.status, 100, m.stderr);
  assert.deepEqual(outcomes(JSON.parse(m.stdout)), outcomes(full));

  // Seven files, eight shards: the last one is empty.
  const e = testflow(dir, ['run', '--shard', '8/8', '--shard-strategy', 'count']);
  assert.equal(e.status, 0, e.stderr);
  assert.match(e.stderr, /shard 8\/8 has no tests to run/);
});
