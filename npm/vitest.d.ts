// Hand-written types for jest-testflow/vitest and jest-testflow/vitest-sequencer.

/** Reporter options: `reporters: ['default', ['jest-testflow/vitest', { reports: { junit: 'out.xml' } }]]`. */
export interface TestflowVitestReporterOptions {
  /** Reports to write at the end: `{junit: "out.xml", json: "run.json"}`, or `"junit=a.xml,json=b.json"`. Added to `$TESTFLOW_REPORT`. */
  reports?: Record<string, string> | string | string[];
  /** Where ids are relative to and `.testflow/` goes (default: the nearest directory at or above Vitest's `root` with a package.json). */
  rootDir?: string;
  /** Do not print "testflow: run recorded in …". */
  silent?: boolean;
}

/** A Vitest 3+ reporter (the `onTestModuleCollected` … `onTestRunEnd` API). */
export default class TestflowVitestReporter {
  constructor(options?: TestflowVitestReporterOptions);
  onInit(vitest: unknown): void;
  onTestModuleCollected(module: unknown): void;
  onTestCaseReady(test: unknown): void;
  onTestCaseResult(test: unknown): void;
  onUserConsoleLog(log: unknown): void;
  onTestModuleEnd(module: unknown): void;
  onTestRunEnd(modules: ReadonlyArray<unknown>, unhandledErrors: ReadonlyArray<unknown>, reason: string): void;
}
export { TestflowVitestReporter };

