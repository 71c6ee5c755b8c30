// A peer whose frame header claims an absurd length (2^63 - 1 bytes; 1 GiB against the default 64 MiB maxRecvSize;
// 2^63 and up, which RFC 6455 §5.2 forbids): the connection fails at once with 1009 (or 1002 for the forbidden
// lengths), the peer gets that close frame, onClose reports it, and nothing near the claimed size is allocated.
import { describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import type { ConnectionOptions } from './helpers/endpoint.js';
import { closeCode } from './helpers/frames.js';
import { rawFixture } from './helpers/server-fixture.js';
import { within } from './helpers/wait.js';
import { headerClaiming } from './hostile/crafted.js';
import { MiB, rssBound, sampleRss, virtualBytes } from './hostile/memory.js';

const raw = rawFixture();

async function claim(length: bigint, options: ConnectionOptions, opcode: number = Opcode.BINARY) {
  const { server, peer, ep } = await raw.open(options);
  const before = process.memoryUsage().rss;
  const virtualBefore = virtualBytes();
  const rss = sampleRss(5);
  // The header and a few bytes of payload: enough for the binding to start on the frame.
  peer.send(Buffer.concat([headerClaiming(opcode, length), Buffer.alloc(1000, 0x61)]));
  const frame = await peer.waitClose(3000);
  const closed = await within(ep.closed, 3000, 'onClose');
  // The peak over the whole attack, so a transient allocation counts too; address space for an allocation made but
  // not yet touched.
  const grew = rss.stop() - before;
  expect(virtualBytes() - virtualBefore, 'address space growth').toBeLessThan(512 * MiB);
  return { server, peer, ep, frame, closed, grew };
}

// Far below any claimed size, far above the noise of a test process.
const BOUND = rssBound(32 * MiB);

describe('a header claiming a huge payload', () => {
  for (const buffering of [true, false]) {
    const options: ConnectionOptions = buffering ? {} : { buffering: false, onFrameRecvChunk() {} };
    const mode = buffering ? 'buffering' : 'no buffering';

    it(`2^63 - 1 bytes (${mode}): 1009 to the peer and to onClose, no allocation`, async () => {
      const { ep, frame, closed, grew } = await claim(2n ** 63n - 1n, options);
      expect(frame, 'a close frame').toBeDefined();
      expect([1009, 1002]).toContain(closeCode(frame!));
      expect(closed.code).toBe(closeCode(frame!));
      expect(closed.info.sentCode).toBe(closed.code);
      expect(ep.messages.filter((m) => m.opcode === Opcode.BINARY)).toEqual([]);
      expect(grew).toBeLessThan(BOUND);
      expect(ep.closes.length).toBe(1);
    });

    it(`1 GiB with the default maxRecvSize (${mode}): 1009 at once, no allocation`, async () => {
      const { frame, closed, grew } = await claim(2n ** 30n, options);
      expect(frame && closeCode(frame)).toBe(1009);
      expect(closed.code).toBe(1009);
      expect(grew).toBeLessThan(BOUND);
    });
  }

  it('2^63 (the forbidden top bit) and 2^64 - 1: the connection fails (1002 or 1009), no allocation', async () => {
    for (const length of [2n ** 63n, 2n ** 64n - 1n]) {
      const { server, peer, frame, closed, grew } = await claim(length, {});
      expect(frame, `close for ${length}`).toBeDefined();
      expect([1002, 1009]).toContain(closeCode(frame!));
      expect(closed.code).toBe(closeCode(frame!));
      expect(grew).toBeLessThan(BOUND);
      peer.destroy();
      await server.stop();
    }
  });

  it('a ping claiming 2^63 - 1 bytes (control frames carry at most 125): 1002', async () => {
    const { frame, closed } = await claim(2n ** 63n - 1n, {}, Opcode.PING);
    expect(frame && closeCode(frame)).toBe(1002);
    expect(closed.code).toBe(1002);
  });
});
