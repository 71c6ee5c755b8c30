// Runs the client-side conformance cases against our own client: connect() plus a WebSocketConnection that echoes
// every text and binary message; the crafted server plays each case and judges what the client does.
// WSLAY_TEST_TLS=1 (the vitest project `wss`): the crafted server speaks TLS with a certificate made for the run and
// our client connects to wss:// trusting its CA; then 0 FAILED and 0 NON-STRICT.
import { afterAll, beforeAll, expect, test } from 'vitest';

import { connect, Opcode, type WebSocketConnection } from '../../src/index.js';
import { caseLine } from './report.js';
import { runClientSuite } from './run.js';
import type { ClientAdapter } from './run.js';
import { makeTestCertificates, type TestCertificates } from '../helpers/tls-cert.js';

const only = process.env.CONFORMANCE_CASES ? new RegExp(process.env.CONFORMANCE_CASES) : null;
const overTls = process.env.WSLAY_TEST_TLS === '1';
const open = new Set<WebSocketConnection>();
let certs: TestCertificates | undefined;

beforeAll(() => {
  if (overTls) certs = makeTestCertificates();
});

const ourAdapter: ClientAdapter = {
  async open(url) {
    const conn = await connect(url, {
      perMessageDeflate: true,
      closeTimeout: 2000,
      ca: certs?.ca,
      onMsgRecv(_rsv, opcode, msg) {
        if (opcode === Opcode.TEXT || opcode === Opcode.BINARY) this.queueMsg(msg, opcode);
      },
      onClose() {
        open.delete(this);
      },
    });
    open.add(conn);
  },
};

afterAll(() => {
  for (const conn of open) if (conn.readyState !== 'closed') conn.close(1001);
  certs?.remove();
});

test(`RFC 6455 conformance of our client (connect + WebSocketConnection)${overTls ? ' over TLS (wss)' : ''}`, async () => {
  const results = await runClientSuite(ourAdapter, {
    tls: certs ? { key: certs.key, cert: certs.cert } : undefined,
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
