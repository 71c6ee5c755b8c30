// A peer that resets the TCP connection (RST) in the middle of a message: onClose(1006) fires exactly once, the
// partial message is never delivered, and the connection is closed on our side.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import { connectClient } from './helpers/client.js';
import { echo, type ConnectionOptions, type Endpoint } from './helpers/endpoint.js';
import { clientFrame, encodeFrame } from './helpers/frames.js';
import { startRawServer, type RawServer } from './helpers/raw-peer.js';
import { rawFixture } from './helpers/server-fixture.js';
import { delay, waitFor, within } from './helpers/wait.js';

describe('peer resets mid-message (our server)', () => {
  const raw = rawFixture();

  async function resetMidMessage(options: ConnectionOptions): Promise<Endpoint> {
    const { ep, peer } = await raw.open(options);
    peer.send(clientFrame(Opcode.TEXT, 'complete'));
    await waitFor(() => ep.messages.length === 1);
    const frame = clientFrame(Opcode.BINARY, randomBytes(200_000));
    peer.send(frame.subarray(0, 70_000));
    await delay(30); // let the first part arrive and be parsed
    peer.socket.resetAndDestroy();
    return ep;
  }

  it('buffering on: onClose(1006) once, the partial message never delivered', async () => {
    const ep = await resetMidMessage(echo());
    const { code, info } = await within(ep.closed, 3000, 'onClose after a reset');
    expect(code).toBe(1006);
    expect(info.wasClean).toBe(false);
    await delay(100);
    expect(ep.closes.length).toBe(1);
    expect(ep.messages.map((m) => m.opcode)).toEqual([Opcode.TEXT]);
    expect(ep.conn.readyState).toBe('closed');
  });

  it('buffering off, inside a frame: onClose(1006) once, the frame never ends', async () => {
    const events: string[] = [];
    const ep = await resetMidMessage({
      buffering: false,
      onFrameRecvStart: () => void events.push('start'),
      onFrameRecvChunk: () => void (events.at(-1) !== 'chunk' && events.push('chunk')),
      onFrameRecvEnd: () => void events.push('end'),
    });
    expect((await within(ep.closed, 3000, 'onClose')).code).toBe(1006);
    await delay(100);
    expect(ep.closes.length).toBe(1);
    // The text frame started and ended; the binary one started, got data, and never ended.
    expect(events).toEqual(['start', 'chunk', 'end', 'start', 'chunk']);
  });

  it('a reset while our side is sending: onClose(1006) once with an errno', async () => {
    const { ep, peer } = await raw.open({}, { read: false });
    for (let i = 0; i < 16; i++) ep.conn.queueMsg(Buffer.alloc(1024 * 1024), Opcode.BINARY);
    await waitFor(() => ep.conn.bufferedAmount < 16 * 1024 * 1024, 3000, 'some sending');
    peer.socket.resetAndDestroy();
    const { code, info } = await within(ep.closed, 3000, 'onClose');
    expect(code).toBe(1006);
    expect(info.unsentBytes).toBeGreaterThan(0);
    expect(info.errno).toBeGreaterThan(0); // ECONNRESET or EPIPE
    await delay(100);
    expect(ep.closes.length).toBe(1);
  });
});

describe('server resets mid-message (our client)', () => {
  let raw: RawServer;

  afterEach(async () => {
    await raw?.stop();
  });

  it('onClose(1006) once', async () => {
    raw = await startRawServer();
    const ep = await connectClient(raw.port);
    const peer = await raw.nextPeer();
    const frame = encodeFrame({ opcode: Opcode.TEXT, payload: 'x'.repeat(100_000) });
    peer.send(frame.subarray(0, 50_000));
    await delay(30);
    peer.socket.resetAndDestroy();
    expect((await within(ep.closed, 3000, 'onClose')).code).toBe(1006);
    await delay(100);
    expect(ep.closes.length).toBe(1);
    expect(ep.messages.length).toBe(0);
  });
});
