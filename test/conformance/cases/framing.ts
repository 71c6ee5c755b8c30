// Section 1: framing — every payload length encoding, chopped writes, masking.
import type { Case, Section } from '../case-types.js';
import { binary, expectEcho, expectFailure, expectRejection, text } from '../expect.js';
import { Op } from '../frame-codec.js';
import type { LengthEncoding } from '../frame-codec.js';
import { binaryPayload, sizeLabel, textPayload } from './payloads.js';

const LENGTHS = [0, 125, 126, 127, 128, 65535, 65536, 1 << 20];

function lengthCases(group: string, opcode: number): Case[] {
  const make = opcode === Op.text ? textPayload : binaryPayload;
  const expect = opcode === Op.text ? text : binary;
  const kind = opcode === Op.text ? 'text' : 'binary';
  const cases: Case[] = LENGTHS.map((n, i) => ({
    id: `${group}.${i + 1}`,
    description: `${kind} message of ${sizeLabel(n)}`,
    run: async (p) => {
      p.send({ opcode, payload: make(n) });
      return expectEcho(p, [expect(make(n))]);
    },
  }));
  cases.push({
    id: `${group}.${LENGTHS.length + 1}`,
    description: `${kind} message of 64 KiB written in 997-byte chops with 1 ms pauses`,
    run: async (p) => {
      await p.writeChopped(p.frame({ opcode, payload: make(65536) }), 997, 1);
      return expectEcho(p, [expect(make(65536))]);
    },
  });
  return cases;
}

function nonMinimal(id: string, n: number, length: LengthEncoding): Case {
  return {
    id,
    description: `text message of ${n} B with a non-minimal ${length}-bit length field`,
    run: async (p) => {
      p.send({ opcode: Op.text, payload: textPayload(n), length });
      return expectRejection(p, [text(textPayload(n))], 'accepted a non-minimal length (RFC 6455 §5.2: the minimal encoding MUST be used)');
    },
  };
}

export const framing: Section = {
  id: '1',
  title: 'Framing',
  cases: [
    ...lengthCases('1.1', Op.text),
    ...lengthCases('1.2', Op.binary),
    nonMinimal('1.3.1', 0, 16),
    nonMinimal('1.3.2', 125, 16),
    nonMinimal('1.3.3', 125, 64),
    nonMinimal('1.3.4', 65535, 64),
    {
      id: '1.3.5',
      description: '64-bit length with the most significant bit set',
      run: async (p) => {
        p.send({ opcode: Op.binary, payload: Buffer.from('abc'), length: 64, declaredLength: (1n << 63n) | 3n });
        return expectFailure(p, [1002]);
      },
    },
    {
      id: '1.4.1',
      description: 'frame with the wrong masking for the sender (unmasked from a client, masked from a server)',
      run: async (p) => {
        p.send({ opcode: Op.text, payload: Buffer.from('Hello'), mask: !p.masks });
        return expectFailure(p, [1002]);
      },
    },
    {
      id: '1.4.2',
      description: 'valid text, then a wrongly masked text',
      run: async (p) => {
        p.send({ opcode: Op.text, payload: Buffer.from('first') });
        p.send({ opcode: Op.text, payload: Buffer.from('second'), mask: !p.masks });
        return expectFailure(p, [1002], { before: [text('first')] });
      },
    },
    {
      id: '1.4.3',
      description: 'masked with an all-zero key (legal: the key value is not checked)',
      sides: ['server'],
      run: async (p) => {
        p.send({ opcode: Op.text, payload: Buffer.from('zero key'), maskKey: Buffer.alloc(4) });
        return expectEcho(p, [text('zero key')]);
      },
    },
    {
      id: '1.5.1',
      description: 'small text frame written one byte at a time with 2 ms pauses',
      run: async (p) => {
        await p.writeChopped(p.frame({ opcode: Op.text, payload: Buffer.from('byte by byte') }), 1, 2);
        return expectEcho(p, [text('byte by byte')]);
      },
    },
    {
      id: '1.5.2',
      description: '16-bit length frame whose header is split inside the length field',
      run: async (p) => {
        const f = p.frame({ opcode: Op.binary, payload: binaryPayload(300) });
        await p.writeChopped(f.subarray(0, 3), 1, 5);
        await p.writeChopped(f.subarray(3), 150, 5);
        return expectEcho(p, [binary(binaryPayload(300))]);
      },
    },
    {
      id: '1.5.3',
      description: '64-bit length frame whose header is split inside the length field',
      run: async (p) => {
        const f = p.frame({ opcode: Op.binary, payload: binaryPayload(70000) });
        await p.writeChopped(f.subarray(0, 6), 2, 5);
        p.write(f.subarray(6));
        return expectEcho(p, [binary(binaryPayload(70000))]);
      },
    },
    {
      id: '1.6.1',
      description: '20 text messages coalesced in one TCP write',
      run: async (p) => {
        const msgs = Array.from({ length: 20 }, (_, i) => textPayload(i * 10, i + 1));
        p.write(Buffer.concat(msgs.map((m) => p.frame({ opcode: Op.text, payload: m }))));
        return expectEcho(p, msgs.map((m) => text(m)));
      },
    },
  ],
};
