// Section 9: large messages, many fragments, many small writes and round trips.
// Sizes follow Autobahn's section 9 but the round-trip counts are cut so the
// whole suite stays within about a minute on CI.
import type { Case, Section } from '../case-types.js';
import { binary, expectEcho, text } from '../expect.js';
import type { Expected } from '../expect.js';
import { Op } from '../frame-codec.js';
import type { Peer } from '../peer.js';
import { KiB, MiB, binaryPayload, sizeLabel, textPayload } from './payloads.js';

const BIG = 30_000;

type Kind = 'text' | 'binary';
const body = (kind: Kind, n: number): Buffer => (kind === 'text' ? textPayload(n) : binaryPayload(n));
const expected = (kind: Kind, data: Buffer): Expected => (kind === 'text' ? text(data) : binary(data));
const opcode = (kind: Kind): number => (kind === 'text' ? Op.text : Op.binary);

function bigMessages(group: string, kind: Kind): Case[] {
  return [64 * KiB, 256 * KiB, MiB, 4 * MiB, 8 * MiB, 16 * MiB].map((n, i) => ({
    id: `${group}.${i + 1}`,
    description: `${kind} message of ${sizeLabel(n)}`,
    timeoutMs: BIG,
    run: async (p: Peer) => {
      const data = body(kind, n);
      p.send({ opcode: opcode(kind), payload: data });
      return expectEcho(p, [expected(kind, data)], BIG);
    },
  }));
}

function manyFragments(group: string, kind: Kind, sizes: number[]): Case[] {
  return sizes.map((frag, i) => ({
    id: `${group}.${i + 1}`,
    description: `${kind} message of 4 MiB in ${(4 * MiB) / frag} fragments of ${sizeLabel(frag)}`,
    timeoutMs: BIG,
    run: async (p: Peer) => {
      const data = body(kind, 4 * MiB);
      p.sendMessage(opcode(kind), data, { fragmentSize: frag });
      return expectEcho(p, [expected(kind, data)], BIG);
    },
  }));
}

function chopped(group: string, kind: Kind): Case[] {
  return [64, 4 * KiB, 128 * KiB].map((chop, i) => ({
    id: `${group}.${i + 1}`,
    description: `${kind} message of 1 MiB written in ${sizeLabel(chop)} chops`,
    timeoutMs: BIG,
    run: async (p: Peer) => {
      const data = body(kind, MiB);
      await p.writeChopped(p.frame({ opcode: opcode(kind), payload: data }), chop, 0);
      return expectEcho(p, [expected(kind, data)], BIG);
    },
  }));
}

function roundTrips(group: string, kind: Kind): Case[] {
  return [0, 16, 1024, 64 * KiB].map((n, i) => ({
    id: `${group}.${i + 1}`,
    description: `200 ${kind} messages of ${sizeLabel(n)}, one round trip each`,
    timeoutMs: BIG,
    run: async (p: Peer) => {
      const data = body(kind, n);
      for (let k = 0; k < 199; k++) {
        p.send({ opcode: opcode(kind), payload: data });
        const ev = await p.next(5000);
        if (ev?.type !== 'message' || !ev.data.equals(data)) {
          if (ev) p.putBack(ev);
          break; // let expectEcho describe what went wrong
        }
      }
      p.send({ opcode: opcode(kind), payload: data });
      return expectEcho(p, [expected(kind, data)]);
    },
  }));
}

const FRAGMENT_SIZES = [64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB, 4 * MiB];

export const limits: Section = {
  id: '9',
  title: 'Limits/Performance',
  cases: [
    ...bigMessages('9.1', 'text'),
    ...bigMessages('9.2', 'binary'),
    ...manyFragments('9.3', 'text', FRAGMENT_SIZES),
    ...manyFragments('9.4', 'binary', [64, 4 * KiB, MiB]),
    ...chopped('9.5', 'text'),
    ...chopped('9.6', 'binary'),
    ...roundTrips('9.7', 'text'),
    ...roundTrips('9.8', 'binary'),
  ],
};
