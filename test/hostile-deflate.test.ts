// Hostile compressed input with permessage-deflate negotiated: a deflate bomb (100 MB of zeros in ~100 KB) against
// maxRecvSize 1 MiB fails with 1009 quickly without inflating past the limit (RSS bounded), with and without
// buffering and when split into fragments; compressed data that is not valid deflate fails with 1007; RSV1 without
// a negotiated extension fails with 1002.
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import { echo, type ConnectionOptions } from './helpers/endpoint.js';
import { clientFrame, closeCode, encodeFrame } from './helpers/frames.js';
import { rawFixture } from './helpers/server-fixture.js';
import { within } from './helpers/wait.js';
import { DEFAULT_DEFLATE, deflatedZeros } from './hostile/crafted.js';
import { MiB, rssBound, sampleRss } from './hostile/memory.js';

const raw = rawFixture();
let bomb: Buffer;

beforeAll(async () => {
  bomb = await deflatedZeros(100 * 1000 * 1000);
});

async function attack(wire: Buffer, options: ConnectionOptions) {
  const { ep, peer } = await raw.open(options);
  const before = process.memoryUsage().rss;
  const rss = sampleRss(5);
  peer.send(wire);
  const frame = await peer.waitClose(5000);
  const closed = await within(ep.closed, 5000, 'onClose');
  return { ep, frame, closed, grew: rss.stop() - before };
}

const deflateOptions = (extra: ConnectionOptions = {}): ConnectionOptions =>
  echo({ perMessageDeflate: DEFAULT_DEFLATE, maxRecvSize: MiB, ...extra });

describe('deflate bomb', () => {
  it('is small on the wire', () => {
    expect(bomb.length).toBeLessThan(200 * 1024);
  });

  for (const buffering of [true, false]) {
    it(`100 MB of zeros, maxRecvSize 1 MiB (${buffering ? 'buffering' : 'no buffering'}): 1009, RSS bounded`, async () => {
      const extra: ConnectionOptions = buffering ? {} : { buffering: false, onFrameRecvChunk() {} };
      const wire = encodeFrame({ opcode: Opcode.BINARY, rsv: 4, payload: bomb, mask: true });
      const { ep, frame, closed, grew } = await attack(wire, deflateOptions(extra));
      expect(frame && closeCode(frame)).toBe(1009);
      expect(closed.code).toBe(1009);
      expect(ep.messages.filter((m) => m.opcode === Opcode.BINARY)).toEqual([]);
      expect(grew).toBeLessThan(rssBound(48 * MiB)); // 100 MB inflated would show
    });
  }

  it('the same bomb split into 64 fragments: 1009, RSS bounded', async () => {
    const parts: Buffer[] = [];
    const step = Math.ceil(bomb.length / 64);
    for (let i = 0; i * step < bomb.length; i++) {
      const last = (i + 1) * step >= bomb.length;
      parts.push(
        encodeFrame({
          opcode: i === 0 ? Opcode.BINARY : Opcode.CONTINUATION,
          rsv: i === 0 ? 4 : 0, // RSV1 on the first frame only (RFC 7692 §6.1)
          payload: bomb.subarray(i * step, (i + 1) * step),
          fin: last,
          mask: true,
        }),
      );
    }
    const { frame, closed, grew } = await attack(Buffer.concat(parts), deflateOptions());
    expect(frame && closeCode(frame)).toBe(1009);
    expect(closed.code).toBe(1009);
    expect(grew).toBeLessThan(rssBound(48 * MiB));
  });

  it('just under the limit still inflates and is delivered', async () => {
    const small = await deflatedZeros(MiB, 64 * 1024);
    const { ep, peer } = await raw.open(deflateOptions());
    peer.send(encodeFrame({ opcode: Opcode.BINARY, rsv: 4, payload: small, mask: true }));
    await within(
      new Promise<void>((resolve) => {
        const t = setInterval(() => ep.messages.length && (clearInterval(t), resolve()), 5);
      }),
      5000,
      'the message',
    );
    expect(ep.messages[0].data.length).toBe(MiB);
    expect(ep.messages[0].data.every((b) => b === 0)).toBe(true);
  });
});

describe('invalid compressed data', () => {
  it('random bytes with RSV1: 1007', async () => {
    // 0xff starts a deflate block of the reserved type 3: invalid from the first byte.
    const garbage = Buffer.concat([Buffer.from([0xff]), randomBytes(300)]);
    const { frame, closed, ep } = await attack(
      encodeFrame({ opcode: Opcode.BINARY, rsv: 4, payload: garbage, mask: true }),
      deflateOptions(),
    );
    expect(frame && closeCode(frame)).toBe(1007);
    expect(closed.code).toBe(1007);
    expect(ep.messages).toEqual([]);
  });

  it('valid deflate of invalid UTF-8 in a text message: 1007', async () => {
    const zlib = await import('node:zlib');
    const payload = zlib.deflateRawSync(Buffer.from([0x61, 0xff, 0xfe, 0x62]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const { frame, closed } = await attack(
      encodeFrame({ opcode: Opcode.TEXT, rsv: 4, payload: payload.subarray(0, -4), mask: true }),
      deflateOptions(),
    );
    expect(frame && closeCode(frame)).toBe(1007);
    expect(closed.code).toBe(1007);
  });
});

describe('RSV1 without permessage-deflate', () => {
  it('a frame with RSV1 on a connection that negotiated nothing: 1002', async () => {
    const { frame, closed, ep } = await attack(
      Buffer.concat([clientFrame(Opcode.TEXT, 'plain'), encodeFrame({ opcode: Opcode.TEXT, rsv: 4, payload: 'x', mask: true })]),
      echo(),
    );
    expect(frame && closeCode(frame)).toBe(1002);
    expect(closed.code).toBe(1002);
    expect(ep.messages.map((m) => m.data.toString())).toEqual(['plain']);
  });

  it('RSV1 on a control frame even with deflate negotiated: 1002', async () => {
    const { frame, closed } = await attack(encodeFrame({ opcode: Opcode.PING, rsv: 4, payload: 'p', mask: true }), deflateOptions());
    expect(frame && closeCode(frame)).toBe(1002);
    expect(closed.code).toBe(1002);
  });
});
