// wslay/redis against a real redis-server: two server processes (test/fixtures/redis-bridge-server.cjs), one bridged
// with ioredis and one with node-redis, each with `ws` clients; a publish in either reaches the subscribers of both,
// byte for byte and once; Redis channels follow the topics' local subscribers (PUBSUB NUMSUB); a Redis kill and
// restart mid-stream loses (and counts) what was published during the outage, and delivery resumes.
import * as path from 'node:path';
import * as readline from 'node:readline';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { publish, subscriberCount } from '../src/index.js';
import { RedisBridge } from '../src/redis.js';

import { repoRoot, runNode, transpiledLib } from './helpers/child.js';
import { delay, waitFor, within } from './helpers/wait.js';
import { wsConnect, type WsClient } from './helpers/ws-peer.js';
import { skipWithout } from './peers/availability.js';
import { RedisServer, redisPeer } from './peers/redis.js';

const FIXTURE = path.join(__dirname, 'fixtures', 'redis-bridge-server.cjs');

interface BridgeStats {
  stats: { sent: number; received: number; lost: number; malformed: number; errors: number; channels: number };
  ready: boolean;
  subscribers: Record<string, number>;
}

/** One server process: commands over stdin, answers by id on stdout. */
class BridgeServer {
  port = 0;
  readonly clients: WsClient[] = [];
  #nextId = 1;
  readonly #waiting = new Map<number, (answer: any) => void>();

  private constructor(readonly run: ReturnType<typeof runNode>) {}

  static async start(lib: string, redisPort: number, kind: 'ioredis' | 'node-redis'): Promise<BridgeServer> {
    const modules = path.join(repoRoot, 'node_modules');
    const args = [lib, modules, String(redisPort), kind];
    const run = runNode(FIXTURE, { args, stdio: ['pipe', 'pipe', 'pipe'], timeout: 120_000 });
    run.result.catch(() => undefined); // checked by alive()
    const server = new BridgeServer(run);
    const ready = new Promise<void>((resolve) => {
      readline.createInterface({ input: run.child.stdout! }).on('line', (line) => {
        const msg = JSON.parse(line);
        if (msg.port) {
          server.port = msg.port;
          resolve();
        } else server.#waiting.get(msg.id)?.(msg);
      });
    });
    await within(ready, 10_000, `the ${kind} server to listen`);
    return server;
  }

  command<T>(cmd: Record<string, unknown>): Promise<T> {
    const id = this.#nextId++;
    const answer = new Promise<T>((resolve) => this.#waiting.set(id, resolve));
    this.run.child.stdin!.write(JSON.stringify({ id, ...cmd }) + '\n');
    return within(answer, 5000, `an answer to ${String(cmd.cmd)}`);
  }

  /** How many publish() calls this server was asked for. */
  published = 0;

  async publish(topic: string, data: Buffer | string): Promise<number> {
    this.published++;
    const binary = typeof data !== 'string';
    const { queued } = await this.command<{ queued: number }>({
      cmd: 'publish',
      topic,
      binary,
      data: Buffer.from(data).toString('base64'),
    });
    return queued;
  }

  stats(): Promise<BridgeStats> {
    return this.command<BridgeStats>({ cmd: 'stats' });
  }

  /** A `ws` client of this server, subscribed to `topics`. */
  async client(...topics: string[]): Promise<WsClient> {
    const client = await wsConnect(this.port);
    this.clients.push(client);
    for (const topic of topics) await subscribe(client, topic);
    return client;
  }

  alive(): boolean {
    return this.run.child.exitCode === null && this.run.child.signalCode === null;
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.ws.terminate();
    this.run.child.stdin!.end();
    await this.run.result.catch(() => undefined);
  }
}

/** Sends "sub topic" and waits for its answer; returns whether it was a new subscription. */
async function subscribe(client: WsClient, topic: string, verb: 'sub' | 'unsub' = 'sub'): Promise<boolean> {
  const before = client.messages.length;
  client.ws.send(`${verb} ${topic}`);
  const prefix = `${verb} ${topic}: `;
  const answered = (): string | undefined =>
    client.messages.slice(before).find((m) => !m.isBinary && m.data.toString().startsWith(prefix))?.data.toString();
  await waitFor(() => answered() !== undefined, 5000, `the answer to ${verb} ${topic}`);
  const answer = answered()!;
  // Answers are controls, not messages of the topic: tests count only the topic's messages.
  client.messages.splice(client.messages.findIndex((m) => m.data.toString() === answer), 1);
  return answer.endsWith('true');
}

describe('RedisBridge options', () => {
  it('takes an ioredis or a node-redis client, two different ones, and a string prefix; TypeError otherwise', () => {
    const io = new Redis({ lazyConnect: true });
    const nr = createClient();
    const bad: unknown[] = [
      undefined,
      null,
      { publisher: io },
      { publisher: {}, subscriber: io },
      { publisher: io, subscriber: { subscribe() {}, publish() {} } },
      { publisher: io, subscriber: io },
      { publisher: io, subscriber: nr, prefix: 5 },
    ];
    for (const options of bad) {
      expect(() => new RedisBridge(options as never), JSON.stringify(options ?? null)).toThrow(TypeError);
    }
    // Either client for either role; with neither connected the bridge is not ready, and a publish is lost,
    // counted, not thrown.
    const bridge = new RedisBridge({ publisher: nr, subscriber: io, prefix: 'p:' });
    try {
      expect(bridge.ready).toBe(false);
      expect(publish('nobody-here', 'x')).toBe(0);
      expect(subscriberCount('nobody-here')).toBe(0);
      expect(bridge.lost).toBe(1);
      expect(bridge.stats).toMatchObject({ sent: 0, lost: 1, channels: 0 });
    } finally {
      bridge.close();
      io.disconnect();
    }
    expect(publish('nobody-here', 'x')).toBe(0);
    expect(bridge.lost).toBe(1); // closed: detached from publish()
  });
});

const texts = (client: WsClient): string[] => client.messages.filter((m) => !m.isBinary).map((m) => m.data.toString());

describe.skipIf(skipWithout(redisPeer))('wslay/redis: publish across processes', () => {
  let redis: RedisServer;
  let admin: Redis;
  let io: BridgeServer; // bridged with ioredis
  let nr: BridgeServer; // bridged with node-redis

  /** PUBSUB NUMSUB: how many Redis connections subscribe `channel`. */
  const numsub = async (channel: string): Promise<number> => {
    const reply = (await admin.pubsub('NUMSUB', channel)) as [string, number];
    return Number(reply[1]);
  };
  const waitNumsub = async (channel: string, count: number): Promise<void> => {
    const deadline = Date.now() + 5000;
    while ((await numsub(channel)) !== count) {
      if (Date.now() > deadline) throw new Error(`${channel} has ${await numsub(channel)} Redis subscribers, not ${count}`);
      await delay(10);
    }
  };
  const waitReady = async (server: BridgeServer): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (!(await server.stats()).ready) {
      if (Date.now() > deadline) throw new Error('the bridge did not get ready');
      await delay(20);
    }
  };

  beforeAll(async () => {
    redis = await RedisServer.start();
    admin = new Redis(redis.port, '127.0.0.1', { retryStrategy: () => 50 });
    admin.on('error', () => undefined); // the restart test kills Redis
    const lib = await transpiledLib();
    [io, nr] = await Promise.all([
      BridgeServer.start(lib, redis.port, 'ioredis'),
      BridgeServer.start(lib, redis.port, 'node-redis'),
    ]);
    await Promise.all([waitReady(io), waitReady(nr)]);
  });

  afterAll(async () => {
    await Promise.all([io?.stop(), nr?.stop()]);
    admin?.disconnect();
    await redis?.stop();
  });

  it('delivers a publish in either process to the subscribers of both, once each', async () => {
    const [ioClient, nrClient] = [await io.client('news'), await nr.client('news')];
    await waitNumsub('wslay:news', 2);

    expect(await io.publish('news', 'from ioredis')).toBe(1); // queued to its one local subscriber
    await waitFor(() => texts(nrClient).length === 1, 5000, 'the message across processes');
    expect(await nr.publish('news', 'from node-redis')).toBe(1);
    await waitFor(() => texts(ioClient).length === 2, 5000, 'the message back');
    // Each process gets its own messages back from Redis too, and drops them: markers from both sides, through
    // Redis after those, show that nothing more arrived.
    await io.publish('news', 'marker');
    await nr.publish('news', 'marker');
    await waitFor(() => texts(ioClient).length === 4 && texts(nrClient).length === 4, 5000, 'the markers');
    await delay(50);

    expect(texts(ioClient)).toEqual(['from ioredis', 'from node-redis', 'marker', 'marker']);
    expect(texts(nrClient)).toEqual(['from ioredis', 'from node-redis', 'marker', 'marker']);
    const [ioStats, nrStats] = [await io.stats(), await nr.stats()];
    expect(ioStats.stats.received).toBe(2); // the other process's two, not its own
    expect(nrStats.stats.received).toBe(2);
    expect(ioStats.stats.lost + nrStats.stats.lost).toBe(0);
    for (const c of [ioClient, nrClient]) await subscribe(c, 'news', 'unsub');
  });

  it('carries publishes made on a worker thread too, once to each subscriber', async () => {
    const [ioClient, nrClient] = [await io.client('threads'), await nr.client('threads')];
    await waitNumsub('wslay:threads', 2);
    expect(await io.command<{ queued: number }>({ cmd: 'publish-from-worker', topic: 'threads', text: 'from a worker' }))
      .toMatchObject({ queued: 0 }); // the worker has no subscribers of its own
    io.published++;
    await waitFor(() => texts(nrClient).length === 1, 5000, 'the worker\'s message in the other process');
    await nr.publish('threads', 'marker');
    await waitFor(() => texts(ioClient).length === 2, 5000, 'the marker');
    await delay(50);
    expect(texts(ioClient)).toEqual(['from a worker', 'marker']);
    expect(texts(nrClient)).toEqual(['from a worker', 'marker']);
    for (const c of [ioClient, nrClient]) await subscribe(c, 'threads', 'unsub');
  });

  it('carries binary payloads byte for byte: all 256 byte values, empty, and text', async () => {
    const [ioClient, nrClient] = [await io.client('bytes'), await nr.client('bytes')];
    await waitNumsub('wslay:bytes', 2);
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const sent: Array<Buffer | string> = [all, Buffer.alloc(0), Buffer.from(all).reverse(), '', 'héllo ✓ 𝄞', all.subarray(0, 11)];
    // One process's batch, then (once it arrived everywhere) the other's: each client gets both in that order.
    for (const data of sent) await io.publish('bytes', data);
    await waitFor(() => nrClient.messages.length === sent.length, 5000, 'the payloads from ioredis');
    for (const data of sent) await nr.publish('bytes', data);
    for (const client of [ioClient, nrClient]) {
      await waitFor(() => client.messages.length === 2 * sent.length, 5000, 'every payload');
      const got = client.messages.map((m) => (m.isBinary ? m.data : m.data.toString()));
      expect(got).toEqual([...sent, ...sent]);
      expect(client.messages.map((m) => m.isBinary)).toEqual([...sent, ...sent].map((d) => typeof d !== 'string'));
    }
  });

  it('subscribes a Redis channel only while the topic has local subscribers', async () => {
    const channel = 'wslay:churn';
    const [first, second] = [await io.client(), await io.client()];
    expect(await numsub(channel)).toBe(0);
    await subscribe(first, 'churn');
    await waitNumsub(channel, 1);
    await subscribe(second, 'churn');
    await subscribe(first, 'churn', 'unsub');
    await delay(50);
    expect(await numsub(channel)).toBe(1); // the second still listens: one Redis subscription for both
    await subscribe(second, 'churn', 'unsub');
    await waitNumsub(channel, 0);

    // Churn: 20 rounds of subscribe/unsubscribe on both processes end with no Redis subscription, then one each.
    const nrClient = await nr.client();
    for (let i = 0; i < 20; i++) {
      for (const c of [first, nrClient]) {
        await subscribe(c, 'churn');
        await subscribe(c, 'churn', 'unsub');
      }
    }
    await waitNumsub(channel, 0);
    await subscribe(first, 'churn');
    await subscribe(nrClient, 'churn');
    await waitNumsub(channel, 2);

    // A connection's subscriptions end with it: so does the Redis subscription.
    first.ws.close();
    nrClient.ws.close();
    await waitNumsub(channel, 0);
    const channels = (await admin.pubsub('CHANNELS', 'wslay:*')) as string[];
    expect(channels).not.toContain(channel);
  });

  it('counts publishes during a Redis outage as lost, and resumes after a restart', async () => {
    const [ioClient, nrClient] = [await io.client('stream'), await nr.client('stream')];
    await waitNumsub('wslay:stream', 2);
    let seq = 0;
    const publishFromIo = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) await io.publish('stream', String(seq++));
    };
    await publishFromIo(10);
    await waitFor(() => texts(nrClient).length === 10, 5000, 'the stream before the outage');

    // Mid-stream: publishes keep coming while Redis is killed.
    const lostBefore = (await io.stats()).stats.lost;
    const streaming = publishFromIo(20);
    await redis.stop();
    await streaming;
    const deadline = Date.now() + 5000;
    while ((await io.stats()).ready || (await nr.stats()).ready) {
      if (Date.now() > deadline) throw new Error('the bridges did not notice the outage');
      await delay(10);
    }
    const outageStart = seq;
    await publishFromIo(5); // certainly during the outage
    const during = await io.stats();
    expect(during.stats.lost - lostBefore).toBeGreaterThanOrEqual(5);

    await redis.start();
    await Promise.all([waitReady(io), waitReady(nr)]);
    await waitNumsub('wslay:stream', 2); // both resubscribed
    const afterRestart = seq;
    await publishFromIo(10);
    await waitFor(() => texts(nrClient).includes(String(seq - 1)), 10_000, 'the stream after the restart');
    await nr.publish('stream', 'node-redis after restart');
    await waitFor(() => texts(ioClient).includes('node-redis after restart'), 5000, 'delivery the other way');

    expect(io.alive() && nr.alive()).toBe(true);
    // Local delivery never depended on Redis: the local subscriber got every message, in order.
    expect(texts(ioClient).slice(0, seq)).toEqual(Array.from({ length: seq }, (_, i) => String(i)));
    // Across: at most once and in order; the ones published while Redis was down never arrive; all after it do.
    const remote = texts(nrClient).filter((t) => /^\d+$/.test(t)).map(Number);
    expect(remote).toEqual([...remote].sort((x, y) => x - y));
    expect(new Set(remote).size).toBe(remote.length);
    for (let i = outageStart; i < afterRestart; i++) expect(remote).not.toContain(i);
    for (let i = afterRestart; i < seq; i++) expect(remote).toContain(i);
    // Each publish was counted once, as sent or as lost; the 5 published while Redis was down are among the lost.
    let final = await io.stats();
    const deadline2 = Date.now() + 5000;
    const counted = (): number => final.stats.sent + final.stats.lost;
    while (counted() !== io.published) {
      if (Date.now() > deadline2) throw new Error(`${counted()} publishes counted as sent or lost, not ${io.published}`);
      await delay(10);
      final = await io.stats();
    }
    expect(final.stats.lost - lostBefore).toBeGreaterThanOrEqual(5);
    expect(final.stats.lost - lostBefore).toBeLessThanOrEqual(afterRestart - 10);
  });
});
