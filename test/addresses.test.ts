// remoteAddress, remotePort, remoteFamily, localAddress, localPort: captured when the connection is made, so they
// stay valid after Node's socket is gone; over IPv4 and IPv6 loopback, from a socket, from an fd (getpeername), and
// in a WorkerPool worker. The ws package is the peer.
import * as http from 'node:http';
import type * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { acceptKey, handleUpgrade, WebSocketConnection, WebSocketServer } from '../src/index.js';
import { native } from '../src/native.js';
import { WorkerPool } from '../src/worker-pool.js';
import { within } from './helpers/wait.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Seen {
  conn: WebSocketConnection;
  nodeSocket: { remoteAddress?: string; remotePort?: number; localAddress?: string; localPort?: number };
}

/** An http server on `host` whose upgrades become connections (by socket, or by a duplicated fd). */
async function serve(host: string, byFd: boolean): Promise<{ port: number; next: Promise<Seen> }> {
  let resolve!: (s: Seen) => void;
  const next = new Promise<Seen>((r) => (resolve = r));
  const server = http.createServer();
  server.on('upgrade', (req, socket: net.Socket, head) => {
    const nodeSocket = {
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      localAddress: socket.localAddress,
      localPort: socket.localPort,
    };
    if (!byFd) {
      resolve({ conn: handleUpgrade(req, socket, head, { onMsgRecv() {} }), nodeSocket });
      return;
    }
    // The 101 by hand, then our own copy of the fd; Node's socket is destroyed (its fd closed) before we read.
    const key = String(req.headers['sec-websocket-key']);
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
      () => {
        const fd = native.dupSocketFd((socket as unknown as { _handle: { fd: number } })._handle.fd);
        socket.destroy();
        resolve({ conn: new WebSocketConnection({ fd, head, onMsgRecv() {} }), nodeSocket });
      },
    );
  });
  await new Promise<void>((r, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => r());
  });
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as net.AddressInfo).port, next };
}

async function wsClient(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url);
  ws.on('error', () => {});
  cleanups.push(() => ws.terminate());
  await within(new Promise((r) => ws.once('open', r)), 5000, 'the ws client to open');
  return ws;
}

async function ipv6Available(): Promise<boolean> {
  const server = http.createServer();
  try {
    await new Promise<void>((r, reject) => {
      server.once('error', reject);
      server.listen(0, '::1', () => r());
    });
    await new Promise<void>((r) => server.close(() => r()));
    return true;
  } catch {
    return false;
  }
}

const HAS_IPV6 = await ipv6Available();
if (!HAS_IPV6) console.warn('addresses.test.ts: ::1 is not available on this machine; the IPv6 cases are skipped');

const cases: Array<[string, string, 'IPv4' | 'IPv6', string]> = [
  ['IPv4', '127.0.0.1', 'IPv4', 'ws://127.0.0.1'],
  ['IPv6', '::1', 'IPv6', 'ws://[::1]'],
];

describe.each(cases)('over %s loopback', (name, host, family, base) => {
  for (const byFd of [false, true]) {
    it.skipIf(name === 'IPv6' && !HAS_IPV6)(
      `${byFd ? 'an fd (getpeername)' : 'a socket (handleUpgrade)'}: the addresses, still there after the close`,
      async () => {
        const { port, next } = await serve(host, byFd);
        const ws = await wsClient(`${base}:${port}/`);
        const { conn, nodeSocket } = await within(next, 5000, 'the connection');
        const clientSocket = (ws as unknown as { _socket: net.Socket })._socket;
        const expected = {
          remoteAddress: host,
          remotePort: clientSocket.localPort,
          remoteFamily: family,
          localAddress: host,
          localPort: port,
        };
        const read = (): object => ({
          remoteAddress: conn.remoteAddress,
          remotePort: conn.remotePort,
          remoteFamily: conn.remoteFamily,
          localAddress: conn.localAddress,
          localPort: conn.localPort,
        });
        expect(read()).toEqual(expected);
        expect(nodeSocket.remotePort).toBe(expected.remotePort); // what Node said agrees
        const closed = new Promise<void>((r) => (conn.onClose = () => r()));
        ws.close();
        await within(closed, 5000, 'onClose');
        expect(read()).toEqual(expected);
      },
    );
  }
});

describe('WebSocketServer and WorkerPool', () => {
  it("WebSocketServer: the 'connection' listener can log who connected", async () => {
    const server = http.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const wss = new WebSocketServer({ server });
    const seen = new Promise<string>((r) =>
      wss.on('connection', (conn) => {
        conn.onMsgRecv = () => {};
        r(`${conn.remoteFamily} ${conn.remoteAddress}:${conn.remotePort}`);
      }),
    );
    const ws = await wsClient(`ws://127.0.0.1:${(server.address() as net.AddressInfo).port}/`);
    const port = (ws as unknown as { _socket: net.Socket })._socket.localPort;
    expect(await within(seen, 5000, 'the connection event')).toBe(`IPv4 127.0.0.1:${port}`);
  });

  it('a WorkerPool connection has them (read from its fd in the worker), and so has the request info', async () => {
    const pool = new WorkerPool({ module: path.join(__dirname, 'fixtures', 'pool-echo-worker.mjs'), threads: 1 });
    cleanups.push(() => within(pool.close(), 15_000, 'the pool to close'));
    const server = http.createServer();
    server.on('upgrade', (req, socket: net.Socket, head) => void pool.handleUpgrade(req, socket, head));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as net.AddressInfo).port;
    const ws = new WebSocket(`ws://127.0.0.1:${port}/address`);
    ws.on('error', () => {});
    cleanups.push(() => ws.terminate());
    const message = await within(
      new Promise<string>((r) => ws.once('message', (data) => r(String(data)))),
      10_000,
      'the worker to answer',
    );
    const clientPort = (ws as unknown as { _socket: net.Socket })._socket.localPort;
    const got = JSON.parse(message);
    expect(got).toMatchObject({
      remoteAddress: '127.0.0.1',
      remotePort: clientPort,
      remoteFamily: 'IPv4',
      localAddress: '127.0.0.1',
      localPort: port,
      request: { remoteAddress: '127.0.0.1', remotePort: clientPort, remoteFamily: 'IPv4', localPort: port },
    });
  });
});
