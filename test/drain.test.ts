// Backpressure and drain: every wait() waiter is called, onDrain at drainThreshold, queueMsg on a closing
// connection returns false (counted unsent), and no message is lost to an onMsgRecv set late (no reading until one
// is set). Raw peers that stop reading make the queue back up for real; ws is the peer of WebSocketServer.
import * as http from 'node:http';
import type * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { Opcode, WebSocketServer } from '../src/index.js';
import { clientFrame } from './helpers/frames.js';
import { rawClient, type RawPeer } from './helpers/raw-peer.js';
import { startServer, type TestServer } from './helpers/server.js';
import { delay, waitFor, within } from './helpers/wait.js';
import { wsConnect, type WsClient } from './helpers/ws-peer.js';

let server: TestServer | undefined;
const peers: RawPeer[] = [];
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const p of peers.splice(0)) p.destroy();
  for (const c of cleanups.splice(0).reverse()) await c();
  await server?.stop();
  server = undefined;
});

async function stalledPeer(): Promise<RawPeer> {
  const peer = await rawClient(server!.port, undefined, { read: false });
  peers.push(peer);
  return peer;
}

const MiB = 1 << 20;

describe('wait()', () => {
  it('keeps every waiter and calls them in order once the queue is empty', async () => {
    server = await startServer();
    const peer = await stalledPeer();
    const ep = await server.nextEndpoint();
    for (let i = 0; i < 8; i++) ep.conn.queueMsg(Buffer.alloc(MiB), Opcode.BINARY);
    const called: string[] = [];
    ep.conn.wait(() => called.push('a'));
    ep.conn.wait(() => called.push('b'));
    ep.conn.wait(() => called.push('c'));
    await delay(100);
    expect(called).toEqual([]); // the peer reads nothing yet
    peer.socket.resume();
    await waitFor(() => called.length === 3, 10_000, 'all three waiters');
    expect(called).toEqual(['a', 'b', 'c']);
    expect(ep.conn.bufferedAmount).toBe(0);
  });
});

describe('onDrain', () => {
  it('fires once when bufferedAmount falls to drainThreshold after having been above it', async () => {
    const drains: number[] = [];
    server = await startServer({
      drainThreshold: 2 * MiB,
      onDrain() {
        drains.push(this.bufferedAmount);
      },
    });
    const peer = await stalledPeer();
    const ep = await server.nextEndpoint();
    ep.conn.queueMsg(Buffer.alloc(MiB), Opcode.BINARY); // at most the threshold: no drain to come
    await delay(100);
    for (let i = 0; i < 8; i++) ep.conn.queueMsg(Buffer.alloc(MiB), Opcode.BINARY);
    await delay(100);
    expect(drains).toEqual([]);
    expect(ep.conn.bufferedAmount).toBeGreaterThan(2 * MiB);
    peer.socket.resume();
    await waitFor(() => drains.length === 1, 10_000, 'onDrain');
    expect(drains[0]).toBeLessThanOrEqual(2 * MiB);
    await waitFor(() => ep.conn.bufferedAmount === 0, 10_000, 'the queue to empty');
    await delay(50);
    expect(drains.length).toBe(1);
  });

  it('with the default threshold 0: fires when everything queued is written', async () => {
    let drained = 0;
    server = await startServer({
      onDrain() {
        if (this.bufferedAmount === 0) drained++;
      },
    });
    const peer = await stalledPeer();
    const ep = await server.nextEndpoint();
    for (let i = 0; i < 4; i++) ep.conn.queueMsg(Buffer.alloc(MiB), Opcode.BINARY);
    await delay(100);
    expect(drained).toBe(0);
    peer.socket.resume();
    await waitFor(() => drained === 1, 10_000, 'onDrain');
  });
});

describe('queueMsg on a closing connection', () => {
  it('returns false and counts the message in onClose; a broadcast over WebSocketServer.clients does not throw', async () => {
    const http1 = http.createServer();
    await new Promise<void>((r) => http1.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => http1.close(() => r())));
    const wss = new WebSocketServer({ server: http1, onMsgRecv() {} });
    const closes: Array<{ unsentMessages: number; unsentBytes: number }> = [];
    wss.on('connection', (conn) => {
      conn.onClose = (_code, info) => closes.push(info);
    });
    const port = (http1.address() as net.AddressInfo).port;
    const clients: WsClient[] = [];
    for (let i = 0; i < 3; i++) clients.push(await wsConnect(port));
    cleanups.push(() => clients.forEach((c) => c.ws.terminate()));
    await waitFor(() => wss.clients.size === 3, 5000, 'three connections');
    const [first] = wss.clients;
    first.close(1000); // closing: its close frame is queued
    const results: boolean[] = [];
    expect(() => {
      for (const conn of wss.clients) results.push(conn.queueMsg('news'));
    }).not.toThrow();
    expect(results.filter((r) => !r).length).toBe(1);
    expect(first.queueMsg('more')).toBe(false);
    await waitFor(() => clients.filter((c) => c.messages.length === 1).length === 2, 5000, 'the broadcast');
    await waitFor(() => closes.length === 1, 5000, 'the closing one to close');
    expect(closes[0]).toMatchObject({ unsentMessages: 2, unsentBytes: 8 });
    expect(() => first.queueMsg('after onClose')).toThrow(/closed/);
  });
});

describe('no reading until a callback takes the messages', () => {
  it('messages sent before onMsgRecv is set are all delivered once it is', async () => {
    server = await startServer();
    const peer = await rawClient(server.port);
    peers.push(peer);
    const ep = await server.nextEndpoint();
    // trackedConnection sets onMsgRecv: take it away, as a connection made without one
    const record = ep.conn.onMsgRecv;
    ep.conn.onMsgRecv = undefined;
    await delay(50);
    for (let i = 0; i < 5; i++) peer.send(clientFrame(Opcode.TEXT, `m${i}`));
    await delay(200);
    expect(ep.messages.length).toBe(0);
    ep.conn.onMsgRecv = record;
    await waitFor(() => ep.messages.length === 5, 5000, 'the five messages');
    expect(ep.messages.map((m) => m.data.toString())).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
  });

  it("WebSocketServer: a 'connection' listener that sets onMsgRecv later still gets the first message", async () => {
    const http1 = http.createServer();
    await new Promise<void>((r) => http1.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => http1.close(() => r())));
    const wss = new WebSocketServer({ server: http1 });
    const got = new Promise<string>((resolve) =>
      wss.on('connection', (conn) => {
        setTimeout(() => {
          conn.onMsgRecv = (_rsv, _opcode, msg) => resolve(msg.toString());
        }, 300);
      }),
    );
    const client = await wsConnect((http1.address() as net.AddressInfo).port);
    cleanups.push(() => client.ws.terminate());
    client.ws.send('hello at once');
    expect(await within(got, 5000, 'the first message')).toBe('hello at once');
  });

  it('without buffering, a frame callback is enough to read', async () => {
    const chunks: string[] = [];
    server = await startServer({
      buffering: false,
      onFrameRecvChunk(data) {
        chunks.push(data.toString());
      },
    });
    const peer = await rawClient(server.port);
    peers.push(peer);
    const ep = await server.nextEndpoint();
    ep.conn.onMsgRecv = undefined;
    peer.send(clientFrame(Opcode.TEXT, 'through frames'));
    await waitFor(() => chunks.join('') === 'through frames', 5000, 'the chunk');
  });

  it('a connection without onMsgRecv does not even answer pings until one is set', async () => {
    server = await startServer();
    const peer = await rawClient(server.port);
    peers.push(peer);
    const ep = await server.nextEndpoint();
    ep.conn.onMsgRecv = undefined;
    peer.send(clientFrame(Opcode.PING, 'p'));
    await delay(200);
    expect(peer.frames.length).toBe(0); // not read, so not answered
    ep.conn.onMsgRecv = () => {};
    const frames = await peer.waitFrames(1);
    expect(frames[0].opcode).toBe(Opcode.PONG);
  });
});
