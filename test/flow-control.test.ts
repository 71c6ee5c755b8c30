// Flow control: stopRead() inside onMsgRecv stops delivery at once even within one read, startRead() resumes in
// order; stopWrite()/startWrite(), stop()/start(); shutdownRead()/shutdownWrite(); wait(cb); queuedCount();
// bufferedAmount against a peer that does not read.
import { describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import type { Endpoint } from './helpers/endpoint.js';
import { clientFrame, closeCode, closePayload } from './helpers/frames.js';
import { rawFixture } from './helpers/server-fixture.js';
import { delay, waitFor, within } from './helpers/wait.js';

const raw = rawFixture();

const texts = (ep: Endpoint): string[] => ep.messages.map((m) => m.data.toString());
const burst = (n: number, prefix = 'm'): Buffer =>
  Buffer.concat(Array.from({ length: n }, (_, i) => clientFrame(Opcode.TEXT, `${prefix}${i}`)));
const names = (n: number, prefix = 'm'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('stopRead / startRead', () => {
  it('stopRead() in onMsgRecv stops delivery at once, with more messages in the same read (head)', async () => {
    const { ep } = await raw.open(
      {
        onMsgRecv(_r, _o, msg) {
          if (msg.toString() === 'm0') this.stopRead();
        },
      },
      { extra: burst(10) },
    );
    await delay(200);
    expect(texts(ep)).toEqual(['m0']);
    ep.conn.startRead();
    await waitFor(() => ep.messages.length === 10);
    expect(texts(ep)).toEqual(names(10));
  });

  it('the same for a burst written after the handshake, pausing twice, with more data arriving meanwhile', async () => {
    const { ep, peer } = await raw.open({
      onMsgRecv(_r, _o, msg) {
        if (msg.toString() === 'm2' || msg.toString() === 'm6') this.stopRead();
      },
    });
    peer.send(burst(10));
    await waitFor(() => ep.messages.length >= 3);
    await delay(100);
    expect(texts(ep)).toEqual(names(3));
    peer.send(burst(5, 'late'));
    await delay(100);
    expect(ep.messages.length).toBe(3); // still paused: late data waits too
    ep.conn.startRead();
    await waitFor(() => ep.messages.length >= 7);
    await delay(100);
    expect(texts(ep)).toEqual(names(7));
    ep.conn.startRead();
    await waitFor(() => ep.messages.length === 15);
    expect(texts(ep)).toEqual([...names(10), ...names(5, 'late')]);
  });

  it('stopRead() from outside a callback holds later messages until startRead()', async () => {
    const { ep, peer } = await raw.open();
    ep.conn.stopRead();
    peer.send(burst(3));
    await delay(150);
    expect(ep.messages.length).toBe(0);
    ep.conn.startRead();
    await waitFor(() => ep.messages.length === 3);
    expect(texts(ep)).toEqual(names(3));
  });
});

describe('messages held by stopRead() when the connection ends', () => {
  const badLength = Buffer.from([0x82, 0xfe, 0x00, 0x05, 1, 2, 3, 4, 9, 9, 9, 9, 9]); // a 16-bit length under 126
  const badUtf8 = clientFrame(Opcode.TEXT, Buffer.from([0x61, 0xff]));

  it.each([
    ['a framing error (1002)', badLength, 1002],
    ['invalid UTF-8 (1007)', badUtf8, 1007],
  ])('survive %s later in the same read: delivered on startRead(), then onClose', async (_name, bad, code) => {
    const events: string[] = [];
    const { ep, peer } = await raw.open({
      onMsgRecv(_r, _o, msg) {
        events.push(msg.toString());
        if (msg.toString() === 'm0') this.stopRead();
      },
      onClose(c) {
        events.push(`close ${c}`);
      },
    });
    peer.send(Buffer.concat([burst(3), bad]));
    const frame = await peer.waitClose(2000);
    expect(frame && closeCode(frame)).toBe(code);
    await peer.waitEnd(2000); // the socket is closed at once
    await delay(100);
    expect(events).toEqual(['m0']); // still paused: neither the held messages nor onClose
    expect(ep.conn.readyState).toBe('closing');
    expect(ep.conn.queueMsg('x')).toBe(false); // ended, onClose still to come: refused like a closing one
    ep.conn.startRead();
    const closed = await within(ep.closed, 2000, 'onClose after the held messages');
    expect(closed.code).toBe(code);
    expect(events).toEqual(['m0', 'm1', 'm2', `close ${code}`]);
    expect(ep.conn.readyState).toBe('closed');
  });

  it('pausing again inside a held message waits for the next startRead()', async () => {
    const { ep, peer } = await raw.open({
      onMsgRecv(_r, _o, msg) {
        if (msg.toString() === 'm0' || msg.toString() === 'm1') this.stopRead();
      },
    });
    peer.send(Buffer.concat([burst(3), clientFrame(Opcode.CLOSE, closePayload(1000))]));
    await peer.waitEnd(2000);
    ep.conn.startRead();
    await waitFor(() => ep.messages.length === 2);
    await delay(100);
    expect(ep.closes.length).toBe(0);
    ep.conn.startRead();
    const closed = await within(ep.closed, 2000, 'onClose');
    expect(texts(ep)).toEqual(names(3));
    expect(closed.code).toBe(1000);
    expect(closed.info.wasClean).toBe(true);
  });
});

describe('close() while reading is paused', () => {
  it('close() after stopRead() reads the peer’s close: clean 1000, not a timeout; no data delivered', async () => {
    const { ep, peer } = await raw.open({ closeTimeout: 3000 });
    ep.conn.stopRead();
    peer.send(burst(3));
    await delay(100);
    expect(ep.messages.length).toBe(0);
    ep.conn.close(1000, 'done');
    const ours = await peer.waitClose(2000);
    expect(ours && closeCode(ours)).toBe(1000);
    const reply = clientFrame(Opcode.CLOSE, closePayload(1000));
    peer.send(Buffer.concat([clientFrame(Opcode.TEXT, 'after your close'), reply]));
    const closed = await within(ep.closed, 2000, 'onClose after the peer’s close');
    expect(closed.code).toBe(1000);
    expect(closed.info.wasClean).toBe(true);
    expect(closed.info.timedOut).toBeUndefined();
    expect(ep.messages).toEqual([]); // paused: nothing was delivered, the close was still read
  });

  it('close() with messages held: the handshake completes now; startRead() then delivers them, then onClose', async () => {
    const { ep, peer } = await raw.open({
      closeTimeout: 3000,
      onMsgRecv(_r, _o, msg) {
        if (msg.toString() === 'm0') this.stopRead();
      },
    });
    peer.send(burst(3));
    await waitFor(() => ep.messages.length === 1);
    await delay(50);
    ep.conn.close(1000); // m1 and m2 are held already; what comes after this is dropped until the peer's close
    const ours = await peer.waitClose(2000);
    expect(ours && closeCode(ours)).toBe(1000);
    peer.send(clientFrame(Opcode.CLOSE, closePayload(1000)));
    await peer.waitEnd(2000); // the closing handshake did not wait for startRead()
    expect(texts(ep)).toEqual(['m0']);
    expect(ep.closes.length).toBe(0);
    ep.conn.startRead();
    const closed = await within(ep.closed, 2000, 'onClose');
    expect(texts(ep)).toEqual(names(3)); // held before close(): delivered, in order, before onClose
    expect(closed.code).toBe(1000);
    expect(closed.info.wasClean).toBe(true);
  });

  it('the same with stop(): the close still goes out and the reply is read', async () => {
    const { ep, peer } = await raw.open({ closeTimeout: 3000 });
    ep.conn.stop();
    ep.conn.close(4000);
    ep.conn.startWrite();
    const ours = await peer.waitClose(2000);
    expect(ours && closeCode(ours)).toBe(4000);
    peer.send(clientFrame(Opcode.CLOSE, closePayload(4000)));
    const closed = await within(ep.closed, 2000, 'onClose after the peer’s close');
    expect(closed.code).toBe(4000);
    expect(closed.info.wasClean).toBe(true);
  });
});

describe('stopWrite / startWrite, stop / start', () => {
  it('stopWrite() holds queued messages; queuedCount() counts them; startWrite() sends them in order', async () => {
    const { ep, peer } = await raw.open();
    ep.conn.stopWrite();
    for (let i = 0; i < 3; i++) ep.conn.queueMsg(`w${i}`);
    expect(ep.conn.queuedCount()).toBe(3);
    await delay(150);
    expect(peer.frames.length).toBe(0);
    expect(ep.conn.queuedCount()).toBe(3);
    ep.conn.startWrite();
    await peer.waitFrames(3);
    expect(peer.frames.map((f) => f.payload.toString())).toEqual(['w0', 'w1', 'w2']);
    await waitFor(() => ep.conn.queuedCount() === 0);
  });

  it('stop() pauses both directions; start() resumes both', async () => {
    const { ep, peer } = await raw.open();
    ep.conn.stop();
    ep.conn.queueMsg('out');
    peer.send(clientFrame(Opcode.TEXT, 'in'));
    await delay(150);
    expect(peer.frames.length).toBe(0);
    expect(ep.messages.length).toBe(0);
    ep.conn.start();
    await peer.waitFrames(1);
    await waitFor(() => ep.messages.length === 1);
    expect(texts(ep)).toEqual(['in']);
  });
});

describe('shutdownRead / shutdownWrite', () => {
  it('shutdownRead(): nothing more is delivered; what is queued still goes out', async () => {
    const { ep, peer } = await raw.open();
    ep.conn.stopWrite(); // keep the message queued across shutdownRead()
    ep.conn.queueMsg('still sending');
    ep.conn.shutdownRead();
    peer.send(clientFrame(Opcode.TEXT, 'ignored'));
    await delay(100);
    expect(ep.messages.length).toBe(0);
    ep.conn.startWrite();
    await peer.waitFrames(1);
    expect(peer.frames[0].payload.toString()).toBe('still sending');
    // Like the seed, the connection ends once wslay wants neither to read nor to write.
    await within(ep.closed, 3000, 'onClose once nothing is left to do');
    expect(ep.messages.length).toBe(0);
  });

  it('shutdownWrite(): queueing throws, receiving still works', async () => {
    const { ep, peer } = await raw.open();
    ep.conn.shutdownWrite();
    await delay(50);
    expect(() => ep.conn.queueMsg('no')).toThrow(Error);
    peer.send(clientFrame(Opcode.TEXT, 'still receiving'));
    await waitFor(() => ep.messages.length === 1);
    expect(ep.closes.length).toBe(0);
  });

  it('both: the connection ends and onClose fires once', async () => {
    const { ep, peer } = await raw.open();
    ep.conn.shutdownRead();
    ep.conn.shutdownWrite();
    await within(ep.closed, 3000, 'onClose after shutting down both directions');
    await peer.waitEnd();
    await delay(50);
    expect(ep.closes.length).toBe(1);
  });
});

describe('wait(cb)', () => {
  it('fires once, when the queue has drained', async () => {
    const { ep, peer } = await raw.open();
    const big = Buffer.alloc(512 * 1024, 1);
    for (let i = 0; i < 16; i++) ep.conn.queueMsg(big, Opcode.BINARY);
    const seen: Array<[number, number]> = [];
    ep.conn.wait(() => seen.push([ep.conn.queuedCount(), ep.conn.bufferedAmount]));
    expect(seen).toEqual([]);
    await waitFor(() => seen.length > 0, 10_000, 'wait callback');
    expect(seen[0]).toEqual([0, 0]);
    await peer.waitFrames(16);
    await delay(100);
    expect(seen.length).toBe(1);
  });

  it('with an empty queue: fires on a later tick, not synchronously, exactly once', async () => {
    const { ep } = await raw.open();
    let calls = 0;
    ep.conn.wait(() => calls++);
    expect(calls).toBe(0);
    await waitFor(() => calls > 0, 1000, 'wait callback');
    await delay(100);
    expect(calls).toBe(1);
  });

  it('can be called from inside its own callback and fires again after the next drain', async () => {
    const { ep, peer } = await raw.open();
    let calls = 0;
    ep.conn.queueMsg('a');
    ep.conn.wait(function again() {
      calls++;
      if (calls === 1) {
        ep.conn.queueMsg('b');
        ep.conn.wait(again);
      }
    });
    await waitFor(() => calls === 2, 2000, 'second wait callback');
    await peer.waitFrames(2);
    await delay(50);
    expect(calls).toBe(2);
  });
});

describe('bufferedAmount', () => {
  it('grows against a peer that does not read, and drains when it does', async () => {
    const { ep, peer } = await raw.open({}, { read: false });
    const MIB = 1024 * 1024;
    const chunk = Buffer.alloc(MIB, 3);
    for (let i = 0; i < 24; i++) ep.conn.queueMsg(chunk, Opcode.BINARY);
    await delay(200); // the kernel takes what fits into the socket buffers
    const stalled = ep.conn.bufferedAmount;
    expect(stalled).toBeGreaterThan(4 * MIB); // socket buffers on loopback hold a few MiB at most
    expect(stalled).toBeLessThanOrEqual(24 * MIB + 24 * 14);
    ep.conn.queueMsg(chunk, Opcode.BINARY);
    expect(ep.conn.bufferedAmount).toBeGreaterThanOrEqual(stalled + MIB);
    expect(ep.conn.queuedCount()).toBeGreaterThan(0);
    let drained = false;
    ep.conn.wait(() => (drained = true));
    await delay(100);
    expect(drained).toBe(false);
    peer.socket.resume();
    await waitFor(() => drained, 10_000, 'the queue to drain');
    expect(ep.conn.bufferedAmount).toBe(0);
    await peer.waitFrames(25, 10_000);
  });
});
