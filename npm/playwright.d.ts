// Hand-written types for jest-testflow/playwright.

/** Reporter options: `reporter: [['list'], ['jest-testflow/playwright', { reports: { junit: 'out.xml' } }]]`. */
export interface TestflowPlaywrightReporterOptions {
  /** Reports to write at the end: `{junit: "out.xml", json: "run.json"}`, or `"junit=a.xml,json=b.json"`. Added to `$TESTFLOW_REPORT`. */
  reports?: Record<string, string> | string | string[];
  /** Where ids are relative to and `.testflow/` goes (default: the nearest directory at or above the configuration file's with a package.json). */
  rootDir?: string;
  /** Do not print "testflow: run recorded in …". */
  silent?: boolean;
}

/** A Playwright Test reporter (`preprocess` for --shard, `onBegin` … `onEnd`, `onExit`). */
export default class TestflowPlaywrightReporter {
  constructor(options?: TestflowPlaywrightReporterOptions);
  printsToStdio(): boolean;
  preprocess(params: { config: unknown; suite: unknown; testRun: unknown }): Promise<void>;
  onBegin(config: unknown, suite: unknown): void;
  onTestBegin(test: unknown, result: unknown): void;
  onTestEnd(test: unknown, result: unknown): void;
  onStdOut(chunk: string | Uint8Array, test?: unknown, result?: unknown): void;
  onStdErr(chunk: string | Uint8Array, test?: unknown, result?: unknown): void;
  onError(error: unknown): void;
  onEnd(result: { status: string }): { status: 'failed' } | undefined;
  onExit(): void;
}
export { TestflowPlaywrightReporter };
