// Slow subscribers: publish never blocks and never queues without bound. A subscriber whose peer never reads (a ws
// client with its socket paused) misses messages once it is over its maxBackpressure (or, without it, 1 MiB
// queued): counted in conn.droppedMessages and CloseInfo.droppedMessages. With closeOnBackpressureLimit it is closed
// with 1008 instead, which the peer sees once it reads again. Reading subscribers get everything meanwhile.
import type * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { Opcode, publish, WebSocketConnection } from '../src/index.js';
import type { ConnectionOptions, Endpoint } from './helpers/endpoint.js';
import { startServer, type TestServer } from './helpers/server.js';
import { delay, waitFor } from './helpers/wait.js';
import { wsConnect, type WsClient } from './helpers/ws-peer.js';

let server: TestServer | undefined;
const clients: WsClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await server?.stop();
  server = undefined;
});

// The options of the next server connection (the server makes them per upgrade).
let nextOptions: ConnectionOptions = {};

async function subscriber(topic: string, options: ConnectionOptions = {}): Promise<{ client: WsClient; ep: Endpoint }> {
  server ??= await startServer(() => ({ onMsgRecv() {}, ...nextOptions }));
  nextOptions = options;
  const client = await wsConnect(server.port);
  clients.push(client);
  const ep = await server.nextEndpoint();
  ep.conn.subscribe(topic);
  return { client, ep };
}

const pause = (c: WsClient) => (c.ws as unknown as { _socket: net.Socket })._socket.pause();
const resume = (c: WsClient) => (c.ws as unknown as { _socket: net.Socket })._socket.resume();

const chunk = Buffer.alloc(16 * 1024, 7);

/** Publishes `chunk` a tick at a time (so the kernel takes what it can) until `done()`, at most `max` times. */
async function publishUntil(topic: string, done: () => boolean, max = 8000): Promise<number> {
  let n = 0;
  while (!done() && n < max) {
    for (let i = 0; i < 16; i++, n++) publish(topic, chunk, Opcode.BINARY);
    await delay(1);
  }
  return n;
}

describe('slow subscribers', () => {
  it('a peer that never reads misses messages over maxBackpressure; the others get all', async () => {
    const topic = 'slow-1';
    const slow = await subscriber(topic, { maxBackpressure: 64 * 1024 });
    const fast = await subscriber(topic, { maxBackpressure: 256 * 1024 * 1024 }); // room for all of it
    pause(slow.client);
    const sent = await publishUntil(topic, () => slow.ep.conn.droppedMessages > 0);
    expect(slow.ep.conn.droppedMessages).toBeGreaterThan(0);
    // Bounded: never more than the limit queued in wslay and our own buffers.
    expect(slow.ep.conn.bufferedAmount).toBeLessThanOrEqual(64 * 1024);
    for (let i = 0; i < 50; i++) publish(topic, chunk, Opcode.BINARY);
    expect(slow.ep.conn.bufferedAmount).toBeLessThanOrEqual(64 * 1024);
    await waitFor(() => fast.client.messages.length === sent + 50, 10_000, 'the fast subscriber to get everything');
    expect(fast.ep.conn.droppedMessages).toBe(0);
    const dropped = slow.ep.conn.droppedMessages;
    slow.ep.conn.terminate();
    const { info } = await slow.ep.closed;
    expect(info.droppedMessages).toBe(dropped);
    expect(info.droppedMessages).toBeGreaterThan(50);
  });

  it('without maxBackpressure a subscriber holds at most 1 MiB of published messages', async () => {
    const topic = 'slow-2';
    const slow = await subscriber(topic, {});
    pause(slow.client);
    await publishUntil(topic, () => slow.ep.conn.droppedMessages > 0);
    expect(slow.ep.conn.droppedMessages).toBeGreaterThan(0);
    for (let i = 0; i < 200; i++) publish(topic, chunk, Opcode.BINARY); // 3.2 MiB more: all missed
    expect(slow.ep.conn.bufferedAmount).toBeLessThanOrEqual(1024 * 1024 + chunk.length);
    // queueMsg is not limited by it (only published messages are).
    expect(slow.ep.conn.queueMsg(chunk, Opcode.BINARY)).toBe(true);
  });

  it('closeOnBackpressureLimit: closed with 1008 instead', async () => {
    const topic = 'slow-3';
    const slow = await subscriber(topic, { maxBackpressure: 64 * 1024, closeOnBackpressureLimit: true });
    pause(slow.client);
    await publishUntil(topic, () => slow.ep.conn.readyState !== 'open');
    expect(slow.ep.conn.readyState).toBe('closing');
    expect(publish(topic, chunk, Opcode.BINARY)).toBe(0); // a closing subscriber takes no more
    resume(slow.client); // reads what was queued, then the close frame
    const closed = await slow.client.closed;
    expect(closed.code).toBe(1008);
    const { info } = await slow.ep.closed;
    expect(info.sentCode).toBe(1008);
    expect(info.droppedMessages).toBe(1); // the message that found it over the limit
  });

  it('closeOnBackpressureLimit must be a boolean', () => {
    expect(() => new WebSocketConnection({ fd: 0, closeOnBackpressureLimit: 1 as unknown as boolean })).toThrow(TypeError);
  });
});
