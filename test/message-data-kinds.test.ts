// queueMsg takes every kind of bytes its type allows (checked in JS, then one raw native call per kind), and a
// received message reaches onMsgRecv as a Buffer with exactly the bytes sent: a view into the thread's slab up to
// 4 KiB, a Buffer of its own above.
import { describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import { clientFrame } from './helpers/frames.js';
import { rawFixture } from './helpers/server-fixture.js';
import { waitFor } from './helpers/wait.js';

const raw = rawFixture();

describe('queueMsg data', () => {
  it('Buffer, views with an offset, wider TypedArrays, DataView, ArrayBuffer and text: the bytes as they are', async () => {
    const { ep, peer } = await raw.open();
    const backing = Buffer.from('..abcdef..');
    const wide = new Uint16Array([0x0102, 0x0304]);
    const doubles = new Float64Array([1.5, -2, 3]);
    const sent: Array<[Parameters<typeof ep.conn.queueMsg>[0], Buffer]> = [
      [Buffer.from('buffer'), Buffer.from('buffer')],
      [new Uint8Array(backing.buffer, backing.byteOffset + 2, 6), Buffer.from('abcdef')],
      [wide, Buffer.from(wide.buffer)],
      [doubles.subarray(1), Buffer.from(doubles.buffer, 8, 16)],
      [new DataView(backing.buffer, backing.byteOffset + 4, 3), Buffer.from('cde')],
      [new Uint8Array([7, 8, 9]).buffer, Buffer.from([7, 8, 9])],
      [Buffer.alloc(0), Buffer.alloc(0)],
    ];
    for (const [data] of sent) expect(ep.conn.queueMsg(data, Opcode.BINARY)).toBe(true);
    expect(ep.conn.queueMsg('héllo ✓', Opcode.TEXT)).toBe(true);
    const frames = await peer.waitFrames(sent.length + 1);
    expect(frames.map((f) => f.opcode)).toEqual([...sent.map(() => Opcode.BINARY), Opcode.TEXT]);
    sent.forEach(([, bytes], i) => expect(frames[i].payload.equals(bytes), `message ${i}`).toBe(true));
    expect(frames[sent.length].payload.toString()).toBe('héllo ✓');
  });

  it('ping and pong through queueMsg, ping() and pong(), with Uint8Array data', async () => {
    const { ep, peer } = await raw.open();
    expect(ep.conn.queueMsg(new Uint8Array([1, 2]), Opcode.PING)).toBe(true);
    expect(ep.conn.ping(new Uint8Array([3]))).toBe(true);
    expect(ep.conn.pong('p')).toBe(true);
    const frames = await peer.waitFrames(3);
    expect(frames.map((f) => [f.opcode, [...f.payload]])).toEqual([
      [Opcode.PING, [1, 2]],
      [Opcode.PING, [3]],
      [Opcode.PONG, [0x70]],
    ]);
  });
});

describe('received messages', () => {
  it('small ones as views into a shared slab, large ones as Buffers of their own, every byte as sent', async () => {
    const { ep, peer } = await raw.open();
    const sizes = [0, 1, 100, 4096, 4097, 65536, 200_000];
    const payloads = sizes.map((n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff)));
    peer.send(Buffer.concat(payloads.map((p) => clientFrame(Opcode.BINARY, p))));
    await waitFor(() => ep.messages.length === sizes.length, 5000, 'every message');
    ep.messages.forEach((m, i) => {
      expect(Buffer.isBuffer(m.data), `message ${i} is a Buffer`).toBe(true);
      expect(m.data.equals(payloads[i]), `message ${i}'s bytes`).toBe(true);
      const own = m.data.byteOffset === 0 && m.data.buffer.byteLength === m.data.length;
      if (sizes[i] > 4096) expect(own, `message ${i} has its own memory`).toBe(true);
    });
    // The small ones share one slab.
    expect(ep.messages[1].data.buffer).toBe(ep.messages[2].data.buffer);
  });
});
