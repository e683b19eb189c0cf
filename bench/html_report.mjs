// Benchmark of the HTML report at 100,000 tests (not a test: run bench/html_report.sh).
// 1. writes a synthetic 100k-test run.json (10% failing with messages and output,
//    1% flaky with two attempts, 3 frameworks, 500 files);
// 2. times `cargo-testflow testflow report --format html` on it (whole command: reading
//    run.json, analysis, rendering, atomic write), median of 5;
// 3. opens the file in headless Chromium and times navigation start → page ready
//    (JSON parsed, everything rendered), median of 5; then one filter and one search.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { outDir, bin, launch } from "../tests/browser/browser.mjs";

const N = +(process.env.TESTS || 100000);
const ROUNDS = 5;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const fw = ["rust", "pytest", "jest"];
const t0 = Date.parse("2026-11-26T08:00:00Z");
const tests = [];
let s = { total: 0, passed: 0, failed: 0, error: 0, skipped: 0, xfailed: 0, xpassed: 0, timeout: 0, crashed: 0, flaky: 0, duration_ms: 0 };
for (let i = 0; i < N; i++) {
  const f = fw[i % 3], file = `src/mod${i % 500}/tests_${i % 500}.${f === "rust" ? "rs" : f === "pytest" ? "py" : "ts"}`;
  const suite = [`group${i % 40}`], name = `test_case_number_${i}`;
  const id = f === "rust" ? `crate${i % 20}$group${i % 40}::${name}` : f === "pytest" ? `${file}::group${i % 40}::${name}` : `${file}#group${i % 40} ${name}`;
  const failed = i % 10 === 3, flaky = i % 100 === 7, skipped = i % 50 === 11;
  const dur = (i * 7919) % 2000 / 10;
  const failure = failed ? {
    category: i % 20 === 3 ? "assertion" : "runtime_error", kind: i % 20 === 3 ? "assert_eq" : "panic",
    message: i % 20 === 3 ? "assertion `left == right` failed" : `called \`Option::unwrap()\` on a \`None\` value (case ${i % 13})`,
    location: { file, line: 10 + (i % 300), column: 5 },
    ...(i % 20 === 3 ? { expected: `${i}`, actual: `${i + 1}` } : {}),
    details: "stack backtrace:\n   0: core::panicking::panic\n   1: " + id + "\n",
    stdout: { text: `running ${name}\nsome output line\n` },
  } : undefined;
  const outcome = failed ? "failed" : skipped ? "skipped" : "passed";
  const attempts = flaky
    ? [{ attempt: 1, outcome: "failed", duration_ms: dur, failure: { category: "assertion", message: "flaked", location: { file, line: 3 } } }, { attempt: 2, outcome: "passed", duration_ms: dur }]
    : [{ attempt: 1, outcome, duration_ms: dur }];
  tests.push({ id, framework: f, name, suite, file, line: 1 + (i % 400), ...(f === "rust" ? { binary: `crate${i % 20}` } : {}), outcome, duration_ms: dur, flaky, attempts, ...(failure ? { failure } : {}) });
  s.total++; s[outcome]++; if (flaky) s.flaky++; s.duration_ms += dur / 2;
}
const run = {
  schema_version: 1, run_id: "bench-100k", testflow_version: "0.1.0", started_at: new Date(t0).toISOString(),
  finished_at: new Date(t0 + s.duration_ms).toISOString(), completed: true,
  environment: { os: "linux", arch: "x86_64" }, frameworks: fw, summary: s, tests,
};
const runFile = path.join(outDir, `bench-run-${N}.json`);
fs.writeFileSync(runFile, JSON.stringify(run));
const html = path.join(outDir, `bench-report-${N}.html`);

const writeMs = [];
for (let r = 0; r < ROUNDS; r++) {
  const start = process.hrtime.bigint();
  execFileSync(bin(), ["testflow", "report", "--format", "html", "--run", runFile, "-o", html]);
  writeMs.push(Number(process.hrtime.bigint() - start) / 1e6);
}

const browser = await launch();
const loadMs = [], wallMs = [];
let filterMs, searchMs;
for (let r = 0; r < ROUNDS; r++) {
  const page = await browser.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const start = Date.now();
  await page.goto("file://" + html);
  await page.waitForFunction(() => window.testflowReport && window.testflowReport.ready, null, { timeout: 30000 });
  wallMs.push(Date.now() - start);
  loadMs.push(await page.evaluate(() => window.testflowReport.readyAt));
  if (errors.length) throw new Error(errors.join("\n"));
  if (r === ROUNDS - 1) {
    filterMs = await page.evaluate(() => {
      const t = performance.now();
      const cb = document.querySelector('input[data-outcome="passed"]');
      cb.checked = false; cb.dispatchEvent(new Event("change"));
      return performance.now() - t;
    });
    searchMs = await page.evaluate(() => {
      const t = performance.now();
      window.testflowReport.search("case_number_4242");
      return performance.now() - t;
    });
  }
  await page.close();
}
await browser.close();

const mb = (f) => (fs.statSync(f).size / 1e6).toFixed(1) + " MB";
const result = {
  tests: N, run_json: mb(runFile), html: mb(html),
  write_ms_median: Math.round(median(writeMs)), write_ms: writeMs.map(Math.round),
  load_ms_median: Math.round(median(loadMs)), load_ms: loadMs.map(Math.round),
  load_wall_ms_median: Math.round(median(wallMs)),
  filter_ms: Math.round(filterMs), first_search_ms: Math.round(searchMs),
};
console.log(JSON.stringify(result, null, 2));
