// The receive fast path (native/frame_scanner.h: data-frame payload taken before wslay, wslay handed the header
// as a zero-length frame) gives the same outcome as the plain wslay path (plainWslay: true) on its edges: frames cut
// at every byte offset (inside the header, the extended length and the masking key), the 7/16/64-bit length
// boundaries, pings between fragments, UTF-8 cut across frames and reads, maxRecvSize and maxFragments, deflate.
// Each case runs on a real socket against a raw peer, once per path, and the two outcomes must be equal and right.
import { describe, expect, it } from 'vitest';

import type { ConnectionOptions } from './helpers/endpoint.js';
import { clientFrame, closeCode, encodeFrame } from './helpers/frames.js';
import { rawFixture } from './helpers/server-fixture.js';
import { delay, waitFor, within } from './helpers/wait.js';
import { DEFAULT_DEFLATE, deflatedFrames } from './hostile/crafted.js';

interface Outcome {
  /** Data messages (pings reach onMsgRecv too: they are in `all`). */
  messages: { opcode: number; data: string }[];
  all: { opcode: number; data: string }[];
  pongs: string[];
  closeCode?: number;
  reportedCode?: number;
}

const raw = rawFixture();

/**
 * Sends `bytes` cut at `cuts` (each piece its own write, a few ms apart, so the server reads them apart), then
 * waits for `expect` messages, or for the close when `closes`. Returns what the server delivered and what the peer
 * got back.
 */
async function run(
  plainWslay: boolean,
  bytes: Buffer,
  cuts: number[],
  { options = {}, messages = 0, pongs = 0, closes = false }: { options?: ConnectionOptions; messages?: number; pongs?: number; closes?: boolean },
): Promise<Outcome> {
  const { ep, peer } = await raw.open({ ...options, plainWslay });
  peer.socket.setNoDelay(true);
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > at) peer.send(bytes.subarray(at, cut));
    at = Math.max(at, cut);
    await delay(2);
  }
  const data = () => ep.messages.filter((m) => m.opcode === 1 || m.opcode === 2);
  const outcome = (): Outcome => ({
    messages: data().map((m) => ({ opcode: m.opcode, data: m.data.toString('latin1') })),
    all: ep.messages.map((m) => ({ opcode: m.opcode, data: m.data.toString('latin1') })),
    pongs: peer.frames.filter((f) => f.opcode === 10).map((f) => f.payload.toString('latin1')),
    closeCode: ((f) => (f ? closeCode(f) : undefined))(peer.frames.find((f) => f.opcode === 8)),
  });
  if (closes) {
    const closed = await within(ep.closed, 5000, 'onClose');
    await peer.waitClose();
    return { ...outcome(), reportedCode: closed.code };
  }
  await waitFor(() => data().length >= messages && peer.frames.filter((f) => f.opcode === 10).length >= pongs);
  expect(ep.conn.readyState).toBe('open');
  return outcome();
}

/** The outcome on both paths: they must agree. */
async function both(bytes: Buffer, cuts: number[], how: Parameters<typeof run>[3]): Promise<Outcome> {
  const plain = await run(true, bytes, cuts, how);
  const fast = await run(false, bytes, cuts, how);
  expect(fast).toEqual(plain);
  return fast;
}

const text = (s: string, fin = true) => clientFrame(1, Buffer.from(s), fin);
const cont = (b: Buffer | string, fin = true) => clientFrame(0, typeof b === 'string' ? Buffer.from(b) : b, fin);
const ping = (s: string) => clientFrame(9, Buffer.from(s));

describe('receive fast path against plain wslay', () => {
  it('a fragmented text message with a ping between its fragments, cut at every byte offset', async () => {
    const euro = Buffer.from('€'); // 3 bytes, cut between the frames
    const bytes = Buffer.concat([
      clientFrame(1, Buffer.concat([Buffer.from('a'), euro.subarray(0, 2)]), false),
      ping('p1'),
      cont(Buffer.concat([euro.subarray(2), Buffer.from('b')]), false),
      cont('c'),
      clientFrame(2, Buffer.alloc(300, 0x5a)),
    ]);
    const expected = { messages: [{ opcode: 1, data: Buffer.from('a€bc').toString('latin1') }, { opcode: 2, data: 'Z'.repeat(300) }], pongs: ['p1'] };
    for (let cut = 1; cut < bytes.length; cut += cut < 40 ? 1 : 37) {
      const outcome = await both(bytes, [cut], { messages: 2, pongs: 1 });
      expect(outcome.messages).toEqual(expected.messages);
      expect(outcome.pongs).toEqual(expected.pongs);
      expect(outcome.all.map((m) => m.opcode)).toEqual([9, 1, 2]);
    }
  }, 60_000);

  it('payloads of 125, 126, 65535 and 65536 bytes, cut inside the header, the masking key and the payload', async () => {
    for (const length of [0, 125, 126, 65535, 65536]) {
      const payload = Buffer.alloc(length);
      for (let i = 0; i < length; i++) payload[i] = (i * 7 + (i >> 8)) & 0xff;
      const frame = encodeFrame({ opcode: 2, payload, mask: Buffer.from([0x01, 0x80, 0x7f, 0xfe]) });
      const headerSize = frame.length - length;
      for (const cuts of [[], [1], [2], [3], [headerSize - 1], [headerSize + 1], [headerSize + 5, frame.length - 3]]) {
        const outcome = await both(frame, cuts.filter((c) => c < frame.length), { messages: 1 });
        expect(outcome.messages).toEqual([{ opcode: 2, data: payload.toString('latin1') }]);
      }
    }
  }, 60_000);

  it('many small messages in one read, each delivered whole', async () => {
    const frames = Array.from({ length: 200 }, (_, i) => text(`message ${i}`));
    const outcome = await both(Buffer.concat(frames), [], { messages: 200 });
    expect(outcome.messages.map((m) => m.data)).toEqual(frames.map((_, i) => `message ${i}`));
  });

  it('UTF-8 cut across frames and reads: invalid bytes fail with 1007 on both paths', async () => {
    // An overlong encoding of '/', its two bytes in two frames.
    const overlong = Buffer.concat([clientFrame(1, Buffer.from([0x61, 0xc0]), false), cont(Buffer.from([0xaf]))]);
    for (const cuts of [[], [3], [9]]) {
      const outcome = await both(overlong, cuts, { closes: true });
      expect(outcome.closeCode).toBe(1007);
      expect(outcome.reportedCode).toBe(1007);
      expect(outcome.messages).toEqual([]);
    }
    // A sequence left open at the end of the message.
    const open = Buffer.concat([text('ok'), clientFrame(1, Buffer.from([0x61, 0xe2, 0x82]))]);
    const outcome = await both(open, [8], { closes: true });
    expect(outcome.closeCode).toBe(1007);
    expect(outcome.messages).toEqual([{ opcode: 1, data: 'ok' }]);
  });

  it('a frame one byte over maxRecvSize fails with 1009; one at the limit is delivered', async () => {
    const options = { maxRecvSize: 1000 };
    const atLimit = await both(clientFrame(2, Buffer.alloc(1000, 1)), [4], { options, messages: 1 });
    expect(atLimit.messages[0].data.length).toBe(1000);
    const over = await both(Buffer.concat([clientFrame(2, Buffer.alloc(1001, 1)), text('after')]), [], { options, closes: true });
    expect(over.closeCode).toBe(1009);
    expect(over.reportedCode).toBe(1009);
    expect(over.messages).toEqual([]);
    // Over the limit only in the sum of fragments.
    const fragments = Buffer.concat([clientFrame(2, Buffer.alloc(600, 1), false), cont(Buffer.alloc(600, 2))]);
    const summed = await both(fragments, [300], { options, closes: true });
    expect(summed.closeCode).toBe(1009);
  });

  it('more fragments than maxFragments fail with 1009', async () => {
    const frames = [clientFrame(2, Buffer.from('a'), false), ...Array.from({ length: 5 }, () => cont('b', false)), cont('c')];
    const outcome = await both(Buffer.concat(frames), [], { options: { maxFragments: 4 }, closes: true });
    expect(outcome.closeCode).toBe(1009);
  });

  it('protocol errors the scanner leaves to wslay: 1002 on both paths', async () => {
    const unmasked = encodeFrame({ opcode: 1, payload: 'x' });
    const rsv2 = encodeFrame({ opcode: 1, payload: 'x', rsv: 2, mask: true });
    const newInside = Buffer.concat([text('a', false), text('b')]);
    const orphan = cont('x');
    for (const bytes of [unmasked, rsv2, newInside, orphan]) {
      const outcome = await both(bytes, [1], { closes: true });
      expect(outcome.closeCode).toBe(1002);
      expect(outcome.messages).toEqual([]);
    }
  });

  it('permessage-deflate: compressed fragments cut across reads inflate to the message', async () => {
    const parts = [Buffer.from('compressed '.repeat(50)), Buffer.from('€ and more text '.repeat(40))];
    const payloads = await deflatedFrames(parts);
    const bytes = Buffer.concat([
      encodeFrame({ opcode: 1, payload: payloads[0], rsv: 4, fin: false, mask: true }),
      ping('between'),
      encodeFrame({ opcode: 0, payload: payloads[1], mask: true }),
    ]);
    const outcome = await both(bytes, [3, 20, payloads[0].length + 20], { options: { perMessageDeflate: DEFAULT_DEFLATE }, messages: 1, pongs: 1 });
    expect(outcome.messages).toEqual([{ opcode: 1, data: Buffer.concat(parts).toString('latin1') }]);
    expect(outcome.pongs).toEqual(['between']);
  });
});
