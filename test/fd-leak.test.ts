// No descriptor leak: 2,000 connections (our client ↔ our server, both in this process, plus raw clients that
// reset) opened, used and closed in batches, ended by either side or by a reset; afterwards the fd count is back
// where it started and every connection got exactly one onClose.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import { connectClient } from './helpers/client.js';
import { echo, type Endpoint } from './helpers/endpoint.js';
import { countFds } from './helpers/fds.js';
import { clientFrame } from './helpers/frames.js';
import { rawClient } from './helpers/raw-peer.js';
import { startServer, type TestServer } from './helpers/server.js';
import { waitFor, within } from './helpers/wait.js';

const TOTAL = 2000;
const BATCH = 100;

describe('fd leak', () => {
  let server: TestServer;
  let peak = 0;

  beforeAll(async () => {
    server = await startServer(echo());
  });
  afterAll(async () => {
    await server?.stop();
  });

  const serverSideOf = (text: string): Endpoint =>
    server.endpoints.find((ep) => ep.messages.some((m) => m.data.toString() === text))!;

  /** One connection's life; resolves with the codes each side's onClose got. */
  async function lifecycle(i: number): Promise<{ ours: Endpoint[]; codes: number[] }> {
    const text = `hello ${i}`;
    if (i % 4 === 3) {
      // A raw peer that resets the connection: the error path must release everything too.
      const raw = await rawClient(server.port);
      raw.send(clientFrame(Opcode.TEXT, text));
      await raw.waitFrames(1);
      peak = Math.max(peak, countFds());
      const serverSide = serverSideOf(text);
      raw.socket.resetAndDestroy();
      const closed = await within(serverSide.closed, 5000, `server close of ${i}`);
      return { ours: [serverSide], codes: [closed.code] };
    }
    const client = await connectClient(server.port);
    client.conn.queueMsg(text);
    await waitFor(() => client.messages.length === 1, 5000, `echo ${i}`);
    peak = Math.max(peak, countFds());
    const serverSide = serverSideOf(text);
    if (i % 2 === 0) client.conn.close(1000);
    else serverSide.conn.close(1001);
    const [a, b] = await within(Promise.all([client.closed, serverSide.closed]), 5000, `both closes of ${i}`);
    return { ours: [client, serverSide], codes: [a.code, b.code] };
  }

  it(`opens and closes ${TOTAL} connections and ends with the fd count it started with`, async () => {
    // Warm up lazily opened descriptors (libuv's internals, the CSPRNG) before taking the baseline.
    await lifecycle(0);
    await lifecycle(3);
    server.endpoints.splice(0);
    const baseline = countFds();
    const results: Array<{ ours: Endpoint[]; codes: number[] }> = [];
    for (let start = 0; start < TOTAL; start += BATCH) {
      results.push(...(await Promise.all(Array.from({ length: BATCH }, (_, k) => lifecycle(start + k)))));
      server.endpoints.splice(0); // keeps serverSideOf() short
    }
    await waitFor(() => countFds() <= baseline, 5000, `the fd count back to ${baseline} (now ${countFds()})`);
    expect(countFds()).toBe(baseline);
    expect(peak).toBeGreaterThan(baseline + BATCH); // the batches really held descriptors open
    expect(results.length).toBe(TOTAL);
    expect(results.every((r) => r.ours.every((ep) => ep.closes.length === 1))).toBe(true);
    const codes = results.map((r) => r.codes.join('/'));
    expect(codes.filter((c) => c === '1000/1000').length).toBe(TOTAL / 2);
    expect(codes.filter((c) => c === '1001/1001').length).toBe(TOTAL / 4);
    expect(codes.filter((c) => c === '1006').length).toBe(TOTAL / 4);
  });
});
