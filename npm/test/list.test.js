'use strict';
// `cargo testflow list` on a Jest project: tests counted by their real titles (Jest run
// with a test-name pattern that matches nothing), files counted apart, and a file Jest
// cannot load named with exit 101. Same setup as sharding.test.js (TESTFLOW_JEST_WORK,
// TESTFLOW_BIN).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { BIN, copyFixture, testflow } = require('./processes');

const skip = !BIN && 'TESTFLOW_BIN not set';

test('cargo testflow list --format json names every Jest test and counts files apart', { skip }, () => {
  const dir = copyFixture('jest-basic');
  const res = testflow(dir, ['list', '--format', 'json']);
  // src/missing.test.js cannot be loaded: its tests are missing from the counts.
  assert.equal(res.status, 101, res.stderr);
  assert.match(res.stderr, /src\/missing\.test\.js: Jest could not load it: Cannot find module 'left-pad-that-does-not-exist'/);
  const [suite] = JSON.parse(res.stdout);
  assert.equal(suite.kind, 'jest');
  assert.equal(suite.files, 3);
  assert.equal(suite.tests, 9);
  assert.equal(suite.test_list.length, 9);
  const t = suite.test_list.find((x) => x.name === 'throws a TypeError');
  assert.deepEqual(t, {
    id: 'src/math.test.js#outer › inner › throws a TypeError',
    name: 'throws a TypeError',
    framework: 'jest',
    file: 'src/math.test.js',
    line: 13,
    ignored: null,
  });
  const names = testflow(dir, ['list', '--names']);
  assert.match(names.stdout, /^ {5}9 {2}jest:testflow-fixture-jest-basic \[jest\] \(in 3 files, 1 file could not be loaded\)$/m);
  assert.match(names.stdout, /^ {8}src\/hooks\.test\.js#flaky › always fails {2}src\/hooks\.test\.js:15$/m);
});
