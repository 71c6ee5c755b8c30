// Invalid input to every public method and option: a clear TypeError, RangeError or Error naming the problem, never
// a crash, and the connection (when there is one) still works afterwards. Everything runs in this process, so a
// native abort fails the whole file.
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { Opcode, WebSocketConnection } from '../src/index.js';
import { connectClient } from './helpers/client.js';
import type { Endpoint } from './helpers/endpoint.js';
import { openFds } from './helpers/fds.js';
import { clientFrame } from './helpers/frames.js';
import { rawClient, startRawServer, type RawPeer, type RawServer } from './helpers/raw-peer.js';
import { rawFixture } from './helpers/server-fixture.js';
import { startServer, type TestServer } from './helpers/server.js';
import { captureUncaught } from './helpers/uncaught.js';
import { waitFor, within } from './helpers/wait.js';

type Ctor = new (options: unknown) => WebSocketConnection;
const Connection = WebSocketConnection as unknown as Ctor;

/** Calls `fn` expecting an error of class `type` whose message matches `message`. */
function expectError(fn: () => unknown, type: ErrorConstructor, message: RegExp): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'nothing was thrown').toBeInstanceOf(type);
  expect((thrown as Error).message).toMatch(message);
}

/** The connection still echoes: the rejected call left it consistent. */
async function stillWorks(ep: Endpoint, peer: RawPeer): Promise<void> {
  const before = peer.frames.length;
  ep.conn.queueMsg('still alive', Opcode.TEXT);
  await peer.waitFrames(before + 1);
  expect(peer.frames[before].payload.toString()).toBe('still alive');
  expect(ep.conn.readyState).toBe('open');
}

describe('constructor options', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'wslay-invalid-'));
  });
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it('options that are not an object', () => {
    expectError(() => new Connection(undefined), TypeError, /options must be an object/);
    expectError(() => new Connection(null), TypeError, /options must be an object/);
    expectError(() => new Connection(42), TypeError, /options must be an object/);
  });

  it('neither or both of fd and socket', () => {
    expectError(() => new Connection({}), TypeError, /exactly one of fd and socket/);
    const socket = new net.Socket();
    expectError(() => new Connection({ fd: 0, socket }), TypeError, /exactly one of fd and socket/);
    socket.destroy();
  });

  it('fd that is not a non-negative integer', () => {
    for (const fd of [-1, 1.5, NaN, Infinity, '3', null, {}, 2 ** 31]) {
      expectError(() => new Connection({ fd }), TypeError, /fd/);
    }
  });

  it('fd of a regular file, a pipe, a closed fd, a UDP socket: TypeError, and the caller keeps the fd', async () => {
    const file = path.join(scratch, 'regular');
    fs.writeFileSync(file, 'not a socket');
    const fileFd = fs.openSync(file, 'r');
    expectError(() => new Connection({ fd: fileFd }), TypeError, new RegExp(`fd ${fileFd} is not a socket`));
    expect(openFds()).toContain(fileFd); // refused, so not taken: still the caller's to close
    fs.closeSync(fileFd);

    // A pipe: process.stdin of a vitest worker is not reliable, so open a FIFO made for the test.
    const fifo = path.join(scratch, 'fifo');
    const { execFileSync } = await import('node:child_process');
    execFileSync('mkfifo', [fifo]);
    const pipeFd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    expectError(() => new Connection({ fd: pipeFd }), TypeError, /is not a socket/);
    fs.closeSync(pipeFd);

    // A closed fd: the number of one just closed (nothing else opens in between on this thread).
    const closedFd = fs.openSync(file, 'r');
    fs.closeSync(closedFd);
    expectError(() => new Connection({ fd: closedFd }), TypeError, /is not an open file descriptor/);

    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    const udpFd = (udp as unknown as { _handle: { fd: number } })._handle.fd;
    expectError(() => new Connection({ fd: udpFd }), TypeError, /is not a stream socket/);
    await new Promise<void>((resolve) => udp.close(resolve));
  });

  it('socket that is not a usable net.Socket', () => {
    expectError(() => new Connection({ socket: {} }), TypeError, /socket must be a net\.Socket/);
    expectError(() => new Connection({ socket: 'sock' }), TypeError, /socket must be a net\.Socket/);
    const destroyed = new net.Socket();
    destroyed.destroy();
    expectError(() => new Connection({ socket: destroyed }), TypeError, /destroyed/);
  });

  it("type other than 'server' / 'client'", () => {
    expectError(() => new Connection({ fd: 0, type: 'x' }), TypeError, /type must be 'server' or 'client'/);
    expectError(() => new Connection({ fd: 0, type: 1 }), TypeError, /type must be/);
  });

  it('head that is not bytes', () => {
    expectError(() => new Connection({ fd: 0, head: 'GET' }), TypeError, /head must be a Buffer/);
    expectError(() => new Connection({ fd: 0, head: [1, 2] }), TypeError, /head must be a Buffer/);
  });

  it('callbacks that are not functions', () => {
    for (const name of ['onMsgRecv', 'onClose', 'genmask', 'onFrameRecvStart', 'onFrameRecvChunk', 'onFrameRecvEnd']) {
      for (const value of [42, 'fn', {}, true]) {
        expectError(() => new Connection({ fd: 0, [name]: value }), TypeError, new RegExp(`${name} must be a function`));
      }
    }
  });

  it('numeric limits out of range or of the wrong type', () => {
    const cases: Array<[string, unknown[]]> = [
      ['maxRecvSize', [-1, 1.5, NaN, '10', 2 ** 64]],
      ['closeTimeout', [-1, Infinity, 2 ** 31, '5']],
      ['maxFragments', [0, -3, 2 ** 32, 'many']],
      ['maxPendingPongs', [0, 0.5, 2 ** 32, {}]],
      // wslay 1.1.1 keeps only RSV1 of the allowed bits: RSV2 (2) and RSV3 (1) would be accepted and ignored.
      ['allowedRsv', [-1, 8, 5, 1.5, 1, 2, 3, 6, 7]],
    ];
    for (const [name, values] of cases) {
      for (const value of values) {
        expectError(() => new Connection({ fd: 0, [name]: value }), RangeError, new RegExp(name));
      }
    }
  });

  it('a rejected option leaves no descriptor behind', () => {
    const before = openFds().length;
    for (let i = 0; i < 50; i++) {
      try {
        new Connection({ fd: 0, maxFragments: 0 });
      } catch {
        // expected
      }
    }
    expect(openFds().length).toBe(before);
  });
});

describe('methods of an open connection', () => {
  let server: TestServer;
  let peer: RawPeer;
  let ep: Endpoint;

  beforeAll(async () => {
    server = await startServer({});
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(() => {
    peer?.destroy();
  });

  async function open(): Promise<void> {
    peer = await rawClient(server.port);
    ep = await server.nextEndpoint();
  }

  it('queueMsg with data that is not bytes or text', async () => {
    await open();
    for (const bad of [{}, 42, null, undefined, [1, 2, 3], Symbol('s'), () => 1]) {
      expectError(() => ep.conn.queueMsg(bad as never), TypeError, /message must be a string, Buffer/);
    }
    await stillWorks(ep, peer);
  });

  it('queueMsg with opcode 0 (continuation), 3 (reserved), 8 (close) or 11', async () => {
    await open();
    for (const opcode of [0, 3, 8, 11, 15]) {
      expectError(() => ep.conn.queueMsg('x', opcode), RangeError, /opcode must be TEXT \(1\), BINARY \(2\), PING/);
    }
    expectError(() => ep.conn.queueMsg('x', Opcode.CLOSE), RangeError, /use close\(\) to close/);
    await stillWorks(ep, peer);
  });

  it('a control frame over 125 bytes', async () => {
    await open();
    expectError(() => ep.conn.queueMsg(Buffer.alloc(126), Opcode.PING), RangeError, /at most 125 bytes/);
    expectError(() => ep.conn.queueMsg('p'.repeat(200), Opcode.PONG), RangeError, /at most 125 bytes/);
    ep.conn.queueMsg(Buffer.alloc(125, 1), Opcode.PING); // the limit itself is fine
    await peer.waitFrames(1);
    expect(peer.frames[0].opcode).toBe(Opcode.PING);
    expect(peer.frames[0].payload.length).toBe(125);
  });

  it('queueMsgEx with RSV bits nobody negotiated', async () => {
    await open();
    expectError(() => ep.conn.queueMsgEx('x', Opcode.TEXT, 4), RangeError, /rsv has bits that were not negotiated/);
    expectError(() => ep.conn.queueMsgEx('x', Opcode.PING, 4), RangeError, /no RSV bits/);
    await stillWorks(ep, peer);
  });

  it('queueMsgEx / queueFragmentedEx with RSV2 or RSV3: a RangeError that says they are not supported', async () => {
    await open();
    for (const rsv of [2, 1, 3, 6, 7]) {
      expectError(() => ep.conn.queueMsgEx('x', Opcode.TEXT, rsv), RangeError, /RSV2 and RSV3 are not supported/);
      expectError(
        () => ep.conn.queueFragmentedEx(() => ['x', 0], Opcode.TEXT, rsv),
        RangeError,
        /RSV2 and RSV3 are not supported/,
      );
    }
    await stillWorks(ep, peer);
  });

  it('queueFragmented with a source that is not a function, or a control opcode', async () => {
    await open();
    for (const bad of [null, undefined, 'data', Buffer.from('x'), {}]) {
      expectError(() => ep.conn.queueFragmented(bad as never), TypeError, /source must be a function/);
    }
    for (const opcode of [0, 3, 8, 9, 10]) {
      expectError(() => ep.conn.queueFragmented(() => null, opcode), RangeError, /fragmented message must be TEXT/);
    }
    await stillWorks(ep, peer);
  });

  it('wait with something other than a function', async () => {
    await open();
    for (const bad of [undefined, 1, 'cb', {}]) {
      expectError(() => ep.conn.wait(bad as never), TypeError, /wait\(\) takes a callback function/);
    }
    await stillWorks(ep, peer);
  });

  it('callback setters reject non-functions and keep the old callback', async () => {
    await open();
    for (const name of ['onMsgRecv', 'onClose', 'genmask', 'onFrameRecvStart', 'onFrameRecvChunk', 'onFrameRecvEnd']) {
      expectError(
        () => ((ep.conn as unknown as Record<string, unknown>)[name] = 42),
        TypeError,
        new RegExp(`${name} must be a function`),
      );
    }
    peer.send(clientFrame(Opcode.TEXT, 'recorded'));
    await waitFor(() => ep.messages.length === 1); // the recording onMsgRecv is still installed
    expect(ep.messages[0].data.toString()).toBe('recorded');
  });

  it('close() with an invalid code, an overlong or invalid UTF-8 reason, or a reason without a code', async () => {
    await open();
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535, 1000.5, -1000, NaN]) {
      expectError(() => ep.conn.close(code), RangeError, new RegExp(`invalid close code`));
    }
    expectError(() => ep.conn.close(1000, 'r'.repeat(124)), RangeError, /at most 123 bytes/);
    expectError(() => ep.conn.close(1000, 'é'.repeat(62)), RangeError, /at most 123 bytes/); // 124 bytes in UTF-8
    expectError(() => ep.conn.close(1000, Buffer.from([0x61, 0xff, 0x62])), RangeError, /valid UTF-8/);
    expectError(() => ep.conn.close(1000, Buffer.from([0xed, 0xa0, 0x80])), RangeError, /valid UTF-8/); // surrogate
    expectError(() => ep.conn.close(undefined, 'why'), RangeError, /needs a close code/);
    expectError(() => ep.conn.close(1000, 42 as never), TypeError, /reason must be a string or a Buffer/);
    // None of these started closing: the connection is open and a valid close still works.
    await stillWorks(ep, peer);
    ep.conn.close(1000, 'r'.repeat(123));
    const frame = await peer.waitClose();
    expect(frame?.payload.length).toBe(125);
  });
});

describe('genmask returning the wrong thing (client)', () => {
  let raw: RawServer;
  afterEach(async () => {
    await raw?.stop();
  });

  for (const [what, result] of [
    ['too few bytes', () => Buffer.alloc(2)],
    ['too many bytes', () => Buffer.alloc(8)],
    ['a string', () => 'abcd'],
    ['nothing', () => undefined],
  ] as const) {
    it(`${what}: a RangeError through uncaughtException, the connection fails, no crash`, async () => {
      raw = await startRawServer();
      const uncaught = captureUncaught();
      try {
        // The raw server never answers our close: a short closeTimeout ends the wait for it.
        const ep = await connectClient(raw.port, { genmask: result as never, closeTimeout: 300 });
        const peer = await raw.nextPeer();
        ep.conn.queueMsg('masked?');
        const closed = await within(ep.closed, 5000, 'onClose after a bad genmask');
        expect(uncaught.errors.length).toBeGreaterThanOrEqual(1);
        expect(uncaught.errors[0]).toBeInstanceOf(RangeError);
        expect(String((uncaught.errors[0] as Error).message)).toMatch(/genmask\(len\) must return .*exactly len bytes/);
        // No frame with a made-up mask went out: either nothing, or a close.
        expect(peer.frames.filter((f) => f.opcode === Opcode.TEXT)).toEqual([]);
        expect(closed.code).not.toBe(1000);
        expect(ep.closes.length).toBe(1);
      } finally {
        uncaught.restore();
      }
    });
  }
});

describe('methods of a closed connection', () => {
  const raw = rawFixture();

  it('throw "closed" errors; close() does nothing; the getters report closed and empty', async () => {
    const { ep, peer } = await raw.open();
    peer.destroy();
    await within(ep.closed, 3000, 'onClose');
    const conn = ep.conn;
    const calls: Array<[string, () => unknown]> = [
      ['queueMsg', () => conn.queueMsg('x')],
      ['queueMsgEx', () => conn.queueMsgEx('x', Opcode.TEXT, 0)],
      ['queueFragmented', () => conn.queueFragmented(() => null)],
      ['wait', () => conn.wait(() => {})],
      ['start', () => conn.start()],
      ['stop', () => conn.stop()],
      ['startRead', () => conn.startRead()],
      ['stopRead', () => conn.stopRead()],
      ['startWrite', () => conn.startWrite()],
      ['stopWrite', () => conn.stopWrite()],
      ['shutdownRead', () => conn.shutdownRead()],
      ['shutdownWrite', () => conn.shutdownWrite()],
    ];
    for (const [name, call] of calls) {
      let thrown: unknown;
      try {
        call();
      } catch (err) {
        thrown = err;
      }
      expect(thrown, name).toBeInstanceOf(Error);
      expect((thrown as Error).message, name).toMatch(/closed/);
    }
    expect(() => conn.close()).not.toThrow();
    expect(() => conn.close(1000, 'again')).not.toThrow();
    // Invalid arguments are still refused, closed or not (validation comes first).
    expectError(() => conn.close(999), RangeError, /invalid close code/);
    expect(conn.readyState).toBe('closed');
    expect(conn.queuedCount()).toBe(0);
    expect(conn.bufferedAmount).toBe(0);
    expect(() => conn.ref().unref()).not.toThrow();
    expect(ep.closes.length).toBe(1);
  });
});

// Last: opcodes and rsv of the wrong type reach the native layer as they are (the TypeScript layer passes them
// through), so a crash here would take the earlier results with it. A call that throws must not have queued anything.
describe('queueMsg / queueFragmented with opcode or rsv of the wrong type', () => {
  const raw = rawFixture();

  function expectRefused(what: string, call: () => void): void {
    let thrown: unknown;
    try {
      call();
    } catch (err) {
      thrown = err;
    }
    expect(thrown instanceof TypeError || thrown instanceof RangeError, `${what}: threw ${String(thrown)}`).toBe(true);
  }

  it('an opcode that is not an integer (string, null, object, 1.5, 2^32 + 1) is refused and nothing is sent', async () => {
    const { ep, peer } = await raw.open();
    for (const opcode of ['a', '1', null, {}, 1.5, 2 ** 32 + 1]) {
      expectRefused(`queueMsg opcode ${JSON.stringify(opcode)}`, () => ep.conn.queueMsg('x', opcode as number));
      expectRefused(`queueFragmented opcode ${JSON.stringify(opcode)}`, () =>
        ep.conn.queueFragmented(() => ['x', 0], opcode as number),
      );
    }
    await stillWorks(ep, peer);
    expect(peer.frames.map((f) => f.payload.toString())).toEqual(['still alive']);
  });

  it('an rsv that is not a number is refused and nothing is sent', async () => {
    const { ep, peer } = await raw.open();
    for (const rsv of ['x', null, {}]) {
      expectRefused(`queueMsgEx rsv ${JSON.stringify(rsv)}`, () => ep.conn.queueMsgEx('x', Opcode.TEXT, rsv as number));
      expectRefused(`queueFragmentedEx rsv ${JSON.stringify(rsv)}`, () =>
        ep.conn.queueFragmentedEx(() => ['x', 0], Opcode.TEXT, rsv as number),
      );
    }
    await stillWorks(ep, peer);
    expect(peer.frames.map((f) => f.payload.toString())).toEqual(['still alive']);
  });
});
