// Pub/sub with permessage-deflate: subscribers that negotiated server_no_context_takeover (a server with
// perMessageDeflate: { serverNoContextTakeover: true }) share one compressed frame, deflated once per publish on
// the thread; subscribers with context takeover compress for themselves; both decode correctly in ws, as does a
// subscriber without deflate. compress: false and the threshold send plain frames. Also the same on the plain
// wslay path (no shared frames there).
import * as http from 'node:http';
import type * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { Opcode, publish, WebSocketServer, type WebSocketConnection } from '../src/index.js';
import { native } from '../src/native.js';
import type { PerMessageDeflateOptions } from '../src/permessage-deflate.js';
import { waitFor } from './helpers/wait.js';
import { wsConnect, type WsClient } from './helpers/ws-peer.js';

const stops: Array<() => Promise<void>> = [];
const clients: WsClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  for (const stop of stops.splice(0)) await stop();
});

async function serve(perMessageDeflate: PerMessageDeflateOptions | false, extra: { plainWslay?: boolean } = {}) {
  const server = http.createServer();
  const conns: WebSocketConnection[] = [];
  const wss = new WebSocketServer({ server, perMessageDeflate, onMsgRecv() {}, ...extra });
  wss.on('connection', (conn) => conns.push(conn));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stops.push(async () => {
    await wss.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    conns,
    async join(topic: string, deflate = true): Promise<WsClient> {
      const before = conns.length;
      const c = await wsConnect(port, { perMessageDeflate: deflate });
      clients.push(c);
      await waitFor(() => conns.length > before);
      conns[before].subscribe(topic);
      return c;
    },
  };
}

const bytesRead = (c: WsClient) => (c.ws as unknown as { _socket: net.Socket })._socket.bytesRead;
const sharedDeflates = () => native._pubsubStats()[0];
// WSLAY_PLAIN=1 (vitest project 'plain'): no shared frames, every subscriber compresses for itself.
const SHARED = process.env.WSLAY_PLAIN !== '1';

const message = (i: number) => `{"seq":${i},"text":"${'the quick brown fox jumps over the lazy dog '.repeat(60)}"}`;

describe('pub/sub with permessage-deflate', () => {
  it('shared-compressor, per-connection and uncompressed subscribers all decode every message', async () => {
    const shared = await serve({ serverNoContextTakeover: true, threshold: 0 });
    const own = await serve({ threshold: 0 });
    const topic = 'deflate-mixed';
    const s1 = await shared.join(topic);
    const s2 = await shared.join(topic);
    const s3 = await shared.join(topic);
    const o1 = await own.join(topic);
    const o2 = await own.join(topic);
    const plain = await own.join(topic, false);
    const before = sharedDeflates();
    const all = [s1, s2, s3, o1, o2, plain];
    for (let i = 0; i < 20; i++) expect(publish(topic, message(i))).toBe(6);
    publish(topic, Buffer.from([0, 1, 2, 3, 4, 5]), Opcode.BINARY);
    // Once per message for the three shared subscribers (one parameter set), not once per subscriber.
    expect(sharedDeflates() - before).toBe(SHARED ? 21 : 0);
    const expected = Array.from({ length: 20 }, (_, i) => message(i));
    for (const c of all) {
      await waitFor(() => c.messages.length === 21);
      expect(c.messages.slice(0, 20).map((m) => m.data.toString())).toEqual(expected);
      expect(c.messages[20]).toEqual({ data: Buffer.from([0, 1, 2, 3, 4, 5]), isBinary: true });
    }
    const raw = expected.reduce((n, m) => n + m.length, 0);
    // Compressed on the wire (the 101 response is a few hundred bytes).
    for (const c of [s1, s2, s3, o1, o2]) expect(bytesRead(c)).toBeLessThan(raw / 5);
    expect(bytesRead(plain)).toBeGreaterThan(raw);
  });

  it('compress: false and messages under the threshold go out plain', async () => {
    const shared = await serve({ serverNoContextTakeover: true, threshold: 1000 });
    const topic = 'deflate-off';
    const c = await shared.join(topic);
    const before = sharedDeflates();
    const start = bytesRead(c);
    publish(topic, message(1), Opcode.TEXT, { compress: false });
    publish(topic, 'short'.repeat(10)); // 50 bytes, under the threshold
    await waitFor(() => c.messages.length === 2);
    expect(sharedDeflates()).toBe(before);
    expect(bytesRead(c) - start).toBeGreaterThan(message(1).length + 50);
    expect(c.messages.map((m) => m.data.toString())).toEqual([message(1), 'short'.repeat(10)]);
    publish(topic, message(2));
    await waitFor(() => c.messages.length === 3);
    expect(sharedDeflates()).toBe(before + (SHARED ? 1 : 0));
  });

  it('plainWslay: every subscriber compresses for itself, and decodes', async () => {
    const shared = await serve({ serverNoContextTakeover: true, threshold: 0 }, { plainWslay: true });
    const topic = 'deflate-plain';
    const a = await shared.join(topic);
    const b = await shared.join(topic);
    const before = sharedDeflates();
    for (let i = 0; i < 5; i++) publish(topic, message(i));
    for (const c of [a, b]) {
      await waitFor(() => c.messages.length === 5);
      expect(c.messages.map((m) => m.data.toString())).toEqual(Array.from({ length: 5 }, (_, i) => message(i)));
      expect(bytesRead(c)).toBeLessThan(message(0).length * 5);
    }
    expect(sharedDeflates()).toBe(before);
  });
});
