// Section 3: RSV1–3 set without a negotiated extension must fail the connection (1002).
import type { Case, Section } from '../case-types.js';
import { expectFailure, text } from '../expect.js';
import { Op, closeBody } from '../frame-codec.js';
import type { FrameSpec } from '../frame-codec.js';
import type { Peer } from '../peer.js';

interface Carrier {
  name: string;
  /** Frames sent before the bad one (echoed first), then the bad frame itself. */
  lead: FrameSpec[];
  bad: FrameSpec;
  before: string[];
}

const CARRIERS: Carrier[] = [
  { name: 'text', lead: [{ opcode: Op.text, payload: Buffer.from('valid') }], bad: { opcode: Op.text, payload: Buffer.from('Hello') }, before: ['valid'] },
  { name: 'binary', lead: [], bad: { opcode: Op.binary, payload: Buffer.from([0, 1, 2, 3]) }, before: [] },
  { name: 'ping', lead: [], bad: { opcode: Op.ping, payload: Buffer.from('ping') }, before: [] },
  { name: 'pong', lead: [], bad: { opcode: Op.pong, payload: Buffer.from('pong') }, before: [] },
  { name: 'close', lead: [], bad: { opcode: Op.close, payload: closeBody(1000) }, before: [] },
  {
    name: 'continuation',
    lead: [{ opcode: Op.text, payload: Buffer.from('frag1'), fin: false }],
    bad: { opcode: Op.continuation, payload: Buffer.from('frag2') },
    before: [],
  },
];

function rsvCase(rsv: number, c: Carrier, i: number): Case {
  const bits = [4, 2, 1].filter((b) => rsv & b).map((b) => `RSV${b === 4 ? 1 : b === 2 ? 2 : 3}`).join('+');
  return {
    id: `3.${rsv}.${i + 1}`,
    description: `${bits} on a ${c.name} frame without an extension, followed by a ping`,
    run: async (p: Peer) => {
      for (const f of c.lead) p.send(f);
      p.send({ ...c.bad, rsv });
      p.send({ opcode: Op.ping, payload: Buffer.from('after') });
      return expectFailure(p, [1002], { before: c.before.map((b) => text(b)) });
    },
  };
}

export const reservedBits: Section = {
  id: '3',
  title: 'Reserved bits',
  cases: [1, 2, 3, 4, 5, 6, 7].flatMap((rsv) => CARRIERS.map((c, i) => rsvCase(rsv, c, i))),
};
