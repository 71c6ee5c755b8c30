// Socket handoffs between threads (src/handoff.ts), by hand, without WorkerPool: the main thread upgrades and
// detaches, a worker (dist/handoff.js: run `node scripts/setup.mjs` first) adopts and echoes; the head bytes and
// the negotiated permessage-deflate travel along; the sender's copy is released on the worker's answer without
// ending the connection; undelivered handoffs close their fd; adoption failures leak nothing.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type * as net from 'node:net';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { Opcode } from '../src/index.js';
import {
  adoptSocket,
  detachSocket,
  HANDOFF_KIND,
  type SocketHandoff,
  type SocketHandoffMessage,
  upgradeForHandoff,
  type UpgradeHandoffOptions,
} from '../src/handoff.js';
import { repoRoot, runNode, writeScript } from './helpers/child.js';
import { clientFrame } from './helpers/frames.js';
import { countFds, openFds } from './helpers/fds.js';
import { rawClient, type RawPeer } from './helpers/raw-peer.js';
import { waitFor, within } from './helpers/wait.js';

const DIST_HANDOFF = path.join(__dirname, '..', 'dist', 'handoff.js');

// Adopts every handoff it is sent, answers { id, ok }, echoes, and reports closes.
const ADOPTING_WORKER = `
const { parentPort } = require('node:worker_threads');
const { adoptSocket } = require(${JSON.stringify(DIST_HANDOFF)});
parentPort.on('message', (handoff) => {
  try {
    const conn = adoptSocket(handoff, {
      onMsgRecv(rsv, opcode, msg) { if (opcode === 1 || opcode === 2) this.queueMsg(msg, opcode); },
      onClose(code) { parentPort.postMessage({ closed: code }); },
    });
    parentPort.postMessage({ id: handoff.id, ok: true, extensions: conn.extensions, protocol: conn.protocol });
  } catch (err) {
    parentPort.postMessage({ id: handoff.id, ok: false, error: String(err) });
  }
});
`;

interface Upgraded {
  port: number;
  handoffs: SocketHandoff[];
  next(): Promise<SocketHandoff>;
  stop(): Promise<void>;
}

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An http server whose upgrades become handoffs (kept by the test, not adopted). */
async function upgradeServer(options: UpgradeHandoffOptions = {}): Promise<Upgraded> {
  const handoffs: SocketHandoff[] = [];
  const waiters: Array<(h: SocketHandoff) => void> = [];
  let taken = 0;
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    void upgradeForHandoff(req, socket, head, options).then((h) => {
      if (!h) return;
      handoffs.push(h);
      waiters.shift()?.(h);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const result: Upgraded = {
    port: (server.address() as net.AddressInfo).port,
    handoffs,
    next() {
      if (taken < handoffs.length) return Promise.resolve(handoffs[taken++]!);
      return within(new Promise<SocketHandoff>((r) => waiters.push((h) => (taken++, r(h)))), 5000, 'a handoff');
    },
    async stop() {
      for (const h of handoffs) h.release();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  cleanups.push(() => result.stop());
  return result;
}

function startWorker(source: string): { worker: Worker; messages: any[]; exited: Promise<number> } {
  const worker = new Worker(source, { eval: true });
  const messages: any[] = [];
  worker.on('message', (m) => messages.push(m));
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  cleanups.push(async () => {
    await worker.terminate();
  });
  return { worker, messages, exited };
}

async function wsClient(port: number, deflate: boolean) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: deflate });
  const messages: Buffer[] = [];
  ws.on('message', (d) => messages.push(d as Buffer));
  ws.on('error', () => {});
  const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
  await within(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 5000, 'ws open');
  cleanups.push(() => ws.terminate());
  return { ws, messages, closed };
}

// Run in a child process: the bug aborts the whole process. 40 rounds of: a worker holds a connection, the peer
// closes it, and the worker is terminated while that connection finishes.
const TERMINATE_RACE = `
const http = require('node:http');
const net = require('node:net');
const { Worker } = require('node:worker_threads');
const HANDOFF = ${JSON.stringify(path.join(repoRoot, 'dist', 'handoff.js'))};
const { upgradeForHandoff } = require(HANDOFF);
const WORKER = \`
const { parentPort } = require('node:worker_threads');
const { adoptSocket } = require(\${JSON.stringify(HANDOFF)});
parentPort.on('message', (h) => { adoptSocket(h, { onClose() {} }); parentPort.postMessage(h.id); });
\`;
const server = http.createServer();
let next;
server.on('upgrade', (req, s, head) => upgradeForHandoff(req, s, head).then((h) => next(h)));
server.listen(0, '127.0.0.1', async () => {
  const port = server.address().port;
  for (let i = 0; i < 40; i++) {
    const worker = new Worker(WORKER, { eval: true });
    const handoff = new Promise((r) => (next = r));
    const sock = net.connect(port, '127.0.0.1', () => sock.write(
      'GET / HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n'));
    sock.on('error', () => {});
    const h = await handoff;
    worker.postMessage(h.message);
    await new Promise((r) => worker.once('message', r));
    h.release();
    sock.destroy();
    await new Promise((r) => setTimeout(r, i % 4));
    await worker.terminate();
  }
  server.close();
  console.log('survived');
});
`;

describe('socket handoff', () => {
  it('a worker adopts an upgraded socket with its negotiated permessage-deflate and echoes', async () => {
    const server = await upgradeServer({ perMessageDeflate: true });
    const { worker, messages } = startWorker(ADOPTING_WORKER);
    const client = await wsClient(server.port, true);
    const handoff = await server.next();
    expect(handoff.message.kind).toBe(HANDOFF_KIND);
    expect(handoff.message.extensions).toBe('permessage-deflate');
    expect(handoff.message.perMessageDeflate).toMatchObject({ serverMaxWindowBits: 15, threshold: 1024 });
    expect(handoff.message.request?.url).toBe('/');

    worker.postMessage(handoff.message);
    await waitFor(() => messages.length === 1, 5000, 'the worker to answer');
    expect(messages[0]).toEqual({ id: handoff.message.id, ok: true, extensions: 'permessage-deflate', protocol: '' });
    const fds = countFds();
    handoff.release(); // the worker holds its own copy: the connection goes on
    expect([handoff.released, handoff.fd, countFds()]).toEqual([true, -1, fds - 1]);

    const big = 'z'.repeat(100_000);
    const socket = (client.ws as unknown as { _socket: net.Socket })._socket;
    const before = socket.bytesRead;
    client.ws.send(big);
    client.ws.send('small');
    await waitFor(() => client.messages.length === 2, 5000, 'the echoes');
    expect(client.messages.map((m) => m.toString())).toEqual([big, 'small']);
    expect(socket.bytesRead - before).toBeLessThan(5000); // compressed by the worker's connection

    client.ws.close(1000);
    expect(await within(client.closed, 5000, 'the close')).toBe(1000);
    await waitFor(() => messages.some((m) => m.closed === 1000), 5000, 'the worker’s onClose');
  });

  it('bytes sent with the upgrade request travel in head and come first', async () => {
    const server = await upgradeServer();
    const { worker, messages } = startWorker(ADOPTING_WORKER);
    const early = Buffer.concat([clientFrame(Opcode.TEXT, 'one'), clientFrame(Opcode.TEXT, 'two')]);
    const peer: RawPeer = await rawClient(server.port, early);
    cleanups.push(() => peer.destroy());
    const handoff = await server.next();
    expect(Buffer.from(handoff.head).equals(early)).toBe(true);
    worker.postMessage(handoff.message);
    await waitFor(() => messages.length === 1, 5000, 'the worker to answer');
    handoff.release();
    peer.send(clientFrame(Opcode.TEXT, 'three'));
    const frames = await peer.waitFrames(3);
    expect(frames.map((f) => f.payload.toString())).toEqual(['one', 'two', 'three']);
    // Ended before the worker is terminated: see the report on terminating a worker while a connection finishes.
    peer.destroy();
    await waitFor(() => messages.some((m) => m.closed === 1006), 5000, 'the worker’s onClose');
  });

  it('release() of a handoff never sent closes the socket: the peer sees 1006, the fd is gone', async () => {
    const server = await upgradeServer();
    const client = await wsClient(server.port, false);
    const handoff = await server.next();
    const fds = countFds();
    handoff.release();
    handoff.release(); // once only
    expect(countFds()).toBe(fds - 1);
    expect(await within(client.closed, 5000, 'the close')).toBe(1006);
  });

  it('a handoff posted to a worker that dies before reading it is released on exit: 1006, no fd leak', async () => {
    const server = await upgradeServer();
    // Never listens: the message stays queued until the worker is gone.
    const { worker, exited } = startWorker('setInterval(() => {}, 1000);');
    await new Promise((resolve) => worker.once('online', resolve));
    const baseline = countFds();
    const client = await wsClient(server.port, false);
    const handoff = await server.next();
    worker.postMessage(handoff.message);
    void worker.terminate();
    await exited;
    handoff.release();
    expect(await within(client.closed, 5000, 'the close')).toBe(1006);
    server.handoffs.splice(0);
    // The worker's own descriptors went with it, the client's socket and the handoff's too.
    await waitFor(() => countFds() < baseline, 5000, `fewer than ${baseline} fds (now ${countFds()})`);
  });

  it('adoptSocket refuses what is not a socket and closes its duplicate when the options are bad', async () => {
    const file = fs.openSync(__filename, 'r');
    cleanups.push(() => fs.closeSync(file));
    const notSocket: SocketHandoffMessage = {
      kind: HANDOFF_KIND,
      id: 0,
      fd: file,
      head: new Uint8Array(0),
      protocol: '',
      extensions: '',
      perMessageDeflate: undefined,
      request: undefined,
    };
    const before = countFds();
    expect(() => adoptSocket(notSocket)).toThrow(TypeError);
    expect(() => adoptSocket({ ...notSocket, kind: 'other' } as unknown as SocketHandoffMessage)).toThrow(TypeError);
    expect(countFds()).toBe(before);

    const server = await upgradeServer();
    const client = await wsClient(server.port, false);
    const handoff = await server.next();
    const withSocket = countFds();
    expect(() => adoptSocket(handoff.message, { maxRecvSize: -1 })).toThrow(RangeError);
    expect(countFds()).toBe(withSocket); // the duplicate is closed, the sender's copy still open
    expect(openFds()).toContain(handoff.fd);
    // Adopting on the sending thread works too.
    const conn = adoptSocket(handoff.message, { onMsgRecv(_r, op, msg) { this.queueMsg(msg, op); } });
    handoff.release();
    client.ws.send('same thread');
    await waitFor(() => client.messages.length === 1, 5000, 'the echo');
    expect(client.messages[0]!.toString()).toBe('same thread');
    conn.close(1000);
    expect(await within(client.closed, 5000, 'the close')).toBe(1000);
  });

  it('upgradeForHandoff answers a bad request with 400 and no handoff; detachSocket rejects a dead socket', async () => {
    const server = await upgradeServer();
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = http.request({
        port: server.port,
        host: '127.0.0.1',
        headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' }, // no key
      });
      req.on('response', (res) => (res.resume(), resolve(res.statusCode)));
      req.on('upgrade', () => resolve(101));
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(400);
    expect(server.handoffs).toEqual([]);

    const { Socket } = await import('node:net');
    const dead = new Socket();
    dead.destroy();
    await expect(detachSocket(dead, undefined)).rejects.toThrow(TypeError);
  });

  // Bug (native): Connection::Teardown/Finish builds onClose's info object with node-addon-api calls that throw
  // when the worker's environment is terminating; napi_throw then fails and the process aborts ("FATAL ERROR:
  // Error::ThrowAsJavaScriptException napi_throw"). Seen when worker.terminate() races a connection's end.
  it('terminating a worker while one of its connections finishes does not abort the process', async () => {
    const { result } = runNode(await writeScript('terminate-race.js', TERMINATE_RACE), { timeout: 30_000 });
    const res = await result;
    expect({ code: res.code, signal: res.signal, out: res.stdout.trim() }, res.stderr).toEqual({
      code: 0,
      signal: null,
      out: 'survived',
    });
  });
});
