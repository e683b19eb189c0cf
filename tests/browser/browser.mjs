// Shared by the browser test and bench/html_report.mjs: the built binary, Chromium, playwright-core.
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import path from "node:path";
import fs from "node:fs";
import { fileURLToPath } from "node:url";

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const target = path.resolve(repo, process.env.CARGO_TARGET_DIR || "target");
/// Where run-all.sh installs playwright-core (`npm install --prefix`).
export const nodeDir = process.env.TESTFLOW_BROWSER_NODE_DIR || path.join(target, "browser-tests");
export const outDir = path.join(target, "browser");
fs.mkdirSync(outDir, { recursive: true });

export function bin() {
  const b = process.env.TESTFLOW_BIN || path.join(target, "debug", "cargo-testflow");
  if (!fs.existsSync(b)) throw new Error(`no cargo-testflow binary at ${b}: build it first (cargo build)`);
  return b;
}

/// `cargo testflow report --format html --run RUN -o OUT`, with a state directory of its
/// own: the report's trend reads history, and the checkout's own `.testflow/` (the README's
/// first command makes one) must not leak into what the page shows.
export function renderHtml(runJson, out) {
  const state = fs.mkdtempSync(path.join(outDir, "state-"));
  execFileSync(
    bin(),
    ["testflow", "report", "--format", "html", "--run", path.resolve(runJson), "-o", path.resolve(out)],
    { stdio: "inherit", cwd: state, env: { ...process.env, TESTFLOW_DIR: state } },
  );
  fs.rmSync(state, { recursive: true, force: true });
  return out;
}

export async function launch() {
  const require = createRequire(path.join(nodeDir, "package.json"));
  const { chromium } = require("playwright-core");
  const userDataDir = fs.mkdtempSync(path.join(outDir, "profile-"));
  const args = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
  ];
  const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
  const context = await chromium.launchPersistentContext(userDataDir, { executablePath, args, headless: true });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
