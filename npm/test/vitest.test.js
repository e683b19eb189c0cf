'use strict';
// jest-testflow/vitest on every tested Vitest version (tests/run-all.sh, "Node: Vitest"):
// real Vitest on copies of tests/fixtures/vitest-*, through the reporter door (checked
// against Vitest's own JSON report of the same run) and through `cargo testflow run`,
// asserting on run.json, JUnit and exit statuses. Also the sequencer's shards and
// coverage from @vitest/coverage-v8.
//
// TESTFLOW_VITEST_VERSIONS=<dir> holds <dir>/<version>/node_modules/{vitest,
// @vitest/coverage-v8,jest-testflow} (run-all.sh installs them; jest-testflow is the packed
// one); TESTFLOW_BIN is the cargo-testflow binary. Without the variable (the Jest
// section's `node --test npm/test/`) these tests are skipped; run-all.sh runs them itself.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..');
const VERSIONS = process.env.TESTFLOW_VITEST_VERSIONS;
const BIN = process.env.TESTFLOW_BIN;
// Vitest 5 needs Node 22.12 or newer; 3 and 4 have the same reporter hooks.
const TESTED = ['3.2.7', '4.1.12'];
const skip = !VERSIONS && 'TESTFLOW_VITEST_VERSIONS not set';

function versionDir(v) {
  const dir = path.join(VERSIONS, v);
  for (const pkg of ['vitest', 'jest-testflow']) {
    if (!fs.existsSync(path.join(dir, 'node_modules', pkg, 'package.json'))) {
      throw new Error(`${pkg} is not installed in ${dir} (tests/run-all.sh installs it)`);
    }
  }
  return dir;
}

/** A fresh copy of `fixture` inside the version's directory (it finds that Vitest). */
function project(v, fixture) {
  const runs = path.join(versionDir(v), 'runs');
  fs.mkdirSync(runs, { recursive: true });
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(runs, `${fixture}-`)));
  fs.cpSync(path.join(REPO, 'tests', 'fixtures', fixture), dir, { recursive: true });
  return dir;
}

function env(extra) {
  const e = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
  for (const k of Object.keys(e)) {
    // TESTFLOW_NODE_ADDON stays: a hand run may point at a freshly built addon.
    if ((k.startsWith('TESTFLOW_') && k !== 'TESTFLOW_NODE_ADDON') || k.startsWith('CI_NODE')) delete e[k];
  }
  return { ...e, ...extra };
}

function run(cmd, args, cwd, extra = {}) {
  const r = spawnSync(cmd, args, { cwd, env: env(extra), encoding: 'utf8', timeout: 240000, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `vitest run` of version `v` in `dir` with our reporter (and Vitest's JSON report). */
function vitest(v, dir, args = [], extra = {}) {
  const bin = path.join(VERSIONS, v, 'node_modules', 'vitest', 'vitest.mjs');
  const reporters = ['--reporter=default', '--reporter=jest-testflow/vitest', '--reporter=json', '--outputFile.json=out/vitest.json'];
  return run(process.execPath, [bin, 'run', ...reporters, ...args], dir, { TESTFLOW_REPORT: 'json=out/run.json,junit=out/junit.xml', ...extra });
}

function testflow(dir, args, extra = {}) {
  return run(BIN, ['testflow', ...args], dir, extra);
}

function readJson(p) {
  return JSON.parse(fs.readFileSync(p, 'utf8'));
}

function latestRun(dir) {
  const runs = path.join(dir, '.testflow', 'runs');
  const ids = fs.readdirSync(runs).sort();
  return readJson(path.join(runs, ids[ids.length - 1], 'run.json'));
}

function byId(run) {
  return Object.fromEntries(run.tests.map((t) => [t.id, t]));
}

/** Vitest's own JSON report: id → passed | failed | skipped, `error` for a file that failed to load. */
function vitestOwn(dir) {
  const own = readJson(path.join(dir, 'out', 'vitest.json'));
  const out = {};
  for (const f of own.testResults) {
    const rel = path.relative(dir, f.name).split(path.sep).join('/');
    if (f.assertionResults.length === 0 && f.status === 'failed') {
      out[rel] = 'error';
      continue;
    }
    const seen = {};
    for (const a of f.assertionResults) {
      let id = `${rel}#${[...a.ancestorTitles, a.title].join(' › ')}`;
      seen[id] = (seen[id] || 0) + 1;
      if (seen[id] > 1) id += `@${seen[id]}`;
      out[id] = a.status === 'passed' ? 'passed' : a.status === 'failed' ? 'failed' : 'skipped';
    }
  }
  return out;
}

/** What testflow recorded, in the same terms (every failing outcome is `failed`). */
function ours(run) {
  const out = {};
  for (const t of run.tests) {
    const o = t.outcome;
    out[t.id] = o === 'passed' || o === 'skipped' ? o : o === 'error' && !t.id.includes('#') ? 'error' : 'failed';
  }
  return out;
}

const BASIC = {
  'src/math.test.js#adds numbers': 'passed',
  'src/math.test.js#compares badly': 'failed',
  'src/math.test.js#outer › inner › throws a TypeError': 'failed',
  'src/math.test.js#outer › inner › is skipped': 'skipped',
  'src/math.test.js#outer › inner › is todo': 'skipped',
  'src/math.test.js#is too slow': 'timeout',
  'src/math.test.js#twice › same title': 'passed',
  'src/math.test.js#twice › same title@2': 'failed',
  'src/hooks.test.js#with a broken beforeEach › never gets to run': 'error',
  'src/hooks.test.js#flaky › passes on the second attempt': 'passed',
  'src/hooks.test.js#flaky › always fails': 'failed',
  'src/hooks.test.js#logs and fails': 'failed',
};

// Each test's line, found in its file without `--includeTaskLocation` (the same Vitest
// gives with it: tests/e2e/snapshots/…vitest-basic__run.snap).
const BASIC_LINES = {
  'src/math.test.js#adds numbers': 4,
  'src/math.test.js#compares badly': 8,
  'src/math.test.js#outer › inner › throws a TypeError': 14,
  'src/math.test.js#outer › inner › is skipped': 18,
  'src/math.test.js#outer › inner › is todo': 19,
  'src/math.test.js#is too slow': 23,
  'src/math.test.js#twice › same title': 26,
  'src/math.test.js#twice › same title@2': 29,
  'src/hooks.test.js#with a broken beforeEach › never gets to run': 8,
  'src/hooks.test.js#flaky › passes on the second attempt': 15,
  'src/hooks.test.js#flaky › always fails': 20,
  'src/hooks.test.js#logs and fails': 25,
};

function lines(run) {
  return Object.fromEntries(run.tests.map((x) => [x.id, x.line]));
}

function checkBasic(run) {
  assert.deepEqual(run.frameworks, ['vitest']);
  const t = byId(run);
  assert.deepEqual(Object.fromEntries(run.tests.map((x) => [x.id, x.outcome])), BASIC);
  assert.deepEqual(lines(run), BASIC_LINES);
  const bad = t['src/math.test.js#compares badly'];
  assert.equal(bad.failure.category, 'assertion');
  assert.equal(bad.failure.kind, 'AssertionError');
  assert.equal(bad.failure.expected, '3');
  assert.equal(bad.failure.actual, '2');
  assert.deepEqual(bad.failure.location, { file: 'src/math.test.js', line: 9, column: 21 });
  const thrown = t['src/math.test.js#outer › inner › throws a TypeError'];
  assert.deepEqual(thrown.suite, ['outer', 'inner']);
  assert.equal(thrown.name, 'throws a TypeError');
  assert.equal(thrown.failure.category, 'runtime_error');
  assert.equal(thrown.failure.kind, 'TypeError');
  assert.equal(t['src/math.test.js#outer › inner › is todo'].failure, undefined);
  const slow = t['src/math.test.js#is too slow'];
  assert.equal(slow.failure.category, 'timeout');
  assert.equal(slow.failure.message, 'Test timed out in 100ms.');
  assert.equal(t['src/hooks.test.js#with a broken beforeEach › never gets to run'].failure.category, 'setup_error');
  const flaky = t['src/hooks.test.js#flaky › passes on the second attempt'];
  assert.equal(flaky.flaky, true);
  assert.deepEqual(flaky.attempts.map((a) => a.outcome), ['failed', 'passed']);
  const always = t['src/hooks.test.js#flaky › always fails'];
  assert.equal(always.attempts.length, 3, 'retry: 2 is three attempts');
  assert.equal(always.flaky, false);
  const logs = t['src/hooks.test.js#logs and fails'];
  assert.equal(logs.failure.stdout.text, 'state: ready\n');
  assert.equal(logs.failure.stderr.text, 'about to fail\n');
  assert.equal(run.errors, undefined, JSON.stringify(run.errors));
}

for (const v of TESTED) {
  test(`Vitest ${v}: the reporter records every test, agreeing with Vitest's own JSON report`, { skip }, () => {
    const dir = project(v, 'vitest-basic');
    const r = vitest(v, dir);
    assert.equal(r.status, 1, r.stderr);
    const run = readJson(path.join(dir, 'out', 'run.json'));
    checkBasic(run);
    assert.equal(run.completed, true);
    const own = vitestOwn(dir);
    assert.deepEqual(ours(run), own);
    const junit = fs.readFileSync(path.join(dir, 'out', 'junit.xml'), 'utf8');
    assert.match(junit, /<testcase name="outer &gt; inner &gt; throws a TypeError" classname="src\/math.test.js"/);
    // The same run owns .testflow/ (history for the next shard plan).
    assert.equal(latestRun(dir).summary.total, 12);
  });

  test(`Vitest ${v}: without --includeTaskLocation the reporter finds the lines Vitest gives with it`, { skip }, () => {
    const dir = project(v, 'vitest-lines');
    const own = vitest(v, dir, ['--includeTaskLocation']);
    assert.equal(own.status, 0, own.stderr);
    const theirs = lines(readJson(path.join(dir, 'out', 'run.json')));
    assert.equal(Object.keys(theirs).length, 29, JSON.stringify(theirs));
    for (const [id, line] of Object.entries(theirs)) assert.equal(typeof line, 'number', `Vitest gave ${id} no line`);
    const found = vitest(v, dir);
    assert.equal(found.status, 0, found.stderr);
    // The two tests of one call in a loop have none (tests/fixtures/vitest-lines/EXPECTED.md).
    const expected = { ...theirs, 'src/forms.test.js#in a loop': undefined, 'src/forms.test.js#in a loop@2': undefined };
    assert.deepEqual(lines(readJson(path.join(dir, 'out', 'run.json'))), expected);
  });

  test(`Vitest ${v}: import errors, process.exit and unhandled rejections fail closed`, { skip }, () => {
    const dir = project(v, 'vitest-crash');
    const r = vitest(v, dir);
    assert.equal(r.status, 1, r.stderr);
    const run = readJson(path.join(dir, 'out', 'run.json'));
    const t = byId(run);
    const imp = t['src/import-error.test.js'];
    assert.equal(imp.outcome, 'error');
    assert.equal(imp.failure.category, 'import_error');
    assert.equal(imp.failure.location.file, 'src/import-error.test.js');
    const exit = t['src/exit.test.js#calls process.exit'];
    assert.equal(exit.outcome, 'crashed');
    assert.equal(exit.failure.kind, 'process.exit');
    assert.equal(t['src/exit.test.js#after the exit'].outcome, 'passed');
    assert.equal(t['src/unhandled.test.js#leaves a rejection behind'].outcome, 'passed');
    assert.deepEqual(run.errors.map((e) => e.kind), ['unhandled_error']);
    assert.match(run.errors[0].message, /Unhandled Rejection.*nobody awaited this.*src\/unhandled.test.js.*`leaves a rejection behind`/);
    assert.deepEqual(ours(run), vitestOwn(dir));
  });

  test(`Vitest ${v}: a passing run is green, and a reporter that never sees onTestRunEnd is not`, { skip }, () => {
    const dir = project(v, 'vitest-crash');
    const ok = vitest(v, dir, ['src/ok.test.js']);
    assert.equal(ok.status, 0, ok.stderr);
    const run = readJson(path.join(dir, 'out', 'run.json'));
    assert.equal(run.summary.passed, 1);
    assert.equal(run.errors, undefined);
    // A reporter that ends Vitest's process with status 0 before the run's end: ours
    // never sees onTestRunEnd.
    fs.writeFileSync(path.join(dir, 'exit-reporter.cjs'), 'module.exports = class { onTestModuleEnd() { process.exit(0); } };\n');
    const bin = path.join(VERSIONS, v, 'node_modules', 'vitest', 'vitest.mjs');
    fs.rmSync(path.join(dir, '.testflow'), { recursive: true, force: true });
    const cut = run_(bin, dir);
    assert.notEqual(cut.status, 0, cut.stderr);
    assert.match(cut.stderr, /Vitest exited before the end of the run/);
    const early = latestRun(dir);
    assert.equal(early.completed, false);
    assert.ok(early.errors.some((e) => e.kind === 'reconcile' && /onTestRunEnd never ran/.test(e.message)), JSON.stringify(early.errors));
  });

  test(`Vitest ${v}: --merge-reports replays blob shards into one recorded run`, { skip }, () => {
    const dir = project(v, 'vitest-crash');
    const bin = path.join(VERSIONS, v, 'node_modules', 'vitest', 'vitest.mjs');
    for (const k of [1, 2]) run(process.execPath, [bin, 'run', `--shard=${k}/2`, '--reporter=blob'], dir);
    const r = run(process.execPath, [bin, '--merge-reports', '--reporter=jest-testflow/vitest'], dir, { TESTFLOW_REPORT: 'json=out/run.json' });
    assert.equal(r.status, 1, r.stderr);
    const merged = readJson(path.join(dir, 'out', 'run.json'));
    assert.equal(merged.tests.length, 6);
    assert.equal(byId(merged)['src/exit.test.js#calls process.exit'].outcome, 'crashed');
    assert.deepEqual(merged.errors.map((e) => e.kind), ['unhandled_error']);
  });

  test(`Vitest ${v}: cargo testflow run drives Vitest with the reporter`, { skip: skip || (!BIN && 'TESTFLOW_BIN not set') }, () => {
    const dir = project(v, 'vitest-basic');
    const r = testflow(dir, ['run', '-j', '1']);
    assert.equal(r.status, 100, r.stderr);
    const run = latestRun(dir);
    checkBasic(run);
    assert.deepEqual(run.workers.map((w) => [w.framework, w.workers, w.basis]), [['vitest', 1, 'user']]);
    // `list`: the ids the run recorded (Vitest lists no skipped or todo test).
    const listed = JSON.parse(testflow(dir, ['list', '--format', 'json']).stdout);
    const ran = run.tests.filter((t) => t.outcome !== 'skipped').map((t) => t.id).sort();
    assert.deepEqual(listed[0].test_list.map((t) => t.id).sort(), ran);
    assert.equal(listed[0].files, 2);

    const crash = project(v, 'vitest-crash');
    const c = testflow(crash, ['run']);
    assert.equal(c.status, 100, c.stderr);
    const crun = latestRun(crash);
    assert.ok(crun.errors.some((e) => e.kind === 'unhandled_error'), JSON.stringify(crun.errors));
    assert.equal(byId(crun)['src/import-error.test.js'].outcome, 'error');
    const broken = testflow(crash, ['list']);
    assert.equal(broken.status, 101);
    assert.match(broken.stderr, /Vitest could not collect the tests: Error: Cannot find module '.\/does-not-exist.js'/);

    // Green when Vitest is: only the passing file.
    const green = testflow(crash, ['run', '--', 'src/ok.test.js']);
    assert.equal(green.status, 0, green.stderr);
    assert.equal(latestRun(crash).summary.total, 1);
  });

  test(`Vitest ${v}: shards from testflow's timing plan cover every file once, and coverage lands in the run`, { skip: skip || (!BIN && 'TESTFLOW_BIN not set') }, () => {
    // The driver puts the sequencer in place itself; the project's config does not name it.
    const dir = project(v, 'vitest-crash');
    // History first (timings for the plan), then the two shards.
    assert.equal(testflow(dir, ['run']).status, 100);
    const plan = JSON.parse(testflow(dir, ['shard', 'plan', '--shards', '2', '--format', 'json']).stdout);
    assert.equal(plan.strategy, 'timings');
    const shards = [];
    for (const k of [1, 2]) {
      const r = testflow(dir, ['run', '--shard', `${k}/2`]);
      const run = latestRun(dir);
      // Green only for a shard of passing files (ok.test.js alone).
      const green = run.tests.every((t) => t.file === 'src/ok.test.js');
      assert.equal(r.status === 0, green, r.stderr);
      assert.equal(run.shard.index, k);
      assert.equal(run.shard.strategy, 'timings');
      shards.push(new Set(run.tests.map((t) => t.file)));
      // The sequencer applied testflow's plan, not Vitest's own split.
      assert.deepEqual([...shards[k - 1]].sort(), [...plan.shards[k - 1].tests].sort());
    }
    const files = [...shards[0], ...shards[1]];
    assert.equal(new Set(files).size, files.length, `no file in both shards: ${files}`);
    assert.deepEqual(files.sort(), ['src/exit.test.js', 'src/import-error.test.js', 'src/ok.test.js', 'src/unhandled.test.js']);
    // Vitest run by hand with the sequencer in its config: the same plan.
    fs.writeFileSync(
      path.join(dir, 'vitest.config.js'),
      "import Sequencer from 'jest-testflow/vitest-sequencer';\nexport default { test: { include: ['src/**/*.test.js'], sequence: { sequencer: Sequencer } } };\n",
    );
    vitest(v, dir, ['--shard=2/2']);
    const byHand = readJson(path.join(dir, 'out', 'run.json'));
    assert.deepEqual([...new Set(byHand.tests.map((t) => t.file))].sort(), [...plan.shards[1].tests].sort());

    const cov = project(v, 'vitest-basic');
    const c = testflow(cov, ['run', '--coverage']);
    assert.equal(c.status, 100, c.stderr);
    const run = latestRun(cov);
    assert.deepEqual(run.coverage.frameworks.map((f) => [f.framework, f.status]), [['vitest', 'collected']]);
    assert.ok(run.coverage.reports.includes('coverage/vitest/coverage-final.json'), JSON.stringify(run.coverage.reports));
    assert.ok(run.coverage.files.some((f) => f.path === 'src/math.js'), JSON.stringify(run.coverage.files.map((f) => f.path)));
  });
}

/** Vitest with the exiting reporter first, then ours. */
function run_(bin, dir) {
  return run(process.execPath, [bin, 'run', 'src/ok.test.js', '--reporter=./exit-reporter.cjs', '--reporter=jest-testflow/vitest'], dir);
}
