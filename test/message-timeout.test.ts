// messageTimeout: a message still incomplete after this many ms fails the connection with 1008, so a peer that
// trickles fragments cannot hold memory for hours. Off by default; messages completed in time are untouched.
import { describe, expect, it } from 'vitest';

import { getReceiveBudget, Opcode, WebSocketConnection } from '../src/index.js';
import { echo } from './helpers/endpoint.js';
import { closeCode, encodeFrame } from './helpers/frames.js';
import { rawFixture } from './helpers/server-fixture.js';
import { delay, within } from './helpers/wait.js';

const raw = rawFixture();
const fragment = (opcode: number, payload: string, fin: boolean) => encodeFrame({ opcode, payload, fin, mask: true });

describe('messageTimeout', () => {
  it('a message left incomplete fails the connection with 1008 once the timeout passes', async () => {
    const { ep, peer } = await raw.open(echo({ messageTimeout: 150 }));
    const started = Date.now();
    peer.send(fragment(Opcode.TEXT, 'never ', false));
    const frame = await peer.waitClose(3000);
    expect(frame && closeCode(frame)).toBe(1008);
    const closed = await within(ep.closed, 3000, 'onClose');
    expect(closed.code).toBe(1008);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(ep.messages).toEqual([]);
    expect(getReceiveBudget().used).toBe(0);
  });

  it('a trickle of fragments does not reset it: the message as a whole must finish in time', async () => {
    const { ep, peer } = await raw.open(echo({ messageTimeout: 200 }));
    peer.send(fragment(Opcode.TEXT, 'a', false));
    for (let i = 0; i < 8 && !peer.ended && ep.closes.length === 0; i++) {
      await delay(50);
      peer.send(fragment(Opcode.CONTINUATION, 'b', false));
    }
    expect((await within(ep.closed, 3000, 'onClose')).code).toBe(1008);
  });

  it('messages that complete in time, one after another, keep the connection open', async () => {
    const { ep, peer } = await raw.open(echo({ messageTimeout: 150 }));
    for (let i = 0; i < 4; i++) {
      peer.send(fragment(Opcode.TEXT, `m${i}-`, false));
      await delay(60);
      peer.send(fragment(Opcode.CONTINUATION, 'end', true));
      await delay(60);
    }
    await delay(200);
    expect(ep.messages.map((m) => m.data.toString())).toEqual(['m0-end', 'm1-end', 'm2-end', 'm3-end']);
    expect(ep.conn.readyState).toBe('open');
  });

  it('does not count while the application has paused reading (stopRead)', async () => {
    let paused = false;
    const { ep, peer } = await raw.open(
      echo({
        messageTimeout: 100,
        onFrameRecvStart() {
          if (!paused) this.stopRead();
          paused = true;
        },
      }),
    );
    peer.send(fragment(Opcode.TEXT, 'held ', false));
    await delay(300);
    expect(ep.conn.readyState).toBe('open');
    ep.conn.startRead();
    peer.send(fragment(Opcode.CONTINUATION, 'up', true));
    const [reply] = await peer.waitFrames(1);
    expect(reply.payload.toString()).toBe('held up');
    expect(ep.conn.readyState).toBe('open');
  });

  it('applies without buffering too', async () => {
    const { ep, peer } = await raw.open({ buffering: false, onFrameRecvChunk() {}, messageTimeout: 100 });
    peer.send(fragment(Opcode.BINARY, 'part', false));
    expect((await within(ep.closed, 3000, 'onClose')).code).toBe(1008);
  });

  it('is off by default: an incomplete message waits', async () => {
    const { ep, peer } = await raw.open(echo());
    peer.send(fragment(Opcode.TEXT, 'waiting', false));
    await delay(400);
    expect(ep.conn.readyState).toBe('open');
    peer.send(fragment(Opcode.CONTINUATION, '!', true));
    const [reply] = await peer.waitFrames(1);
    expect(reply.payload.toString()).toBe('waiting!');
  });

  it('rejects a timeout that is not a positive integer with a RangeError', () => {
    for (const bad of [0, -5, 1.5, 'x']) {
      expect(() => new WebSocketConnection({ fd: 0, messageTimeout: bad as number })).toThrow(RangeError);
    }
  });
});
