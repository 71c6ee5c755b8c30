// Sections 12/13: permessage-deflate (RFC 7692), run only when the
// implementation accepts the offer (else UNIMPLEMENTED). 12: messages under the
// default parameters; 13: each parameter combination; 12.3/12.4: fragmented
// compressed messages and the ways a compressed message can be invalid.
import type { Case, DeflateSetup, Section } from '../case-types.js';
import { binary, expectEcho, expectFailure, pong, text } from '../expect.js';
import type { Expected } from '../expect.js';
import { Op } from '../frame-codec.js';
import type { Peer } from '../peer.js';
import { KiB, binaryPayload, sizeLabel, textPayload } from './payloads.js';

interface Variant {
  label: string;
  setup: DeflateSetup;
}

const DEFAULT: Variant = { label: 'default parameters', setup: { offer: 'permessage-deflate; client_max_window_bits', response: '' } };

const VARIANTS: Variant[] = [
  { label: 'client_no_context_takeover', setup: { offer: 'permessage-deflate; client_no_context_takeover; client_max_window_bits', response: 'client_no_context_takeover' } },
  { label: 'server_no_context_takeover', setup: { offer: 'permessage-deflate; server_no_context_takeover; client_max_window_bits', response: 'server_no_context_takeover' } },
  { label: 'no context takeover either way', setup: { offer: 'permessage-deflate; server_no_context_takeover; client_no_context_takeover', response: 'server_no_context_takeover; client_no_context_takeover' } },
  { label: 'max_window_bits=9', setup: { offer: 'permessage-deflate; server_max_window_bits=9; client_max_window_bits=9', response: 'client_max_window_bits=9' } },
  { label: 'two offers, the first with server_max_window_bits=10', setup: { offer: 'permessage-deflate; server_max_window_bits=10, permessage-deflate' } },
  { label: 'bare offer without parameters', setup: { offer: 'permessage-deflate' } },
];

const MESSAGES = 10;

/** Sends MESSAGES compressed messages of `size` and expects them all back. */
function burst(id: string, v: Variant, kind: 'text' | 'binary', size: number): Case {
  return {
    id,
    description: `${MESSAGES} compressed ${kind} messages of ${sizeLabel(size)}, ${v.label}`,
    deflate: v.setup,
    timeoutMs: 20_000,
    run: async (p: Peer) => {
      const want: Expected[] = [];
      for (let i = 0; i < MESSAGES; i++) {
        const data = kind === 'text' ? textPayload(size, i + 1) : binaryPayload(size, i + 1);
        p.sendMessage(kind === 'text' ? Op.text : Op.binary, data, { compress: true });
        want.push(kind === 'text' ? text(data) : binary(data));
      }
      const outcome = await expectEcho(p, want, 15_000);
      return outcome.verdict === 'OK' ? { ...outcome, reason: `${outcome.reason}; ${p.compressedReceived} came back compressed` } : outcome;
    },
  };
}

const SIZES = [16, 64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB];
const fromHex = (h: string): Buffer => Buffer.from(h, 'hex');

export const deflate: Section = {
  id: '12/13',
  title: 'permessage-deflate',
  cases: [
    ...SIZES.map((n, i) => burst(`12.1.${i + 1}`, DEFAULT, 'text', n)),
    ...SIZES.map((n, i) => burst(`12.2.${i + 1}`, DEFAULT, 'binary', n)),
    {
      id: '12.3.1',
      description: 'compressed text split into 3 frames (RSV1 on the first only)',
      deflate: DEFAULT.setup,
      run: async (p) => {
        const data = textPayload(8000);
        const z = p.deflate!.compress(data);
        const third = Math.ceil(z.length / 3);
        p.send({ opcode: Op.text, payload: z.subarray(0, third), fin: false, rsv: 4 });
        p.send({ opcode: Op.continuation, payload: z.subarray(third, 2 * third), fin: false });
        p.send({ opcode: Op.continuation, payload: z.subarray(2 * third) });
        return expectEcho(p, [text(data)]);
      },
    },
    {
      id: '12.3.2',
      description: 'compressed binary in 1-byte fragments with a ping in the middle',
      deflate: DEFAULT.setup,
      run: async (p) => {
        const data = binaryPayload(300);
        const z = p.deflate!.compress(data);
        for (let i = 0; i < z.length; i++) {
          if (i === 5) p.send({ opcode: Op.ping, payload: Buffer.from('mid') });
          p.send({ opcode: i === 0 ? Op.binary : Op.continuation, payload: z.subarray(i, i + 1), fin: i === z.length - 1, rsv: i === 0 ? 4 : 0 });
        }
        return expectEcho(p, [pong('mid'), binary(data)]);
      },
    },
    {
      id: '12.3.3',
      description: 'compressed and uncompressed messages interleaved',
      deflate: DEFAULT.setup,
      run: async (p) => {
        const want: Expected[] = [];
        for (let i = 0; i < 6; i++) {
          const data = textPayload(2000, i + 11);
          p.sendMessage(Op.text, data, { compress: i % 2 === 0 });
          want.push(text(data));
        }
        return expectEcho(p, want);
      },
    },
    {
      id: '12.3.4',
      description: 'compressed empty text message',
      deflate: DEFAULT.setup,
      run: async (p) => {
        p.sendMessage(Op.text, Buffer.alloc(0), { compress: true });
        return expectEcho(p, [text('')]);
      },
    },
    {
      id: '12.3.5',
      description: 'compressed multi-byte text, compressed fragments split inside characters',
      deflate: DEFAULT.setup,
      run: async (p) => {
        const data = Buffer.from('κόσμε 😀 漢字 '.repeat(300));
        p.sendMessage(Op.text, data, { compress: true, fragmentSize: 5 });
        return expectEcho(p, [text(data)]);
      },
    },
    {
      id: '12.4.1',
      description: 'RSV1 set on a continuation frame of a compressed message',
      deflate: DEFAULT.setup,
      run: async (p) => {
        const z = p.deflate!.compress(textPayload(2000));
        p.send({ opcode: Op.text, payload: z.subarray(0, 10), fin: false, rsv: 4 });
        p.send({ opcode: Op.continuation, payload: z.subarray(10), rsv: 4 });
        return expectFailure(p, [1002]);
      },
    },
    {
      id: '12.4.2',
      description: 'RSV1 set on a ping (control frames are never compressed)',
      deflate: DEFAULT.setup,
      run: async (p) => {
        p.send({ opcode: Op.ping, payload: Buffer.from('x'), rsv: 4 });
        return expectFailure(p, [1002]);
      },
    },
    {
      id: '12.4.3',
      description: 'RSV2 set while only permessage-deflate was negotiated',
      deflate: DEFAULT.setup,
      run: async (p) => {
        p.send({ opcode: Op.text, payload: Buffer.from('hi'), rsv: 2 });
        return expectFailure(p, [1002]);
      },
    },
    {
      id: '12.4.4',
      description: 'RSV1 message whose payload is not valid deflate data',
      deflate: DEFAULT.setup,
      run: async (p) => {
        p.send({ opcode: Op.binary, payload: fromHex('ffffffff0102'), rsv: 4 });
        return expectFailure(p, [1007, 1002]);
      },
    },
    {
      id: '12.4.5',
      description: 'compressed text that inflates to invalid UTF-8',
      deflate: DEFAULT.setup,
      run: async (p) => {
        p.sendMessage(Op.text, fromHex('cebae1bdb9cf83cebcceb5eda080656469746564'), { compress: true });
        return expectFailure(p, [1007]);
      },
    },
    ...VARIANTS.flatMap((v, vi) => [64, 4 * KiB, 64 * KiB].map((n, i) => burst(`13.${vi + 1}.${i + 1}`, v, 'text', n))),
  ],
};
