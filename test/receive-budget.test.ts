// What incomplete received messages may hold: each is one contiguous buffer (a flood of 1-byte fragments holds
// about a byte per fragment, not wslay's ~90), and all connections of a thread share a budget (setReceiveBudget,
// default 256 MiB). Over it, the connection holding the most fails with 1008 while the others carry on, and the
// account returns to 0 when messages complete or connections close. The first fragment of a deflate bomb, which
// used to pin up to maxRecvSize of inflated bytes for the connection's life, is charged as it inflates.
import { afterEach, describe, expect, it } from 'vitest';

import { getReceiveBudget, Opcode, setReceiveBudget } from '../src/index.js';
import { lastJson, runNode, writeScript } from './helpers/child.js';
import { echo, type ConnectionOptions } from './helpers/endpoint.js';
import { closeCode, encodeFrame } from './helpers/frames.js';
import { rawFixture } from './helpers/server-fixture.js';
import { waitFor, within } from './helpers/wait.js';
import { DEFAULT_DEFLATE, deflatedZeros } from './hostile/crafted.js';
import { MiB, rssBound, rssBytes } from './hostile/memory.js';

const raw = rawFixture();
const DEFAULT_BUDGET = 256 * MiB;

afterEach(() => setReceiveBudget(DEFAULT_BUDGET));

/** The first fragment (RSV1, not final) of a compressed message of `bytes` zeros. */
async function compressedFirstFragment(bytes: number): Promise<Buffer> {
  return encodeFrame({ opcode: Opcode.BINARY, rsv: 4, payload: await deflatedZeros(bytes), fin: false, mask: true });
}

const finalEmptyFragment = () => encodeFrame({ opcode: Opcode.CONTINUATION, fin: true, mask: true });

const deflate = (extra: ConnectionOptions = {}): ConnectionOptions =>
  echo({ perMessageDeflate: DEFAULT_DEFLATE, maxRecvSize: 64 * MiB, ...extra });

describe('receive budget', () => {
  it('defaults to 256 MiB and nothing is held while idle', () => {
    expect(getReceiveBudget()).toEqual({ limit: DEFAULT_BUDGET, used: 0 });
  });

  it('belongs to the calling thread: a worker has its own, and setting one leaves the other alone', async () => {
    const script = await writeScript(
      'receive-budget-threads.js',
      `
const { Worker, isMainThread, parentPort } = require('node:worker_threads');
const { getReceiveBudget, setReceiveBudget } = require('./index.js');
if (isMainThread) {
  setReceiveBudget(20 * 1024 * 1024);
  const worker = new Worker(__filename);
  worker.once('message', (inWorker) => {
    console.log(JSON.stringify({ inWorker, main: getReceiveBudget() }));
    worker.terminate();
  });
} else {
  const before = getReceiveBudget();
  setReceiveBudget(7 * 1024 * 1024);
  parentPort.postMessage({ before, after: getReceiveBudget() });
}
`,
    );
    const { result } = runNode(script);
    const out = lastJson<{ inWorker: { before: unknown; after: unknown }; main: unknown }>(await result);
    expect(out.inWorker.before).toEqual({ limit: DEFAULT_BUDGET, used: 0 });
    expect(out.inWorker.after).toEqual({ limit: 7 * MiB, used: 0 });
    expect(out.main).toEqual({ limit: 20 * MiB, used: 0 });
  });

  it('rejects a budget that is not a positive integer with a RangeError', () => {
    for (const bad of [0, -1, 1.5, NaN, Infinity, '1'] as unknown[]) {
      expect(() => setReceiveBudget(bad as number)).toThrow(RangeError);
    }
  });

  it('an incomplete plain message is charged while it waits and given back when it completes', async () => {
    const { ep, peer } = await raw.open(echo());
    peer.send(encodeFrame({ opcode: Opcode.BINARY, payload: Buffer.alloc(100_000, 1), fin: false, mask: true }));
    await waitFor(() => getReceiveBudget().used >= 100_000, 3000, 'the first fragment to be held');
    peer.send(encodeFrame({ opcode: Opcode.CONTINUATION, payload: Buffer.alloc(50_000, 2), fin: true, mask: true }));
    await waitFor(() => ep.messages.length === 1, 3000, 'the message');
    expect(ep.messages[0].data.length).toBe(150_000);
    expect(getReceiveBudget().used).toBe(0);
  });

  it('a flood of 131,071 unfinished 1-byte fragments holds about a byte per fragment, given back on close', async () => {
    const { ep, peer } = await raw.open(echo());
    const count = 131_071;
    const one = encodeFrame({ opcode: Opcode.CONTINUATION, payload: 'x', fin: false, mask: Buffer.from([1, 2, 3, 4]) });
    const wire = Buffer.concat([
      encodeFrame({ opcode: Opcode.BINARY, payload: 'x', fin: false, mask: true }),
      ...Array.from({ length: count - 1 }, () => one),
    ]);
    const before = rssBytes();
    peer.send(wire);
    // A ping after the flood: its pong means every fragment before it was read.
    peer.send(encodeFrame({ opcode: Opcode.PING, payload: 'done', mask: true }));
    await waitFor(() => peer.frames.some((f) => f.opcode === Opcode.PONG), 10_000, 'the pong');
    // wslay's own buffering held 12.2 MiB for this (about 90 bytes per fragment).
    expect(rssBytes() - before).toBeLessThan(rssBound(5 * MiB));
    expect(ep.conn.readyState).toBe('open');
    const held = getReceiveBudget().used;
    expect(held).toBeGreaterThanOrEqual(count);
    expect(held).toBeLessThanOrEqual(2 * count + 4096); // one buffer, grown geometrically
    peer.destroy();
    await within(ep.closed, 3000, 'onClose');
    expect(getReceiveBudget().used).toBe(0);
  });

  it('the first fragment of a compressed message is charged as it inflates, and given back on close', async () => {
    const { ep, peer } = await raw.open(deflate());
    peer.send(await compressedFirstFragment(8 * MiB));
    await waitFor(() => getReceiveBudget().used >= 8 * MiB, 5000, 'the inflated bytes to be held');
    expect(ep.conn.readyState).toBe('open');
    peer.destroy();
    await within(ep.closed, 3000, 'onClose');
    expect(getReceiveBudget().used).toBe(0);
  });

  it('over budget, the connection holding the most fails with 1008; the one that asked completes its message', async () => {
    setReceiveBudget(20 * MiB);
    const a = await raw.open(deflate());
    const b = await raw.open(deflate());
    a.peer.send(await compressedFirstFragment(9 * MiB)); // holds 16 MiB of capacity
    await waitFor(() => getReceiveBudget().used >= 9 * MiB, 5000, 'A to hold its fragment');
    b.peer.send(await compressedFirstFragment(9 * MiB)); // needs room: A holds the most
    const aFrame = await a.peer.waitClose(5000);
    expect(aFrame && closeCode(aFrame)).toBe(1008);
    expect((await within(a.ep.closed, 5000, "A's onClose")).code).toBe(1008);
    b.peer.send(finalEmptyFragment());
    await waitFor(() => b.ep.messages.length === 1, 5000, "B's message");
    expect(b.ep.messages[0].data.length).toBe(9 * MiB);
    expect(b.ep.messages[0].data.every((byte) => byte === 0)).toBe(true);
    expect(b.ep.conn.readyState).toBe('open');
    expect(getReceiveBudget().used).toBe(0);
  });

  it('first fragments of deflate bombs on 6 connections: RSS stays near the budget, each fails with 1008', async () => {
    setReceiveBudget(32 * MiB);
    const fragment = await compressedFirstFragment(60 * MiB); // each would pin 60 MiB
    const opened = [];
    for (let i = 0; i < 6; i++) opened.push(await raw.open(deflate()));
    const before = rssBytes();
    let peak = before;
    for (const { peer } of opened) {
      peer.send(fragment);
      await waitFor(() => getReceiveBudget().used > 0 || peer.ended || peer.frames.length > 0, 5000, 'the bomb to land');
      peak = Math.max(peak, rssBytes());
    }
    const codes = await Promise.all(opened.map(async ({ ep }) => (await within(ep.closed, 5000, 'onClose')).code));
    peak = Math.max(peak, rssBytes());
    expect(codes).toEqual(Array(6).fill(1008));
    expect(peak - before).toBeLessThan(rssBound(32 * MiB + 24 * MiB)); // 6 × 60 MiB before the budget
    expect(getReceiveBudget().used).toBe(0);
  });
});
