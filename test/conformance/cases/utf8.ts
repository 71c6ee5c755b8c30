// Section 6: text messages must be valid UTF-8 (RFC 6455 §8.1), whole or
// fragmented anywhere; invalid ones fail the connection with 1007, ideally as
// soon as the offending byte arrives (fail-fast, measured in 6.4).
import type { Case, Section } from '../case-types.js';
import { expectEcho, expectFailFast, expectFailure, text } from '../expect.js';
import { Op } from '../frame-codec.js';
import type { Peer } from '../peer.js';
import { UTF8_VECTORS } from './utf8-vectors.js';
import type { Utf8Vector } from './utf8-vectors.js';

type Split = 'whole' | 'per byte' | 'per code point';

/** Splits before every byte that does not continue a sequence (so each piece holds one code point). */
function codePointPieces(bytes: Buffer): Buffer[] {
  const pieces: Buffer[] = [];
  let start = 0;
  for (let i = 1; i <= bytes.length; i++) {
    if (i === bytes.length || (bytes[i]! & 0xc0) !== 0x80) {
      pieces.push(bytes.subarray(start, i));
      start = i;
    }
  }
  return pieces;
}

function pieces(bytes: Buffer, split: Split): Buffer[] {
  if (bytes.length === 0 || split === 'whole') return [bytes];
  if (split === 'per byte') return Array.from(bytes, (x) => Buffer.from([x]));
  return codePointPieces(bytes);
}

function sendFragmented(p: Peer, parts: Buffer[]): void {
  parts.forEach((payload, i) =>
    p.send({ opcode: i === 0 ? Op.text : Op.continuation, payload, fin: i === parts.length - 1 }));
}

function vectorCase(vec: Utf8Vector, index: number, split: Split, group: number): Case {
  const bytes = Buffer.from(vec.hex, 'hex');
  return {
    id: `6.${group}.${index + 1}`,
    description: `${vec.valid ? 'valid' : 'invalid'} UTF-8 ${vec.name} [${vec.hex.slice(0, 24)}${vec.hex.length > 24 ? '…' : ''}], ${split}`,
    run: async (p) => {
      sendFragmented(p, pieces(bytes, split));
      return vec.valid ? expectEcho(p, [text(bytes)]) : expectFailure(p, [1007]);
    },
  };
}

const KOSME = Buffer.from('κόσμε');
const hex = (h: string): Buffer => Buffer.from(h, 'hex');

/** A text message sent as fragments; the fragment at `badIndex` completes the invalid sequence. */
function failFastFragments(id: string, description: string, parts: Buffer[], badIndex: number): Case {
  return {
    id,
    description: `fail-fast: ${description} (fragments)`,
    run: async (p) => {
      const frame = (i: number) => ({ opcode: i === 0 ? Op.text : Op.continuation, payload: parts[i]!, fin: i === parts.length - 1 });
      return expectFailFast(
        p,
        () => { for (let i = 0; i <= badIndex; i++) p.send(frame(i)); },
        () => { for (let i = badIndex + 1; i < parts.length; i++) p.send(frame(i)); },
      );
    },
  };
}

/** One text frame written in chops; the chop ending at payload offset `badEnd` completes the invalid sequence. */
function failFastChopped(id: string, description: string, payload: Buffer, badEnd: number): Case {
  return {
    id,
    description: `fail-fast: ${description} (one frame, chopped)`,
    run: async (p) => {
      const f = p.frame({ opcode: Op.text, payload });
      const cut = f.length - payload.length + badEnd;
      return expectFailFast(p, () => p.write(f.subarray(0, cut)), () => p.write(f.subarray(cut)));
    },
  };
}

const EDITED = Buffer.from('edited');
const SPLITS: Split[] = ['whole', 'per byte', 'per code point'];

export const utf8: Section = {
  id: '6',
  title: 'UTF-8 handling',
  cases: [
    {
      id: '6.1.1',
      description: 'empty text message in 3 empty fragments',
      run: async (p) => {
        sendFragmented(p, [Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0)]);
        return expectEcho(p, [text('')]);
      },
    },
    ...SPLITS.flatMap((split, g) => UTF8_VECTORS.map((vec, i) => vectorCase(vec, i, split, g + 2))),
    failFastFragments('6.5.1', 'κόσμε | U+110000 (f4 90 80 80) | "edited"', [KOSME, hex('f4908080'), EDITED], 1),
    failFastFragments('6.5.2', 'κόσμε f4 | 90 | 80 80 "edited"', [Buffer.concat([KOSME, hex('f4')]), hex('90'), Buffer.concat([hex('8080'), EDITED])], 1),
    failFastFragments('6.5.3', 'κόσμε ed | a0 (surrogate) | 80 "edited"', [Buffer.concat([KOSME, hex('ed')]), hex('a0'), Buffer.concat([hex('80'), EDITED])], 1),
    failFastFragments('6.5.4', 'κόσμε | c0 (overlong start) | af "edited"', [KOSME, hex('c0'), Buffer.concat([hex('af'), EDITED])], 1),
    failFastChopped('6.5.5', 'κόσμε f4 90 | 80 80 "edited"', Buffer.concat([KOSME, hex('f4908080'), EDITED]), KOSME.length + 2),
    failFastChopped('6.5.6', 'κόσμε ff | "edited"', Buffer.concat([KOSME, hex('ff'), EDITED]), KOSME.length + 1),
    failFastChopped('6.5.7', 'κόσμε e0 80 (overlong) | "edited"', Buffer.concat([KOSME, hex('e080'), EDITED]), KOSME.length + 2),
    {
      id: '6.6.1',
      description: 'valid text split inside a 4-byte sequence, fragments sent 20 ms apart',
      run: async (p) => {
        const all = Buffer.from('ab😀cd');
        p.send({ opcode: Op.text, payload: all.subarray(0, 3), fin: false });
        await new Promise((r) => setTimeout(r, 20));
        p.send({ opcode: Op.continuation, payload: all.subarray(3, 5), fin: false });
        await new Promise((r) => setTimeout(r, 20));
        p.send({ opcode: Op.continuation, payload: all.subarray(5) });
        return expectEcho(p, [text(all)]);
      },
    },
    {
      id: '6.6.2',
      description: 'text ending inside a sequence (final fragment ends with e2 82)',
      run: async (p) => {
        sendFragmented(p, [Buffer.from('price: '), hex('e282')]);
        return expectFailure(p, [1007]);
      },
    },
  ],
};
