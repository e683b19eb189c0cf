// Cost of the addon calls alone (no Jest): N tests through caseStarted + caseResult,
// one fileResult, finish. `node bench/jest/engine.js [N] [reports]`, run in a scratch dir
// (it records a run in ./.testflow).
'use strict';
const native = require('../../npm/native.js').load();
const path = require('node:path');
const N = Number(process.argv[2] || 2000);
const file = path.join(process.cwd(), 'a.test.js');
let t0 = process.hrtime.bigint();
const lap = () => {
  const t = process.hrtime.bigint();
  const d = Number(t - t0) / 1e6;
  t0 = t;
  return `${d.toFixed(1)} ms`;
};
const r = new native.Recorder({ rootDir: process.cwd(), reports: process.argv[3] });
console.log(`start      ${lap()}`);
const result = (i) => ({ file, ancestorTitles: ['d'], title: `t${i}`, status: 'passed', durationMs: 1 });
for (let i = 0; i < N; i++) {
  r.caseStarted(file, ['d'], `t${i}`);
  r.caseResult(result(i));
}
console.log(`${N} cases ${lap()}`);
r.fileResult(file, Array.from({ length: N }, (_, i) => result(i)));
console.log(`fileResult ${lap()}`);
const s = r.finish(true);
console.log(`finish     ${lap()} (${s.total} tests) ${r.getLastError() || ''}`);
