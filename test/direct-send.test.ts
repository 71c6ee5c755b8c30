// Data messages framed by the binding itself (native/frame_writer.h) while wslay has nothing queued, wslay's queue
// otherwise: the wire order is always the queue order, and the accounting (bufferedAmount, queuedCount,
// maxBackpressure, onClose's unsent counts) stays exact. Every test runs on both paths, plainWslay false and true,
// over real sockets: raw peers that parse every frame, one that stops reading, and our client against a raw server.
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';

import { Opcode, RSV1 } from '../src/index.js';
import { connectClient } from './helpers/client.js';
import type { Endpoint } from './helpers/endpoint.js';
import { closeCode, closePayload, encodeFrame, type Frame } from './helpers/frames.js';
import { startRawServer, type RawServer } from './helpers/raw-peer.js';
import { rawFixture } from './helpers/server-fixture.js';
import { DEFAULT_DEFLATE } from './hostile/crafted.js';
import { waitFor, within } from './helpers/wait.js';

const raw = rawFixture();
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Message i of `size` bytes: its number first, then a filler that differs per message. */
function message(i: number, size: number): Buffer {
  const buf = Buffer.alloc(size, 0x41 + (i % 26));
  if (size >= 4) buf.writeUInt32BE(i, 0);
  return buf;
}

/** A frame header's length for a payload of `len` bytes (RFC 6455 §5.2). */
function headerLength(len: number, masked = false): number {
  return 2 + (len < 126 ? 0 : len <= 0xffff ? 2 : 8) + (masked ? 4 : 0);
}

interface Sent {
  opcode: number;
  payload: Buffer;
}

/**
 * Queues `ops` from outside any event and returns what bufferedAmount must be right after, before anything was
 * written: wslay counts the payloads it holds; a message framed directly counts with its header. A data message is
 * framed directly only while nothing of wslay's is queued (not on the plain path).
 */
function queueAll(ep: Endpoint, ops: Sent[], plainWslay: boolean): number {
  let buffered = 0;
  let wslayHolds = false;
  for (const op of ops) {
    const control = op.opcode >= 8;
    expect(ep.conn.queueMsg(op.payload, op.opcode)).toBe(true);
    if (plainWslay || control || wslayHolds) {
      buffered += op.payload.length;
      wslayHolds = true;
    } else {
      buffered += headerLength(op.payload.length) + op.payload.length;
    }
  }
  return buffered;
}

/**
 * Data frames in queue order, byte for byte, and control frames in queue order among themselves. Where a control
 * frame lands between data frames differs by path: wslay sends its control frames ahead of the data messages in
 * its own queue, while a data frame framed directly is already in the output, so a later ping goes behind it.
 */
function expectFrames(frames: Frame[], sent: Sent[]): void {
  const split = <T extends { opcode: number }>(list: T[], control: boolean): T[] =>
    list.filter((f) => (f.opcode >= 8) === control);
  for (const control of [false, true]) {
    const got = split(frames, control);
    const want = split(sent, control);
    expect(got.map((f) => f.opcode)).toEqual(want.map((s) => s.opcode));
    got.forEach((f, i) => {
      expect(f.fin).toBe(true);
      expect(f.payload.equals(want[i].payload), `${control ? 'control' : 'data'} frame ${i}`).toBe(true);
    });
  }
  expect(frames.length).toBe(sent.length);
}

const SIZES = [0, 1, 125, 126, 127, 65535, 65536, 70000, 5];

describe.each([false, true])('plainWslay: %s', (plainWslay) => {
  it('messages, pings and pongs queued from outside an event arrive in order, then the close', async () => {
    const { ep, peer } = await raw.open({ plainWslay });
    const first: Sent[] = SIZES.map((size, i) => ({ opcode: Opcode.BINARY, payload: message(i, size) }));
    // Direct frames first, then a ping: the messages after it wait in wslay's queue behind it.
    const batch1 = [...first.slice(0, 4), { opcode: Opcode.PING, payload: Buffer.from('p1') }, ...first.slice(4)];
    const buffered = queueAll(ep, batch1, plainWslay);
    expect(ep.conn.bufferedAmount).toBe(buffered);
    expect(ep.conn.queuedCount()).toBe(batch1.length);
    await tick();
    // Another tick: text, a pong and binary again, then close() in the same tick.
    const batch2: Sent[] = [
      { opcode: Opcode.TEXT, payload: Buffer.from('héllo') },
      { opcode: Opcode.PONG, payload: Buffer.from('unsolicited') },
      { opcode: Opcode.BINARY, payload: message(100, 3000) },
      { opcode: Opcode.TEXT, payload: Buffer.from('') },
    ];
    queueAll(ep, batch2, plainWslay);
    ep.conn.close(1000, 'bye');
    const close = await peer.waitClose(10_000);
    expect(close && closeCode(close)).toBe(1000);
    expectFrames(peer.frames.slice(0, -1), [...batch1, ...batch2]);
    expect(peer.frames.at(-1)?.opcode).toBe(Opcode.CLOSE);
    peer.send(encodeFrame({ opcode: Opcode.CLOSE, payload: closePayload(1000), mask: true }));
    const closed = await within(ep.closed, 5000, 'onClose');
    expect(closed.info.wasClean).toBe(true);
    expect(closed.info.unsentMessages).toBe(0);
    expect(closed.info.unsentBytes).toBe(0);
  });

  it('inside onMsgRecv: replies, pings, a large message and close() arrive in order', async () => {
    const expected: Sent[] = [];
    const { peer } = await raw.open({
      plainWslay,
      onMsgRecv(_rsv, opcode, data) {
        if (opcode !== Opcode.TEXT) return;
        const text = data.toString();
        const ops: Sent[] =
          text === 'end'
            ? [{ opcode: Opcode.TEXT, payload: Buffer.from('last') }]
            : [
                { opcode: Opcode.TEXT, payload: Buffer.from(`a-${text}`) },
                { opcode: Opcode.PING, payload: Buffer.from(`p-${text}`) },
                { opcode: Opcode.BINARY, payload: message(expected.length, 70_000) },
                { opcode: Opcode.TEXT, payload: Buffer.from(`b-${text}`) },
              ];
        for (const op of ops) {
          expect(this.queueMsg(op.payload, op.opcode)).toBe(true);
          expected.push(op);
        }
        if (text === 'end') this.close(1000);
      },
    });
    // All in one write: the replies to several messages are produced within one read.
    const requests = ['0', '1', '2', '3', 'end'].map((t) => encodeFrame({ opcode: Opcode.TEXT, payload: Buffer.from(t), mask: true }));
    peer.send(Buffer.concat(requests));
    const close = await peer.waitClose(10_000);
    expect(close && closeCode(close)).toBe(1000);
    expectFrames(peer.frames.slice(0, -1), expected);
  });

  it('a reader that stops: maxBackpressure refuses exactly past the limit, the accepted messages arrive whole', async () => {
    const MAX = 256 * 1024;
    const SIZE = 16 * 1024;
    const { ep, peer } = await raw.open({ plainWslay, maxBackpressure: MAX }, { read: false });
    const accepted: Buffer[] = [];
    let refused = 0;
    // Tick by tick (each flush fills the socket further) until the queue itself is full.
    for (let round = 0; round < 2000 && refused < 5; round++) {
      for (let i = 0; i < 8 && refused < 5; i++) {
        const payload = message(accepted.length, SIZE);
        const before = ep.conn.bufferedAmount;
        const ok = ep.conn.queueMsg(payload, Opcode.BINARY);
        expect(ok).toBe(before + SIZE <= MAX);
        if (ok) accepted.push(payload);
        else refused++;
      }
      await tick();
    }
    expect(refused).toBe(5);
    expect(ep.conn.bufferedAmount).toBeGreaterThan(MAX - SIZE);
    expect(ep.conn.bufferedAmount).toBeLessThanOrEqual(MAX + 14 * 8);
    peer.socket.resume();
    await waitFor(() => peer.frames.length === accepted.length, 20_000, 'every accepted message');
    expectFrames(peer.frames, accepted.map((payload) => ({ opcode: Opcode.BINARY, payload })));
    await waitFor(() => ep.conn.bufferedAmount === 0, 5000, 'bufferedAmount to fall to 0');
    expect(ep.conn.queuedCount()).toBe(0);
  });

  it('the peer resets while messages wait: every accepted message arrived or is counted unsent', async () => {
    const SIZE = 64 * 1024;
    const COUNT = 200;
    const { ep, peer } = await raw.open({ plainWslay }, { read: false });
    for (let i = 0; i < COUNT; i++) ep.conn.queueMsg(message(i, SIZE), Opcode.BINARY);
    await tick();
    await tick();
    const before = ep.conn.bufferedAmount;
    expect(before).toBeGreaterThan(0);
    peer.socket.resetAndDestroy();
    const closed = await within(ep.closed, 5000, 'onClose');
    expect(closed.code).toBe(1006);
    const { unsentMessages, unsentBytes } = closed.info;
    expect(unsentMessages).toBeGreaterThan(0);
    // n unsent messages hold between n - 1 and n messages' bytes (the first may be partly written), headers included.
    expect(unsentBytes).toBeGreaterThan((unsentMessages - 1) * SIZE);
    expect(unsentBytes).toBeLessThanOrEqual(unsentMessages * (SIZE + 14));
    expect(unsentBytes).toBeLessThanOrEqual(before);
  });

  it('compressed and not, from outside and inside an event: the deflate stream stays in queue order', async () => {
    const sent: Sent[] = [];
    const { ep, peer } = await raw.open({
      plainWslay,
      perMessageDeflate: { ...DEFAULT_DEFLATE, threshold: 1024 },
      onMsgRecv(_rsv, _opcode, data) {
        for (const size of [10, 2000, 1023, 1024, 70_000]) {
          const payload = message(sent.length, size);
          this.queueMsg(payload, Opcode.BINARY);
          sent.push({ opcode: Opcode.BINARY, payload });
        }
        if (data.toString() === 'end') this.close(1000);
      },
    });
    for (const size of [5, 5000, 100, 1024, 66_000]) {
      const payload = message(sent.length, size);
      ep.conn.queueMsg(payload, Opcode.BINARY);
      sent.push({ opcode: Opcode.BINARY, payload });
    }
    await tick();
    peer.send(Buffer.concat(['x', 'end'].map((t) => encodeFrame({ opcode: Opcode.TEXT, payload: Buffer.from(t), mask: true }))));
    await peer.waitClose(10_000);
    const frames = peer.frames.slice(0, -1);
    expect(frames.length).toBe(sent.length);
    // With context takeover the compressed messages form one deflate stream: inflated together, in order.
    const compressed = frames.filter((f) => f.rsv === RSV1);
    const stream = Buffer.concat(compressed.map((f) => Buffer.concat([f.payload, Buffer.from([0, 0, 0xff, 0xff])])));
    const inflated = zlib.inflateRawSync(stream, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    const big = sent.filter((s) => s.payload.length >= 1024);
    expect(compressed.length).toBe(big.length);
    expect(inflated.equals(Buffer.concat(big.map((s) => s.payload)))).toBe(true);
    frames.forEach((f, i) => {
      if (f.rsv === 0) expect(f.payload.equals(sent[i].payload), `plain frame ${i}`).toBe(true);
      else expect(sent[i].payload.length).toBeGreaterThanOrEqual(1024);
    });
  });

  describe('our client', () => {
    let rawServer: RawServer | undefined;
    it('masks every frame it frames (a fresh key each), in queue order, from outside and inside an event', async () => {
      rawServer = await startRawServer();
      const sent: Sent[] = [];
      const ep = await connectClient(rawServer.port, {
        plainWslay,
        onMsgRecv() {
          for (const size of [3, 200, 70_000]) {
            const payload = message(sent.length, size);
            this.queueMsg(payload, Opcode.BINARY);
            sent.push({ opcode: Opcode.BINARY, payload });
          }
          this.queueMsg('ping', Opcode.PING);
          sent.push({ opcode: Opcode.PING, payload: Buffer.from('ping') });
        },
      });
      const server = await rawServer.nextPeer();
      for (const size of [0, 126, 65536, 9]) {
        const payload = message(sent.length, size);
        ep.conn.queueMsg(payload, Opcode.BINARY);
        sent.push({ opcode: Opcode.BINARY, payload });
      }
      await tick();
      server.send(encodeFrame({ opcode: Opcode.TEXT, payload: Buffer.from('go') }));
      await server.waitFrames(4 + 4, 10_000);
      expect(sent.length).toBe(8);
      expectFrames(server.frames, sent);
      expect(server.frames.every((f) => f.masked)).toBe(true);
      const keys = new Set(server.frames.map((f) => f.maskKey!.toString('hex')));
      expect(keys.size).toBe(server.frames.length);
      ep.conn.terminate();
      await within(ep.closed, 5000, 'onClose');
      await rawServer.stop();
    });
  });
});
