import type { Test } from '@jest/test-result';

/**
 * `testSequencer: "jest-testflow/sequencer"`: `jest --shard K/N` splits by recorded timings
 * (whole files; hash without history); order is failed first, then new, then slowest
 * (from the latest testflow run), or `$TESTFLOW_ORDER`.
 */
export default class TestflowSequencer {
  shard(tests: Array<Test>, options: { shardIndex: number; shardCount: number }): Array<Test> | Promise<Array<Test>>;
  sort(tests: Array<Test>): Array<Test> | Promise<Array<Test>>;
}
