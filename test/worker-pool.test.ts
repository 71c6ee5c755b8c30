// WorkerPool: connections upgraded on this thread and served by worker threads (test/fixtures/pool-echo-worker.mjs,
// which loads dist/: run `node scripts/setup.mjs` first, as `npm test` does). ws clients are the peers. Covered:
// echo on two workers with and without permessage-deflate, assignment, a worker whose handler throws (its peers see
// 1011, the others carry on, a replacement starts), a worker that exits (1006), handoffs a dead worker never read,
// shutdown (1001 to everyone), and the fd count of the process afterwards.
import * as http from 'node:http';
import type * as net from 'node:net';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import type { UpgradeHandoffOptions } from '../src/handoff.js';
import { WorkerPool, type WorkerPoolOptions } from '../src/worker-pool.js';
import { countFds } from './helpers/fds.js';
import { waitFor, within } from './helpers/wait.js';
import { wsConnect, type WsClient } from './helpers/ws-peer.js';

const FIXTURE = path.join(__dirname, 'fixtures', 'pool-echo-worker.mjs');

type Client = WsClient;

interface Pooled {
  pool: WorkerPool;
  port: number;
  errors: unknown[];
  exits: Array<{ code: number; index: number }>;
  stop(): Promise<void>;
}

const clients: Client[] = [];
let pooled: Pooled | undefined;

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await pooled?.stop();
  pooled = undefined;
});

async function startPooled(options: Partial<WorkerPoolOptions> = {}, upgrade: UpgradeHandoffOptions = {}): Promise<Pooled> {
  const pool = new WorkerPool({ module: FIXTURE, threads: 2, ...options });
  const errors: unknown[] = [];
  const exits: Array<{ code: number; index: number }> = [];
  pool.on('workerError', (err) => errors.push(err));
  pool.on('workerExit', (code, index) => exits.push({ code, index }));
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    pool.handleUpgrade(req, socket, head, { perMessageDeflate: true, ...upgrade }).catch((err) => errors.push(err));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const result: Pooled = {
    pool,
    port: (server.address() as net.AddressInfo).port,
    errors,
    exits,
    async stop() {
      await within(pool.close(), 15_000, 'the pool to close');
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  pooled = result;
  return result;
}

async function connect(port: number, { deflate = false, urlPath = '/' } = {}): Promise<Client> {
  const client = await wsConnect(port, { perMessageDeflate: deflate }, urlPath);
  clients.push(client);
  return client;
}

/** Sends `data` and resolves with the next message. */
async function roundTrip(client: Client, data: string | Buffer): Promise<{ data: Buffer; isBinary: boolean }> {
  const before = client.messages.length;
  client.ws.send(data);
  await waitFor(() => client.messages.length > before, 5000, 'an echo');
  return client.messages[before]!;
}

async function threadOf(client: Client): Promise<string> {
  return (await roundTrip(client, 'whoami')).data.toString();
}

async function closeAll(list: Client[]): Promise<void> {
  for (const c of list) if (c.ws.readyState === WebSocket.OPEN) c.ws.close(1000);
  await within(Promise.all(list.map((c) => c.closed)), 5000, 'the clients to close');
}

/** Every worker has seen a connection open and close, so lazily opened descriptors exist before a baseline. */
async function warmUp(p: Pooled): Promise<void> {
  const warm = [await connect(p.port, { deflate: true }), await connect(p.port)];
  for (const c of warm) await roundTrip(c, 'warm');
  await closeAll(warm);
  await waitFor(() => p.pool.connections.every((n) => n === 0), 5000, 'the workers to report the closes');
}

/** Stops the pool and its server (the clients must be closed) and checks the process's fd count. */
async function stopAndExpectNoLeak(p: Pooled, baseline: number): Promise<void> {
  await p.stop();
  pooled = undefined;
  await waitFor(() => countFds() <= baseline, 5000, `the fd count back to ${baseline} (now ${countFds()})`);
  expect(countFds()).toBe(baseline);
}

describe('WorkerPool', () => {
  // A first pool opens what Node and the workers open lazily (the threadpool, worker plumbing), so the fd
  // baselines below count only what a pool's life leaves behind.
  beforeAll(async () => {
    const warm = await startPooled();
    await warm.pool.ready();
    await warmUp(warm);
    await warm.stop();
    pooled = undefined;
  });

  it('serves connections on two workers: text, binary and permessage-deflate echo correctly', async () => {
    const p = await startPooled();
    await p.pool.ready();
    const list: Client[] = [];
    for (let i = 0; i < 6; i++) list.push(await connect(p.port, { deflate: i % 2 === 0 }));
    const threads = await Promise.all(list.map(threadOf));
    const perThread = new Map<string, number>();
    for (const t of threads) perThread.set(t, (perThread.get(t) ?? 0) + 1);
    expect([...perThread.values()]).toEqual([3, 3]); // least-loaded, ties in turn: evenly spread
    expect(p.pool.connections).toEqual([3, 3]);

    const text = 'héllo wörld — ✓ 𝄞';
    const binary = randomBytes(3000);
    const big = 'a'.repeat(200_000);
    for (const [i, c] of list.entries()) {
      expect(c.ws.extensions).toBe(i % 2 === 0 ? 'permessage-deflate' : '');
      const t = await roundTrip(c, text);
      expect([t.isBinary, t.data.toString()]).toEqual([false, text]);
      const b = await roundTrip(c, binary);
      expect(b.isBinary).toBe(true);
      expect(b.data.equals(binary)).toBe(true);
      // The worker's connection compresses with the parameters negotiated on the main thread.
      const socket = (c.ws as unknown as { _socket: net.Socket })._socket;
      const readBefore = socket.bytesRead;
      expect((await roundTrip(c, big)).data.toString()).toBe(big);
      const wire = socket.bytesRead - readBefore;
      if (i % 2 === 0) expect(wire).toBeLessThan(5000);
      else expect(wire).toBeGreaterThan(200_000);
    }
    await closeAll(list);
    await waitFor(() => p.pool.connections.every((n) => n === 0), 5000, 'the workers to report the closes');
    expect(p.errors).toEqual([]);
  });

  it('passes the handshake results to onConnection in the worker', async () => {
    const p = await startPooled({ threads: 1 }, { protocols: ['chat'] });
    const ws = new WebSocket(`ws://127.0.0.1:${p.port}/info`, ['chat'], { perMessageDeflate: true });
    const first = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
    clients.push({ ws, messages: [], closed: new Promise((r) => ws.on('close', (code) => r({ code, reason: '' }))) });
    ws.on('error', () => {});
    expect(JSON.parse(await within(first, 5000, 'the info message'))).toEqual({
      index: 0,
      extensions: 'permessage-deflate',
      protocol: 'chat',
    });
    expect(ws.protocol).toBe('chat');
  });

  it('assigns round-robin when asked', async () => {
    const p = await startPooled({ assign: 'round-robin' });
    const list: Client[] = [];
    for (let i = 0; i < 4; i++) list.push(await connect(p.port));
    const threads = await Promise.all(list.map(threadOf));
    expect(threads[0]).not.toBe(threads[1]);
    expect([threads[2], threads[3]]).toEqual([threads[0], threads[1]]);
  });

  it('a handler that throws takes its worker down: its peers see 1011, the others carry on, no fd leaks', async () => {
    const baseline = countFds();
    const p = await startPooled({ assign: 'round-robin' });
    await p.pool.ready();

    const list: Client[] = [];
    for (let i = 0; i < 4; i++) list.push(await connect(p.port, { deflate: i < 2 }));
    const threads = await Promise.all(list.map(threadOf));
    const doomed = list.filter((_, i) => threads[i] === threads[0]);
    const others = list.filter((_, i) => threads[i] !== threads[0]);
    expect([doomed.length, others.length]).toEqual([2, 2]);

    doomed[0]!.ws.send('throw');
    const codes = await within(Promise.all(doomed.map((c) => c.closed)), 5000, 'the crashed worker’s peers');
    expect(codes.map((c) => c.code)).toEqual([1011, 1011]);
    await waitFor(() => p.exits.length === 1, 5000, 'the worker to exit');
    expect(p.exits[0]!.code).toBe(1);
    expect(String(p.errors[0])).toContain('a handler failed');

    for (const c of others) expect((await roundTrip(c, 'still here')).data.toString()).toBe('still here');
    // The replacement serves new connections.
    await p.pool.ready();
    const fresh = [await connect(p.port), await connect(p.port)];
    for (const c of fresh) expect((await roundTrip(c, 'new')).data.toString()).toBe('new');
    expect(new Set(await Promise.all([...fresh, ...others].map(threadOf))).size).toBe(2);

    await closeAll([...others, ...fresh]);
    await waitFor(() => p.pool.connections.every((n) => n === 0), 5000, 'the closes');
    await stopAndExpectNoLeak(p, baseline);
  });

  it('a worker that exits abruptly: its peers see the connection end, the others carry on, no fd leaks', async () => {
    const baseline = countFds();
    const p = await startPooled({ assign: 'round-robin', respawn: false });
    await p.pool.ready();
    const list: Client[] = [];
    for (let i = 0; i < 4; i++) list.push(await connect(p.port));
    const threads = await Promise.all(list.map(threadOf));
    const doomed = list.filter((_, i) => threads[i] === threads[0]);
    const others = list.filter((_, i) => threads[i] !== threads[0]);

    doomed[0]!.ws.send('exit');
    const codes = await within(Promise.all(doomed.map((c) => c.closed)), 5000, 'the dead worker’s peers');
    // 1011 when the thread's teardown could still write a close frame, else 1006; never a clean close.
    for (const { code } of codes) expect([1006, 1011]).toContain(code);
    await waitFor(() => p.exits.length === 1, 5000, 'the worker to exit');
    expect(p.exits[0]!.code).toBe(3);
    for (const c of others) expect((await roundTrip(c, 'ok')).data.toString()).toBe('ok');
    // New connections go to the live worker only (no respawn here).
    const late = await connect(p.port);
    expect(await threadOf(late)).toBe(threads[1]);
    expect(p.pool.connections).toContain(0);
    await closeAll([...others, late]);
    await stopAndExpectNoLeak(p, baseline);
  });

  it('handoffs a worker never read are released when it dies: the peers see 1006, no fd leaks', async () => {
    const baseline = countFds();
    const p = await startPooled({ threads: 1, workerData: { dieInSetupAfterMs: 500 } });
    const ready = p.pool.ready().then(
      () => 'ready',
      (err: Error) => err.message,
    );
    const list = [await connect(p.port), await connect(p.port)];
    expect(p.pool.connections).toEqual([2]); // posted, not answered
    const codes = await within(Promise.all(list.map((c) => c.closed)), 5000, 'the peers to see the close');
    expect(codes.map((c) => c.code)).toEqual([1006, 1006]);
    expect(await ready).toMatch(/exited with code 4 before it was ready/);
    expect(p.exits).toEqual([{ code: 4, index: 0 }]);
    // No live worker and no respawn (it never started): a new connection is closed at once.
    const late = await connect(p.port);
    expect((await within(late.closed, 5000, 'the late close')).code).toBe(1006);
    await stopAndExpectNoLeak(p, baseline);
  });

  it('a worker terminated inside adoptSocket leaves no copy of the fd: the peer sees the connection end', async () => {
    const baseline = countFds();
    const inAdopt = new Int32Array(new SharedArrayBuffer(4));
    const p = await startPooled({
      module: path.join(__dirname, 'fixtures', 'pool-hang-worker.mjs'),
      threads: 1,
      shutdownTimeout: 100,
      workerData: inAdopt.buffer,
    });
    await p.pool.ready();
    const client = await connect(p.port);
    await waitFor(() => Atomics.load(inAdopt, 0) === 1, 5000, 'the worker to be inside adoptSocket');
    // The worker cannot read the shutdown message: it is terminated after shutdownTimeout.
    await within(p.pool.close(), 5000, 'pool.close()');
    expect(p.exits.length).toBe(1);
    expect((await within(client.closed, 5000, 'the peer to see the connection end')).code).toBe(1006);
    await stopAndExpectNoLeak(p, baseline);
  });

  it('close() with an invalid reason throws here and closes nothing; a valid one reaches the peers', async () => {
    const p = await startPooled();
    await p.pool.ready();
    const client = await connect(p.port);
    await roundTrip(client, 'x');
    expect(() => p.pool.close(1000, 'r'.repeat(124))).toThrow(RangeError);
    expect(() => p.pool.close(1000, Buffer.from([0xff]))).toThrow(RangeError);
    expect(() => p.pool.close(1000, 42 as unknown as string)).toThrow(TypeError);
    expect(() => p.pool.close(1005)).toThrow(RangeError);
    expect((await roundTrip(client, 'still open')).data.toString()).toBe('still open');
    await within(p.pool.close(1000, 'bye'), 5000, 'pool.close()');
    expect(await within(client.closed, 5000, 'the client to see the close')).toEqual({ code: 1000, reason: 'bye' });
  });

  it('close() closes every connection with 1001, the workers exit and no descriptor is left', async () => {
    const baseline = countFds();

    const p = await startPooled();
    await p.pool.ready();
    const list: Client[] = [];
    for (let i = 0; i < 6; i++) list.push(await connect(p.port, { deflate: i % 3 === 0 }));
    await Promise.all(list.map((c) => roundTrip(c, 'x')));
    await within(p.pool.close(), 10_000, 'pool.close()');
    const closes = await within(Promise.all(list.map((c) => c.closed)), 5000, 'the clients to see the close');
    expect(closes.map((c) => c.code)).toEqual(Array(6).fill(1001));
    expect(p.exits.map((e) => e.code)).toEqual([0, 0]);
    expect(p.pool.connections).toEqual([0, 0]);
    await stopAndExpectNoLeak(p, baseline);
  });
});
