// maxRecvSize: a message (or, without buffering, a frame) over the limit fails the connection with 1009: the
// peer gets a close frame with 1009 and onClose reports 1009. At the limit, the message is delivered.
import { describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import type { ConnectionOptions } from './helpers/endpoint.js';
import { closeCode, encodeFrame } from './helpers/frames.js';
import { rawFixture, wsFixture } from './helpers/server-fixture.js';
import { waitFor, within } from './helpers/wait.js';
import { DEFAULT_DEFLATE, deflatedFrames } from './hostile/crafted.js';

const LIMIT = 1000;

describe('maxRecvSize', () => {
  const ws = wsFixture();
  const setup = (options: ConnectionOptions = {}) => ws.open({ maxRecvSize: LIMIT, ...options });

  it('delivers a message of exactly maxRecvSize bytes', async () => {
    const { ep, peer: client } = await setup();
    client.ws.send(Buffer.alloc(LIMIT, 1));
    await waitFor(() => ep.messages.length === 1);
    expect(ep.messages[0].data.length).toBe(LIMIT);
    expect(ep.conn.readyState).toBe('open');
  });

  it('one byte over: the peer gets close 1009 and onClose gets 1009', async () => {
    const { ep, peer: client } = await setup();
    client.ws.send(Buffer.alloc(LIMIT + 1, 1));
    const peerClose = await within(client.closed, 3000, 'the ws client to see the close');
    expect(peerClose.code).toBe(1009);
    const closed = await within(ep.closed, 3000, 'onClose');
    expect(closed.code).toBe(1009);
    expect(closed.info.code).toBe(1009);
    expect(closed.info.sentCode).toBe(1009);
    expect(ep.messages.length).toBe(0);
    expect(ep.closes.length).toBe(1);
  });

  it('counts the whole fragmented message, not each frame', async () => {
    const { ep, peer: client } = await setup();
    client.ws.send(Buffer.alloc(600, 1), { fin: false, binary: true });
    client.ws.send(Buffer.alloc(600, 2), { fin: true, binary: true });
    expect((await within(client.closed, 3000, 'peer close')).code).toBe(1009);
    expect((await within(ep.closed, 3000, 'onClose')).code).toBe(1009);
    expect(ep.messages.filter((m) => m.opcode === Opcode.BINARY).length).toBe(0);
  });

  it('applies to a frame when buffering is off', async () => {
    const { ep, peer: client } = await setup({ buffering: false, onFrameRecvChunk() {} });
    client.ws.send(Buffer.alloc(LIMIT + 500, 1));
    expect((await within(client.closed, 3000, 'peer close')).code).toBe(1009);
    expect((await within(ep.closed, 3000, 'onClose')).code).toBe(1009);
  });

  it('defaults to 64 MiB: a 2 MiB message is accepted', async () => {
    const { ep, peer: client } = await ws.open();
    client.ws.send(Buffer.alloc(2 * 1024 * 1024));
    await waitFor(() => ep.messages.length === 1, 10_000);
    expect(ep.messages[0].data.length).toBe(2 * 1024 * 1024);
  });

  it('rejects a negative or fractional maxRecvSize with a RangeError', async () => {
    const { WebSocketConnection } = await import('../src/index.js');
    expect(() => new WebSocketConnection({ fd: 0, maxRecvSize: -1 })).toThrow(RangeError);
    expect(() => new WebSocketConnection({ fd: 0, maxRecvSize: 1.5 })).toThrow(RangeError);
  });
});

// Without buffering the limit is on each frame, for plain and for compressed data alike (a compressed frame's
// inflated bytes): the message as a whole may be larger, since the application receives it chunk by chunk.
describe('maxRecvSize without buffering: per frame', () => {
  const raw = rawFixture();

  async function sendFrames(payloads: Buffer[], compressed: boolean) {
    const chunks: Buffer[] = [];
    const { ep, peer } = await raw.open({
      buffering: false,
      maxRecvSize: LIMIT,
      perMessageDeflate: compressed ? DEFAULT_DEFLATE : undefined,
      onFrameRecvChunk(data) {
        chunks.push(Buffer.from(data));
      },
    });
    payloads.forEach((payload, i) => {
      peer.send(encodeFrame({
        opcode: i === 0 ? Opcode.BINARY : Opcode.CONTINUATION,
        rsv: compressed && i === 0 ? 4 : 0,
        payload,
        fin: i === payloads.length - 1,
        mask: true,
      }));
    });
    return { ep, peer, chunks };
  }

  const parts = [Buffer.alloc(LIMIT, 1), Buffer.alloc(LIMIT, 2), Buffer.alloc(LIMIT, 3)];

  it('plain: three frames of maxRecvSize bytes each are delivered', async () => {
    const { ep, chunks } = await sendFrames(parts, false);
    await waitFor(() => Buffer.concat(chunks).length === 3 * LIMIT, 3000, 'every chunk');
    expect(Buffer.concat(chunks).equals(Buffer.concat(parts))).toBe(true);
    expect(ep.conn.readyState).toBe('open');
  });

  it('plain: a frame one byte over fails with 1009', async () => {
    const { ep, peer } = await sendFrames([Buffer.alloc(LIMIT + 1)], false);
    const frame = await peer.waitClose(3000);
    expect(frame && closeCode(frame)).toBe(1009);
    expect((await within(ep.closed, 3000, 'onClose')).code).toBe(1009);
  });

  it('compressed: three frames inflating to maxRecvSize bytes each are delivered', async () => {
    const { ep, chunks } = await sendFrames(await deflatedFrames(parts), true);
    await waitFor(() => Buffer.concat(chunks).length === 3 * LIMIT || ep.closes.length > 0, 3000, 'every chunk');
    expect(ep.closes).toEqual([]);
    expect(Buffer.concat(chunks).equals(Buffer.concat(parts))).toBe(true);
    expect(ep.conn.readyState).toBe('open');
  });

  it('compressed: a frame inflating to one byte over fails with 1009', async () => {
    const { ep, peer } = await sendFrames(await deflatedFrames([Buffer.alloc(LIMIT), Buffer.alloc(LIMIT + 1)]), true);
    const frame = await peer.waitClose(3000);
    expect(frame && closeCode(frame)).toBe(1009);
    expect((await within(ep.closed, 3000, 'onClose')).code).toBe(1009);
  });
});
