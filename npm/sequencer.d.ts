import type { Test } from '@jest/test-result';

/** `testSequencer: "jest-testflow/sequencer"`: failed first, then new, then slowest (from the latest testflow run). */
export default class TestflowSequencer {
  sort(tests: Array<Test>): Array<Test> | Promise<Array<Test>>;
}
