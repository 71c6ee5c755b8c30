// The stream transport on a Duplex that is no socket at all: two connections joined by an in-memory pair of
// PassThrough streams. Messages both ways, stopRead() pausing the Duplex, bufferedAmount counting what the Duplex
// holds, and the close handshake ending both with onClose exactly once.
import { randomBytes } from 'node:crypto';
import { Duplex, PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';

import { Opcode, WebSocketConnection } from '../src/index.js';
import { trackedConnection } from './helpers/endpoint.js';
import { waitFor, within } from './helpers/wait.js';

function duplexPair(): [Duplex, Duplex] {
  const aToB = new PassThrough();
  const bToA = new PassThrough();
  return [Duplex.from({ readable: bToA, writable: aToB }), Duplex.from({ readable: aToB, writable: bToA })];
}

describe('the stream transport on an in-memory Duplex', () => {
  it('carries messages both ways and closes cleanly, onClose once on each side', async () => {
    const [a, b] = duplexPair();
    const server = trackedConnection({ socket: a, type: 'server' });
    const client = trackedConnection({ socket: b, type: 'client' });
    const big = randomBytes(3 << 20);
    client.conn.queueMsg('hello');
    client.conn.queueMsg(big, Opcode.BINARY);
    server.conn.queueMsg('from the server');
    await waitFor(() => server.messages.length === 2 && client.messages.length === 1);
    expect(server.messages[0].data.toString()).toBe('hello');
    expect(server.messages[1].data.equals(big)).toBe(true);
    expect(client.messages[0].data.toString()).toBe('from the server');
    client.conn.close(1000, 'bye');
    const [s, c] = await within(Promise.all([server.closed, client.closed]), 5000, 'both onClose');
    expect([s.code, s.info.wasClean, s.info.reason]).toEqual([1000, true, 'bye']);
    expect([c.code, c.info.wasClean]).toEqual([1000, true]);
    await new Promise((r) => setTimeout(r, 50));
    expect([server.closes.length, client.closes.length]).toEqual([1, 1]);
  });

  it('stopRead() pauses the Duplex; bufferedAmount counts what the Duplex has not written', async () => {
    const [a, b] = duplexPair();
    const server = trackedConnection({ socket: a, type: 'server' });
    const client = trackedConnection({ socket: b, type: 'client' });
    client.conn.stopRead();
    await new Promise((r) => setTimeout(r, 20));
    expect(b.isPaused()).toBe(true);
    const chunk = randomBytes(512 * 1024);
    for (let i = 0; i < 8; i++) server.conn.queueMsg(chunk, Opcode.BINARY);
    await new Promise((r) => setTimeout(r, 50));
    expect(server.conn.bufferedAmount).toBeGreaterThan(0);
    expect(client.messages.length).toBe(0);
    client.conn.startRead();
    await waitFor(() => client.messages.length === 8, 10_000);
    await waitFor(() => server.conn.bufferedAmount === 0);
    client.conn.close(1000);
    await within(Promise.all([server.closed, client.closed]), 5000, 'both onClose');
  });

  it("the Duplex's 'end' without a close frame is 1006, not clean", async () => {
    const [a, b] = duplexPair();
    const server = trackedConnection({ socket: a, type: 'server' });
    b.end();
    const { code, info } = await within(server.closed, 5000, 'onClose');
    expect([code, info.wasClean]).toEqual([1006, false]);
  });

  it("transport: 'fd' on a Duplex is a TypeError", () => {
    const [a] = duplexPair();
    expect(() => new WebSocketConnection({ socket: a, transport: 'fd' })).toThrow(TypeError);
  });
});
