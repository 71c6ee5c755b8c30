// queueFragmented / queueFragmentedEx: each chunk the source returns becomes a frame; every status (DATA, EOF with
// and without data, ERROR) does what it says; data longer than asked for is kept, not dropped; an empty DATA chunk
// parks the source until startWrite() instead of spinning.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';

import { FragmentedStatus, Opcode, RSV1, type FragmentSource } from '../src/index.js';
import type { Endpoint } from './helpers/endpoint.js';
import { clientFrame, closeCode, closePayload, type Frame } from './helpers/frames.js';
import { rawClient, type RawPeer } from './helpers/raw-peer.js';
import { startServer, type TestServer } from './helpers/server.js';
import { captureUncaught } from './helpers/uncaught.js';
import { delay, waitFor, within } from './helpers/wait.js';
import type { ConnectionOptions } from './helpers/endpoint.js';

const { DATA, EOF, ERROR } = FragmentedStatus;

let server: TestServer;
let peer: RawPeer;

afterEach(async () => {
  peer?.destroy();
  await server?.stop();
});

async function setup(options: ConnectionOptions = {}): Promise<Endpoint> {
  server = await startServer(options);
  peer = await rawClient(server.port);
  return server.nextEndpoint();
}

/** Frames of the first data message: up to and including the first data frame with FIN. */
async function message(timeout = 5000): Promise<Frame[]> {
  const done = (): number =>
    peer.frames.findIndex((f) => f.fin && (f.opcode === Opcode.TEXT || f.opcode === Opcode.BINARY || f.opcode === 0));
  await waitFor(() => done() >= 0, timeout, 'a complete fragmented message');
  return peer.frames.slice(0, done() + 1).filter((f) => f.opcode < 8);
}

/** A source that plays `script` in order, recording the lengths it was asked for. */
function scripted(script: ReturnType<FragmentSource>[]): { source: FragmentSource; asked: number[] } {
  const asked: number[] = [];
  return {
    asked,
    source: (len) => {
      asked.push(len);
      return script.shift() ?? [null, EOF];
    },
  };
}

describe('queueFragmented', () => {
  it('sends each DATA chunk as a frame and ends with the EOF chunk (with data)', async () => {
    const ep = await setup();
    const { source, asked } = scripted(['aa', Buffer.from('bb'), ['cc', DATA], ['dd', EOF]]);
    ep.conn.queueFragmented(source, Opcode.TEXT);
    const frames = await message();
    expect(frames.map((f) => [f.opcode, f.fin, f.payload.toString()])).toEqual([
      [Opcode.TEXT, false, 'aa'],
      [0, false, 'bb'],
      [0, false, 'cc'],
      [0, true, 'dd'],
    ]);
    expect(asked.length).toBe(4);
    expect(asked.every((len) => len > 0)).toBe(true);
  });

  it('ends the message with an empty final frame on EOF without data', async () => {
    const ep = await setup();
    ep.conn.queueFragmented(scripted(['xy', [null, EOF]]).source);
    const frames = await message();
    expect(frames.map((f) => [f.opcode, f.fin, f.payload.length])).toEqual([
      [Opcode.BINARY, false, 2],
      [0, true, 0],
    ]);
  });

  it('sends an empty message when the first call says EOF with no data', async () => {
    const ep = await setup();
    ep.conn.queueFragmented(scripted([[Buffer.alloc(0), EOF]]).source, Opcode.TEXT);
    const frames = await message();
    expect(frames.map((f) => [f.opcode, f.fin, f.payload.length])).toEqual([[Opcode.TEXT, true, 0]]);
  });

  it('keeps data longer than len for the next frames: the peer receives every byte', async () => {
    const ep = await setup();
    const data = randomBytes(50_000);
    const { source, asked } = scripted([[data, EOF]]);
    ep.conn.queueFragmented(source);
    const frames = await message();
    expect(asked.length).toBe(1); // the rest was served from what the source already returned
    expect(asked[0]).toBeLessThan(data.length); // so the test really returned more than asked for
    expect(frames.length).toBeGreaterThan(1);
    expect(frames.every((f) => f.payload.length <= asked[0])).toBe(true);
    expect(Buffer.concat(frames.map((f) => f.payload)).equals(data)).toBe(true);
    expect(frames.at(-1)!.fin).toBe(true);
  });

  it('keeps oversized DATA chunks too, then asks the source again', async () => {
    const ep = await setup();
    const a = randomBytes(9000);
    const b = randomBytes(9000);
    const { source, asked } = scripted([[a, DATA], b, [null, EOF]]);
    ep.conn.queueFragmented(source);
    const frames = await message();
    expect(asked.length).toBe(3);
    expect(Buffer.concat(frames.map((f) => f.payload)).equals(Buffer.concat([a, b]))).toBe(true);
  });

  it('ERROR fails the connection: the peer sees close 1011 or the TCP close, onClose fires once', async () => {
    const ep = await setup();
    ep.conn.queueFragmented(scripted(['partial', [null, ERROR]]).source);
    const closed = await within(ep.closed, 3000, 'onClose after ERROR');
    expect([1011, 1006]).toContain(closed.code);
    const close = await peer.waitClose();
    if (close) expect(closeCode(close)).toBe(1011);
    await peer.waitEnd();
    await delay(50);
    expect(ep.closes.length).toBe(1);
    // The message was never completed.
    expect(peer.frames.some((f) => f.opcode < 8 && f.fin)).toBe(false);
  });

  it('a throwing source reaches uncaughtException and fails the connection', async () => {
    const capture = captureUncaught();
    try {
      const ep = await setup();
      ep.conn.queueFragmented(() => {
        throw new Error('source broke');
      });
      const closed = await within(ep.closed, 3000, 'onClose after a throwing source');
      expect([1011, 1006]).toContain(closed.code);
      expect((capture.errors[0] as Error).message).toBe('source broke');
    } finally {
      capture.restore();
    }
  });

  it('rejects control opcodes with a RangeError', async () => {
    const ep = await setup();
    expect(() => ep.conn.queueFragmented(() => [null, EOF], Opcode.PING)).toThrow(RangeError);
    expect(() => ep.conn.queueFragmented(() => [null, EOF], Opcode.CLOSE)).toThrow(RangeError);
    expect(() => ep.conn.queueFragmented(42 as unknown as FragmentSource)).toThrow(TypeError);
  });
});

describe('queueFragmentedEx', () => {
  it('sets the RSV bits on the first frame only', async () => {
    const ep = await setup({ allowedRsv: RSV1 });
    ep.conn.queueFragmentedEx(scripted(['a', 'b', ['c', EOF]]).source, Opcode.BINARY, RSV1);
    const frames = await message();
    expect(frames.map((f) => f.rsv)).toEqual([RSV1, 0, 0]);
    expect(frames.map((f) => f.payload.toString()).join('')).toBe('abc');
  });

  it('rejects RSV bits that were not allowed with a RangeError', async () => {
    const ep = await setup();
    expect(() => ep.conn.queueFragmentedEx(() => [null, EOF], Opcode.BINARY, RSV1)).toThrow(RangeError);
  });
});

describe('an empty DATA chunk', () => {
  it('does not spin: the source is not called again until startWrite()', async () => {
    const ep = await setup();
    let calls = 0;
    let ready = false;
    ep.conn.queueFragmented(() => {
      calls++;
      return ready ? ['done', EOF] : ['', DATA];
    }, Opcode.TEXT);
    await delay(300);
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThanOrEqual(2); // a spinning loop would call it thousands of times
    ready = true;
    ep.conn.startWrite();
    const frames = await message();
    expect(frames.map((f) => f.payload.toString()).join('')).toBe('done');
  });

  it('paced with stopWrite() inside the source, as the seed does: resumes on startWrite()', async () => {
    const ep = await setup();
    const available: Array<string | null> = [];
    let calls = 0;
    ep.conn.queueFragmented(function (this: typeof ep.conn) {
      calls++;
      if (available.length === 0) {
        this.stopWrite(); // nothing yet: the producer calls startWrite() when it has more
        return [Buffer.alloc(0), DATA];
      }
      const next = available.shift()!;
      return next === null ? [null, EOF] : [next, DATA];
    }, Opcode.TEXT);
    await delay(300);
    expect(calls).toBe(1);
    expect(peer.frames.length).toBe(0);
    available.push('one');
    ep.conn.startWrite();
    await waitFor(() => peer.frames.length === 1);
    expect(peer.frames[0].payload.toString()).toBe('one');
    await delay(150);
    const parked = calls;
    expect(parked).toBeLessThanOrEqual(3); // 'one', then one empty call that paused again
    available.push('two', null);
    ep.conn.startWrite();
    const frames = await message();
    expect(frames.map((f) => [f.fin, f.payload.toString()])).toEqual([
      [false, 'one'],
      [false, 'two'],
      [true, ''],
    ]);
  });

  it('automatic pongs and the close echo go out while the message is parked, without asking the source', async () => {
    const ep = await setup();
    let calls = 0;
    ep.conn.queueFragmented(() => (calls++, calls === 1 ? ['start', DATA] : ['', DATA]), Opcode.TEXT);
    await waitFor(() => peer.frames.length === 1);
    await delay(50);
    const parked = calls;
    for (let i = 0; i < 3; i++) {
      peer.send(clientFrame(Opcode.PING, `ping ${i}`));
      await waitFor(() => peer.frames.filter((f) => f.opcode === Opcode.PONG).length === i + 1, 2000, `pong ${i}`);
    }
    expect(peer.frames.filter((f) => f.opcode === Opcode.PONG).map((f) => f.payload.toString())).toEqual([
      'ping 0',
      'ping 1',
      'ping 2',
    ]);
    expect(calls).toBe(parked); // the parked source was not asked again
    peer.send(clientFrame(Opcode.CLOSE, closePayload(1000, 'bye')));
    const frame = await peer.waitClose(2000);
    expect(frame && closeCode(frame)).toBe(1000);
    const closed = await within(ep.closed, 3000, 'onClose');
    expect(closed.code).toBe(1000);
    expect(closed.info.unsentMessages).toBe(1); // the unfinished fragmented message
  });

  it('lets a ping go out while the message is parked', async () => {
    const ep = await setup();
    let calls = 0;
    let ready = false;
    ep.conn.queueFragmented(() => (calls++, ready ? ['end', EOF] : calls === 1 ? ['start', DATA] : ['', DATA]), Opcode.TEXT);
    await waitFor(() => peer.frames.length === 1);
    ep.conn.queueMsg('still here', Opcode.PING);
    await waitFor(() => peer.frames.some((f) => f.opcode === Opcode.PING));
    await delay(200);
    expect(calls).toBeLessThanOrEqual(4);
    ready = true;
    ep.conn.startWrite();
    const frames = await message();
    expect(frames.map((f) => f.payload.toString()).join('')).toBe('startend');
  });
});
