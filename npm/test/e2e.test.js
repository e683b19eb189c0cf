'use strict';
// End-to-end tests of jest-testflow: real Jest in a subprocess on the fixture projects
// in tests/fixtures/jest-*, asserting on the run.json / JSON / JUnit it produces.
//
// Needs a work directory with Jest and this package installed (tests/run-all.sh makes
// it): TESTFLOW_JEST_WORK=<dir with node_modules/{jest,jest-testflow}>, and
// TESTFLOW_BIN=<path to the cargo-testflow binary> for the `cargo testflow` tests.
const { test, before } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const os = require('node:os');

const REPO = path.resolve(__dirname, '..', '..');
const WORK = process.env.TESTFLOW_JEST_WORK;
const BIN = process.env.TESTFLOW_BIN;
if (!WORK) throw new Error('set TESTFLOW_JEST_WORK (see tests/run-all.sh)');
const JEST = path.join(WORK, 'node_modules', 'jest', 'bin', 'jest.js');
const RUNS = path.join(WORK, 'runs');

before(() => fs.mkdirSync(RUNS, { recursive: true }));

/** Copy a fixture into the work dir (so it finds the installed Jest and reporter). */
function project(fixture, jestConfig) {
  const dir = fs.mkdtempSync(path.join(RUNS, `${fixture}-`));
  fs.cpSync(path.join(REPO, 'tests', 'fixtures', fixture), dir, { recursive: true });
  if (jestConfig) {
    const pkgPath = path.join(dir, 'package.json');
    const pkg = JSON.parse(fs.readFileSync(pkgPath, 'utf8'));
    delete pkg.jest;
    fs.writeFileSync(pkgPath, JSON.stringify(pkg, null, 2));
    fs.writeFileSync(path.join(dir, 'jest.config.js'), `module.exports = ${JSON.stringify(jestConfig, null, 2)};\n`);
  }
  return dir;
}

function cleanEnv(extra) {
  const env = { ...process.env, ...extra };
  for (const k of ['TESTFLOW_EVENTS', 'TESTFLOW_REPORT', 'TESTFLOW_DIR']) if (!(extra && k in extra)) delete env[k];
  return env;
}

function jest(dir, args = [], env = {}) {
  const res = spawnSync(process.execPath, [JEST, '--ci', ...args], { cwd: dir, env: cleanEnv(env), encoding: 'utf8', timeout: 120000 });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

function readJson(p) {
  return JSON.parse(fs.readFileSync(p, 'utf8'));
}

function byId(run) {
  return Object.fromEntries(run.tests.map((t) => [t.id, t]));
}

function latestRun(dir) {
  const runs = path.join(dir, '.testflow', 'runs');
  const ids = fs.readdirSync(runs).sort();
  return readJson(path.join(runs, ids[ids.length - 1], 'run.json'));
}

const BASIC_CONFIG = {
  testEnvironment: 'node',
  testLocationInResults: true,
  reporters: ['default', ['jest-testflow', { reports: { junit: 'out/junit.xml', json: 'out/run.json' }, silent: true }]],
};

test('the reporter records outcomes, categories, suites, locations and retries', () => {
  const dir = project('jest-basic', BASIC_CONFIG);
  const r = jest(dir);
  assert.equal(r.status, 1, r.stderr);
  const run = readJson(path.join(dir, 'out', 'run.json'));
  assert.deepEqual(run.frameworks, ['jest']);
  const t = byId(run);

  const adds = t['src/math.test.js#adds numbers'];
  assert.equal(adds.outcome, 'passed');
  assert.equal(adds.file, 'src/math.test.js');
  assert.equal(adds.line, 3, 'location from testLocationInResults');

  const bad = t['src/math.test.js#compares badly'];
  assert.equal(bad.outcome, 'failed');
  assert.equal(bad.failure.category, 'assertion');
  assert.equal(bad.failure.kind, 'toBe');
  assert.equal(bad.failure.expected, '3');
  assert.equal(bad.failure.actual, '2');
  assert.deepEqual(bad.failure.location, { file: 'src/math.test.js', line: 8, column: 21 });

  const thrown = t['src/math.test.js#outer › inner › throws a TypeError'];
  assert.deepEqual(thrown.suite, ['outer', 'inner']);
  assert.equal(thrown.name, 'throws a TypeError');
  assert.equal(thrown.failure.category, 'runtime_error');
  assert.equal(thrown.failure.kind, 'TypeError');

  assert.equal(t['src/math.test.js#outer › inner › is skipped'].outcome, 'skipped');
  const todo = t['src/math.test.js#outer › inner › is todo'];
  assert.equal(todo.outcome, 'skipped');
  assert.equal(todo.failure, undefined, 'a todo has no failure');
  assert.equal(t['src/math.test.js#outer › inner › is skipped'].failure, undefined);

  const slow = t['src/math.test.js#is too slow'];
  assert.equal(slow.outcome, 'timeout');
  assert.equal(slow.failure.category, 'timeout');
  assert.match(slow.failure.message, /^Exceeded timeout of 100 ms for a test/);

  const hook = t['src/hooks.test.js#with a broken beforeEach › never gets to run'];
  assert.equal(hook.outcome, 'error');
  assert.equal(hook.failure.category, 'setup_error');

  const flaky = t['src/hooks.test.js#flaky › passes on the second attempt'];
  assert.equal(flaky.outcome, 'passed');
  assert.equal(flaky.flaky, true);
  assert.deepEqual(flaky.attempts.map((a) => a.outcome), ['failed', 'passed']);
  const always = t['src/hooks.test.js#flaky › always fails'];
  assert.equal(always.attempts.length, 3, 'jest.retryTimes(2): three attempts');
  assert.equal(always.flaky, false);

  const missing = t['src/missing.test.js'];
  assert.equal(missing.outcome, 'error');
  assert.equal(missing.failure.category, 'import_error');
  assert.equal(missing.failure.kind, 'Error', 'the kind is the error type (its stack says `Error: …`), never the message');
  assert.match(missing.failure.message, /Cannot find module 'left-pad-that-does-not-exist'/);

  assert.equal(run.summary.total, 10);
  assert.equal(run.summary.flaky, 1);

  // The reporter owned the run: .testflow/runs/<id>/run.json says the same.
  assert.deepEqual(latestRun(dir).summary, run.summary);

  // JUnit: the file that failed to run is an entry too (jest-junit drops it).
  const xml = fs.readFileSync(path.join(dir, 'out', 'junit.xml'), 'utf8');
  assert.match(xml, /<testsuite name="src\/missing\.test\.js"[^>]*errors="1"/);
  assert.match(xml, /Cannot find module &apos;left-pad-that-does-not-exist&apos;|Cannot find module 'left-pad-that-does-not-exist'/);
  assert.match(xml, /<testcase name="compares badly"[^>]*file="src\/math\.test\.js"[^>]*line="7"/);
});

test('TESTFLOW_REPORT names the reports when the reporter has no options', () => {
  const dir = project('jest-basic', { testEnvironment: 'node', reporters: ['jest-testflow'] });
  const r = jest(dir, [], { TESTFLOW_REPORT: 'junit=env/a.xml,json=env/b.json' });
  assert.equal(r.status, 1, r.stderr);
  assert.match(fs.readFileSync(path.join(dir, 'env', 'a.xml'), 'utf8'), /<testsuites/);
  assert.equal(readJson(path.join(dir, 'env', 'b.json')).summary.total, 10);
  assert.match(r.stderr, /testflow: run recorded in /);
});

test('the reporter takes run.reports and keep_runs from testflow.toml (the engine resolves them)', { skip: !BIN && 'TESTFLOW_BIN not set' }, () => {
  const dir = project('jest-crash', { testEnvironment: 'node', testMatch: ['**/fine.test.js'], reporters: ['jest-testflow'] });
  fs.writeFileSync(path.join(dir, 'testflow.toml'), '[run]\nreports = ["json=out/run.json"]\n[history]\nkeep_runs = 2\n');
  for (let i = 0; i < 3; i++) {
    const r = jest(dir);
    assert.equal(r.status, 0, r.stderr);
  }
  assert.equal(readJson(path.join(dir, 'out', 'run.json')).summary.failed, 0);
  assert.ok(readJson(path.join(dir, 'out', 'run.json')).summary.total > 0);
  const trend = spawnSync(BIN, ['testflow', 'history', 'trend', '--format', 'json', '--project', dir], { env: cleanEnv(), encoding: 'utf8' });
  assert.equal(trend.status, 0, trend.stderr);
  assert.equal(JSON.parse(trend.stdout).length, 2, 'three runs, keep_runs = 2');
  // The environment's reports replace the file's list (file < environment < flags).
  fs.rmSync(path.join(dir, 'out'), { recursive: true });
  const r = jest(dir, [], { TESTFLOW_REPORT: 'json=env.json' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(fs.existsSync(path.join(dir, 'env.json')));
  assert.ok(!fs.existsSync(path.join(dir, 'out', 'run.json')));
});

test('the reporter fails a green run on a failed gate of testflow.toml (the engine judges it)', () => {
  const dir = project('jest-crash', { testEnvironment: 'node', testMatch: ['**/fine.test.js'], reporters: ['jest-testflow'] });
  fs.writeFileSync(path.join(dir, 'testflow.toml'), '[gates]\nmin_tests = 1000\n');
  const r = jest(dir);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /a required quality gate failed/);
  assert.match(r.stderr, /min_tests/);
  assert.equal(latestRun(dir).summary.failed, 0, 'the tests themselves passed');
  fs.writeFileSync(path.join(dir, 'testflow.toml'), '[gates]\nmin_tests = 1\n');
  const ok = jest(dir);
  assert.equal(ok.status, 0, ok.stderr);
});

test('a bad report option fails the run through getLastError with one message', () => {
  const dir = project('jest-crash', { testEnvironment: 'node', testMatch: ['**/fine.test.js'], reporters: [['jest-testflow', { reports: 'yaml=x.yaml' }]] });
  const r = jest(dir);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /unknown report format `yaml`/);
});

test('a crashed worker is recorded as crashed for the test it was running', () => {
  const dir = project('jest-crash', { testEnvironment: 'node', reporters: [['jest-testflow', { reports: { json: 'out.json' }, silent: true }]] });
  const r = jest(dir, ['-w', '2']);
  assert.equal(r.status, 1, r.stderr);
  const t = byId(readJson(path.join(dir, 'out.json')));
  assert.equal(t['fine.test.js#is fine'].outcome, 'passed');
  assert.equal(t['crash.test.js#before the crash'].outcome, 'passed');
  const killed = t['crash.test.js#kills its worker'];
  assert.equal(killed.outcome, 'crashed');
  assert.equal(killed.failure.category, 'crash');
  assert.equal(killed.failure.signal, 9);
  const exited = t['exit.test.js#calls process.exit'];
  assert.equal(exited.outcome, 'crashed');
  assert.match(exited.failure.message, /child process exceptions/);
});

test('the sequencer runs last run\'s failures first, then the slowest', () => {
  const dir = fs.mkdtempSync(path.join(RUNS, 'order-'));
  fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"order","private":true}');
  fs.writeFileSync(path.join(dir, 'a_fast.test.js'), "test('fast', () => {});\n");
  fs.writeFileSync(path.join(dir, 'b_fails.test.js'), "test('fails', () => { expect(1).toBe(2); });\n");
  fs.writeFileSync(path.join(dir, 'c_slow.test.js'), "test('slow', () => new Promise((r) => setTimeout(r, 300)));\n");
  const config = {
    testEnvironment: 'node',
    testSequencer: 'jest-testflow/sequencer',
    reporters: [['jest-testflow', { silent: true }]],
  };
  fs.writeFileSync(path.join(dir, 'jest.config.js'), `module.exports = ${JSON.stringify(config)};`);
  assert.equal(jest(dir, ['-i']).status, 1);
  const r = jest(dir, ['-i']);
  assert.equal(r.status, 1, r.stderr);
  const files = [];
  for (const t of latestRun(dir).tests) if (!files.includes(t.file)) files.push(t.file);
  assert.deepEqual(files, ['b_fails.test.js', 'c_slow.test.js', 'a_fast.test.js']);
});

test('a missing addon is one clear error, without loader noise', () => {
  const dir = project('jest-crash', { testEnvironment: 'node', testMatch: ['**/fine.test.js'], reporters: ['jest-testflow'] });
  const r = jest(dir, [], { TESTFLOW_NODE_ADDON: path.join(os.tmpdir(), 'no-such-addon.node') });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /jest-testflow: the native addon is missing/);
  assert.match(r.stderr, /scripts\/build\.js/);
  assert.doesNotMatch(r.stderr, /Require stack|Module\._load|at Object\.<anonymous>/);
});

function testflow(dir, args, env = {}) {
  const res = spawnSync(BIN, args, { cwd: dir, env: cleanEnv(env), encoding: 'utf8', timeout: 180000 });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

test('cargo testflow run drives a Jest project through its own Jest', { skip: !BIN && 'TESTFLOW_BIN not set' }, () => {
  const dir = project('jest-basic');
  const r = testflow(dir, ['run', '--framework', 'jest', '-j', '2', '--format', 'json', '--report', 'junit=tf/junit.xml']);
  assert.equal(r.status, 100, r.stderr);
  const run = JSON.parse(r.stdout);
  assert.deepEqual(run.frameworks, ['jest']);
  assert.equal(run.completed, true);
  assert.equal(run.summary.total, 10);
  const t = byId(run);
  assert.equal(t['src/math.test.js#adds numbers'].line, 3, 'the fixture sets testLocationInResults');
  assert.equal(t['src/missing.test.js'].failure.category, 'import_error');
  assert.equal(t['src/hooks.test.js#flaky › passes on the second attempt'].flaky, true);
  assert.match(fs.readFileSync(path.join(dir, 'tf', 'junit.xml'), 'utf8'), /src\/missing\.test\.js/);
  // One run, one log: the reporter appended to the driver's events.jsonl.
  const runs = fs.readdirSync(path.join(dir, '.testflow', 'runs'));
  assert.equal(runs.length, 1);

  // A filter becomes `-t`: only matching tests run, the rest are skipped.
  const f = testflow(dir, ['run', '--framework', 'jest', '--format', 'json', 'adds numbers']);
  const ft = byId(JSON.parse(f.stdout));
  assert.equal(ft['src/math.test.js#adds numbers'].outcome, 'passed');
  assert.equal(ft['src/math.test.js#compares badly'].outcome, 'skipped');
});

test('cargo testflow run --retries retries through jest.retryTimes', { skip: !BIN && 'TESTFLOW_BIN not set' }, () => {
  const dir = fs.mkdtempSync(path.join(RUNS, 'retries-'));
  fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"retries","private":true,"jest":{"testEnvironment":"node"}}');
  fs.writeFileSync(path.join(dir, 'flaky.test.js'), "let n = 0;\ntest('second time lucky', () => { n += 1; expect(n).toBe(2); });\n");
  const r = testflow(dir, ['run', '--framework', 'jest', '--retries', '1', '--format', 'json']);
  assert.equal(r.status, 0, r.stderr);
  const t = byId(JSON.parse(r.stdout))['flaky.test.js#second time lucky'];
  assert.equal(t.flaky, true);
  assert.equal(t.attempts.length, 2);
});

test('cargo testflow run --test-timeout and --timeout reach Jest', { skip: !BIN && 'TESTFLOW_BIN not set' }, () => {
  const dir = fs.mkdtempSync(path.join(RUNS, 'timeouts-'));
  fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"timeouts","private":true,"jest":{"testEnvironment":"node"}}');
  // The test never settles, so only the per-test limit can end it (no race with a timer).
  fs.writeFileSync(path.join(dir, 'slow.test.js'), "test('takes a second', () => new Promise(() => {}));\n");
  const r = testflow(dir, ['run', '--framework', 'jest', '--test-timeout', '0.3', '--format', 'json']);
  const t = byId(JSON.parse(r.stdout))['slow.test.js#takes a second'];
  assert.equal(t.outcome, 'timeout');
  assert.match(t.failure.message, /Exceeded timeout of 300 ms/);

  fs.writeFileSync(path.join(dir, 'slow.test.js'), "test('fast', () => {});\ntest('hangs', () => new Promise(() => {}), 60000);\n");
  // The run limit must leave a loaded machine time to start Jest and run `fast`: it is
  // the only thing that ends `hangs`, so a generous one costs nothing but its length.
  const h = testflow(dir, ['run', '--framework', 'jest', '--timeout', '15', '--format', 'json']);
  const run = JSON.parse(h.stdout);
  assert.equal(run.completed, false);
  assert.equal(byId(run)['slow.test.js#fast'].outcome, 'passed');
  assert.equal(byId(run)['slow.test.js#hangs'].outcome, 'timeout');
});

test('cargo testflow run hands the arguments after -- to Jest', { skip: !BIN && 'TESTFLOW_BIN not set' }, () => {
  const dir = project('jest-basic');
  const r = testflow(dir, ['run', '--framework', 'jest', '--format', 'json', '--', '--json', '--outputFile=own.json']);
  assert.equal(r.status, 100, r.stderr);
  const own = JSON.parse(fs.readFileSync(path.join(dir, 'own.json'), 'utf8'));
  const run = JSON.parse(r.stdout);
  assert.equal(own.numFailedTests + own.numRuntimeErrorTestSuites > 0, true);
  assert.equal(run.summary.passed, own.numPassedTests, "testflow and Jest's own --json agree");
});

test('cargo testflow run leaves --ci to Jest: a new snapshot is written outside CI and fails in CI', { skip: !BIN && 'TESTFLOW_BIN not set' }, () => {
  const make = (name) => {
    const dir = fs.mkdtempSync(path.join(RUNS, name));
    fs.writeFileSync(path.join(dir, 'package.json'), '{"name":"snap","private":true,"jest":{"testEnvironment":"node"}}');
    fs.writeFileSync(path.join(dir, 'snap.test.js'), "test('renders', () => expect({ a: 1 }).toMatchSnapshot());\n");
    return dir;
  };
  // `CI=false` and `CI=true` decide for Jest's own is-ci, whatever machine runs this.
  const local = make('snap-local-');
  const r = testflow(local, ['run', '--framework', 'jest', '--format', 'json'], { CI: 'false' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(byId(JSON.parse(r.stdout))['snap.test.js#renders'].outcome, 'passed');
  assert.ok(fs.existsSync(path.join(local, '__snapshots__', 'snap.test.js.snap')), 'the new snapshot was written, as `npx jest` does');

  const ci = make('snap-ci-');
  const c = testflow(ci, ['run', '--framework', 'jest', '--format', 'json'], { CI: 'true' });
  assert.equal(c.status, 100, c.stderr);
  assert.equal(byId(JSON.parse(c.stdout))['snap.test.js#renders'].outcome, 'failed');
  assert.ok(!fs.existsSync(path.join(ci, '__snapshots__')), 'in CI, Jest does not write snapshots');
});

test('cargo testflow run and list on a project without the reporter say how to install it', { skip: !BIN && 'TESTFLOW_BIN not set' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'testflow-noreporter-'));
  try {
    fs.cpSync(path.join(REPO, 'tests', 'fixtures', 'jest-crash'), dir, { recursive: true });
    fs.mkdirSync(path.join(dir, 'node_modules', '.bin'), { recursive: true });
    fs.symlinkSync(path.join(WORK, 'node_modules', 'jest'), path.join(dir, 'node_modules', 'jest'));
    fs.symlinkSync(JEST, path.join(dir, 'node_modules', '.bin', 'jest'));
    const r = testflow(dir, ['run', '--framework', 'jest']);
    assert.equal(r.status, 101, r.stderr);
    assert.match(r.stderr, /`jest-testflow` is not installed in .*npm install --save-dev <testflow checkout>\/npm/s);

    const l = testflow(dir, ['list', '--format', 'json']);
    assert.equal(l.status, 0, l.stderr);
    const suites = JSON.parse(l.stdout);
    // Tests by their titles (Jest collects them), and the files they are in.
    assert.deepEqual(suites.map((s) => [s.kind, s.tests, s.files]), [['jest', 5, 3]]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('cargo testflow analyze groups real Jest failures by cause', { skip: !BIN && 'TESTFLOW_BIN not set' }, () => {
  const dir = project('jest-basic');
  const r = testflow(dir, ['run', '--framework', 'jest', '-j', '2', '--format', 'json']);
  assert.equal(r.status, 100, r.stderr);
  const run = JSON.parse(r.stdout);
  const a = testflow(dir, ['analyze', '--format', 'json']);
  assert.equal(a.status, 0, a.stderr);
  const analysis = JSON.parse(a.stdout);
  const failing = run.tests.filter((t) => ['failed', 'error', 'timeout', 'crashed'].includes(t.outcome));
  assert.equal(Object.values(analysis.categories).reduce((x, y) => x + y, 0), failing.length);
  const imp = analysis.groups.find((g) => g.category === 'import_error');
  assert.equal(imp.suggestion.command, 'npm install --save-dev left-pad-that-does-not-exist');
  assert.deepEqual(imp.tests.map((t) => t.id), ['src/missing.test.js']);
  for (const cat of ['assertion', 'timeout', 'setup_error']) {
    assert.ok(analysis.groups.some((g) => g.category === cat), `a ${cat} group`);
  }
});
