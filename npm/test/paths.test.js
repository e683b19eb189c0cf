'use strict';
// One spelling of a Jest test's file (tests/fixtures/jest-paths, whose Jest rootDir is
// `src`): the project-root-relative path with `/`, the same in the id, `file`, the
// failure location, JUnit (testsuite name, classname, file) and the HTML report, through
// the reporter and through `cargo testflow run`.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { BIN, copyFixture, jest, testflow } = require('./processes');

const FILE = 'src/nested/paths.test.js';
const IDS = [`${FILE}#paths › passes`, `${FILE}#paths › fails`];

function checkReports(dir, run, junitPath, htmlPath) {
  assert.deepEqual(run.tests.map((t) => t.id).sort(), [...IDS].sort());
  for (const t of run.tests) assert.equal(t.file, FILE, t.id);
  const failed = run.tests.find((t) => t.id === IDS[1]);
  assert.equal(failed.failure.location.file, FILE);
  assert.equal(failed.failure.location.line, 7);

  const xml = fs.readFileSync(path.join(dir, junitPath), 'utf8');
  const suites = [...xml.matchAll(/<testsuite name="([^"]*)"/g)].map((m) => m[1]);
  assert.deepEqual(suites, [FILE]);
  const cases = [...xml.matchAll(/<testcase [^>]*>/g)].map((m) => m[0]);
  assert.equal(cases.length, 2);
  for (const c of cases) {
    assert.match(c, new RegExp(`classname="${FILE.replace(/[./]/g, '\\$&')}"`), c);
    assert.match(c, new RegExp(`file="${FILE.replace(/[./]/g, '\\$&')}"`), c);
  }

  const html = fs.readFileSync(path.join(dir, htmlPath), 'utf8');
  const m = html.match(/<script id="testflow-data" type="application\/json">([\s\S]*?)<\/script>/);
  assert.ok(m, 'the HTML report embeds its data');
  const data = JSON.parse(m[1]);
  assert.deepEqual(data.files, [FILE]);
  // Every mention of the file outside stack traces is the one spelling.
  for (const hit of JSON.stringify(data.tests).matchAll(/"([^"]*paths\.test\.js[^"]*)"/g)) {
    assert.ok(hit[1].startsWith(FILE), `HTML spells ${hit[1]}`);
  }
  // .testflow/ is the project's, not Jest rootDir's.
  assert.ok(!fs.existsSync(path.join(dir, 'src', '.testflow')));
}

test('the reporter spells a file as the project-relative path in the id, JUnit and HTML', () => {
  const dir = copyFixture('jest-paths');
  const reporter = JSON.stringify(['jest-testflow', { reports: { json: 'out/run.json', junit: 'out/junit.xml', html: 'out/report.html' }, silent: true }]);
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  pkg.jest.reporters = ['default', JSON.parse(reporter)];
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify(pkg));
  const r = jest(dir, ['--ci']);
  assert.equal(r.status, 1, r.stderr);
  const run = JSON.parse(fs.readFileSync(path.join(dir, 'out', 'run.json'), 'utf8'));
  checkReports(dir, run, 'out/junit.xml', 'out/report.html');
  assert.ok(fs.existsSync(path.join(dir, '.testflow', 'runs')));
});

test('cargo testflow run spells it the same way', { skip: !BIN && 'TESTFLOW_BIN not set' }, () => {
  const dir = copyFixture('jest-paths');
  const r = testflow(dir, ['run', '--format', 'json', '--report', 'junit=tf/junit.xml', '--report', 'html=tf/report.html']);
  assert.equal(r.status, 100, r.stderr);
  checkReports(dir, JSON.parse(r.stdout), 'tf/junit.xml', 'tf/report.html');
});
