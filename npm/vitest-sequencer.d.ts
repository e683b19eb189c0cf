// Hand-written types for jest-testflow/vitest-sequencer.

/** `sequence: { sequencer: TestflowVitestSequencer }`: testflow's timing plan for `--shard`, and its order. */
export default class TestflowVitestSequencer {
  constructor(ctx: unknown);
  shard<T>(specifications: T[]): Promise<T[]>;
  sort<T>(specifications: T[]): Promise<T[]>;
}
export { TestflowVitestSequencer };
