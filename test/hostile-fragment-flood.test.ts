// A flood of 1-byte fragments: up to maxFragments the message is assembled and echoed whole; one more fragment fails
// the connection with 1009 (peer and onClose). Checked on both sides of a small limit, and with the default limit
// for many thousands of fragments sent in one burst.
import { describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import { echo } from './helpers/endpoint.js';
import { closeCode, encodeFrame } from './helpers/frames.js';
import { rawFixture } from './helpers/server-fixture.js';
import { within } from './helpers/wait.js';

const raw = rawFixture();

/** One message of `count` 1-byte fragments ('a', 'b', …), all in one buffer: one burst on the wire. */
function fragments(count: number): { wire: Buffer; text: string } {
  const frames: Buffer[] = [];
  let text = '';
  for (let i = 0; i < count; i++) {
    const ch = String.fromCharCode(97 + (i % 26));
    text += ch;
    frames.push(encodeFrame({ opcode: i === 0 ? Opcode.TEXT : Opcode.CONTINUATION, payload: ch, fin: i === count - 1, mask: true }));
  }
  return { wire: Buffer.concat(frames), text };
}

async function flood(count: number, maxFragments?: number) {
  const { ep, peer } = await raw.open(echo(maxFragments === undefined ? {} : { maxFragments }));
  const { wire, text } = fragments(count);
  peer.send(wire);
  return { ep, peer, text };
}

describe('1-byte fragment flood', () => {
  const LIMIT = 64;

  it(`exactly maxFragments (${LIMIT}) fragments: assembled and echoed whole`, async () => {
    const { ep, peer, text } = await flood(LIMIT, LIMIT);
    const [reply] = await peer.waitFrames(1);
    expect(reply.opcode).toBe(Opcode.TEXT);
    expect(reply.fin).toBe(true);
    expect(reply.payload.toString()).toBe(text);
    expect(ep.conn.readyState).toBe('open');
  });

  it(`maxFragments + 1 fragments: 1009 to the peer and to onClose, nothing delivered`, async () => {
    const { ep, peer } = await flood(LIMIT + 1, LIMIT);
    const frame = await peer.waitClose(3000);
    expect(frame && closeCode(frame)).toBe(1009);
    const closed = await within(ep.closed, 3000, 'onClose');
    expect(closed.code).toBe(1009);
    expect(ep.messages).toEqual([]);
  });

  it('20,000 fragments under the default limit: echoed whole', async () => {
    const { ep, peer, text } = await flood(20_000);
    const [reply] = await peer.waitFrames(1, 10_000);
    expect(reply.payload.length).toBe(20_000);
    expect(reply.payload.toString()).toBe(text);
    expect(ep.conn.readyState).toBe('open');
  });

  it('an endless fragmented message (200,000 fragments, never final) fails at the default limit with 1009', async () => {
    const { ep, peer } = await raw.open(echo());
    const one = encodeFrame({ opcode: Opcode.CONTINUATION, payload: 'x', fin: false, mask: Buffer.from([1, 2, 3, 4]) });
    peer.send(encodeFrame({ opcode: Opcode.BINARY, payload: 'x', fin: false, mask: true }));
    // 10,000 fragments a write, until the connection fails or 200,000 were sent.
    const batch = Buffer.concat(Array.from({ length: 10_000 }, () => one));
    for (let sent = 0; sent < 200_000 && ep.closes.length === 0 && !peer.ended; sent += 10_000) {
      peer.send(batch);
      await new Promise((resolve) => setImmediate(resolve));
    }
    const closed = await within(ep.closed, 10_000, 'onClose');
    expect(closed.code).toBe(1009);
    const frame = await peer.waitClose(3000);
    expect(frame && closeCode(frame)).toBe(1009);
  });
});
