// Liveness: ping()/pong(), onPing/onPong, terminate(), idleTimeout with and without automatic pings, maxLifetime.
// Idle peers are real: raw sockets that complete the handshake and then say nothing (or only what the test sends).
import { afterEach, describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import { closeCode } from './helpers/frames.js';
import { clientFrame } from './helpers/frames.js';
import { rawClient, type RawPeer } from './helpers/raw-peer.js';
import { startServer, type TestServer } from './helpers/server.js';
import { delay, waitFor } from './helpers/wait.js';
import { wsConnect } from './helpers/ws-peer.js';

let server: TestServer | undefined;
const peers: RawPeer[] = [];

afterEach(async () => {
  for (const p of peers.splice(0)) p.destroy();
  await server?.stop();
  server = undefined;
});

async function rawPeer(): Promise<RawPeer> {
  const peer = await rawClient(server!.port);
  peers.push(peer);
  return peer;
}

describe('ping() and pong()', () => {
  it('sends pings and pongs with their payload; the ws peer answers the ping, onPong gets it', async () => {
    const pongs: Buffer[] = [];
    server = await startServer({
      onPong(data) {
        pongs.push(Buffer.from(data));
      },
    });
    const client = await wsConnect(server.port);
    const unsolicited: Buffer[] = [];
    client.ws.on('pong', (data: Buffer) => unsolicited.push(data));
    const ep = await server.nextEndpoint();
    expect(ep.conn.ping('hello')).toBe(true);
    await waitFor(() => pongs.length === 1, 5000, 'the pong');
    expect(pongs[0].toString()).toBe('hello');
    // onMsgRecv keeps getting control frames as before
    expect(ep.messages.map((m) => m.opcode)).toEqual([Opcode.PONG]);
    expect(ep.conn.pong(Buffer.from([1, 2, 3]))).toBe(true);
    expect(ep.conn.ping()).toBe(true); // empty payload
    await waitFor(() => unsolicited.length === 1 && pongs.length === 2, 5000, 'the unsolicited pong');
    expect([...unsolicited[0]]).toEqual([1, 2, 3]);
    expect(pongs[1].length).toBe(0);
    client.ws.close();
  });

  it('refuses more than 125 bytes with a RangeError and queues nothing', async () => {
    server = await startServer();
    const client = await wsConnect(server.port);
    const ep = await server.nextEndpoint();
    expect(() => ep.conn.ping(Buffer.alloc(126))).toThrow(RangeError);
    expect(() => ep.conn.pong('x'.repeat(126))).toThrow(RangeError);
    expect(ep.conn.ping(Buffer.alloc(125))).toBe(true);
    expect(ep.conn.queuedCount()).toBe(1);
    client.ws.close();
  });

  it('onPing runs after the automatic pong was queued, and after onMsgRecv', async () => {
    const order: string[] = [];
    server = await startServer({
      onMsgRecv(_rsv, opcode) {
        order.push(`msg ${opcode}`);
      },
      onPing(data) {
        order.push(`ping ${data.toString()} queued=${this.queuedCount()}`);
      },
    });
    const peer = await rawPeer();
    await server.nextEndpoint();
    peer.send(clientFrame(Opcode.PING, 'are you there'));
    const frames = await peer.waitFrames(1);
    expect(frames[0].opcode).toBe(Opcode.PONG);
    expect(frames[0].payload.toString()).toBe('are you there');
    expect(order).toEqual(['msg 9', 'ping are you there queued=1']);
  });
});

describe('terminate()', () => {
  it('closes the fd at once without a close frame; onClose(1006) once, with the unsent messages counted', async () => {
    server = await startServer();
    const peer = await rawClient(server.port, undefined, { read: false }); // reads nothing: the queue stays full
    peers.push(peer);
    const ep = await server.nextEndpoint();
    const big = Buffer.alloc(1 << 20);
    for (let i = 0; i < 8; i++) ep.conn.queueMsg(big, Opcode.BINARY);
    await delay(50);
    ep.conn.terminate();
    expect(ep.conn.readyState).toBe('closing'); // ended; onClose on a later turn
    ep.conn.terminate(); // a second call does nothing
    const { code, info } = await ep.closed;
    expect(code).toBe(1006);
    expect(info.wasClean).toBe(false);
    expect(info.sentCode).toBeUndefined();
    expect(info.unsentMessages).toBeGreaterThan(0);
    expect(info.unsentBytes).toBeGreaterThan(0);
    peer.socket.resume();
    await peer.waitEnd();
    expect(peer.frames.some((f) => f.opcode === Opcode.CLOSE)).toBe(false);
    await delay(50);
    expect(ep.closes.length).toBe(1);
    expect(ep.conn.readyState).toBe('closed');
  });

  it('inside a callback: ends after the callback returns, delivers nothing more', async () => {
    server = await startServer({
      onMsgRecv() {
        this.terminate();
      },
    });
    const peer = await rawPeer();
    const ep = await server.nextEndpoint();
    peer.send(Buffer.concat([clientFrame(Opcode.TEXT, 'one'), clientFrame(Opcode.TEXT, 'two')]));
    const { code } = await ep.closed;
    expect(code).toBe(1006);
    expect(ep.messages.map((m) => m.data.toString())).toEqual(['one']);
    await peer.waitEnd();
  });
});

describe('idleTimeout', () => {
  it('with automatic pings: a silent peer gets a ping, then is ended (1006, timedOut) after idleTimeout', async () => {
    server = await startServer({ idleTimeout: 0.6 });
    const peer = await rawPeer(); // answers nothing
    const ep = await server.nextEndpoint();
    const start = Date.now();
    const { code, info } = await ep.closed;
    const elapsed = Date.now() - start;
    expect(code).toBe(1006);
    expect(info.timedOut).toBe(true);
    expect(peer.frames.map((f) => f.opcode)).toEqual([Opcode.PING]);
    expect(elapsed).toBeGreaterThanOrEqual(500);
    await peer.waitEnd();
  });

  it('with automatic pings: a live peer (ws answers pings) stays open well past idleTimeout', async () => {
    server = await startServer({ idleTimeout: 0.4 });
    const client = await wsConnect(server.port);
    let pings = 0;
    client.ws.on('ping', () => pings++);
    const ep = await server.nextEndpoint();
    await delay(1500);
    expect(ep.closes.length).toBe(0);
    expect(pings).toBeGreaterThanOrEqual(2);
    client.ws.close();
    expect((await ep.closed).code).toBe(1005);
  });

  it('without automatic pings: no ping, ended after idleTimeout; traffic keeps it open', async () => {
    server = await startServer({ idleTimeout: 0.5, sendPingsAutomatically: false });
    const chatty = await rawPeer();
    const chattyEp = await server.nextEndpoint();
    const silent = await rawPeer();
    const silentEp = await server.nextEndpoint();
    const timer = setInterval(() => chatty.send(clientFrame(Opcode.TEXT, 'tick')), 150);
    try {
      const { code, info } = await silentEp.closed;
      expect(code).toBe(1006);
      expect(info.timedOut).toBe(true);
      expect(silent.frames.length).toBe(0);
      await delay(600);
      expect(chattyEp.closes.length).toBe(0);
      expect(chatty.frames.length).toBe(0);
    } finally {
      clearInterval(timer);
    }
  });

  it('is off by default: a silent peer stays connected', async () => {
    server = await startServer();
    const peer = await rawPeer();
    const ep = await server.nextEndpoint();
    await delay(800);
    expect(ep.closes.length).toBe(0);
    expect(peer.frames.length).toBe(0);
  });

  it('is checked before use', async () => {
    server = await startServer();
    const { WebSocketConnection } = await import('../src/index.js');
    expect(() => new WebSocketConnection({ fd: 0, idleTimeout: 0 })).toThrow(RangeError);
    expect(() => new WebSocketConnection({ fd: 0, idleTimeout: -1 })).toThrow(RangeError);
    expect(() => new WebSocketConnection({ fd: 0, maxLifetime: Number.NaN })).toThrow(RangeError);
    expect(() => new WebSocketConnection({ fd: 0, sendPingsAutomatically: 1 as never })).toThrow(TypeError);
  });
});

describe('maxLifetime', () => {
  it('closes a busy connection with 1001 when reached', async () => {
    server = await startServer({ maxLifetime: 0.01 }); // 600 ms
    const peer = await rawPeer();
    const ep = await server.nextEndpoint();
    const start = Date.now();
    const timer = setInterval(() => peer.send(clientFrame(Opcode.TEXT, 'busy')), 50);
    try {
      const close = await peer.waitClose(5000);
      expect(close && closeCode(close)).toBe(1001);
      expect(Date.now() - start).toBeGreaterThanOrEqual(550);
    } finally {
      clearInterval(timer);
    }
    peer.send(clientFrame(Opcode.CLOSE, Buffer.from([0x03, 0xe9])));
    const { code, info } = await ep.closed;
    expect(code).toBe(1001);
    expect(info.sentCode).toBe(1001);
  });
});
