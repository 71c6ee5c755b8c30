// Closing: started by either side, with queued messages going out first, from inside onMsgRecv; argument checks;
// a second close() is a no-op; methods after onClose throw; closeTimeout when the peer never answers; onClose
// fires exactly once with (code, info); after our client fails the connection it waits for the server's close and
// reports a completed handshake as clean.
import { afterEach, describe, expect, it } from 'vitest';

import { Opcode, type CloseInfo } from '../src/index.js';
import { echo, type Endpoint } from './helpers/endpoint.js';
import { closeCode, closePayload, encodeFrame } from './helpers/frames.js';
import { connectClient } from './helpers/client.js';
import { rawClient, startRawServer, type RawPeer, type RawServer } from './helpers/raw-peer.js';
import { startServer, type TestServer } from './helpers/server.js';
import { delay, waitFor, within } from './helpers/wait.js';
import { wsConnect, type WsClient } from './helpers/ws-peer.js';
import type { ConnectionOptions } from './helpers/endpoint.js';

let server: TestServer;
let client: WsClient | undefined;
let raw: RawPeer | undefined;

afterEach(async () => {
  client?.ws.terminate();
  raw?.destroy();
  client = raw = undefined;
  await server?.stop();
});

async function withWs(options: ConnectionOptions = echo()): Promise<Endpoint> {
  server = await startServer(options);
  client = await wsConnect(server.port);
  return server.nextEndpoint();
}

async function withRaw(options: ConnectionOptions = {}): Promise<Endpoint> {
  server = await startServer(options);
  raw = await rawClient(server.port);
  return server.nextEndpoint();
}

function expectInfoShape(info: CloseInfo): void {
  expect(typeof info.code).toBe('number');
  expect(typeof info.reason).toBe('string');
  expect(typeof info.wasClean).toBe('boolean');
}

describe('close started by our side', () => {
  it('sends the code and reason; onClose gets the peer’s echo, a clean close', async () => {
    const ep = await withWs();
    ep.conn.close(4001, 'going away now');
    const peer = await within(client!.closed, 3000, 'ws close');
    expect(peer).toEqual({ code: 4001, reason: 'going away now' });
    const { code, info } = await within(ep.closed, 3000, 'onClose');
    expect(code).toBe(4001);
    expectInfoShape(info);
    expect(info.code).toBe(4001);
    expect(info.wasClean).toBe(true);
    expect(info.sentCode).toBe(4001);
    expect(info.timedOut).toBeUndefined();
    expect(ep.conn.readyState).toBe('closed');
  });

  it('without a code sends an empty close; the peer answers 1005', async () => {
    const ep = await withRaw();
    ep.conn.close();
    const close = await raw!.waitClose();
    expect(close!.payload.length).toBe(0);
    raw!.send(encodeFrame({ opcode: Opcode.CLOSE, mask: true }));
    const { code, info } = await within(ep.closed, 3000, 'onClose');
    expect(code).toBe(1005);
    expect(info.sentCode).toBe(1005);
  });

  it('sends every message queued before close() first, then the close frame', async () => {
    const ep = await withRaw();
    const big = Buffer.alloc(256 * 1024, 7);
    for (let i = 0; i < 20; i++) ep.conn.queueMsg(i % 2 ? big : `msg ${i}`, i % 2 ? Opcode.BINARY : Opcode.TEXT);
    ep.conn.close(1000, 'after all that');
    const close = await raw!.waitClose(10_000);
    const frames = raw!.frames;
    const closeAt = frames.indexOf(close!);
    expect(closeAt).toBe(20);
    expect(frames.slice(0, 20).map((f, i) => (i % 2 ? f.payload.length : f.payload.toString()))).toEqual(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? big.length : `msg ${i}`)),
    );
    expect(closeCode(close!)).toBe(1000);
    expect(close!.payload.subarray(2).toString()).toBe('after all that');
    raw!.send(encodeFrame({ opcode: Opcode.CLOSE, payload: closePayload(1000), mask: true }));
    const { info } = await within(ep.closed, 3000, 'onClose');
    expect(info.unsentMessages).toBe(0);
    expect(info.wasClean).toBe(true);
  });

  it('queueMsg after close() returns false and counts the message as unsent; after onClose it throws', async () => {
    const ep = await withWs();
    ep.conn.close(1000);
    expect(ep.conn.queueMsg('late')).toBe(false);
    const { info } = await within(ep.closed, 3000, 'onClose');
    expect(info.unsentMessages).toBe(1);
    expect(info.unsentBytes).toBe(4);
    expect(() => ep.conn.queueMsg('later')).toThrow(/closed/);
  });

  it('works from inside onMsgRecv, after queueing a reply there', async () => {
    const ep = await withWs({
      onMsgRecv(_rsv, _opcode, msg) {
        this.queueMsg(`reply to ${msg}`);
        this.close(1000, 'served');
      },
    });
    client!.ws.send('question');
    const peer = await within(client!.closed, 3000, 'ws close');
    expect(client!.messages.map((m) => m.data.toString())).toEqual(['reply to question']);
    expect(peer).toEqual({ code: 1000, reason: 'served' });
    expect((await ep.closed).code).toBe(1000);
  });

  it('a second close() is a no-op: one close frame goes out, with the first code', async () => {
    const ep = await withRaw();
    ep.conn.close(3001);
    expect(() => ep.conn.close(3002, 'again')).not.toThrow();
    await raw!.waitClose();
    await delay(50);
    const closes = raw!.frames.filter((f) => f.opcode === Opcode.CLOSE);
    expect(closes.map(closeCode)).toEqual([3001]);
    raw!.send(encodeFrame({ opcode: Opcode.CLOSE, payload: closePayload(3001), mask: true }));
    expect((await within(ep.closed, 3000, 'onClose')).code).toBe(3001);
    expect(() => ep.conn.close()).not.toThrow(); // also after onClose
  });
});

describe('close started by the peer', () => {
  it('onClose gets the peer’s code and reason; our echo carries the code', async () => {
    const ep = await withWs();
    client!.ws.close(4002, 'client leaving');
    const { code, info } = await within(ep.closed, 3000, 'onClose');
    expect(code).toBe(4002);
    expect(info.reason).toBe('client leaving');
    expect(info.wasClean).toBe(true);
    expect(info.sentCode).toBe(4002);
    expect((await within(client!.closed, 3000, 'ws close')).code).toBe(4002);
  });

  it('a close without a code gives 1005', async () => {
    const ep = await withWs();
    client!.ws.close();
    expect((await within(ep.closed, 3000, 'onClose')).code).toBe(1005);
  });

  it('messages before the peer’s close are all delivered', async () => {
    const ep = await withWs({});
    for (let i = 0; i < 100; i++) client!.ws.send(`m${i}`);
    client!.ws.close(1000);
    await within(ep.closed, 3000, 'onClose');
    expect(ep.messages.map((m) => m.data.toString())).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
  });

  it('TCP close without a close frame gives 1006, not clean', async () => {
    const ep = await withRaw();
    raw!.socket.end();
    const { code, info } = await within(ep.closed, 3000, 'onClose');
    expect(code).toBe(1006);
    expect(info.wasClean).toBe(false);
  });
});

describe('close() arguments', () => {
  it('rejects invalid codes, long reasons and invalid UTF-8 with RangeError, and stays open', async () => {
    const ep = await withWs();
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535, 1000.5, -1000]) {
      expect(() => ep.conn.close(code), `code ${code}`).toThrow(RangeError);
    }
    expect(() => ep.conn.close(1000, 'a'.repeat(124))).toThrow(RangeError);
    expect(() => ep.conn.close(1000, 'é'.repeat(62))).toThrow(RangeError); // 124 bytes in UTF-8
    expect(() => ep.conn.close(1000, Buffer.from([0x61, 0xff, 0x62]))).toThrow(RangeError);
    expect(() => ep.conn.close(1000, Buffer.from([0xed, 0xa0, 0x80]))).toThrow(RangeError); // a surrogate
    expect(ep.conn.readyState).toBe('open');
    client!.ws.send('still there');
    await waitFor(() => client!.messages.length === 1);
    ep.conn.close(1000, 'é'.repeat(61) + 'a'); // exactly 123 bytes is fine
    expect((await within(client!.closed, 3000, 'ws close')).reason).toBe('é'.repeat(61) + 'a');
  });

  it('accepts every valid code range', async () => {
    for (const code of [1000, 1003, 1007, 1014, 3000, 4999]) {
      const ep = await withRaw();
      expect(() => ep.conn.close(code)).not.toThrow();
      const close = await raw!.waitClose();
      expect(closeCode(close!)).toBe(code);
      raw!.destroy();
      await within(ep.closed, 3000, 'onClose');
      await server.stop();
    }
  });
});

describe('after onClose', () => {
  it('every method throws a clear Error; close() stays a no-op; state reads are safe', async () => {
    const ep = await withWs();
    client!.ws.close(1000);
    await within(ep.closed, 3000, 'onClose');
    const c = ep.conn;
    const calls: Array<[string, () => unknown]> = [
      ['queueMsg', () => c.queueMsg('x')],
      ['queueMsgEx', () => c.queueMsgEx('x')],
      ['queueFragmented', () => c.queueFragmented(() => null)],
      ['queueFragmentedEx', () => c.queueFragmentedEx(() => null)],
      ['wait', () => c.wait(() => {})],
      ['start', () => c.start()],
      ['stop', () => c.stop()],
      ['startRead', () => c.startRead()],
      ['stopRead', () => c.stopRead()],
      ['startWrite', () => c.startWrite()],
      ['stopWrite', () => c.stopWrite()],
      ['shutdownRead', () => c.shutdownRead()],
      ['shutdownWrite', () => c.shutdownWrite()],
    ];
    for (const [name, call] of calls) {
      expect(call, name).toThrow(Error);
      expect(call, name).toThrow(/closed/);
    }
    expect(() => c.close(1000)).not.toThrow();
    expect(c.readyState).toBe('closed');
    expect(c.queuedCount()).toBe(0);
    expect(c.bufferedAmount).toBe(0);
    await delay(50);
    expect(ep.closes.length).toBe(1);
  });
});

describe('closeTimeout', () => {
  it('a peer that never answers our close: onClose(1006) with timedOut after closeTimeout', async () => {
    const ep = await withRaw({ closeTimeout: 200 });
    const started = Date.now();
    ep.conn.close(1000);
    await raw!.waitClose(); // the peer got it and ignores it
    const { code, info } = await within(ep.closed, 3000, 'onClose after the timeout');
    const elapsed = Date.now() - started;
    expect(code).toBe(1006);
    expect(info.timedOut).toBe(true);
    expect(info.wasClean).toBe(false);
    expect(info.sentCode).toBe(1000);
    expect(elapsed).toBeGreaterThanOrEqual(180);
    expect(elapsed).toBeLessThan(2000);
    await raw!.waitEnd(); // the fd was closed
  });

  it('does not fire when the peer answers in time', async () => {
    const ep = await withWs({ closeTimeout: 300 });
    ep.conn.close(1000);
    const { info } = await within(ep.closed, 3000, 'onClose');
    expect(info.timedOut).toBeUndefined();
    expect(info.wasClean).toBe(true);
  });
});

describe('onClose', () => {
  it('fires exactly once, with (code, info), when both sides close at the same time', async () => {
    const args: unknown[][] = [];
    const ep = await withWs({ onClose: (...a: unknown[]) => void args.push(a) });
    ep.conn.close(1000);
    client!.ws.close(1000);
    await within(ep.closed, 3000, 'onClose');
    await delay(100);
    expect(args.length).toBe(1);
    expect(args[0].length).toBe(2);
    expect(args[0][0]).toBe(1000);
    expect((args[0][1] as CloseInfo).code).toBe(1000);
    expect(ep.closes.length).toBe(1);
  });
});

describe('wasClean after we fail the connection', () => {
  let rawServer: RawServer | undefined;
  afterEach(async () => {
    await rawServer?.stop();
    rawServer = undefined;
  });

  // What a server sends that our client must fail: reserved opcode 3 (wslay: 1002), a 16-bit length under 126
  // (wslay's frame layer: 1002), invalid UTF-8 (wslay: 1007).
  const violations: Array<[string, Buffer, number]> = [
    ['a reserved opcode', encodeFrame({ opcode: 3, payload: 'x' }), 1002],
    ['a non-minimal length', Buffer.from([0x82, 0x7e, 0x00, 0x05, 1, 2, 3, 4, 5]), 1002],
    ['invalid UTF-8', encodeFrame({ opcode: Opcode.TEXT, payload: Buffer.from([0xff]) }), 1007],
  ];

  it.each(violations)('a client failing on %s: the server answers, TCP ends: clean', async (_name, bad, code) => {
    rawServer = await startRawServer();
    const ep = await connectClient(rawServer.port, { closeTimeout: 3000 });
    const peer = await rawServer.nextPeer();
    peer.send(Buffer.concat([encodeFrame({ opcode: Opcode.TEXT, payload: 'fine' }), bad]));
    const ours = await peer.waitClose(2000);
    expect(ours && closeCode(ours)).toBe(code);
    await delay(50);
    expect(ep.closes.length, 'the client waits for the server’s close').toBe(0);
    peer.socket.end(encodeFrame({ opcode: Opcode.CLOSE, payload: closePayload(code) }));
    const { info } = await within(ep.closed, 2000, 'onClose');
    expect(info.code).toBe(code);
    expect(info.sentCode).toBe(code);
    expect(info.wasClean).toBe(true);
    expect(info.timedOut).toBeUndefined();
    expect(ep.messages.map((m) => m.data.toString())).toEqual(['fine']);
  });

  it('the server ends TCP without answering: not clean, at once', async () => {
    rawServer = await startRawServer();
    const ep = await connectClient(rawServer.port, { closeTimeout: 3000 });
    const peer = await rawServer.nextPeer();
    peer.send(encodeFrame({ opcode: 3 }));
    await peer.waitClose(2000);
    peer.socket.end();
    const { info } = await within(ep.closed, 1000, 'onClose');
    expect(info.code).toBe(1002);
    expect(info.wasClean).toBe(false);
    expect(info.timedOut).toBeUndefined();
  });

  it('the server neither answers nor ends TCP: not clean, after closeTimeout', async () => {
    rawServer = await startRawServer();
    const ep = await connectClient(rawServer.port, { closeTimeout: 200 });
    const peer = await rawServer.nextPeer();
    peer.send(encodeFrame({ opcode: 3 }));
    await peer.waitClose(2000);
    const { info } = await within(ep.closed, 2000, 'onClose after closeTimeout');
    expect(info.code).toBe(1002);
    expect(info.wasClean).toBe(false);
    expect(info.timedOut).toBe(true);
    await peer.waitEnd(1000);
  });

  it('a server failing the connection closes TCP at once (RFC 6455 §7.1.1): no answer is read, not clean', async () => {
    const ep = await withRaw();
    raw!.send(encodeFrame({ opcode: 3, mask: true }));
    await raw!.waitClose(2000);
    await raw!.waitEnd(2000);
    const { info } = await within(ep.closed, 2000, 'onClose');
    expect(info.code).toBe(1002);
    expect(info.wasClean).toBe(false);
  });
});
