// Batched delivery: the messages of one read that took the receive fast path reach JS in one call, and onMsgRecv
// still runs once per message, in order. What a callback does to message k (stopRead, close, terminate, a throw, the
// reader dropped) and what follows message k on the wire (a bad frame, a ping, a close) must come out exactly as
// without batching: each case runs once on the fast path and once with plainWslay (one frame at a time through
// wslay, no batching), and the messages delivered, the frames the peer got and the close must be the same.
import { describe, expect, it } from 'vitest';

import { Opcode, type WebSocketConnection } from '../src/index.js';
import { clientFrame, closePayload } from './helpers/frames.js';
import { rawFixture } from './helpers/server-fixture.js';
import { captureUncaught } from './helpers/uncaught.js';
import { delay, waitFor, within } from './helpers/wait.js';

const raw = rawFixture();
const COUNT = 20;

type Action = 'stopRead' | 'close' | 'terminate' | 'throw' | 'dropReader' | 'none';
// What the peer sends right after message k, in the same write.
type After = 'nothing' | 'badRsv' | 'reservedOpcode' | 'badUtf8' | 'badLength' | 'ping' | 'close';

const afterFrames: Record<After, Buffer> = {
  nothing: Buffer.alloc(0),
  badRsv: Buffer.from([0xc1, 0x80, 1, 2, 3, 4]), // RSV1 without an extension
  reservedOpcode: Buffer.from([0x83, 0x80, 1, 2, 3, 4]),
  badUtf8: clientFrame(Opcode.TEXT, Buffer.from([0x61, 0xff])),
  badLength: Buffer.from([0x82, 0xfe, 0x00, 0x05, 1, 2, 3, 4, 9, 9, 9, 9, 9]), // a 16-bit length under 126
  ping: clientFrame(Opcode.PING, 'p'),
  close: clientFrame(Opcode.CLOSE, closePayload(1000, 'bye')),
};

interface Outcome {
  delivered: string[];
  frames: string[];
  code: number;
  sentCode?: number;
  unsentMessages: number;
  uncaught: number;
  batched: boolean;
}

async function run(plainWslay: boolean, k: number, action: Action, after: After, actAt = k): Promise<Outcome> {
  const delivered: string[] = [];
  let batched = false;
  const capture = captureUncaught();
  try {
    const onMsgRecv = function (this: WebSocketConnection, _r: number, opcode: number, msg: Buffer): void {
      const text = `${opcode}:${msg.toString()}`;
      delivered.push(text);
      if (new Error().stack?.includes('deliverBatch')) batched = true;
      if (opcode === Opcode.TEXT) this.queueMsg(`echo ${msg.toString()}`, Opcode.TEXT);
      if (msg.toString() !== `m${actAt}`) return;
      if (action === 'stopRead') this.stopRead();
      else if (action === 'close') this.close(4000, 'k');
      else if (action === 'terminate') this.terminate();
      else if (action === 'dropReader') this.onMsgRecv = undefined;
      else if (action === 'throw') throw new Error(`boom at ${k}`);
    };
    const { ep, peer } = await raw.open({ plainWslay, closeTimeout: 1000, onMsgRecv });
    const messages = Array.from({ length: COUNT }, (_, i) => clientFrame(Opcode.TEXT, `m${i}`));
    peer.send(Buffer.concat([...messages.slice(0, k + 1), afterFrames[after], ...messages.slice(k + 1)]));
    await delay(150);
    // Held messages outlive the connection (startRead() delivers them, then onClose); none held: it is over.
    if (action === 'stopRead' && ep.conn.readyState !== 'closed') ep.conn.startRead();
    if (action === 'dropReader' && ep.conn.readyState !== 'closed') ep.conn.onMsgRecv = onMsgRecv;
    await delay(100);
    if (!peer.ended) peer.send(clientFrame(Opcode.CLOSE, closePayload(1000)));
    const closed = await within(ep.closed, 3000, 'onClose');
    await peer.waitEnd(3000);
    return {
      // The tracked endpoint records every delivery too (before our callback): ours is the one that matters.
      delivered,
      frames: peer.frames.map((f) => `${f.opcode}:${f.payload.toString('latin1')}`),
      code: closed.code,
      sentCode: closed.info.sentCode,
      unsentMessages: closed.info.unsentMessages,
      uncaught: capture.errors.length,
      batched,
    };
  } finally {
    capture.restore();
  }
}

// `ignore`: fields where the fast path differs from plain wslay without batching too (see terminate()).
async function compare(k: number, action: Action, after: After, actAt = k, ignore: (keyof Outcome)[] = []): Promise<Outcome> {
  const fast = await run(false, k, action, after, actAt);
  const plain = await run(true, k, action, after, actAt);
  expect(plain.batched).toBe(false);
  const strip = (o: Outcome): Partial<Outcome> => {
    const copy: Partial<Outcome> = { ...o, batched: undefined };
    for (const key of ignore) delete copy[key];
    return copy;
  };
  expect(strip(fast)).toEqual(strip(plain));
  return fast;
}

const texts = (from: number, to: number, prefix = '1:m'): string[] =>
  Array.from({ length: to - from }, (_, i) => `${prefix}${from + i}`);

describe('batched delivery', () => {
  it('delivers a burst of fast-path messages in one JS call, each through onMsgRecv in order', async () => {
    const fast = await compare(COUNT - 1, 'none', 'nothing');
    expect(fast.batched).toBe(true);
    expect(fast.delivered).toEqual(texts(0, COUNT));
    expect(fast.frames).toEqual([...texts(0, COUNT, '1:echo m'), '8:\u0003\u00e8']);
  });

  it.each([0, 7, COUNT - 1])('stopRead() in the callback of message %i holds the rest until startRead()', async (k) => {
    const fast = await compare(k, 'stopRead', 'nothing');
    expect(fast.delivered).toEqual(texts(0, COUNT));
  });

  it.each([0, 7, COUNT - 1])('close() in the callback of message %i: the same messages and frames', async (k) => {
    const fast = await compare(k, 'close', 'nothing');
    expect(fast.frames.at(-1)).toBe('8:\u000f\u00a0k'); // our close (4000) after every echo accepted before it
  });

  it.each([0, 7, COUNT - 1])('terminate() in the callback of message %i drops the rest', async (k) => {
    // The echo queued in that same callback: on the fast path a direct frame, already gathered, so it goes out; on
    // the plain path in wslay's queue, which terminate() drops (unsent). So it is without batching too.
    const fast = await compare(k, 'terminate', 'nothing', k, ['frames', 'unsentMessages']);
    expect(fast.delivered).toEqual(texts(0, k + 1));
    expect(texts(0, k + 1, '1:echo m').slice(0, fast.frames.length)).toEqual(fast.frames);
    expect(fast.frames.length).toBeGreaterThanOrEqual(k);
    expect(fast.code).toBe(1006);
  });

  it.each([0, 7, COUNT - 1])('a throw in the callback of message %i goes to uncaughtException, the rest follows', async (k) => {
    const fast = await compare(k, 'throw', 'nothing');
    expect(fast.uncaught).toBe(1);
    expect(fast.delivered).toEqual(texts(0, COUNT));
  });

  it.each([0, 7, COUNT - 1])('dropping the reader in the callback of message %i: the rest of that read is not delivered', async (k) => {
    // As without batching: what wslay parses while nobody takes messages is not kept for a later reader.
    const fast = await compare(k, 'dropReader', 'nothing');
    expect(fast.delivered).toEqual(texts(0, k + 1));
  });

  it.each(['badRsv', 'reservedOpcode', 'badUtf8', 'badLength'] as const)(
    'a bad frame (%s) after message k: every echo before it goes out ahead of the close',
    async (after) => {
      for (const k of [0, 7]) {
        const fast = await compare(k, 'none', after);
        expect(fast.delivered).toEqual(texts(0, k + 1));
        expect(fast.frames.slice(0, k + 1)).toEqual(texts(0, k + 1, '1:echo m'));
        expect(fast.frames[k + 1].startsWith('8:')).toBe(true);
        expect(fast.unsentMessages).toBe(0);
      }
    },
  );

  it('a ping after message k: the echoes before it, its pong, then the rest, as without batching', async () => {
    for (const k of [0, 7, COUNT - 2]) {
      const fast = await compare(k, 'none', 'ping');
      expect(fast.frames.slice(0, k + 2)).toEqual([...texts(0, k + 1, '1:echo m'), '10:p']);
    }
  });

  it('a close after message k: the echoes before it go out, then the close reply', async () => {
    for (const k of [0, 7]) {
      const fast = await compare(k, 'none', 'close');
      expect(fast.delivered).toEqual(texts(0, k + 1));
      expect(fast.frames).toEqual([...texts(0, k + 1, '1:echo m'), '8:\u0003\u00e8']);
    }
  });

  it('stopRead() and a bad frame in one read: the held messages come on startRead(), then onClose', async () => {
    for (const [k, at] of [[7, 0], [7, 3], [12, 12]]) {
      const fast = await compare(k, 'stopRead', 'badUtf8', at);
      expect(fast.delivered).toEqual(texts(0, k + 1));
      expect(fast.code).toBe(1007);
    }
  });

  it('many bursts in a row stay in order (batches of several reads and slabs)', async () => {
    const got: string[] = [];
    const { ep, peer } = await raw.open({
      onMsgRecv(_r, _o, msg) {
        got.push(msg.toString());
      },
    });
    const all: string[] = [];
    for (let b = 0; b < 20; b++) {
      const burst = Array.from({ length: 100 }, (_, i) => `b${b}-${i}-${'x'.repeat((i * 37) % 900)}`);
      all.push(...burst);
      peer.send(Buffer.concat(burst.map((t) => clientFrame(Opcode.TEXT, t))));
    }
    await waitFor(() => got.length === all.length, 5000);
    expect(got).toEqual(all);
    ep.conn.close(1000);
  });
});
