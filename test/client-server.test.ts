// Our client talking to our server, and our client's masking: frames are masked with the keys genmask returns,
// and a genmask returning the wrong number of bytes fails the connection instead of sending a bad frame.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import { connectClient } from './helpers/client.js';
import { echo, type Endpoint } from './helpers/endpoint.js';
import { startRawServer, type RawServer } from './helpers/raw-peer.js';
import { closeEndpoints, startServer, type TestServer } from './helpers/server.js';
import { captureUncaught } from './helpers/uncaught.js';
import { delay, waitFor, within } from './helpers/wait.js';

describe('our client ↔ our server', () => {
  let server: TestServer;
  const clients: Endpoint[] = [];

  afterEach(async () => {
    await closeEndpoints(clients.splice(0));
    await server?.stop();
  });

  it('exchanges text, binary, empty and large messages both ways', async () => {
    server = await startServer(echo());
    const c = await connectClient(server.port);
    clients.push(c);
    const big = randomBytes(3 * 1024 * 1024);
    c.conn.queueMsg('grüße 🌍');
    c.conn.queueMsg(Buffer.from([0, 255, 1]), Opcode.BINARY);
    c.conn.queueMsg('');
    c.conn.queueMsg(big, Opcode.BINARY);
    await waitFor(() => c.messages.length === 4, 10_000);
    expect(c.messages.map((m) => m.opcode)).toEqual([Opcode.TEXT, Opcode.BINARY, Opcode.TEXT, Opcode.BINARY]);
    expect(c.messages[0].data.toString()).toBe('grüße 🌍');
    expect([...c.messages[1].data]).toEqual([0, 255, 1]);
    expect(c.messages[2].data.length).toBe(0);
    expect(c.messages[3].data.equals(big)).toBe(true);
    const s = await server.nextEndpoint();
    expect(s.messages.length).toBe(4);
  });

  it('uses a custom genmask, and the server unmasks with it correctly', async () => {
    server = await startServer(echo());
    const keys: number[][] = [];
    const c = await connectClient(server.port, {
      genmask(len) {
        const key = Buffer.from([0x12, 0x34, 0x56, 0x78 + keys.length].slice(0, len));
        keys.push([...key]);
        return key;
      },
    });
    clients.push(c);
    c.conn.queueMsg('one');
    c.conn.queueMsg('two');
    await waitFor(() => c.messages.length === 2);
    expect(c.messages.map((m) => m.data.toString())).toEqual(['one', 'two']);
    expect(keys.length).toBeGreaterThanOrEqual(2);
    expect(keys.every((k) => k.length === 4)).toBe(true);
  });

  it('closes from the client: both sides see 1000 and a clean close', async () => {
    server = await startServer(echo());
    const c = await connectClient(server.port);
    const s = await server.nextEndpoint();
    c.conn.close(1000, 'done');
    const [cc, sc] = await within(Promise.all([c.closed, s.closed]), 3000, 'both closes');
    expect(cc.code).toBe(1000);
    expect(sc.code).toBe(1000);
    expect(sc.info.reason).toBe('done');
    expect(cc.info.wasClean).toBe(true);
    expect(sc.info.wasClean).toBe(true);
  });
});

describe('our client’s frames on the wire', () => {
  let raw: RawServer;
  const clients: Endpoint[] = [];

  afterEach(async () => {
    for (const c of clients.splice(0)) if (c.closes.length === 0) c.conn.unref();
    await raw?.stop();
  });

  it('masks every frame with the key genmask returned', async () => {
    raw = await startRawServer();
    const key = Buffer.from([0xa1, 0xb2, 0xc3, 0xd4]);
    const c = await connectClient(raw.port, { genmask: () => key });
    clients.push(c);
    const peer = await raw.nextPeer();
    c.conn.queueMsg('masked text');
    c.conn.queueMsg(Buffer.alloc(300, 7), Opcode.BINARY);
    c.conn.queueMsg('p', Opcode.PING);
    const frames = await peer.waitFrames(3);
    for (const f of frames) {
      expect(f.masked).toBe(true);
      expect(f.maskKey!.equals(key)).toBe(true);
    }
    // Unmasked by the parser with that key. wslay sends control frames ahead of queued data messages.
    const byOpcode = (op: number) => frames.find((f) => f.opcode === op)!;
    expect(byOpcode(Opcode.TEXT).payload.toString()).toBe('masked text');
    expect(byOpcode(Opcode.BINARY).payload.equals(Buffer.alloc(300, 7))).toBe(true);
    expect(byOpcode(Opcode.PING).payload.toString()).toBe('p');
  });

  it('masks with fresh random keys by default', async () => {
    raw = await startRawServer();
    const c = await connectClient(raw.port);
    clients.push(c);
    const peer = await raw.nextPeer();
    for (let i = 0; i < 8; i++) c.conn.queueMsg(`m${i}`);
    const frames = await peer.waitFrames(8);
    expect(frames.every((f) => f.masked)).toBe(true);
    const distinct = new Set(frames.map((f) => f.maskKey!.toString('hex')));
    expect(distinct.size).toBeGreaterThan(4); // 8 random 32-bit keys: collisions are practically impossible
  });

  it('fails the connection when genmask returns the wrong length, and never sends the message', async () => {
    raw = await startRawServer();
    const capture = captureUncaught();
    try {
      // The raw server never answers the client's 1011, which the client waits for until closeTimeout.
      const c = await connectClient(raw.port, { genmask: (len) => Buffer.alloc(len - 1, 1), closeTimeout: 300 });
      clients.push(c);
      const peer = await raw.nextPeer();
      c.conn.queueMsg('should not go out');
      const closed = await within(c.closed, 3000, 'onClose after a bad genmask');
      expect(closed.code).not.toBe(1000);
      expect([1006, 1011]).toContain(closed.code);
      await delay(50);
      expect(peer.frames.filter((f) => f.opcode === Opcode.TEXT)).toEqual([]);
      expect(capture.errors.length).toBeGreaterThanOrEqual(1);
      expect(capture.errors[0]).toBeInstanceOf(RangeError);
      expect(String((capture.errors[0] as Error).message)).toMatch(/genmask/);
      expect(c.closes.length).toBe(1);
    } finally {
      capture.restore();
    }
  });
});
