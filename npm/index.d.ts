// Hand-written types for jest-testflow (the napi addon has no generated .d.ts).
import type { AggregatedResult, Test, TestCaseResult, TestContext, TestResult } from '@jest/reporters';

/** Reporter options: `["jest-testflow", { reports: { junit: "out.xml" } }]`. */
export interface TestflowReporterOptions {
  /** Reports to write at the end: `{junit: "out.xml", json: "run.json"}`, or `"junit=a.xml,json=b.json"`. Added to `$TESTFLOW_REPORT`. */
  reports?: Record<string, string> | string | string[];
  /** Where ids are relative to and `.testflow/` goes (default: the nearest directory at or above Jest's `rootDir` with a package.json). */
  rootDir?: string;
  /** Do not print "testflow: run recorded in …". */
  silent?: boolean;
}

export default class TestflowReporter {
  constructor(globalConfig: { rootDir: string }, options?: TestflowReporterOptions, context?: unknown);
  onTestCaseStart(test: Test, info: { ancestorTitles: string[]; title: string; fullName: string }): void;
  onTestCaseResult(test: Test, result: TestCaseResult): void;
  onTestFileResult(test: Test, result: TestResult, aggregated?: AggregatedResult): void;
  /** Jest 24 (26+ call onTestFileResult instead). */
  onTestResult(test: Test, result: TestResult, aggregated?: AggregatedResult): void;
  onRunComplete(contexts: Set<TestContext>, results: AggregatedResult): void;
  getLastError(): Error | void;
}
export { TestflowReporter };

// ---- the native addon (require('jest-testflow/native').load()) ----

export interface RecorderOptions {
  /** Jest's rootDir (ids are relative to the nearest directory at or above it with a package.json), or the reporter's rootDir option with `rootGiven`. */
  rootDir: string;
  rootGiven?: boolean;
  /** `junit=a.xml,json=b.json` */
  reports?: string;
  /** `K/N` (Jest's `--shard`), recorded in the run. */
  shard?: string;
  /** The running Jest's version; an unsupported or missing one fails the run closed. */
  jestVersion?: string;
}

/** One Jest `AssertionResult`, flattened to plain fields. */
export interface CaseResult {
  /** Absolute `testFilePath`, or relative to `rootDir`. */
  file: string;
  ancestorTitles: string[];
  title: string;
  /** `passed`, `failed`, `pending`, `skipped`, `todo`, … */
  status: string;
  durationMs?: number;
  failureMessages?: string[];
  /** `JSON.stringify(failureDetails)` */
  failureDetailsJson?: string;
  invocations?: number;
  line?: number;
  column?: number;
  /** `startedAt` (ms): pairs a result with its start. */
  startedAt?: number;
}

/** Jest's `AggregatedResult` totals; `finish` reconciles what was recorded with them. */
export interface RunTotals {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numTotalTestSuites: number;
  numFailedTestSuites: number;
  numRuntimeErrorTestSuites: number;
  success?: boolean;
  wasInterrupted: boolean;
  snapshotFailure: boolean;
  runExecError?: string;
  /** Files with failing tests or a `testExecError`. */
  failedFiles: string[];
  /** `[file, error text]` for each file with a `testExecError`. */
  failedToRun: string[][];
}

export interface RunSummary {
  total: number;
  passed: number;
  failed: number;
  error: number;
  skipped: number;
  timeout: number;
  crashed: number;
  flaky: number;
  durationMs: number;
  /** `.testflow/runs/<id>` when this process owned the run (not under `cargo testflow run`). */
  runDir?: string;
}

export interface SelectOptions {
  rootDir: string;
  /** Absolute test file paths. */
  files: string[];
  /** 1-based, with `shardCount` (Jest's `--shard K/N`). */
  shardIndex?: number;
  shardCount?: number;
  /** timings | hash | count (default: $TESTFLOW_SHARD_STRATEGY, else timings when history has durations, else hash). */
  strategy?: string;
  /** default | failed-first | slowest-first | fastest-first */
  order?: string;
  lastFailed?: boolean;
}

/** The engine's recorder. No method throws: failures return `false`/`null`; see `getLastError()`. */
export declare class Recorder {
  constructor(options: RecorderOptions);
  getLastError(): string | null;
  /** The engine's kind of that error (`TESTFLOW_CONFIG`, `TESTFLOW_RUN_RECORD`, …), when it is one. */
  getLastErrorCode(): string | null;
  caseStarted(file: string, ancestorTitles: string[], title: string, line?: number, column?: number, startedAt?: number): boolean;
  caseResult(result: CaseResult): boolean;
  /** `caseResult` with the fields as arguments (what the reporter calls for every test). */
  caseResultArgs(
    file: string,
    ancestorTitles: string[],
    title: string,
    status: string,
    durationMs?: number,
    invocations?: number,
    line?: number,
    column?: number,
    startedAt?: number,
    failureMessages?: string[],
    failureDetailsJson?: string,
  ): boolean;
  fileResult(file: string, results: CaseResult[], execError?: string): boolean;
  runError(kind: string, message: string): boolean;
  eventsPath(): string | null;
  /** With `totals`, a disagreement is a `reconcile` run error and also `getLastError()`. */
  finish(completed: boolean, reason?: string, totals?: RunTotals): RunSummary | null;
}

export interface Native {
  Recorder: typeof Recorder;
  /** Absolute test paths in the order to run them: the engine reads TESTFLOW_ORDER and
   * TESTFLOW_LAST_FAILED; without them failed first, then new, then slowest. Throws on a bad value. */
  sortFiles(rootDir: string, files: string[]): string[];
  /** The project root (where `.testflow/` goes) for Jest's rootDir. */
  projectRoot(rootDir: string): string;
  /** The shard's files (timing-based at file grain), `--last-failed` and the order. Throws on bad options: an `Error` whose `code` is `TESTFLOW_CONFIG`. */
  selectFiles(options: SelectOptions): { files: string[]; notes: string[] };
  version(): string;
}

/** Load the addon; throws one clear error when it is missing or broken. */
export declare function load(): Native;
