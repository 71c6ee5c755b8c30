import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Ends the run with one line when tests were skipped for want of a peer (and how to install it).
    globalSetup: ['test/peers/summary.ts'],
    // Each file in its own process: native handles, fds and worker threads never leak between files.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // This machine has 2 cores shared with the peers the tests start.
    maxWorkers: 2,
  },
});
