'use strict';
// setupFilesAfterEnv entry `cargo testflow run --retries N` adds: jest.retryTimes(N).
const n = Number(process.env.TESTFLOW_RETRIES || 0);
if (n > 0 && typeof jest !== 'undefined' && jest.retryTimes) jest.retryTimes(n);
