import { defineConfig } from 'vitest/config';

// The behaviour tests that also run on the stream transport (plain TCP forced to transport: 'stream', see
// test/helpers/endpoint.ts; the conformance server with --transport stream): the transport matrix.
const STREAM_MATRIX = [
  'test/echo-with-ws.test.ts',
  'test/close.test.ts',
  'test/flow-control.test.ts',
  'test/max-recv-size.test.ts',
  'test/permessage-deflate-negotiation.test.ts',
  'test/nothing-lost.test.ts',
  'test/hostile-slow-reader.test.ts',
  'test/hostile-ping-flood.test.ts',
  'test/hostile-half-close.test.ts',
  'test/hostile-reset-mid-frame.test.ts',
  'test/hostile-huge-length.test.ts',
  'test/hostile-fragment-flood.test.ts',
  'test/hostile-deflate.test.ts',
  'test/peer-reset.test.ts',
  'test/head-bytes.test.ts',
  'test/lifetime.test.ts',
  'test/conformance/server.test.ts',
  'test/pubsub.test.ts',
  'test/pubsub-slow.test.ts',
];

// The files that run again with WSLAY_PLAIN=1 (every connection on the plain wslay path, no fast path of the
// binding's): conformance both ways and the hostile peers.
const PLAIN_MATRIX = [
  'test/conformance/server.test.ts',
  'test/conformance/client.test.ts',
  'test/hostile-*.test.ts',
  'test/max-recv-size.test.ts',
  'test/nothing-lost.test.ts',
  'test/pubsub*.test.ts',
];

export default defineConfig({
  test: {
    // Ends the run with one line when tests were skipped for want of a peer (and how to install it).
    globalSetup: ['test/peers/summary.ts'],
    // Each file in its own process: native handles, fds and worker threads never leak between files.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // This machine has 2 cores shared with the peers the tests start.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'fd', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'stream', include: STREAM_MATRIX, env: { WSLAY_TEST_TRANSPORT: 'stream' } } },
      { extends: true, test: { name: 'plain', include: PLAIN_MATRIX, env: { WSLAY_PLAIN: '1' } } },
    ],
  },
});
