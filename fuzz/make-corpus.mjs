#!/usr/bin/env node
// Writes the seed corpus for receive_fuzzer (fuzz/corpus/): valid frame sequences for each configuration, so the
// fuzzer starts from inputs that reach deep into the session instead of failing at the first byte.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants, deflateRawSync } from 'node:zlib';

const out = join(dirname(fileURLToPath(import.meta.url)), 'corpus');
mkdirSync(out, { recursive: true });

function frame(opcode, payload, { fin = true, rsv1 = false, masked }) {
  const body = Buffer.from(payload);
  const head = [(fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode];
  const m = masked ? 0x80 : 0;
  if (body.length < 126) head.push(m | body.length);
  else if (body.length < 65536) head.push(m | 126, body.length >> 8, body.length & 255);
  else head.push(m | 127, 0, 0, 0, 0, (body.length >>> 24) & 255, (body.length >> 16) & 255, (body.length >> 8) & 255, body.length & 255);
  if (!masked) return Buffer.concat([Buffer.from(head), body]);
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const data = Buffer.from(body.map((b, i) => b ^ key[i & 3]));
  return Buffer.concat([Buffer.from(head), key, data]);
}

const deflate = (text) => {
  const c = deflateRawSync(Buffer.from(text), { finishFlush: constants.Z_SYNC_FLUSH });
  return c.subarray(0, c.length - 4);
};

const sequences = {
  echo: (m) => [frame(1, 'hello', { masked: m }), frame(2, Buffer.alloc(300, 7), { masked: m })],
  fragmented: (m) => [
    frame(1, 'frag', { fin: false, masked: m }),
    frame(9, 'ping', { masked: m }),
    frame(0, 'mented ✓', { masked: m }),
  ],
  close: (m) => [frame(1, 'bye', { masked: m }), frame(8, Buffer.from([0x03, 0xe8, 0x6f, 0x6b]), { masked: m })],
  close1012: (m) => [frame(8, Buffer.from([0x03, 0xf4]), { masked: m })],
  large: (m) => [frame(2, Buffer.alloc(70000, 1), { masked: m })],
  deflate: (m) => [
    frame(1, deflate('compressed text, compressed text'), { rsv1: true, masked: m }),
    frame(2, deflate('x'.repeat(5000)), { rsv1: true, masked: m }),
  ],
};

let n = 0;
for (const [name, make] of Object.entries(sequences)) {
  for (const server of [true, false]) {
    for (const extra of name === 'large' ? [0, 2] : [0, 2, 8, 16, 32, 64, 128]) {
      const flags = (server ? 1 : 0) | (name === 'deflate' ? 4 : 0) | extra;
      const bytes = Buffer.concat([Buffer.from([flags, 3]), ...make(server)]);
      writeFileSync(join(out, `${name}-${server ? 'server' : 'client'}-${extra}.bin`), bytes);
      n++;
    }
  }
}
console.log(`wrote ${n} seeds to ${out}`);
