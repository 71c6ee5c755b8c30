// A peer that resets the TCP connection in the middle of a frame: inside the header, inside the extended length,
// inside a large payload while our side is also sending, and inside a compressed message. onClose(1006) fires exactly
// once, nothing partial is delivered, and the process goes on serving new connections.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import { echo, type ConnectionOptions } from './helpers/endpoint.js';
import { clientFrame, encodeFrame } from './helpers/frames.js';
import { rawClient } from './helpers/raw-peer.js';
import { rawFixture } from './helpers/server-fixture.js';
import { delay, waitFor, within } from './helpers/wait.js';
import { DEFAULT_DEFLATE, deflatedZeros } from './hostile/crafted.js';

const raw = rawFixture();

async function resetAfter(
  bytes: Buffer,
  options: ConnectionOptions = echo(),
  { buffering = true, peerReads = true } = {},
) {
  const { server, peer, ep } = await raw.open(options, { read: peerReads });
  peer.send(clientFrame(Opcode.TEXT, 'before'));
  await waitFor(() => ep.messages.length === 1);
  peer.send(bytes);
  await delay(50); // the partial frame arrives and is parsed as far as it goes
  peer.socket.resetAndDestroy();
  const closed = await within(ep.closed, 3000, 'onClose after the reset');
  await delay(100);
  expect(closed.code).toBe(1006);
  expect(closed.info.wasClean).toBe(false);
  expect(ep.closes.length).toBe(1);
  // Without buffering onMsgRecv carries no data (it came through the frame callbacks).
  expect(ep.messages.map((m) => m.opcode)).toEqual([Opcode.TEXT]);
  if (buffering) expect(ep.messages[0].data.toString()).toBe('before');
  expect(ep.conn.readyState).toBe('closed');
  // The server still serves a new connection.
  const next = await rawClient(server.port);
  next.send(clientFrame(Opcode.TEXT, 'next'));
  const [reply] = await next.waitFrames(1);
  expect(reply.payload.toString()).toBe(buffering ? 'next' : '');
  next.destroy();
  return closed;
}

describe('peer resets mid-frame', () => {
  it('after the first header byte', async () => {
    await resetAfter(clientFrame(Opcode.BINARY, Buffer.alloc(10)).subarray(0, 1));
  });

  it('inside the 8-byte extended length', async () => {
    await resetAfter(clientFrame(Opcode.BINARY, Buffer.alloc(70_000)).subarray(0, 6));
  });

  it('inside the masking key', async () => {
    await resetAfter(clientFrame(Opcode.TEXT, 'abc').subarray(0, 4));
  });

  it('inside a 1 MiB payload, without buffering', async () => {
    await resetAfter(clientFrame(Opcode.BINARY, randomBytes(1 << 20)).subarray(0, 300_000), {
      buffering: false,
      onFrameRecvChunk() {},
      onMsgRecv(_rsv, opcode, msg) {
        if (opcode === Opcode.TEXT) this.queueMsg(msg);
      },
    }, { buffering: false });
  });

  it('inside a payload while the server has a large backlog to send', async () => {
    const closed = await resetAfter(clientFrame(Opcode.BINARY, randomBytes(200_000)).subarray(0, 100_000), {
      onMsgRecv(_rsv, opcode, msg) {
        if (opcode !== Opcode.TEXT) return;
        this.queueMsg(msg);
        for (let i = 0; i < 32; i++) this.queueMsg(Buffer.alloc(256 * 1024), Opcode.BINARY);
      },
    }, { peerReads: false });
    expect(closed.info.unsentBytes).toBeGreaterThan(0);
  });

  it('inside a compressed message (permessage-deflate)', async () => {
    const compressed = await deflatedZeros(4 << 20);
    const frame = encodeFrame({ opcode: Opcode.BINARY, rsv: 4, payload: compressed, mask: true });
    await resetAfter(frame.subarray(0, Math.floor(frame.length / 2)), echo({ perMessageDeflate: DEFAULT_DEFLATE }));
  });
});
