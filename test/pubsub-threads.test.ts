// Pub/sub across threads: subscribers on the main thread and on two WorkerPool workers
// (test/fixtures/pool-pubsub-worker.mjs, which loads dist/). A publish on the main thread (pool.publish) and one on
// a worker reach every subscriber in publish order; subscriberCount is the process total; a worker that exits takes
// its subscriptions with it; the bridge hears of workers' topics and publishes; a pool closed while publishes are
// in flight (inbox messages pending) ends cleanly. ws clients are the peers.
import * as http from 'node:http';
import type * as net from 'node:net';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { publish, setPublishBridge, subscriberCount, WorkerPool } from '../src/index.js';
import { startServer, type TestServer } from './helpers/server.js';
import { waitFor, within } from './helpers/wait.js';
import { wsConnect, type WsClient } from './helpers/ws-peer.js';

const FIXTURE = path.join(__dirname, 'fixtures', 'pool-pubsub-worker.mjs');

let pool: WorkerPool | undefined;
let poolServer: http.Server | undefined;
let mainServer: TestServer | undefined;
const clients: WsClient[] = [];

afterEach(async () => {
  setPublishBridge(null);
  for (const c of clients.splice(0)) c.ws.terminate();
  if (pool) await within(pool.close(), 15_000, 'the pool to close');
  pool = undefined;
  await new Promise<void>((resolve) => (poolServer ? poolServer.close(() => resolve()) : resolve()));
  poolServer = undefined;
  await mainServer?.stop();
  mainServer = undefined;
});

async function startPool(workerData?: SharedArrayBuffer): Promise<number> {
  pool = new WorkerPool({ module: FIXTURE, threads: 2, workerData });
  const p = pool;
  poolServer = http.createServer((_req, res) => res.writeHead(426).end());
  poolServer.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    p.handleUpgrade(req, socket, head).catch(() => {});
  });
  await new Promise<void>((resolve) => poolServer!.listen(0, '127.0.0.1', resolve));
  await p.ready();
  return (poolServer.address() as net.AddressInfo).port;
}

async function connect(port: number): Promise<WsClient> {
  const c = await wsConnect(port);
  clients.push(c);
  return c;
}

/** Sends a command and waits for the answer that starts with `prefix`. */
async function ask(c: WsClient, command: string, prefix: string): Promise<string> {
  const before = c.messages.length;
  c.ws.send(command);
  let answer: string | undefined;
  await waitFor(() => {
    answer = c.messages.slice(before).map((m) => m.data.toString()).find((t) => t.startsWith(prefix));
    return answer !== undefined;
  }, 5000, `an answer to ${command}`);
  return answer!;
}

const texts = (c: WsClient, prefix: string) => c.messages.map((m) => m.data.toString()).filter((t) => t.startsWith(prefix));

/** Two clients on the pool (one per worker) and one on a server of the main thread, all subscribed to `topic`. */
async function threeThreads(topic: string) {
  const port = await startPool();
  const a = await connect(port);
  const b = await connect(port);
  const threadA = (await ask(a, `sub ${topic}`, 'ok sub')).split(' ')[3];
  const threadB = (await ask(b, `sub ${topic}`, 'ok sub')).split(' ')[3];
  expect(threadA).not.toBe(threadB); // least-loaded: one connection per worker
  mainServer = await startServer({ onMsgRecv() {} });
  const m = await connect(mainServer.port);
  const mainEp = await mainServer.nextEndpoint();
  expect(mainEp.conn.subscribe(topic)).toBe(true);
  return { a, b, m, mainEp, threadA, threadB };
}

describe('pub/sub across WorkerPool threads', () => {
  it('a publish on the main thread and one on a worker reach the subscribers of every thread, in order', async () => {
    const topic = 'room-1';
    const { a, b, m, threadA } = await threeThreads(topic);
    expect(subscriberCount(topic)).toBe(3);
    expect(await ask(a, `count ${topic}`, 'count')).toBe('count 3');

    // Main thread: 1 local subscriber; the workers get it through their inboxes.
    for (let i = 0; i < 100; i++) expect(pool!.publish(topic, `main-${i}`)).toBe(1);
    const mains = Array.from({ length: 100 }, (_, i) => `main-${i}`);
    for (const c of [a, b, m]) {
      await waitFor(() => texts(c, 'main-').length === 100, 5000, 'the main thread publishes');
      expect(texts(c, 'main-')).toEqual(mains);
    }

    // A worker publishes 100 in one tick: its own subscriber at once, the other worker and the main thread later.
    a.ws.send(`pub ${topic} 100`);
    const fromA = Array.from({ length: 100 }, (_, i) => `w${threadA}-${i}`);
    for (const c of [a, b, m]) {
      await waitFor(() => texts(c, `w${threadA}-`).length === 100, 5000, "the worker's publishes");
      expect(texts(c, `w${threadA}-`)).toEqual(fromA);
    }
  });

  it('subscriberCount follows unsubscribes and a worker that exits', async () => {
    const topic = 'room-2';
    const { a, b, m, mainEp } = await threeThreads(topic);
    expect(await ask(a, `unsub ${topic}`, 'ok unsub')).toMatch(/ true$/);
    expect(subscriberCount(topic)).toBe(2);
    b.ws.send('exit'); // b's worker dies: its connection and subscription with it
    await b.closed;
    await waitFor(() => subscriberCount(topic) === 1, 5000, 'the dead worker to leave the count');
    expect(publish(topic, 'after')).toBe(1);
    await waitFor(() => texts(m, 'after').length === 1);
    mainEp.conn.close(1000);
    await mainEp.closed;
    expect(subscriberCount(topic)).toBe(0);
    expect(texts(a, 'after')).toEqual([]);
  });

  it('the bridge on the main thread hears of topics and publishes of the workers', async () => {
    const events: Array<[string, string, string?]> = [];
    setPublishBridge({
      topicActive: (t) => events.push(['active', t]),
      topicIdle: (t) => events.push(['idle', t]),
      published: (t, data) => events.push(['published', t, data.toString()]),
    });
    const port = await startPool();
    const a = await connect(port);
    await ask(a, 'sub room-3', 'ok sub');
    await waitFor(() => events.length === 1);
    expect(events).toEqual([['active', 'room-3']]);
    a.ws.send('pub room-3 2');
    a.ws.send('pub elsewhere 1');
    await waitFor(() => events.length === 4);
    const thread = (await ask(a, 'sub x', 'ok sub')).split(' ')[3];
    expect(events.slice(1, 4)).toEqual([
      ['published', 'room-3', `w${thread}-0`],
      ['published', 'room-3', `w${thread}-1`],
      ['published', 'elsewhere', `w${thread}-0`],
    ]);
    await ask(a, 'unsub room-3', 'ok unsub');
    await waitFor(() => events.some((e) => e[0] === 'idle' && e[1] === 'room-3'));
  });

  it("a thread that does not drain its inbox misses what is over the inbox's 64 MiB", async () => {
    const flags = new Int32Array(new SharedArrayBuffer(8));
    const port = await startPool(flags.buffer as SharedArrayBuffer);
    const a = await connect(port);
    await ask(a, 'sub room-5', 'ok sub');
    a.ws.send('block');
    await waitFor(() => Atomics.load(flags, 0) === 1, 5000, 'the worker to block');
    const mib = Buffer.alloc(1024 * 1024, 1);
    for (let i = 0; i < 100; i++) publish('room-5', mib, 2);
    Atomics.store(flags, 1, 1);
    Atomics.notify(flags, 1);
    // 64 fit, 36 are missed by that thread (its subscriber then takes what its own 1 MiB limit allows).
    expect(await ask(a, 'stats', 'stats')).toBe('stats 36');
  });

  it('a pool closed with publishes still in the inboxes ends cleanly', async () => {
    const topic = 'room-4';
    const { a, b } = await threeThreads(topic);
    const big = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 200; i++) publish(topic, big);
    a.ws.send(`pub ${topic} 500`);
    b.ws.send('exit');
    await within(pool!.close(), 15_000, 'the pool to close');
    pool = undefined;
    await waitFor(() => subscriberCount(topic) === 1, 5000, 'only the main thread subscriber left');
  });
});
