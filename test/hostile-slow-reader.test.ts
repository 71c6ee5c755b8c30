// A slow reader while the server keeps sending: nothing is dropped and nothing blocks; bufferedAmount grows with
// what the peer has not taken, wait(cb) fires only once the queue has drained after the reader resumes, and the
// peer receives every byte in order.
import { describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import { rawFixture } from './helpers/server-fixture.js';
import { delay, within } from './helpers/wait.js';
import { MiB } from './hostile/memory.js';

const raw = rawFixture();

describe('slow reader', () => {
  it('bufferedAmount grows while the peer does not read; wait() fires after it drains; every byte arrives', async () => {
    const { ep, peer } = await raw.open({}, { read: false });
    const SIZE = 64 * 1024;
    const COUNT = 256; // 16 MiB: far more than the socket buffers on both ends hold
    let drainedAt: number | undefined;
    for (let i = 0; i < COUNT; i++) {
      ep.conn.queueMsg(Buffer.alloc(SIZE, i & 0xff), Opcode.BINARY);
      if (i % 32 === 31) await delay(5); // keep sending over several loop turns, as a real producer would
    }
    await delay(300);
    const stuck = ep.conn.bufferedAmount;
    expect(stuck).toBeGreaterThan(4 * MiB); // the kernel took some, the rest waits with us
    expect(stuck).toBeLessThanOrEqual(COUNT * (SIZE + 14));
    expect(ep.conn.queuedCount()).toBeGreaterThan(0);
    ep.conn.wait(() => (drainedAt = Date.now()));
    await delay(300);
    expect(drainedAt, 'wait() fired while the peer was not reading').toBeUndefined();
    // The kernel may still take a little as its buffers autotune; most of it is still with us.
    expect(ep.conn.bufferedAmount).toBeGreaterThan(stuck - 2 * MiB);

    const resumedAt = Date.now();
    peer.socket.resume();
    await within(
      new Promise<void>((resolve) => {
        const check = setInterval(() => drainedAt !== undefined && (clearInterval(check), resolve()), 5);
      }),
      10_000,
      'wait() after the reader resumed',
    );
    expect(drainedAt!).toBeGreaterThanOrEqual(resumedAt);
    expect(ep.conn.bufferedAmount).toBe(0);
    expect(ep.conn.queuedCount()).toBe(0);
    await peer.waitFrames(COUNT, 10_000);
    peer.frames.forEach((f, i) => {
      expect(f.payload.length).toBe(SIZE);
      expect(f.payload[0]).toBe(i & 0xff);
    });
    expect(ep.conn.readyState).toBe('open');
  });

  it('a reader that takes a little at a time still gets everything, with bufferedAmount shrinking as it reads', async () => {
    const { ep, peer } = await raw.open({}, { read: false });
    for (let i = 0; i < 64; i++) ep.conn.queueMsg(Buffer.alloc(128 * 1024, i), Opcode.BINARY);
    await delay(200);
    const samples = [ep.conn.bufferedAmount];
    // Read in short bursts: resume for a moment, pause, look.
    for (let round = 0; round < 200 && ep.conn.bufferedAmount > 0; round++) {
      peer.socket.resume();
      await delay(5);
      peer.socket.pause();
      await delay(10);
      samples.push(ep.conn.bufferedAmount);
    }
    peer.socket.resume();
    await peer.waitFrames(64, 10_000);
    expect(samples[0]).toBeGreaterThan(0);
    for (let i = 1; i < samples.length; i++) expect(samples[i]).toBeLessThanOrEqual(samples[i - 1]);
    expect(peer.frames.map((f) => f.payload[0])).toEqual(Array.from({ length: 64 }, (_, i) => i));
  });
});
