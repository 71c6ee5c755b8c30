// perMessageDeflate.threshold: messages shorter than it go out plain (RSV1 clear), longer ones compressed (RSV1).
// The value is kept as a 64-bit count that saturates, so Infinity means "never compress" (fragmented messages
// too) and 2**32 is not taken modulo 2^32 (which made it 0: "compress everything"). Negative or NaN: RangeError.
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';

import { FragmentedStatus, Opcode, RSV1, WebSocketConnection } from '../src/index.js';
import { rawFixture } from './helpers/server-fixture.js';
import { DEFAULT_DEFLATE } from './hostile/crafted.js';

const raw = rawFixture();
const big = Buffer.alloc(100 * 1024, 'a');

const inflate = (payload: Buffer): Buffer =>
  zlib.inflateRawSync(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]), {
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });

describe('perMessageDeflate.threshold', () => {
  it('a message at or above the threshold is compressed (RSV1), as before', async () => {
    const { ep, peer } = await raw.open({ perMessageDeflate: { ...DEFAULT_DEFLATE, threshold: 1024 } });
    ep.conn.queueMsg(big, Opcode.BINARY);
    const [frame] = await peer.waitFrames(1);
    expect(frame.rsv).toBe(RSV1);
    expect(inflate(frame.payload).equals(big)).toBe(true);
  });

  it.each([2 ** 32, 2 ** 32 + 1024, 2 ** 53])('threshold %s: a 100 KiB message goes out plain', async (threshold) => {
    const { ep, peer } = await raw.open({ perMessageDeflate: { ...DEFAULT_DEFLATE, threshold } });
    ep.conn.queueMsg(big, Opcode.BINARY);
    const [frame] = await peer.waitFrames(1);
    expect(frame.rsv).toBe(0);
    expect(frame.payload.equals(big)).toBe(true);
  });

  it('threshold Infinity: nothing is compressed, fragmented messages included', async () => {
    const { ep, peer } = await raw.open({ perMessageDeflate: { ...DEFAULT_DEFLATE, threshold: Infinity } });
    ep.conn.queueMsg(big, Opcode.BINARY);
    let calls = 0;
    const chunk = big.subarray(0, 4096);
    ep.conn.queueFragmented(() => (++calls < 3 ? chunk : [chunk, FragmentedStatus.EOF]));
    const frames = await peer.waitFrames(4);
    expect(frames.map((f) => f.rsv)).toEqual([0, 0, 0, 0]);
    expect(frames[0].payload.equals(big)).toBe(true);
    expect(Buffer.concat(frames.slice(1).map((f) => f.payload)).equals(big.subarray(0, 3 * 4096))).toBe(true);
    expect(frames[3].fin).toBe(true);
  });

  it('a negative, NaN or non-number threshold is a RangeError', () => {
    for (const threshold of [-1, NaN, -Infinity, '10']) {
      const perMessageDeflate = { ...DEFAULT_DEFLATE, threshold: threshold as number };
      expect(() => new WebSocketConnection({ fd: 0, perMessageDeflate })).toThrow(/threshold must be a number/);
    }
  });
});
