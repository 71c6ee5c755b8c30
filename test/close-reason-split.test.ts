// A valid close reason that reaches us in two pieces is accepted (wslay 1.1.1 checks a close reason's UTF-8 from
// offset 2 of every chunk of the frame, so a split one was answered 1007): the binding hands a control frame to
// wslay whole. One ordinary write makes the split (wslay reads 4 KiB at a time); so does a close frame cut across
// two TCP segments. Also from the `ws` package, whose close() follows a message in the same write.
import { describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import { echo } from './helpers/endpoint.js';
import { clientFrame, closeCode, closePayload } from './helpers/frames.js';
import { rawFixture, wsFixture } from './helpers/server-fixture.js';
import { delay, within } from './helpers/wait.js';

const raw = rawFixture();
const ws = wsFixture();
const REASON = '€AB';

describe('a close reason split across reads', () => {
  it('a 4078-byte message and close(1000, "€AB") in one write: the message is echoed, the close answered 1000', async () => {
    const { ep, peer } = await raw.open(echo());
    const message = Buffer.alloc(4078, 'm');
    peer.send(Buffer.concat([clientFrame(Opcode.BINARY, message), clientFrame(Opcode.CLOSE, closePayload(1000, REASON))]));
    const frame = await peer.waitClose(3000);
    expect(frame && closeCode(frame)).toBe(1000);
    const closed = await within(ep.closed, 3000, 'onClose');
    expect(closed.code).toBe(1000);
    expect(closed.info.reason).toBe(REASON);
    expect(ep.messages.filter((m) => m.opcode === Opcode.BINARY).map((m) => m.data.length)).toEqual([4078]);
    expect(peer.frames.find((f) => f.opcode === Opcode.BINARY)?.payload.equals(message)).toBe(true);
  });

  it('every split point of the close frame across two TCP writes: answered 1000 with the reason', async () => {
    const close = clientFrame(Opcode.CLOSE, closePayload(1000, REASON));
    for (let cut = 1; cut < close.length; cut++) {
      const { ep, peer } = await raw.open(echo());
      peer.socket.setNoDelay(true);
      peer.send(Buffer.concat([clientFrame(Opcode.TEXT, 'before'), close.subarray(0, cut)]));
      await delay(20);
      peer.send(close.subarray(cut));
      const frame = await peer.waitClose(3000);
      expect({ cut, code: frame && closeCode(frame) }).toEqual({ cut, code: 1000 });
      const closed = await within(ep.closed, 3000, 'onClose');
      expect({ cut, code: closed.code, reason: closed.info.reason }).toEqual({ cut, code: 1000, reason: REASON });
      expect(ep.messages.map((m) => m.data.toString())).toEqual(['before']);
      peer.destroy();
    }
  });

  it('a ping split across writes in the middle of a fragmented message is answered whole', async () => {
    const { ep, peer } = await raw.open(echo());
    const ping = clientFrame(Opcode.PING, 'ping payload');
    peer.send(Buffer.concat([clientFrame(Opcode.TEXT, 'frag-', false), ping.subarray(0, 5)]));
    await delay(20);
    peer.send(Buffer.concat([ping.subarray(5), clientFrame(Opcode.CONTINUATION, 'ment')]));
    const frames = await peer.waitFrames(2, 3000);
    expect(frames.map((f) => [f.opcode, f.payload.toString()])).toEqual([
      [Opcode.PONG, 'ping payload'],
      [Opcode.TEXT, 'frag-ment'],
    ]);
    expect(ep.conn.readyState).toBe('open');
  });

  it('from ws: send(4078 bytes) then close(1000, "€AB"): closes with 1000 and the reason', async () => {
    const { ep, peer: client } = await ws.open(echo());
    client.ws.send(Buffer.alloc(4078, 1));
    client.ws.close(1000, REASON);
    const peerClose = await within(client.closed, 3000, 'the ws client to see the close');
    expect(peerClose.code).toBe(1000);
    const closed = await within(ep.closed, 3000, 'onClose');
    expect(closed.code).toBe(1000);
    expect(closed.info.reason).toBe(REASON);
  });
});
