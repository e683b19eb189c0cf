'use strict';
// The engine's errors reach JavaScript with their kind as `code` (testflow::error::Kind):
// the addon only translates. Uses the jest-testflow installed in TESTFLOW_JEST_WORK.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { WORK, RUNS } = require('./processes');

// By path: `require.resolve(name, { paths })` from a file inside npm/ resolves the package's
// own name to npm/ itself (Node's self-reference) whatever `paths` says.
const pkg = (name) => require(path.join(WORK, 'node_modules', name));

function tempDir() {
  fs.mkdirSync(RUNS, { recursive: true });
  const dir = fs.mkdtempSync(path.join(RUNS, 'errors-'));
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "name": "errors", "private": true }\n');
  return dir;
}

test('a bad shard strategy throws an Error whose code is TESTFLOW_CONFIG', () => {
  const native = pkg('jest-testflow/native').load();
  const dir = tempDir();
  assert.throws(
    () => native.selectFiles({ rootDir: dir, files: [path.join(dir, 'a.test.js')], strategy: 'nonsense' }),
    (e) => {
      assert.ok(e instanceof Error);
      assert.equal(e.code, 'TESTFLOW_CONFIG');
      assert.match(e.message, /^testflow: .*nonsense/);
      return true;
    },
  );
  // A good one does not throw.
  const ok = native.selectFiles({ rootDir: dir, files: [path.join(dir, 'a.test.js')], strategy: 'hash' });
  assert.deepEqual(ok.files, [path.join(dir, 'a.test.js')]);
});

test('a bad report spec fails the reporter with an Error whose code is TESTFLOW_CONFIG', () => {
  const Reporter = pkg('jest-testflow');
  const dir = tempDir();
  const reporter = new Reporter({ rootDir: dir }, { reports: 'nonsense=out.xml', silent: true });
  // Not a Jest run: it must not report one that ended early.
  process.removeListener('exit', reporter._onExit);
  const err = reporter.getLastError();
  assert.ok(err instanceof Error);
  assert.equal(err.code, 'TESTFLOW_CONFIG');
  assert.match(err.message, /nonsense/);
  assert.ok(!fs.existsSync(path.join(dir, '.testflow', 'runs')), 'no run was started');
});
