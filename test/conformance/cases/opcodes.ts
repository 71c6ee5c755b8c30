// Section 4: reserved opcodes 3–7 (data) and 11–15 (control) must fail the connection (1002).
import type { Case, Section } from '../case-types.js';
import { expectFailure, text } from '../expect.js';
import { Op } from '../frame-codec.js';

const RESERVED = [3, 4, 5, 6, 7, 11, 12, 13, 14, 15];

function opcodeCases(opcode: number): Case[] {
  const group = opcode < 8 ? '4.1' : '4.2';
  const kind = opcode < 8 ? 'non-control' : 'control';
  return [
    {
      id: `${group}.${opcode}.1`,
      description: `empty frame with reserved ${kind} opcode ${opcode}`,
      run: async (p) => {
        p.send({ opcode });
        return expectFailure(p, [1002]);
      },
    },
    {
      id: `${group}.${opcode}.2`,
      description: `valid text, then reserved opcode ${opcode} with payload, then a ping`,
      run: async (p) => {
        p.send({ opcode: Op.text, payload: Buffer.from('Hello') });
        p.send({ opcode, payload: Buffer.from('reserved opcode payload') });
        p.send({ opcode: Op.ping });
        return expectFailure(p, [1002], { before: [text('Hello')] });
      },
    },
  ];
}

export const opcodes: Section = {
  id: '4',
  title: 'Opcodes',
  cases: RESERVED.flatMap(opcodeCases),
};
