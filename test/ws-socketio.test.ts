// socket.io on wslay/ws: engine.io's documented `wsEngine` option takes `require('wslay/ws').Server`. A real
// socket.io server and socket.io-client exchange events, acks, binary payloads and room broadcasts over the
// websocket transport, and a polling connection upgrades to it.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import { Server } from 'socket.io';
import { io, type Socket } from 'socket.io-client';

import { within } from './helpers/wait.js';

const require = createRequire(import.meta.url);
const wslayWs = require('wslay/ws');

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

async function startServer(): Promise<{ server: Server; url: string }> {
  const httpServer = http.createServer();
  const server = new Server(httpServer, { wsEngine: wslayWs.Server });
  cleanups.push(() => {
    server.close();
    httpServer.close();
  });
  await new Promise<void>((r) => httpServer.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
  return { server, url };
}

function client(url: string, options: Parameters<typeof io>[1]): Socket {
  const socket = io(url, { forceNew: true, reconnection: false, ...options });
  cleanups.push(() => socket.close());
  return socket;
}

function connected(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
}

describe('socket.io with wsEngine: wslay/ws Server', () => {
  it('the engine builds its WebSocket server from wslay/ws', async () => {
    const { server } = await startServer();
    expect((server.engine as any).ws).toBeInstanceOf(wslayWs.WebSocketServer);
  });

  it('events and acks both ways over the websocket transport', async () => {
    const { server, url } = await startServer();
    server.on('connection', (s) => {
      s.on('hello', (name: string, ack: (reply: string) => void) => ack(`hi ${name}`));
      s.emit('welcome', { n: 1, text: 'héllo ✓' });
    });
    const socket = client(url, { transports: ['websocket'] });
    const welcome = new Promise((r) => socket.once('welcome', r));
    await within(connected(socket), 5000, 'connect');
    expect(socket.io.engine.transport.name).toBe('websocket');
    expect(await within(welcome, 5000, 'welcome')).toEqual({ n: 1, text: 'héllo ✓' });
    const reply = await within(socket.timeout(4000).emitWithAck('hello', 'bob'), 5000, 'ack');
    expect(reply).toBe('hi bob');
    // and an ack the server asks for
    socket.on('question', (q: string, ack: (a: number) => void) => ack(q.length));
    const [s] = await server.fetchSockets();
    expect(await within(s.timeout(4000).emitWithAck('question', 'four'), 5000, 'server ack')).toBe(4);
  });

  it('binary payloads both ways, byte for byte', async () => {
    const { server, url } = await startServer();
    const blob = Buffer.from(Array.from({ length: 3000 }, (_, i) => i & 255));
    server.on('connection', (s) => {
      s.on('upload', (data: Buffer, ack: (len: number, echo: Buffer) => void) => ack(data.length, data));
      s.emit('download', { file: blob, name: 'x.bin' });
    });
    const socket = client(url, { transports: ['websocket'] });
    const download = new Promise<any>((r) => socket.once('download', r));
    await within(connected(socket), 5000, 'connect');
    const got = await within(download, 5000, 'download');
    expect(got.name).toBe('x.bin');
    expect(Buffer.from(got.file).equals(blob)).toBe(true);
    const [len, echoed] = await within(
      new Promise<[number, ArrayBuffer]>((r) => socket.emit('upload', blob, (n: number, e: ArrayBuffer) => r([n, e]))),
      5000,
      'upload ack',
    );
    expect(len).toBe(3000);
    expect(Buffer.from(echoed).equals(blob)).toBe(true);
  });

  it('room broadcasts reach the room members only', async () => {
    const { server, url } = await startServer();
    server.on('connection', (s) => {
      s.on('join', (room: string, ack: () => void) => {
        s.join(room);
        ack();
      });
      s.on('shout', (room: string, text: string) => s.to(room).emit('news', text));
    });
    const [a, b, c] = [0, 1, 2].map(() => client(url, { transports: ['websocket'] }));
    await within(Promise.all([a, b, c].map(connected)), 5000, 'connect');
    await within(
      Promise.all([a.emitWithAck('join', 'blue'), b.emitWithAck('join', 'blue'), c.emitWithAck('join', 'red')]),
      5000,
      'joins',
    );
    let cGot = false;
    c.on('news', () => (cGot = true));
    const bGot = new Promise((r) => b.once('news', r));
    a.emit('shout', 'blue', 'sky');
    expect(await within(bGot, 5000, 'room news')).toBe('sky');
    // c is in another room; a round trip on c shows nothing was on its way.
    await within(c.emitWithAck('join', 'red'), 5000, 'round trip');
    expect(cGot).toBe(false);
  });

  it('polling upgrades to websocket, then messages go over the websocket', async () => {
    const { server, url } = await startServer();
    let first = '';
    const upgraded = new Promise<string>((resolve) =>
      server.on('connection', (s) => {
        first = s.conn.transport.name;
        s.conn.once('upgrade', (t: { name: string }) => resolve(t.name));
        s.on('ping-me', (ack: (t: string) => void) => ack(s.conn.transport.name));
      }),
    );
    const socket = client(url, { transports: ['polling', 'websocket'] });
    await within(connected(socket), 5000, 'connect');
    expect(await within(upgraded, 5000, 'upgrade')).toBe('websocket');
    expect(first).toBe('polling');
    expect(await within(socket.emitWithAck('ping-me'), 5000, 'ack over websocket')).toBe('websocket');
    expect(socket.io.engine.transport.name).toBe('websocket');
  });

  it('a client disconnect is seen by the server, with the transport close reason', async () => {
    const { server, url } = await startServer();
    const reason = new Promise<string>((r) => server.on('connection', (s) => s.on('disconnect', r)));
    const socket = client(url, { transports: ['websocket'] });
    await within(connected(socket), 5000, 'connect');
    socket.disconnect();
    expect(await within(reason, 5000, 'disconnect')).toBe('client namespace disconnect');
  });
});
