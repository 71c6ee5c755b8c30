#!/usr/bin/env node
// Writes the seed corpus for receive_fuzzer (fuzz/corpus/): valid frame sequences for each configuration, so the
// fuzzer starts from inputs that reach deep into the session instead of failing at the first byte. The input
// layout (5 configuration bytes, a script, the peer's bytes) is described in receive_fuzzer.cc.
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

// One message compressed on its own (as a peer without context takeover would), with a window of `bits`.
const deflate = (text, bits = 15) => {
  const c = deflateRawSync(Buffer.from(text), { finishFlush: constants.Z_SYNC_FLUSH, windowBits: Math.max(9, bits) });
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
  deflate: (m, bits) => [
    frame(1, deflate('compressed text, compressed text', bits), { rsv1: true, masked: m }),
    frame(2, deflate('x'.repeat(5000), bits), { rsv1: true, masked: m }),
  ],
};

// Byte 2: our compress window and the peer's window (bits - 8), each with its no-context-takeover bit. The peer's
// messages are compressed independently, so they inflate with or without context takeover.
const windows = (ours, peers, oursReset = false, peersReset = false) =>
  (ours - 8) | (oursReset ? 8 : 0) | ((peers - 8) << 4) | (peersReset ? 128 : 0);
// Scripts: one byte per round, high nibble = action (see Apply in receive_fuzzer.cc).
const scripts = {
  none: [],
  pause: [0x10, 0x00, 0x20],                 // stopRead, a round, startRead
  queueThenClose: [0x53, 0x65, 0x70],        // a message, a fragmented one, close(1000)
  slowReader: [0xa3, 0xb0, 0xb0, 0x5f, 0x30, 0x40, 0x71],  // reads of 280 bytes, a large message, write pause
  starve: [0x62, 0xd0, 0xc4, 0x40, 0x70],    // fragmented message, a starved source, a ping, startWrite, close
  shutdown: [0x55, 0x80, 0x90],              // a message, shutdownRead, shutdownWrite
  peerEof: [0x5a, 0xe0],                     // a message, the peer's EOF
  closePaused: [0x10, 0x70],                 // stopRead, then close(1000): the peer's close must still be read
};

let n = 0;
const write = (name, header, script, bytes) => {
  const head = Buffer.from([...header, script.length]);
  writeFileSync(join(out, `${name}.bin`), Buffer.concat([head, Buffer.from(script), ...bytes]));
  n++;
};
for (const [name, make] of Object.entries(sequences)) {
  for (const server of [true, false]) {
    for (const extra of name === 'large' ? [0, 2] : [0, 2, 8, 16, 32, 64, 128]) {
      const flags = (server ? 1 : 0) | (name === 'deflate' ? 4 : 0) | extra;
      write(`${name}-${server ? 'server' : 'client'}-${extra}`, [flags, 3, windows(15, 15), 0], [], make(server, 15));
    }
  }
}
// permessage-deflate with other windows and without context takeover, in both directions.
for (const [ours, peers, oursReset, peersReset] of [[8, 8, false, false], [9, 12, true, false], [12, 9, false, true],
  [10, 10, true, true], [15, 8, false, false], [8, 15, true, true]]) {
  for (const server of [true, false]) {
    const flags = (server ? 1 : 0) | 4;
    write(`deflate-w${ours}${oursReset ? 'r' : ''}-${peers}${peersReset ? 'r' : ''}-${server ? 'server' : 'client'}`,
      [flags, 3, windows(ours, peers, oursReset, peersReset), 128], [0x5c, 0x6d], sequences.deflate(server, peers));
  }
}
// Controls interleaved with input, with a fast and a slow peer (small socket buffer, short reads).
for (const [scriptName, script] of Object.entries(scripts)) {
  for (const slow of [false, true]) {
    for (const server of [true, false]) {
      const flags = (server ? 1 : 0) | (slow ? 64 : 0) | 4;
      write(`script-${scriptName}-${slow ? 'slow' : 'fast'}-${server ? 'server' : 'client'}`,
        [flags, 0, windows(15, 15), slow ? 0x05 : 0x20], script, [...sequences.echo(server), ...sequences.close(server)]);
    }
  }
}
// A ping that arrives while a fragmented source is starved (one byte a round, so the source starves first).
for (const server of [true, false]) {
  write(`starved-source-ping-${server ? 'server' : 'client'}`, [server ? 1 : 0, 0, windows(15, 15), 0],
    [0xd0, 0x62, 0x00, 0x00], [frame(9, 'x', { masked: server })]);
}
console.log(`wrote ${n} seeds to ${out}`);

// Seeds for differential_fuzzer (fuzz/corpus/differential/): server inputs (3 configuration bytes, the piece sizes,
// the peer's bytes; see differential_fuzzer.cc) around what the receive fast path decides: length encodings at
// their boundaries, fragments with pings between them, UTF-8 cut across frames, bad headers, deflate.
const diffOut = join(out, 'differential');
mkdirSync(diffOut, { recursive: true });
const m = { masked: true };
const euro = Buffer.from('€uro ✓ ok');  // multi-byte sequences to cut
const fast = {
  echo: sequences.echo(true),
  lengths: [125, 126, 65535, 65536].map((len) => frame(2, Buffer.alloc(len, len & 255), m)),
  fragmented: [frame(1, euro.subarray(0, 1), { ...m, fin: false }), frame(9, 'p', m),
    frame(0, euro.subarray(1, 5), { ...m, fin: false }), frame(10, '', m), frame(0, euro.subarray(5), m)],
  badUtf8: [frame(1, Buffer.from([0x61, 0xe2, 0x82]), { ...m, fin: false }), frame(0, Buffer.from([0x41]), m)],
  openUtf8: [frame(1, Buffer.from([0x61, 0xe2, 0x82]), m), frame(1, 'after', m)],
  overLimit: [frame(2, Buffer.alloc(4097, 1), m), frame(1, 'after', m)],
  unmasked: [frame(1, 'plain', { masked: false })],
  rsv2: [Buffer.concat([Buffer.from([0xa1]), frame(1, 'x', m).subarray(1)])],
  nonMinimal: [Buffer.from([0x82, 0xfe, 0x00, 0x05, 1, 2, 3, 4, 5, 6, 7, 8, 9])],
  continuationFirst: [frame(0, 'cont', m)],
  newInside: [frame(1, 'a', { ...m, fin: false }), frame(2, 'b', m)],
  close: sequences.close(true),
  deflate: sequences.deflate(true, 15),
};
let d = 0;
for (const [name, bytes] of Object.entries(fast)) {
  for (const flags of name === 'deflate' ? [1, 17, 129] : [0, 2, 4, 16, 32, 64, 128, 18]) {
    for (const [pname, pieces] of [['whole', []], ['cut', [0, 2, 6, 40]]]) {
      writeFileSync(join(diffOut, `${name}-${flags}-${pname}.bin`),
        Buffer.concat([Buffer.from([flags, 7, pieces.length, ...pieces]), ...bytes]));
      d++;
    }
  }
}
console.log(`wrote ${d} seeds to ${diffOut}`);
