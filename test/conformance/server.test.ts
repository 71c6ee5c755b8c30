// Runs the conformance suite against an echo server in a child process:
// CONFORMANCE_SERVER=ws → the `ws` reference server (to check the suite itself),
// otherwise the project's `dist/examples/echo-server-helpers.js`.
// CONFORMANCE_CASES=<regex> restricts the run to matching case ids. WSLAY_TEST_TRANSPORT=stream (the stream run of
// the transport matrix, vitest.config.mts) runs the echo server's connections on the stream transport.
// WSLAY_TEST_TLS=1 (the vitest project `wss`) serves https/wss with a certificate made for the run, and our raw
// client speaks TLS: our server on a TLSSocket (stream transport) must then pass with 0 FAILED and 0 NON-STRICT.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { makeTestCertificates, type TestCertificates } from '../helpers/tls-cert.js';
import { caseLine } from './report.js';
import { runServerSuite } from './run.js';
import { startEchoServer } from './target-process.js';
import type { RunningServer } from './target-process.js';

const root = resolve(__dirname, '../..');
const useWs = process.env.CONFORMANCE_SERVER === 'ws';
const script = useWs ? join(__dirname, 'reference-ws-server.mjs') : join(root, 'dist/examples/echo-server-helpers.js');
const only = process.env.CONFORMANCE_CASES ? new RegExp(process.env.CONFORMANCE_CASES) : null;
const overTls = process.env.WSLAY_TEST_TLS === '1';

let server: RunningServer | undefined;
let certs: TestCertificates | undefined;

beforeAll(async () => {
  if (!existsSync(script)) {
    throw new Error(`${script} is missing: build the project (npm run setup) before the conformance suite`);
  }
  const transport = !useWs && process.env.WSLAY_TEST_TRANSPORT ? ['--transport', process.env.WSLAY_TEST_TRANSPORT] : [];
  if (overTls) certs = makeTestCertificates();
  const tlsArgs = certs ? ['--tls-cert', certs.certFile, '--tls-key', certs.keyFile] : [];
  server = await startEchoServer(process.execPath, [script, '--port', '0', ...transport, ...tlsArgs], root);
}, 30_000);

afterAll(async () => {
  await server?.stop();
  certs?.remove();
});

const subject = useWs ? 'the ws reference server' : 'dist/examples/echo-server-helpers.js';
test(`RFC 6455 conformance of ${subject}${overTls ? ' over TLS (wss)' : ''}`, async () => {
  expect(server, 'echo server did not start').toBeDefined();
  const results = await runServerSuite({
    host: '127.0.0.1',
    port: server!.port,
    tls: certs ? { ca: certs.ca, servername: 'localhost' } : undefined,
    filter: only ? (c) => only.test(c.id) : undefined,
  });
  const failures = results.filter((r) => r.verdict === 'FAILED');
  expect(failures.map(caseLine).join('\n'), `${failures.length} conformance case(s) FAILED`).toBe('');
  if (overTls) {
    const nonStrict = results.filter((r) => r.verdict === 'NON-STRICT');
    expect(nonStrict.map(caseLine).join('\n'), `${nonStrict.length} case(s) NON-STRICT over TLS`).toBe('');
  }
  expect(results.length).toBeGreaterThan(0);
}, 300_000);
