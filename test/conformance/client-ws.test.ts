// Runs the client-side conformance cases against the `ws` package's client,
// which checks the crafted server and the cases themselves.
import { afterAll, expect, test } from 'vitest';
import WebSocket from 'ws';
import { caseLine } from './report.js';
import { runClientSuite } from './run.js';
import type { ClientAdapter } from './run.js';

const only = process.env.CONFORMANCE_CASES ? new RegExp(process.env.CONFORMANCE_CASES) : null;
const open = new Set<WebSocket>();

/** A ws client that echoes every message; ws itself answers the server's close. */
const wsAdapter: ClientAdapter = {
  open(url) {
    return new Promise((resolve, reject) => {
      // Limits raised to what section 9 sends (ws's default maxFragments is 16,384).
      const ws = new WebSocket(url, { perMessageDeflate: true, maxPayload: 64 * 1024 * 1024, maxFragments: 128 * 1024 });
      open.add(ws);
      ws.on('open', () => resolve());
      ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
      ws.on('error', (err) => reject(err)); // after open: protocol errors are the cases' business
      ws.on('close', () => open.delete(ws));
    });
  },
};

afterAll(() => {
  for (const ws of open) ws.terminate();
});

test('RFC 6455 conformance of the ws client', async () => {
  const results = await runClientSuite(wsAdapter, { filter: only ? (c) => only.test(c.id) : undefined });
  const failures = results.filter((r) => r.verdict === 'FAILED');
  expect(failures.map(caseLine).join('\n'), `${failures.length} conformance case(s) FAILED`).toBe('');
  expect(results.length).toBeGreaterThan(0);
}, 300_000);
