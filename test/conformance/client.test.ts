// Runs the client-side conformance cases against our own client: connect() plus a WebSocketConnection that echoes
// every text and binary message; the crafted server plays each case and judges what the client does.
import { afterAll, expect, test } from 'vitest';

import { connect, Opcode, type WebSocketConnection } from '../../src/index.js';
import { caseLine } from './report.js';
import { runClientSuite } from './run.js';
import type { ClientAdapter } from './run.js';

const only = process.env.CONFORMANCE_CASES ? new RegExp(process.env.CONFORMANCE_CASES) : null;
const open = new Set<WebSocketConnection>();

const ourAdapter: ClientAdapter = {
  async open(url) {
    const conn = await connect(url, {
      perMessageDeflate: true,
      closeTimeout: 2000,
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
});

test('RFC 6455 conformance of our client (connect + WebSocketConnection)', async () => {
  const results = await runClientSuite(ourAdapter, { filter: only ? (c) => only.test(c.id) : undefined });
  const failures = results.filter((r) => r.verdict === 'FAILED');
  expect(failures.map(caseLine).join('\n'), `${failures.length} conformance case(s) FAILED`).toBe('');
  expect(results.length).toBeGreaterThan(0);
}, 300_000);
