// The HTML report in real headless Chromium: loads cleanly from disk, filters and search
// work, test text is shown as text and runs nothing, and 20,000 rows stay virtualized.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import fs from "node:fs";
import { repo, outDir, renderHtml, launch } from "./browser.mjs";

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/// Opens `file` and records console errors, page errors, dialogs and network requests.
async function open(file) {
  const page = await browser.context.newPage();
  const seen = { errors: [], dialogs: [], requests: [] };
  page.on("console", (m) => { if (m.type() === "error") seen.errors.push(m.text()); });
  page.on("pageerror", (e) => seen.errors.push(String(e)));
  page.on("dialog", (d) => { seen.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on("request", (r) => { if (!r.url().startsWith("file:")) seen.requests.push(r.url()); });
  await page.goto("file://" + file);
  await page.waitForFunction(() => window.testflowReport && window.testflowReport.ready, null, { timeout: 120000 });
  return { page, seen };
}

const shownCount = (page) => page.$eval("#shown-count", (e) => e.textContent);
const rowNames = (page) => page.$$eval("#list-rows .row .name", (rs) => rs.map((r) => r.textContent));

test("sample run: loads, filters, search, details, injection runs nothing", async () => {
  const html = renderHtml(path.join(repo, "tests/browser/sample-run.json"), path.join(outDir, "sample.html"));
  const { page, seen } = await open(html);
  await page.waitForTimeout(300); // let any injected handler fire
  assert.deepEqual(seen.errors, [], "console errors");
  assert.deepEqual(seen.requests, [], "network requests");
  assert.deepEqual(seen.dialogs, [], "dialogs (alert)");
  assert.equal(await page.title(), "testflow report 20240501-120000-a1b2");
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await page.$$eval("img, svg:not(.spark)", (e) => e.length), 0, "no element made from test text");
  // The hostile name is there, as text.
  const names = await rowNames(page);
  assert.ok(names.some((n) => n.includes('render::<img src=x onerror="window.__pwned=1')), names.join("\n"));
  assert.equal(await shownCount(page), "(14 of 14 shown)");
  // Failures first.
  const first = await page.$$eval("#list-rows .row > .badge:first-child", (b) => b.slice(0, 7).map((x) => x.textContent));
  assert.ok(first.every((o) => ["failed", "error", "timeout", "crashed"].includes(o)), first.join(","));
  // Headline, totals and gates at a glance.
  assert.match(await page.$eval("#headline", (e) => e.textContent), /7 of 14 tests failed/);
  assert.match(await page.$eval("#totals", (e) => e.textContent), /46\.2%pass rate/);
  assert.match(await page.$eval("#gates", (e) => e.textContent), /Quality gates: FAILED/);

  // Outcome filter.
  await page.uncheck('input[data-outcome="passed"]');
  assert.equal(await shownCount(page), "(10 of 14 shown)");
  await page.check('input[data-outcome="passed"]');
  // Framework filter.
  await page.selectOption("#framework-filter", { label: "jest" });
  assert.equal(await shownCount(page), "(2 of 14 shown)");
  await page.selectOption("#framework-filter", "");
  // Category filter.
  await page.selectOption("#category-filter", { label: "timeout" });
  assert.deepEqual(await rowNames(page), ["net::waits_forever"]);
  await page.selectOption("#category-filter", "");
  // File filter.
  await page.selectOption("#file-filter", { label: "tests/test_db.py" });
  assert.equal(await shownCount(page), "(2 of 14 shown)");
  await page.selectOption("#file-filter", "");
  // Search (names, ids, files and messages).
  await page.fill("#search", "rate_limit");
  await page.waitForFunction(() => document.querySelector("#shown-count").textContent === "(1 of 14 shown)");
  await page.fill("#search", "connection refused");
  await page.waitForFunction(() => [...document.querySelectorAll("#list-rows .row .name")].map((e) => e.textContent).join() === "TestDb::test_connect");
  assert.equal(await shownCount(page), "(1 of 14 shown)");
  await page.fill("#search", "");
  await page.waitForFunction(() => document.querySelector("#shown-count").textContent === "(14 of 14 shown)");

  // A row opens its details: message, location, expected/actual diff, collapsed trace and output, attempts.
  await page.click('#list-rows .row:has-text("test_rate_limit")');
  const detail = await page.$eval("#detail", (e) => e.textContent);
  assert.match(detail, /assert 429 == 200/);
  assert.match(detail, /at tests\/test_api\.py:53/);
  assert.match(detail, /- 200/);
  assert.match(detail, /\+ 429/);
  assert.match(detail, /retried: 3 attempts/);
  assert.equal(await page.$$eval("#detail details.output[open]", (d) => d.length), 0, "output collapsed");
  // The failure with the hostile message shows it as text.
  await page.click('#list-rows .row:has-text("prints_controls")');
  assert.match(await page.$eval("#detail", (e) => e.textContent), /<\/script><script>window.__pwned=2<\/script>/);
  // Flaky marked.
  assert.match(await page.$eval("#flaky", (e) => e.textContent), /eventually succeeds.*flaky/);
  // Slowest chart and per-framework breakdown.
  assert.equal(await page.$$eval("#slowest .bar", (b) => b.length), 13);
  assert.match(await page.$eval("#frameworks", (e) => e.textContent), /rust.*pytest|pytest.*rust/s);
  // Trends: an honest placeholder, no fake data.
  assert.match(await page.$eval("#trends", (e) => e.textContent), /No run history yet/);

  await page.waitForTimeout(200);
  assert.deepEqual(seen.errors, []);
  assert.deepEqual(seen.dialogs, []);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await page.title(), "testflow report 20240501-120000-a1b2");
  await page.screenshot({ path: path.join(outDir, "report.png"), fullPage: true });
  assert.ok(fs.statSync(path.join(outDir, "report.png")).size > 10000);
});

test("20,000 tests: rows are virtualized and filters stay correct", async () => {
  const sample = JSON.parse(fs.readFileSync(path.join(repo, "tests/browser/sample-run.json"), "utf8"));
  const base = sample.tests[0];
  const tests = [];
  for (let i = 0; i < 20000; i++) {
    const failed = i % 10 === 0;
    tests.push({
      ...base, id: `big$m${i % 50}::t${i}`, name: `t${i}`, suite: [`m${i % 50}`], file: `src/m${i % 50}.rs`, line: i % 300 + 1,
      outcome: failed ? "failed" : "passed", duration_ms: i % 997,
      attempts: [{ attempt: 1, outcome: failed ? "failed" : "passed", duration_ms: i % 997 }],
      failure: failed ? { category: "assertion", message: `boom ${i % 7}`, kind: "assert_eq", expected: "1", actual: "2" } : undefined,
    });
  }
  const run = { ...sample, tests, summary: { ...sample.summary, total: 20000, passed: 18000, failed: 2000, error: 0, skipped: 0, xfailed: 0, xpassed: 0, timeout: 0, crashed: 0, flaky: 0 } };
  const runFile = path.join(outDir, "big-run.json");
  fs.writeFileSync(runFile, JSON.stringify(run));
  const { page, seen } = await open(renderHtml(runFile, path.join(outDir, "big.html")));
  assert.deepEqual(seen.errors, []);
  assert.equal(await shownCount(page), "(20000 of 20000 shown)");
  assert.ok((await page.$$eval("#list-rows .row", (r) => r.length)) < 100, "only visible rows are in the DOM");
  await page.$eval("#list", (l) => { l.scrollTop = 26 * 15000; l.dispatchEvent(new Event("scroll")); });
  const names = await rowNames(page);
  assert.ok(names.length < 100 && names.some((n) => /^m\d+::t\d+$/.test(n)), names.slice(0, 3).join(","));
  await page.uncheck('input[data-outcome="passed"]');
  assert.equal(await shownCount(page), "(2000 of 20000 shown)");
  await page.fill("#search", "t12340");
  await page.waitForFunction(() => document.querySelector("#shown-count").textContent === "(1 of 20000 shown)");
  assert.deepEqual(await rowNames(page), ["m40::t12340"]);
});

test("a run whose log was damaged is red and says RUN ERROR, though every test passed", async () => {
  const sample = JSON.parse(fs.readFileSync(path.join(repo, "tests/browser/sample-run.json"), "utf8"));
  const passed = sample.tests.filter((t) => t.outcome === "passed" && !t.flaky);
  const counts = { total: passed.length, passed: passed.length, failed: 0, error: 0, skipped: 0, xfailed: 0, xpassed: 0, timeout: 0, crashed: 0, flaky: 0, duration_ms: 5 };
  const run = { ...sample, tests: passed, summary: counts, completed: false,
    errors: [{ kind: "log_damaged", message: "events.jsonl:7: unreadable line (EOF while parsing a string)" }] };
  delete run.coverage;
  const runFile = path.join(outDir, "damaged-run.json");
  fs.writeFileSync(runFile, JSON.stringify(run));
  const { page, seen } = await open(renderHtml(runFile, path.join(outDir, "damaged.html")));
  assert.deepEqual(seen.errors, []);
  assert.equal(await page.$eval("#headline", (e) => e.textContent), `✗ RUN ERROR: 2 run errors (${passed.length} tests recorded)`);
  assert.ok(await page.$eval("body", (b) => b.classList.contains("red")));
  assert.ok(!(await page.$eval("body", (b) => b.classList.contains("green"))));
  const shown = await page.$eval("#run-errors", (e) => e.textContent);
  assert.match(shown, /log_damaged error: events\.jsonl:7: unreadable line/);
  assert.match(shown, /incomplete error: the run did not complete/);
});

test("a build failure is red and says so, with no tests", async () => {
  const sample = JSON.parse(fs.readFileSync(path.join(repo, "tests/browser/sample-run.json"), "utf8"));
  const zero = { total: 0, passed: 0, failed: 0, error: 0, skipped: 0, xfailed: 0, xpassed: 0, timeout: 0, crashed: 0, flaky: 0, duration_ms: 5 };
  const run = { ...sample, tests: [], summary: zero, errors: [{ kind: "build", message: "error[E0425]: cannot find value `x` in this scope\n --> src/lib.rs:3:5" }] };
  delete run.coverage;
  const runFile = path.join(outDir, "build-error-run.json");
  fs.writeFileSync(runFile, JSON.stringify(run));
  const { page, seen } = await open(renderHtml(runFile, path.join(outDir, "build-error.html")));
  assert.deepEqual(seen.errors, []);
  assert.equal(await page.$eval("#headline", (e) => e.textContent), "✗ The build failed: no test ran");
  assert.ok(await page.$eval("body", (b) => b.classList.contains("red")));
  assert.match(await page.$eval("#failures", (e) => e.textContent), /build_error.*E0425.*no test ran/s);
  assert.equal(await shownCount(page), "(0 of 0 shown)");
  // No coverage measured: no coverage panel, no coverage total.
  assert.ok(await page.$eval("#coverage-section", (e) => e.hidden));
  assert.equal(await page.$("#coverage-headline"), null);
  assert.doesNotMatch(await page.$eval("body", (b) => b.innerText), /coverage/i);
});

const covPaths = (page) => page.$$eval("#coverage-rows .cov-row .path", (rs) => rs.map((r) => r.textContent));
const HOSTILE = 'src/<img src=x onerror="window.__pwned=3">.rs';

test("coverage: totals, change, frameworks not collected, files worst first, sort by path, paths as text", async () => {
  const html = renderHtml(path.join(repo, "tests/browser/sample-run.json"), path.join(outDir, "coverage.html"));
  const { page, seen } = await open(html);
  await page.waitForTimeout(300); // let any injected handler fire
  assert.deepEqual(seen.errors, []);
  assert.deepEqual(seen.requests, []);
  assert.deepEqual(seen.dialogs, []);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await page.$$eval("img", (e) => e.length), 0, "no element made from a coverage path");
  assert.equal(await page.$eval("#coverage-section", (e) => e.hidden), false);
  // Totals: in the header and in the panel (a total of 0 would be "–").
  assert.equal(await page.$eval("#coverage-headline", (e) => e.textContent), "65.5%lines covered");
  assert.equal(await page.$eval("#coverage-totals", (e) => e.textContent),
    "65.5%lines 215/328" + "50.0%branches 32/64" + "69.6%functions 32/46");
  assert.equal(await page.$eval("#coverage-delta", (e) => e.textContent),
    "lines 65.5% (-3.2 pts vs run 20240430-110000-9f9f on main, was 68.8%)");
  assert.ok(await page.$eval("#coverage-delta .down", (e) => e.textContent === "-3.2 pts"));
  // Only the framework that was not collected, with its message.
  assert.equal(await page.$eval("#coverage-frameworks", (e) => e.textContent),
    "⚠ jest coverage failed: Jest ran but wrote no coverage/coverage-final.json: add \"json\" to coverageReporters");
  assert.equal(await page.$eval("#coverage-count", (e) => e.textContent), "(6 files)");

  // Worst line coverage first; a file with nothing to cover last. The hostile path is text.
  const worst = [HOSTILE, "app/db.py", "app/api.py", "src/lib.rs", "src/util.rs", "src/generated.rs"];
  assert.deepEqual(await covPaths(page), worst);
  assert.deepEqual(await page.$$eval("#coverage-rows .cov-row .lines", (rs) => rs.map((r) => r.textContent)),
    ["10.0%", "37.5%", "75.0%", "90.0%", "100.0%", "–"]);
  assert.deepEqual(await page.$$eval("#coverage-rows .cov-row .change", (rs) => rs.map((r) => r.textContent)),
    ["new", "-25.0 pts", "", "+10.0 pts", "", ""]);
  // Bars as wide as the line coverage.
  assert.deepEqual(await page.$$eval("#coverage-rows .cov-bar", (bs) => bs.map((b) => b.style.width)),
    ["10%", "37.5%", "75%", "90%", "100%", "0%"]);

  // Sort by path (click), then reversed (click again), then back to worst first.
  await page.click("#coverage-sort-path");
  const byPath = ["app/api.py", "app/db.py", HOSTILE, "src/generated.rs", "src/lib.rs", "src/util.rs"];
  assert.deepEqual(await covPaths(page), byPath);
  assert.equal(await page.$eval("#coverage-sort-path", (b) => b.getAttribute("aria-sort")), "ascending");
  await page.click("#coverage-sort-path");
  assert.deepEqual(await covPaths(page), [...byPath].reverse());
  await page.click("#coverage-sort-lines");
  assert.deepEqual(await covPaths(page), worst);
  await page.click("#coverage-sort-lines");
  assert.deepEqual(await covPaths(page), ["src/util.rs", "src/lib.rs", "app/api.py", "app/db.py", HOSTILE, "src/generated.rs"]);
  await page.click("#coverage-sort-lines");

  // Filter box.
  await page.fill("#coverage-search", "app/");
  await page.waitForFunction(() => document.querySelector("#coverage-count").textContent === "(2 of 6 files)");
  assert.deepEqual(await covPaths(page), ["app/db.py", "app/api.py"]);
  await page.fill("#coverage-search", "onerror");
  await page.waitForFunction(() => document.querySelector("#coverage-count").textContent === "(1 of 6 files)");
  assert.deepEqual(await covPaths(page), [HOSTILE]);
  await page.fill("#coverage-search", "");
  await page.waitForFunction(() => document.querySelector("#coverage-count").textContent === "(6 files)");

  await page.waitForTimeout(200);
  assert.deepEqual(seen.errors, []);
  assert.deepEqual(seen.dialogs, []);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  await (await page.$("#coverage-section")).screenshot({ path: path.join(outDir, "coverage.png") });
  assert.ok(fs.statSync(path.join(outDir, "coverage.png")).size > 5000);
});

test("coverage of 10,000 files: rows are virtualized, sorting and filtering stay correct", async () => {
  const sample = JSON.parse(fs.readFileSync(path.join(repo, "tests/browser/sample-run.json"), "utf8"));
  const r = (c, t) => ({ covered: c, total: t, percent: t ? (100 * c) / t : null });
  const files = [];
  for (let i = 0; i < 10000; i++) {
    const total = 100 + (i % 7), covered = (i * 37) % (total + 1);
    files.push({ path: `src/m${String(i).padStart(5, "0")}.rs`, lines: r(covered, total), branches: r(0, 0), functions: r(i % 3, 3) });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : 1));
  const run = { ...sample, coverage: { ...sample.coverage, files, previous: undefined } };
  const runFile = path.join(outDir, "coverage-10k-run.json");
  fs.writeFileSync(runFile, JSON.stringify(run));
  const { page, seen } = await open(renderHtml(runFile, path.join(outDir, "coverage-10k.html")));
  assert.deepEqual(seen.errors, []);
  assert.equal(await page.$eval("#coverage-count", (e) => e.textContent), "(10000 files)");
  assert.ok((await page.$$eval("#coverage-rows .cov-row", (r) => r.length)) < 100, "only visible rows are in the DOM");
  // Worst first: every file with 0 covered lines comes before any file with coverage.
  const pcts = await page.$$eval("#coverage-rows .cov-row .lines", (rs) => rs.map((r) => parseFloat(r.textContent)));
  assert.ok(pcts.length > 10 && pcts.every((p, k) => k === 0 || pcts[k - 1] <= p), pcts.join(","));
  assert.equal(pcts[0], 0);
  // Scrolled to the end: the best-covered files, still only a screenful in the DOM.
  await page.$eval("#coverage-list", (l) => { l.scrollTop = l.scrollHeight; l.dispatchEvent(new Event("scroll")); });
  const tail = await page.$$eval("#coverage-rows .cov-row .lines", (rs) => rs.map((r) => parseFloat(r.textContent)));
  assert.ok(tail.length < 100 && tail[tail.length - 1] === 100, tail.join(","));
  // Sorting 10,000 rows on a click stays quick, and is right.
  const sortMs = await page.evaluate(() => {
    const t = performance.now();
    document.querySelector("#coverage-sort-path").click();
    return performance.now() - t;
  });
  assert.ok(sortMs < 1000, `sorting took ${sortMs} ms`);
  const first = await covPaths(page);
  assert.deepEqual(first.slice(0, 3), ["src/m00000.rs", "src/m00001.rs", "src/m00002.rs"]);
  await page.fill("#coverage-search", "m0999");
  await page.waitForFunction(() => document.querySelector("#coverage-count").textContent === "(10 of 10000 files)");
  assert.equal((await covPaths(page)).length, 10);
  assert.deepEqual(seen.errors, []);
});

test("a green run with skipped and xfailed tests says what happened, not 'All N tests passed'", async () => {
  const sample = JSON.parse(fs.readFileSync(path.join(repo, "tests/browser/sample-run.json"), "utf8"));
  const kept = sample.tests.filter((t) => !t.flaky && ["passed", "skipped", "xfailed"].includes(t.outcome));
  const n = (o) => kept.filter((t) => t.outcome === o).length;
  assert.ok(n("skipped") > 0 && n("xfailed") > 0, "the sample has a skipped and an xfailed test");
  const counts = { total: kept.length, passed: n("passed"), failed: 0, error: 0, skipped: n("skipped"), xfailed: n("xfailed"), xpassed: 0, timeout: 0, crashed: 0, flaky: 0, duration_ms: 5 };
  const run = { ...sample, tests: kept, summary: counts, errors: [] };
  delete run.coverage;
  const runFile = path.join(outDir, "skips-run.json");
  fs.writeFileSync(runFile, JSON.stringify(run));
  const { page, seen } = await open(renderHtml(runFile, path.join(outDir, "skips.html")));
  assert.deepEqual(seen.errors, []);
  assert.equal(await page.$eval("#headline", (e) => e.textContent),
    `✓ No failures: ${n("passed")} passed, ${n("skipped")} skipped, ${n("xfailed")} xfailed`);
  assert.ok(await page.$eval("body", (b) => b.classList.contains("green")));
});
