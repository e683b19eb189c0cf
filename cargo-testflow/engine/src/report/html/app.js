// testflow HTML report. Reads the JSON in #testflow-data and renders it.
// Data from tests only ever reaches the page through text nodes (el() / textContent):
// never parsed as markup, never put in attributes that could run code.
"use strict";
(function () {
  var DATA = JSON.parse(document.getElementById("testflow-data").textContent);
  var C = {}; // column name -> index in a test row
  DATA.columns.forEach(function (name, i) { C[name] = i; });
  var TESTS = DATA.tests;
  var FAILING = { failed: 1, error: 1, timeout: 1, crashed: 1 };
  var ROW_HEIGHT = 26;

  function el(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (k === "class") e.className = attrs[k];
        else if (k === "title") e.title = attrs[k];
        else if (k === "style") e.style.cssText = attrs[k];
        else e.setAttribute(k, attrs[k]);
      }
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      e.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  function $(id) { return document.getElementById(id); }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); }
  function ms(v) {
    if (v >= 60000) return (v / 60000).toFixed(1) + " min";
    if (v >= 1000) return (v / 1000).toFixed(2) + " s";
    return (v < 10 ? v.toFixed(1) : v.toFixed(0)) + " ms";
  }
  function outcome(row) { return DATA.outcomes[row[C.outcome]]; }
  function fileOf(row) { return row[C.file] >= 0 ? DATA.files[row[C.file]] : ""; }
  function fullName(row) { return row[C.suite] ? row[C.suite] + "::" + row[C.name] : row[C.name]; }
  function where(loc) {
    if (!loc) return "";
    return loc.file + ":" + loc.line + (loc.column ? ":" + loc.column : "");
  }
  function badge(o) { return el("span", { class: "badge o-" + o }, o); }
  // Rows of a scrolling box: only the rows on screen (and a few around) are in the DOM.
  function virtualList(list, spacer, rows, view) {
    var items = [], drawn = [-1, -1];
    function draw(force) {
      var first = Math.max(0, Math.floor(list.scrollTop / ROW_HEIGHT) - 10);
      var last = Math.min(items.length, first + Math.ceil(list.clientHeight / ROW_HEIGHT) + 20);
      if (!force && first === drawn[0] && last === drawn[1]) return;
      drawn = [first, last];
      clear(rows);
      rows.style.transform = "translateY(" + first * ROW_HEIGHT + "px)";
      for (var n = first; n < last; n++) rows.appendChild(view(items[n]));
    }
    list.addEventListener("scroll", function () { draw(false); });
    return {
      set: function (xs) {
        items = xs;
        spacer.style.height = xs.length * ROW_HEIGHT + "px";
        list.scrollTop = 0;
        draw(true);
      },
      draw: draw,
    };
  }

  // ---- header: headline, facts, totals, gates -------------------------------------
  var S = DATA.summary;
  var failures = S.failed + S.error + S.timeout + S.crashed;
  var run = DATA.run, env = run.environment || {};
  var broken = run.errors.filter(function (e) { return e.kind === "build" || e.kind === "list" || e.kind === "environment"; });
  // Any reason not to trust the run (run errors, incomplete, a lying summary) is never green.
  var distrust = DATA.distrust || run.errors;
  // Worded by testflow (report::headline): what happened, e.g. "No failures: 2016 passed, 24 skipped".
  $("headline").textContent = DATA.headline;
  document.body.classList.add(failures > 0 || broken.length || distrust.length ? "red" : "green");
  var facts = ["run " + run.run_id, "started " + run.started_at, "took " + ms(S.duration_ms)];
  if (env.git_commit) facts.push("commit " + env.git_commit.slice(0, 12) + (env.git_branch ? " on " + env.git_branch : ""));
  if (env.ci) facts.push("CI " + env.ci);
  facts.push(env.os + "/" + env.arch, "testflow " + run.testflow_version);
  if (!run.completed) facts.push("RUN DID NOT COMPLETE");
  facts.forEach(function (f) { $("facts").appendChild(el("span", null, f)); });

  var totals = $("totals");
  totals.appendChild(el("div", { class: "total rate" },
    el("b", null, DATA.pass_rate === null ? "–" : (DATA.pass_rate * 100).toFixed(1) + "%"), "pass rate"));
  totals.appendChild(el("div", { class: "total" }, el("b", null, S.total), "tests"));
  DATA.outcomes.forEach(function (o) {
    if (S[o] > 0) totals.appendChild(el("div", { class: "total o-" + o }, el("b", null, S[o]), o));
  });
  if (S.flaky > 0) totals.appendChild(el("div", { class: "total o-flaky" }, el("b", null, S.flaky), "flaky"));
  function pct(r) { return r.percent === null || r.percent === undefined ? "–" : r.percent.toFixed(1) + "%"; }
  if (DATA.coverage) {
    totals.appendChild(el("div", { class: "total cov", id: "coverage-headline" }, el("b", null, pct(DATA.coverage.totals.lines)), "lines covered"));
  }

  var G = DATA.gates;
  var gates = el("details", { class: "gates-box " + (G.passed ? "pass" : "fail") },
    el("summary", null, "Quality gates: " + (G.passed ? "passed" : "FAILED")));
  var gt = el("table", null, el("tr", null, el("th", null, "gate"), el("th", null, "threshold"),
    el("th", null, "actual"), el("th", null, "result"), el("th", null, "detail")));
  G.gates.forEach(function (g) {
    var res = g.status === "pass" ? "pass" : (g.status === "fail" ? "fail" : "not measured") + (g.required ? "" : " (advisory)");
    gt.appendChild(el("tr", { class: "g-" + g.status },
      el("td", null, g.gate), el("td", null, g.threshold), el("td", null, g.actual === null ? "–" : +g.actual.toFixed(3)),
      el("td", null, res), el("td", null, g.detail)));
  });
  gates.appendChild(gt);
  if (!G.passed) gates.open = true;
  $("gates").appendChild(gates);
  distrust.forEach(function (e) {
    $("run-errors").appendChild(el("div", { class: "run-error" }, el("b", null, e.kind + " error: "), el("pre", null, e.message)));
  });

  // ---- failure details (built lazily, when opened) ---------------------------------
  function pre(text, cls) { return el("pre", { class: cls || "" }, text); }
  function collapsed(label, text) {
    if (!text) return null;
    return el("details", { class: "output" }, el("summary", null, label), pre(text));
  }
  // Line diff of expected vs actual (LCS, small inputs only).
  function diff(expected, actual) {
    var a = expected.split("\n"), b = actual.split("\n");
    var box = el("div", { class: "diff" });
    if (a.length * b.length > 250000) {
      box.appendChild(el("div", { class: "del" }, "- expected: " + expected));
      box.appendChild(el("div", { class: "add" }, "+ actual:   " + actual));
      return box;
    }
    var n = a.length, m = b.length, L = [];
    for (var i = 0; i <= n; i++) { L.push(new Uint32Array(m + 1)); }
    for (i = n - 1; i >= 0; i--) for (var j = m - 1; j >= 0; j--)
      L[i][j] = a[i] === b[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
    i = 0; j = 0;
    box.appendChild(el("div", { class: "diff-head" }, "- expected  + actual"));
    while (i < n || j < m) {
      if (i < n && j < m && a[i] === b[j]) { box.appendChild(el("div", null, "  " + a[i])); i++; j++; }
      else if (j < m && (i >= n || L[i][j + 1] >= L[i + 1][j])) { box.appendChild(el("div", { class: "add" }, "+ " + b[j])); j++; }
      else { box.appendChild(el("div", { class: "del" }, "- " + a[i])); i++; }
    }
    return box;
  }
  function failureView(f) {
    var box = el("div", { class: "failure" });
    box.appendChild(el("div", { class: "meta" }, f.category + (f.kind ? " · " + f.kind : "") + (f.signal ? " · signal " + f.signal : "")));
    if (f.message) box.appendChild(pre(f.message, "message"));
    if (f.location) box.appendChild(el("div", { class: "loc" }, "at " + where(f.location)));
    if (f.expected !== undefined && f.actual !== undefined) box.appendChild(diff(f.expected, f.actual));
    [collapsed("trace", f.trace), collapsed("stdout", f.stdout), collapsed("stderr", f.stderr)]
      .forEach(function (c) { if (c) box.appendChild(c); });
    return box;
  }
  function testView(rowIndex) {
    var row = TESTS[rowIndex];
    var d = row[C.detail] >= 0 ? DATA.details[row[C.detail]] : null;
    var box = el("div", { class: "test-detail" });
    box.appendChild(el("div", { class: "id" }, badge(outcome(row)), " ", el("code", null, row[C.id])));
    var f = fileOf(row);
    box.appendChild(el("div", { class: "loc" }, DATA.frameworks[row[C.framework]] + " · " + (f ? f + (row[C.line] ? ":" + row[C.line] : "") : "no file") + " · " + ms(row[C.duration_ms])));
    if (d && d.failure) box.appendChild(failureView(d.failure));
    if (d && d.reason) box.appendChild(el("div", { class: "reason" }, "reason: " + d.reason));
    if (d && d.attachments) {
      // By path, as text: a path from test output is never made a link.
      var files = el("ul", { class: "attachments" });
      d.attachments.forEach(function (a) {
        files.appendChild(el("li", null, "attempt " + a.attempt + " · " + a.name + ": ", el("code", null, a.path)));
      });
      box.appendChild(el("div", { class: "meta" }, "attachments"));
      box.appendChild(files);
    }
    if (d && d.attempts) {
      var list = el("ol", { class: "attempts" });
      d.attempts.forEach(function (a, k) {
        var item = el("li", null, badge(a.outcome), " attempt " + a.attempt + " · " + ms(a.duration_ms));
        // The last attempt's failure is the test's own (shown above).
        var af = a.failure || (k === d.attempts.length - 1 && d.failure ? d.failure : null);
        if (af) item.appendChild(el("details", null, el("summary", null, af.message.split("\n")[0]), failureView(af)));
        list.appendChild(item);
      });
      box.appendChild(el("div", { class: "meta" }, (row[C.flags] & 1 ? "flaky: " : "retried: ") + d.attempts.length + " attempts"));
      box.appendChild(list);
    }
    return box;
  }
  function lazyDetails(summary, build, cls) {
    var d = el("details", { class: cls || "" }, summary);
    var built = false;
    d.addEventListener("toggle", function () {
      if (d.open && !built) { built = true; d.appendChild(build()); }
    });
    return d;
  }
  function testSummary(rowIndex) {
    var row = TESTS[rowIndex], f = fileOf(row);
    return el("summary", null, badge(outcome(row)), " ",
      el("span", { class: "name" }, fullName(row)),
      row[C.flags] & 1 ? el("span", { class: "badge o-flaky" }, "flaky") : null,
      row[C.flags] & 2 && !(row[C.flags] & 1) ? el("span", { class: "badge retried" }, "retried") : null,
      el("span", { class: "muted" }, " " + (f ? f + (row[C.line] ? ":" + row[C.line] : "") : "")));
  }

  // ---- failures by cause: a page of groups at a time ------------------------------
  var causes = DATA.causes, GROUPS_PAGE = 30, TESTS_PAGE = 20;
  $("failures-count").textContent = causes.length ? "(" + failures + " tests, " + causes.length + " causes)" : "";
  if (!causes.length) $("failures").appendChild(el("p", { class: "muted" }, "No failures."));
  function causeView(c) {
    var head = el("summary", null, el("span", { class: "badge cat" }, c.category),
      c.kind ? el("code", null, " " + c.kind + " ") : null, " ", el("span", { class: "name" }, c.message),
      el("span", { class: "muted" }, " — " + (c.count ? c.count + (c.count === 1 ? " test" : " tests") : "no test ran")));
    return lazyDetails(head, function () {
      var body = el("div", { class: "cause-body" });
      if (c.location) body.appendChild(el("div", { class: "loc" }, "at " + where(c.location)));
      body.appendChild(el("div", { class: "suggestion" }, "→ " + c.suggestion.text));
      if (c.suggestion.command) body.appendChild(pre("$ " + c.suggestion.command));
      if (c.suggestion.diff) body.appendChild(pre(c.suggestion.diff, "udiff"));
      var list = el("div", { class: "cause-tests" });
      var shown = 0;
      function more() {
        c.tests.slice(shown, shown + TESTS_PAGE).forEach(function (r) {
          list.appendChild(lazyDetails(testSummary(r), function () { return testView(r); }, "test"));
        });
        shown += TESTS_PAGE;
        if (shown < c.tests.length) {
          var b = el("button", { type: "button" }, "show " + Math.min(TESTS_PAGE, c.tests.length - shown) + " more of " + (c.tests.length - shown));
          b.addEventListener("click", function () { b.remove(); more(); });
          list.appendChild(b);
        }
      }
      more();
      body.appendChild(list);
      return body;
    }, "cause");
  }
  var causesShown = 0;
  function moreCauses() {
    causes.slice(causesShown, causesShown + GROUPS_PAGE).forEach(function (c, k) {
      var v = causeView(c);
      if (causesShown + k < 3) v.open = true;
      $("failures").appendChild(v);
    });
    causesShown += GROUPS_PAGE;
    if (causesShown < causes.length) {
      var b = el("button", { type: "button" }, "show more causes (" + (causes.length - causesShown) + " left)");
      b.addEventListener("click", function () { b.remove(); moreCauses(); });
      $("failures").appendChild(b);
    }
  }
  moreCauses();
  // Open the first three causes' content now (toggle events fire async).
  Array.prototype.slice.call(document.querySelectorAll("#failures details.cause[open]")).forEach(function (d) {
    d.dispatchEvent(new Event("toggle"));
  });

  // ---- quarantined tests ------------------------------------------------------------
  var Q = DATA.quarantine;
  if (Q && (Q.tests.length || Q.expired.length)) {
    $("quarantine-section").hidden = false;
    var qt = el("table", { class: "quarantine" },
      el("tr", null, el("th", null, "test"), el("th", null, "outcome"), el("th", null, "reason"), el("th", null, "until")));
    Q.tests.forEach(function (t) {
      qt.appendChild(el("tr", null,
        el("td", null, el("code", null, t.id)),
        el("td", null, el("span", { class: "badge o-" + t.outcome }, t.outcome)),
        el("td", null, t.reason + (t.origin === "flaky" ? " (--quarantine-flaky)" : "")),
        el("td", null, t.until || "–")));
    });
    if (Q.tests.length) $("quarantine").appendChild(qt);
    Q.expired.forEach(function (e) {
      $("quarantine").appendChild(el("p", { class: "o-failed" }, "Expired on " + e.until + ": ", el("code", null, e.entry), " no longer applies; the quarantine gate fails."));
    });
  }

  // ---- flaky tests ----------------------------------------------------------------
  var flaky = [];
  for (var i = 0; i < TESTS.length; i++) if (TESTS[i][C.flags] & 1) flaky.push(i);
  if (flaky.length) {
    $("flaky-section").hidden = false;
    flaky.slice(0, 200).forEach(function (r) {
      $("flaky").appendChild(lazyDetails(testSummary(r), function () { return testView(r); }, "test"));
    });
    if (flaky.length > 200) $("flaky").appendChild(el("p", { class: "muted" }, "… and " + (flaky.length - 200) + " more: filter the list by “flaky”."));
  }

  // ---- the list: filters, search, virtualized rows ----------------------------------
  var state = { outcomes: {}, flakyOnly: false, framework: "", category: "", file: "", q: "" };
  DATA.outcomes.forEach(function (o) { state.outcomes[o] = true; });
  var counts = {};
  TESTS.forEach(function (r) { var o = outcome(r); counts[o] = (counts[o] || 0) + 1; });
  DATA.outcomes.forEach(function (o) {
    if (!counts[o]) return;
    var cb = el("input", { type: "checkbox", "data-outcome": o });
    cb.checked = true;
    cb.addEventListener("change", function () { state.outcomes[o] = cb.checked; apply(); });
    $("outcome-filter").appendChild(el("label", { class: "chip o-" + o }, cb, " " + o + " " + counts[o]));
  });
  if (S.flaky) {
    var fcb = el("input", { type: "checkbox", "data-outcome": "flaky-only" });
    fcb.addEventListener("change", function () { state.flakyOnly = fcb.checked; apply(); });
    $("outcome-filter").appendChild(el("label", { class: "chip o-flaky" }, fcb, " only flaky " + S.flaky));
  }
  function fill(select, values) {
    values.forEach(function (v) { select.appendChild(el("option", { value: v[0] }, v[1])); });
    select.addEventListener("change", function () { state[select.id.split("-")[0]] = select.value; apply(); });
  }
  fill($("framework-filter"), DATA.frameworks.map(function (f, k) { return [String(k), f]; })
    .filter(function (v) { return run.frameworks.indexOf(v[1]) >= 0; }));
  fill($("category-filter"), DATA.categories.map(function (c, k) { return [String(k), c]; })
    .filter(function (v) { return TESTS.some(function (r) { return r[C.category] === +v[0]; }); }));
  fill($("file-filter"), DATA.files.map(function (f, k) { return [String(k), f]; })
    .sort(function (a, b) { return a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0; }));

  // Failures first, then flaky and retried, then the rest; stable within each.
  function rank(r) { return FAILING[outcome(r)] ? 0 : r[C.flags] ? 1 : 2; }
  var order = TESTS.map(function (_, k) { return k; });
  order.sort(function (a, b) { return rank(TESTS[a]) - rank(TESTS[b]) || a - b; });
  var haystack = null; // built on first search
  function hay(k) {
    if (!haystack) {
      haystack = TESTS.map(function (r) {
        var d = r[C.detail] >= 0 ? DATA.details[r[C.detail]] : null;
        var msg = d && d.failure ? d.failure.message : (d && d.reason) || "";
        return (r[C.id] + "\n" + fullName(r) + "\n" + fileOf(r) + "\n" + msg).toLowerCase();
      });
    }
    return haystack[k];
  }
  var shown = order;
  function apply() {
    var q = state.q.toLowerCase(), fw = state.framework, cat = state.category, file = state.file;
    shown = order.filter(function (k) {
      var r = TESTS[k];
      if (!state.outcomes[outcome(r)]) return false;
      if (state.flakyOnly && !(r[C.flags] & 1)) return false;
      if (fw !== "" && r[C.framework] !== +fw) return false;
      if (cat !== "" && r[C.category] !== +cat) return false;
      if (file !== "" && r[C.file] !== +file) return false;
      if (q && hay(k).indexOf(q) < 0) return false;
      return true;
    });
    $("shown-count").textContent = "(" + shown.length + " of " + TESTS.length + " shown)";
    testRows.set(shown);
  }
  var timer = null;
  $("search").addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { state.q = $("search").value.trim(); apply(); }, 120);
  });
  var selected = -1;
  function rowView(k) {
    var r = TESTS[k], f = fileOf(r);
    var div = el("div", { class: "row" + (k === selected ? " selected" : ""), "data-row": k },
      badge(outcome(r)),
      el("span", { class: "name", title: r[C.id] }, fullName(r)),
      r[C.flags] & 1 ? el("span", { class: "badge o-flaky" }, "flaky") : r[C.flags] & 2 ? el("span", { class: "badge retried" }, "retried") : null,
      el("span", { class: "file" }, f ? f + (r[C.line] ? ":" + r[C.line] : "") : ""),
      el("span", { class: "fw" }, DATA.frameworks[r[C.framework]]),
      el("span", { class: "dur" }, ms(r[C.duration_ms])));
    div.addEventListener("click", function () { select(k); });
    return div;
  }
  var testRows = virtualList($("list"), $("list-spacer"), $("list-rows"), rowView);
  function select(k) {
    selected = k;
    var d = $("detail");
    clear(d);
    d.hidden = false;
    d.appendChild(testView(k));
    testRows.draw(true);
  }

  // ---- slowest tests (CSS bars) ------------------------------------------------------
  var slow = [];
  TESTS.forEach(function (r, k) {
    if (outcome(r) === "skipped") return;
    if (slow.length < 15 || r[C.duration_ms] > TESTS[slow[slow.length - 1]][C.duration_ms]) {
      slow.push(k);
      slow.sort(function (a, b) { return TESTS[b][C.duration_ms] - TESTS[a][C.duration_ms]; });
      if (slow.length > 15) slow.pop();
    }
  });
  var max = slow.length ? TESTS[slow[0]][C.duration_ms] || 1 : 1;
  slow.forEach(function (k) {
    var r = TESTS[k];
    var bar = el("div", { class: "bar o-" + outcome(r) });
    bar.style.width = Math.max(0.5, 100 * r[C.duration_ms] / max) + "%";
    var line = el("div", { class: "bar-line" }, el("span", { class: "name", title: r[C.id] }, fullName(r)),
      el("span", { class: "bar-track" }, bar), el("span", { class: "dur" }, ms(r[C.duration_ms])));
    line.addEventListener("click", function () { select(k); $("detail").scrollIntoView(); });
    $("slowest").appendChild(line);
  });

  // ---- per framework / per shard -----------------------------------------------------
  function breakdown(target, rowsData) {
    var t = el("table", { class: "breakdown" }, el("tr", null, el("th", null, ""), el("th", null, "tests"),
      el("th", null, "passed"), el("th", null, "failed"), el("th", null, "skipped"), el("th", null, "flaky"),
      el("th", null, "time"), el("th", null, "")));
    rowsData.forEach(function (b) {
      var stack = el("span", { class: "stack" });
      [["passed", b.passed], ["failed", b.failed], ["skipped", b.skipped]].forEach(function (p) {
        if (!p[1]) return;
        var s = el("span", { class: "o-" + p[0] });
        s.style.width = (100 * p[1] / b.total) + "%";
        stack.appendChild(s);
      });
      t.appendChild(el("tr", null, el("td", null, b.name), el("td", null, b.total), el("td", null, b.passed),
        el("td", null, b.failed), el("td", null, b.skipped), el("td", null, b.flaky || 0), el("td", null, ms(b.duration_ms)), el("td", null, stack)));
    });
    target.appendChild(t);
  }
  var per = {};
  TESTS.forEach(function (r) {
    var name = DATA.frameworks[r[C.framework]];
    var b = per[name] || (per[name] = { name: name, total: 0, passed: 0, failed: 0, skipped: 0, flaky: 0, duration_ms: 0 });
    var o = outcome(r);
    b.total++;
    if (FAILING[o]) b.failed++; else if (o === "skipped" || o === "xfailed") b.skipped++; else b.passed++;
    if (r[C.flags] & 1) b.flaky++;
    b.duration_ms += r[C.duration_ms];
  });
  breakdown($("frameworks"), Object.keys(per).map(function (k) { return per[k]; }));
  // Hook: a merged run will carry shards as [{shard, total, passed, failed, skipped, duration_ms}].
  if (Array.isArray(DATA.shards) && DATA.shards.length) {
    $("shards-section").hidden = false;
    breakdown($("shards"), DATA.shards.map(function (s) {
      return { name: String(s.shard), total: s.total, passed: s.passed, failed: s.failed, skipped: s.skipped, flaky: s.flaky, duration_ms: s.duration_ms };
    }));
  }

  // ---- trends (hook: run history, not recorded yet) ---------------------------------
  // DATA.history, when present: [{run_id, started_at, total, failures, flaky, duration_ms}], oldest first.
  function renderTrends(history) {
    var NS = "http://www.w3.org/2000/svg";
    function spark(label, key, color) {
      var w = 300, h = 40, vals = history.map(function (p) { return p[key]; });
      var hi = Math.max.apply(null, vals.concat([1]));
      var svg = document.createElementNS(NS, "svg");
      svg.setAttribute("width", w); svg.setAttribute("height", h); svg.setAttribute("class", "spark");
      var pl = document.createElementNS(NS, "polyline");
      pl.setAttribute("fill", "none"); pl.setAttribute("stroke", color); pl.setAttribute("stroke-width", "2");
      pl.setAttribute("points", vals.map(function (v, k) {
        return (k * w / Math.max(1, vals.length - 1)).toFixed(1) + "," + (h - 2 - (h - 4) * v / hi).toFixed(1);
      }).join(" "));
      svg.appendChild(pl);
      return el("div", { class: "trend" }, el("span", null, label + " (last " + vals[vals.length - 1] + ")"), svg);
    }
    var t = $("trends");
    t.appendChild(spark("failures", "failures", "#c62828"));
    t.appendChild(spark("flaky", "flaky", "#ef6c00"));
    t.appendChild(spark("duration ms", "duration_ms", "#1565c0"));
  }
  if (Array.isArray(DATA.history) && DATA.history.length > 1) renderTrends(DATA.history);
  else $("trends").appendChild(el("p", { class: "muted" }, "No run history yet: trends appear here once testflow records history across runs."));

  // ---- coverage: totals, change, frameworks not collected, files (virtualized) --------
  // DATA.coverage, when the run measured coverage: {totals, frameworks, previous,
  // file_columns, files: [[path, lines covered, lines total, branches…, functions…]]}.
  function coverageSection(cov) {
    $("coverage-section").hidden = false;
    var FC = {}, CC = {};
    cov.file_columns.forEach(function (n, k) { FC[n] = k; });
    cov.change_columns.forEach(function (n, k) { CC[n] = k; });
    var files = cov.files;
    $("coverage-count").textContent = "(" + files.length + (files.length === 1 ? " file)" : " files)");
    function ratioOf(c, t) { return { covered: c, total: t, percent: t > 0 ? 100 * c / t : null }; }
    ["lines", "branches", "functions"].forEach(function (k) {
      var r = cov.totals[k];
      $("coverage-totals").appendChild(el("div", { class: "total cov" }, el("b", null, pct(r)), k + " " + r.covered + "/" + r.total));
    });
    function points(before, after) {
      if (before.percent === null || after.percent === null) return null;
      var d = Math.round((after.percent - before.percent) * 10) / 10;
      return d === 0 ? "±0.0" : (d > 0 ? "+" : "") + d.toFixed(1);
    }
    var prev = cov.previous;
    if (prev) {
      var against = "run " + prev.run_id + (prev.branch ? " on " + prev.branch : "");
      var pts = points(prev.lines, cov.totals.lines);
      $("coverage-delta").appendChild(el("span", null, "lines " + pct(cov.totals.lines) + " ("));
      if (pts === null) {
        $("coverage-delta").appendChild(el("span", null, "vs " + against + ": " + pct(prev.lines) + ")"));
      } else {
        $("coverage-delta").appendChild(el("span", { class: pts[0] === "-" ? "down" : pts[0] === "+" ? "up" : "" }, pts + " pts"));
        $("coverage-delta").appendChild(el("span", null, " vs " + against + ", was " + pct(prev.lines) + ")"));
      }
    }
    cov.frameworks.forEach(function (f) {
      if (f.status === "collected") return;
      $("coverage-frameworks").appendChild(el("div", { class: "cov-status" },
        "⚠ " + f.framework + " coverage " + f.status + (f.message ? ": " + f.message : "")));
    });

    // Per-file change against the previous run, by path.
    var change = {};
    if (prev) {
      prev.changed_files.forEach(function (c) {
        var b = c[CC.before_total] >= 0 ? ratioOf(c[CC.before_covered], c[CC.before_total]) : null;
        var a = c[CC.after_total] >= 0 ? ratioOf(c[CC.after_covered], c[CC.after_total]) : null;
        change[c[CC.path]] = !b ? "new" : !a ? "gone" : points(b, a);
      });
    } else {
      $("coverage-change-head").textContent = "";
      $("coverage-head").classList.add("no-change");
    }
    var linePct = files.map(function (f) { return f[FC.lines_total] > 0 ? 100 * f[FC.lines_covered] / f[FC.lines_total] : -1; });
    function cell(c, t) { return t > 0 ? (100 * c / t).toFixed(1) + "%" : "–"; }
    function fileRow(k) {
      var f = files[k], p = linePct[k];
      var bar = el("div", { class: "cov-bar " + (p < 0 ? "" : p < 50 ? "cov-low" : p < 80 ? "cov-mid" : "cov-high") });
      bar.style.width = Math.max(0, p) + "%";
      var ch = change[f[FC.path]];
      return el("div", { class: "cov-row" + (prev ? "" : " no-change"), "data-file": k },
        el("span", { class: "path", title: f[FC.path] }, f[FC.path]),
        el("span", { class: "cov-track" }, bar),
        el("span", { class: "num lines" }, cell(f[FC.lines_covered], f[FC.lines_total])),
        el("span", { class: "num" }, f[FC.lines_covered] + "/" + f[FC.lines_total]),
        el("span", { class: "num" }, cell(f[FC.branches_covered], f[FC.branches_total])),
        el("span", { class: "num" }, cell(f[FC.functions_covered], f[FC.functions_total])),
        el("span", { class: "num change " + (ch && ch[0] === "-" ? "down" : ch && ch[0] === "+" ? "up" : "") },
          ch === undefined || ch === null ? "" : ch === "new" ? "new" : ch === "gone" ? "" : ch + " pts"));
    }
    var covRows = virtualList($("coverage-list"), $("coverage-spacer"), $("coverage-rows"), fileRow);
    // Worst line coverage first (files with nothing to cover last), then most uncovered lines.
    var sort = { key: "lines", asc: true };
    function byPath(a, b) { var x = files[a][FC.path], y = files[b][FC.path]; return x < y ? -1 : x > y ? 1 : 0; }
    function byLines(a, b) {
      var pa = linePct[a], pb = linePct[b];
      if ((pa < 0) !== (pb < 0)) return pa < 0 ? 1 : -1; // nothing to cover: last either way
      var d = sort.asc ? pa - pb : pb - pa;
      if (d) return d;
      var ua = files[a][FC.lines_total] - files[a][FC.lines_covered], ub = files[b][FC.lines_total] - files[b][FC.lines_covered];
      return (sort.asc ? ub - ua : ua - ub) || byPath(a, b);
    }
    var sorted = [], q = "";
    function resort() {
      sorted = files.map(function (_, k) { return k; });
      sorted.sort(sort.key === "path" ? function (a, b) { return sort.asc ? byPath(a, b) : byPath(b, a); } : byLines);
      var pathBtn = $("coverage-sort-path"), linesBtn = $("coverage-sort-lines");
      pathBtn.textContent = "file" + (sort.key === "path" ? (sort.asc ? " ▲" : " ▼") : "");
      linesBtn.textContent = "lines" + (sort.key === "lines" ? (sort.asc ? " ▲" : " ▼") : "");
      pathBtn.setAttribute("aria-sort", sort.key === "path" ? (sort.asc ? "ascending" : "descending") : "none");
      linesBtn.setAttribute("aria-sort", sort.key === "lines" ? (sort.asc ? "ascending" : "descending") : "none");
      refilter();
    }
    var shownFiles = [];
    function refilter() {
      var needle = q.toLowerCase();
      shownFiles = needle ? sorted.filter(function (k) { return files[k][FC.path].toLowerCase().indexOf(needle) >= 0; }) : sorted;
      $("coverage-count").textContent = "(" + (needle ? shownFiles.length + " of " : "") + files.length + (files.length === 1 ? " file)" : " files)");
      covRows.set(shownFiles);
      // Keep the header's columns over the rows' whether the list has a scrollbar or not.
      var list = $("coverage-list");
      $("coverage-head").style.paddingRight = 8 + list.offsetWidth - list.clientWidth + "px";
    }
    function sortBy(key) {
      sort = sort.key === key ? { key: key, asc: !sort.asc } : { key: key, asc: true };
      resort();
    }
    $("coverage-sort-path").addEventListener("click", function () { sortBy("path"); });
    $("coverage-sort-lines").addEventListener("click", function () { sortBy("lines"); });
    var covTimer = null;
    $("coverage-search").addEventListener("input", function () {
      clearTimeout(covTimer);
      covTimer = setTimeout(function () { q = $("coverage-search").value.trim(); refilter(); }, 120);
    });
    resort();
    return { shown: function () { return shownFiles.length; } };
  }
  var coverage = DATA.coverage ? coverageSection(DATA.coverage) : null;

  $("footer").textContent = "testflow " + run.testflow_version + " · report data format " + DATA.format;
  apply();
  // For tests and benchmarks: readiness, time since navigation start, a synchronous search.
  window.testflowReport = {
    ready: true,
    readyAt: performance.now(),
    shown: function () { return shown.length; },
    coverageFiles: function () { return coverage ? coverage.shown() : null; },
    search: function (q) { $("search").value = q; state.q = q; apply(); return shown.length; },
  };
})();
