// Runs the conformance suite against an echo server in a child process:
// CONFORMANCE_SERVER=ws → the `ws` reference server (to check the suite itself),
// otherwise the project's `dist/examples/echo-server-helpers.js`.
// CONFORMANCE_CASES=<regex> restricts the run to matching case ids. WSLAY_TEST_TRANSPORT=stream (the stream run of
// the transport matrix, vitest.config.mts) runs the echo server's connections on the stream transport.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { caseLine } from './report.js';
import { runServerSuite } from './run.js';
import { startEchoServer } from './target-process.js';
import type { RunningServer } from './target-process.js';

const root = resolve(__dirname, '../..');
const useWs = process.env.CONFORMANCE_SERVER === 'ws';
const script = useWs ? join(__dirname, 'reference-ws-server.mjs') : join(root, 'dist/examples/echo-server-helpers.js');
const only = process.env.CONFORMANCE_CASES ? new RegExp(process.env.CONFORMANCE_CASES) : null;

let server: RunningServer | undefined;

beforeAll(async () => {
  if (!existsSync(script)) {
    throw new Error(`${script} is missing: build the project (npm run setup) before the conformance suite`);
  }
  const transport = !useWs && process.env.WSLAY_TEST_TRANSPORT ? ['--transport', process.env.WSLAY_TEST_TRANSPORT] : [];
  server = await startEchoServer(process.execPath, [script, '--port', '0', ...transport], root);
}, 30_000);

afterAll(async () => {
  await server?.stop();
});

test(`RFC 6455 conformance of ${useWs ? 'the ws reference server' : 'dist/examples/echo-server-helpers.js'}`, async () => {
  expect(server, 'echo server did not start').toBeDefined();
  const results = await runServerSuite({
    host: '127.0.0.1',
    port: server!.port,
    filter: only ? (c) => only.test(c.id) : undefined,
  });
  const failures = results.filter((r) => r.verdict === 'FAILED');
  expect(failures.map(caseLine).join('\n'), `${failures.length} conformance case(s) FAILED`).toBe('');
  expect(results.length).toBeGreaterThan(0);
}, 300_000);
