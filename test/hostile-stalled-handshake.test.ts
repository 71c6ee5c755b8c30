// A handshake that never finishes: a raw TCP client sends half an upgrade request to an http server that uses
// WebSocketServer. Nothing of ours runs before the request headers are complete, so the http server's own timeouts
// (headersTimeout / requestTimeout, checked every connectionsCheckingInterval) are what end it: the client gets 408
// and the connection is closed; no 'connection' is emitted and no descriptor is left behind. With Node's defaults
// (headersTimeout 60 s, requestTimeout 300 s, checked every 30 s) the same happens, only later.
import * as http from 'node:http';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { WebSocketConnection, WebSocketServer } from '../src/index.js';
import { countFds } from './helpers/fds.js';
import { delay, within } from './helpers/wait.js';

let server: http.Server | undefined;
let wss: WebSocketServer | undefined;
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  wss?.close();
  if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
  server = undefined;
});

async function listen(options: http.ServerOptions): Promise<{ port: number; connections: WebSocketConnection[] }> {
  server = http.createServer(options, (_req, res) => res.writeHead(404).end());
  wss = new WebSocketServer({ server });
  const connections: WebSocketConnection[] = [];
  wss.on('connection', (c: WebSocketConnection) => connections.push(c));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, connections };
}

/** Connects and sends the first half of an upgrade request; resolves with what the server sent and when it ended. */
function halfRequest(port: number): Promise<{ socket: net.Socket; ended: Promise<{ data: string; at: number }> }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    let data = '';
    socket.on('data', (d) => (data += d.toString('latin1')));
    socket.on('error', () => {});
    const ended = new Promise<{ data: string; at: number }>((done) => socket.on('close', () => done({ data, at: Date.now() })));
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgr');
      resolve({ socket, ended });
    });
  });
}

describe('a handshake that never finishes', () => {
  it('headersTimeout ends it with 408; no connection is made and no descriptor is left', async () => {
    const { port, connections } = await listen({ headersTimeout: 500, requestTimeout: 1000, connectionsCheckingInterval: 100 });
    const fdsBefore = countFds();
    const started = Date.now();
    const clients = await Promise.all(Array.from({ length: 20 }, () => halfRequest(port)));
    const results = await within(Promise.all(clients.map((c) => c.ended)), 5000, 'the server to drop the stalled handshakes');
    for (const r of results) {
      expect(r.data).toMatch(/^HTTP\/1\.1 408 /);
      expect(r.at - started).toBeGreaterThanOrEqual(400);
    }
    expect(connections).toEqual([]);
    await delay(100);
    expect(countFds()).toBeLessThanOrEqual(fdsBefore);
  });

  it('a client that keeps trickling bytes is still cut off by requestTimeout', async () => {
    const { port, connections } = await listen({ headersTimeout: 800, requestTimeout: 800, connectionsCheckingInterval: 100 });
    const { socket, ended } = await halfRequest(port);
    const trickle = setInterval(() => socket.writable && socket.write('X-Slow: 1\r\n'), 100);
    try {
      const r = await within(ended, 5000, 'the server to drop the trickling client');
      expect(r.data).toMatch(/^HTTP\/1\.1 408 /);
      expect(connections).toEqual([]);
    } finally {
      clearInterval(trickle);
    }
  });

  it('with Node defaults the stalled client is still connected after 1 s (the default timeouts are 60 s / 300 s)', async () => {
    const { port } = await listen({});
    expect(server!.headersTimeout).toBe(60_000);
    expect(server!.requestTimeout).toBe(300_000);
    const { socket } = await halfRequest(port);
    await delay(1000);
    expect(socket.destroyed).toBe(false);
  });
});

describe('a peer that never reads the 101 response', () => {
  it('the socket handover gives up after handshakeTimeout: onClose 1006, no fd left', async () => {
    const before = countFds();
    server = http.createServer();
    const closed = new Promise<{ code: number; ms: number }>((resolve) => {
      server!.on('upgrade', (_req, socket: net.Socket) => {
        // Pending writes the peer never reads: the handover must wait for them to flush, and not forever.
        socket.write(Buffer.alloc(8 * 1024 * 1024, 0x20));
        const started = Date.now();
        new WebSocketConnection({
          socket,
          handshakeTimeout: 300,
          onClose: (code) => resolve({ code, ms: Date.now() - started }),
        });
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const peer = net.connect(port, '127.0.0.1', () =>
      peer.write(
        'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      ),
    );
    peer.pause(); // never reads
    sockets.push(peer);
    const { code, ms } = await within(closed, 5000, 'onClose after handshakeTimeout');
    expect(code).toBe(1006);
    expect(ms).toBeGreaterThanOrEqual(250);
    peer.destroy();
    await delay(50);
    expect(countFds()).toBeLessThanOrEqual(before + 1); // the listening socket
  });
});
