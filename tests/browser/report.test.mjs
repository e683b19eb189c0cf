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
  await page.waitForFunction(() => window.testflowReport && window.testflowReport.ready, null, { timeout: 10000 });
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

test("a build failure is red and says so, with no tests", async () => {
  const sample = JSON.parse(fs.readFileSync(path.join(repo, "tests/browser/sample-run.json"), "utf8"));
  const zero = { total: 0, passed: 0, failed: 0, error: 0, skipped: 0, xfailed: 0, xpassed: 0, timeout: 0, crashed: 0, flaky: 0, duration_ms: 5 };
  const run = { ...sample, tests: [], summary: zero, errors: [{ kind: "build", message: "error[E0425]: cannot find value `x` in this scope\n --> src/lib.rs:3:5" }] };
  const runFile = path.join(outDir, "build-error-run.json");
  fs.writeFileSync(runFile, JSON.stringify(run));
  const { page, seen } = await open(renderHtml(runFile, path.join(outDir, "build-error.html")));
  assert.deepEqual(seen.errors, []);
  assert.equal(await page.$eval("#headline", (e) => e.textContent), "✗ The build failed: no test ran");
  assert.ok(await page.$eval("body", (b) => b.classList.contains("red")));
  assert.match(await page.$eval("#failures", (e) => e.textContent), /build_error.*E0425.*no test ran/s);
  assert.equal(await shownCount(page), "(0 of 0 shown)");
});
