// Nothing is lost without being reported: a message accepted by queueMsg is either written before the close frame
// or counted in onClose's info.unsentMessages / info.unsentBytes when the connection dies.
//   (a) close() after many queued messages: the peer receives every one of them, in order, then the close.
//   (b) the peer resets while we hold a big backlog: the counts are > 0 and agree with what the peer received.
//   (c) the peer stops reading and never answers our close: after closeTimeout the fd is closed; every message the
//       peer can still read plus the unsent ones is exactly what was queued.
//   (d) a framing error after messages in the same read: the echo and the automatic pong produced before it go out
//       before our 1002 close frame, and nothing follows the close.
import { describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import type { Endpoint } from './helpers/endpoint.js';
import { closeCode, closePayload, encodeFrame, type Frame } from './helpers/frames.js';
import { rawFixture } from './helpers/server-fixture.js';
import { delay, waitFor, within } from './helpers/wait.js';

const raw = rawFixture();

/** Message i: 4 bytes of i, then filler up to `size`. */
function message(i: number, size: number): Buffer {
  const buf = Buffer.alloc(size, i & 0xff);
  buf.writeUInt32BE(i, 0);
  return buf;
}

/** The ids of the complete data messages the peer received, checked to be 0, 1, 2, … in order. */
function receivedIds(frames: Frame[], size: number): number[] {
  const ids = frames.filter((f) => f.opcode === Opcode.BINARY).map((f) => {
    expect(f.payload.length).toBe(size);
    return f.payload.readUInt32BE(0);
  });
  expect(ids).toEqual(ids.map((_, i) => i));
  return ids;
}

function queueAll(ep: Endpoint, count: number, size: number): void {
  for (let i = 0; i < count; i++) ep.conn.queueMsg(message(i, size), Opcode.BINARY);
}

describe('nothing lost', () => {
  it('(a) close() after 2,000 queued messages: the peer gets all of them, then the close', async () => {
    const { ep, peer } = await raw.open();
    const COUNT = 2000;
    const SIZE = 4096;
    queueAll(ep, COUNT, SIZE);
    ep.conn.close(1000, 'done');
    expect(ep.conn.queueMsg('too late')).toBe(false); // refused, counted as unsent
    const frame = await peer.waitClose(10_000);
    expect(frame && closeCode(frame)).toBe(1000);
    // The close is the last frame: every message came before it.
    expect(peer.frames.at(-1)?.opcode).toBe(Opcode.CLOSE);
    expect(receivedIds(peer.frames, SIZE).length).toBe(COUNT);
    peer.send(encodeFrame({ opcode: Opcode.CLOSE, payload: closePayload(1000), mask: true }));
    const closed = await within(ep.closed, 5000, 'onClose');
    expect(closed.code).toBe(1000);
    expect(closed.info.wasClean).toBe(true);
    expect(closed.info.unsentMessages).toBe(1); // only the refused one
    expect(closed.info.unsentBytes).toBe(8);
  });

  it('(a) the same with a slow reader: close() waits behind the backlog, nothing is dropped', async () => {
    const { ep, peer } = await raw.open({}, { read: false });
    const COUNT = 300;
    const SIZE = 64 * 1024;
    queueAll(ep, COUNT, SIZE);
    ep.conn.close(1001);
    await delay(200);
    expect(ep.conn.readyState).toBe('closing');
    peer.socket.resume();
    const frame = await peer.waitClose(10_000);
    expect(frame && closeCode(frame)).toBe(1001);
    expect(receivedIds(peer.frames, SIZE).length).toBe(COUNT);
    expect(peer.frames.at(-1)?.opcode).toBe(Opcode.CLOSE);
  });

  it('(b) the peer resets while we hold a big backlog: unsent counts > 0 and consistent with what arrived', async () => {
    const { ep, peer } = await raw.open();
    const COUNT = 400;
    const SIZE = 64 * 1024;
    queueAll(ep, COUNT, SIZE);
    // Read a part, then stop reading so a backlog builds up, then reset.
    await waitFor(() => peer.frames.length >= 20, 5000, '20 messages');
    peer.socket.pause();
    await delay(200);
    const bufferedBeforeReset = ep.conn.bufferedAmount;
    peer.socket.resetAndDestroy();
    const closed = await within(ep.closed, 5000, 'onClose after the reset');
    expect(closed.code).toBe(1006);
    const { unsentMessages, unsentBytes } = closed.info;
    const received = receivedIds(peer.frames, SIZE).length;
    expect(unsentMessages).toBeGreaterThan(0);
    expect(unsentBytes).toBeGreaterThan(0);
    // What was written (queued minus unsent) is at least what the peer parsed (the rest died in the kernel).
    expect(received).toBeLessThanOrEqual(COUNT - unsentMessages);
    // The two counts describe the same messages: n unsent messages hold between n - 1 and n messages' bytes (the
    // first may be partly written), frame headers included.
    expect(unsentBytes).toBeGreaterThan((unsentMessages - 1) * SIZE);
    expect(unsentBytes).toBeLessThanOrEqual(unsentMessages * (SIZE + 14));
    // And nothing was written after the reset was noticed.
    expect(unsentBytes).toBeLessThanOrEqual(bufferedBeforeReset);
  });

  it('(c) a peer that stops reading and never answers close: what it can read + unsent = what was queued', async () => {
    const { ep, peer } = await raw.open({ closeTimeout: 500 }, { read: false });
    const COUNT = 300;
    const SIZE = 64 * 1024;
    queueAll(ep, COUNT, SIZE);
    ep.conn.close(1000);
    const closed = await within(ep.closed, 5000, 'onClose after closeTimeout');
    expect(closed.code).toBe(1006);
    expect(closed.info.timedOut).toBe(true);
    expect(closed.info.sentCode).toBeUndefined(); // the close frame never got past the backlog
    const { unsentMessages, unsentBytes } = closed.info;
    expect(unsentMessages).toBeGreaterThan(0);
    // Our fd is closed; the peer can still read everything the kernel took, then the end.
    peer.socket.resume();
    await peer.waitEnd(10_000);
    const received = receivedIds(peer.frames, SIZE).length;
    // A partly written message counts as unsent (and arrives truncated, so it is not parsed).
    expect(received + unsentMessages).toBe(COUNT);
    expect(unsentBytes).toBeGreaterThan((unsentMessages - 1) * SIZE);
    expect(unsentBytes).toBeLessThanOrEqual(unsentMessages * (SIZE + 14));
    expect(peer.frames.some((f) => f.opcode === Opcode.CLOSE)).toBe(false);
  });

  it.each([
    ['a 16-bit length under 126', Buffer.from([0x82, 0xfe, 0x00, 0x05, 1, 2, 3, 4, 9, 9, 9, 9, 9])],
    ['a control frame over 125 bytes', encodeFrame({ opcode: Opcode.PING, payload: Buffer.alloc(126), mask: true })],
  ])('(d) %s after a message and a ping in the same read: echo and pong first, then 1002', async (_name, bad) => {
    const { peer, ep } = await raw.open({
      onMsgRecv(_rsv, opcode, msg) {
        if (opcode === Opcode.TEXT) this.queueMsg(msg, Opcode.TEXT);
      },
    });
    const text = encodeFrame({ opcode: Opcode.TEXT, payload: 'before the bad frame', mask: true });
    const ping = encodeFrame({ opcode: Opcode.PING, payload: 'p', mask: true });
    peer.send(Buffer.concat([text, ping, bad]));
    const closed = await within(ep.closed, 3000, 'onClose');
    expect(closed.code).toBe(1002);
    await peer.waitEnd(3000);
    const kinds = peer.frames.map((f) => f.opcode);
    const closeAt = kinds.indexOf(Opcode.CLOSE);
    expect(closeAt, 'a close frame was sent').toBeGreaterThanOrEqual(0);
    expect(closeCode(peer.frames[closeAt])).toBe(1002);
    expect(kinds.slice(closeAt + 1), 'nothing after the close frame').toEqual([]);
    // Whatever was produced before the failure went out before the close, or is counted unsent.
    const before = kinds.slice(0, closeAt);
    expect(before.length + closed.info.unsentMessages).toBe(2);
    expect(before).toEqual([Opcode.TEXT, Opcode.PONG].slice(0, before.length));
    expect(closed.info.unsentMessages).toBe(0); // nothing held them back here
  });
});
