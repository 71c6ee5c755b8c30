// Section 7: the closing handshake — close codes, reasons, and traffic around close.
import type { Case, Section } from '../case-types.js';
import { expectCloseReply, expectEcho, text } from '../expect.js';
import { Op, closeBody } from '../frame-codec.js';
import type { Peer } from '../peer.js';
import { textPayload } from './payloads.js';

const VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
const INVALID_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];

const b = (s: string): Buffer => Buffer.from(s);

function reasonCase(id: string, description: string, reason: Buffer, codes: number[]): Case {
  return {
    id,
    description,
    run: (p) => expectCloseReply(p, closeBody(1000, reason), codes),
  };
}

export const closeHandling: Section = {
  id: '7',
  title: 'Close handling',
  cases: [
    {
      id: '7.1.1',
      description: 'text message, then a clean close',
      run: async (p) => {
        p.send({ opcode: Op.text, payload: b('Hello World!') });
        return expectEcho(p, [text('Hello World!')]);
      },
    },
    {
      id: '7.1.2',
      description: 'two close frames in a row (the second is ignored)',
      run: async (p) => {
        p.sendClose(1000);
        p.sendClose(1000);
        return expectCloseReply(p, null, [1000]);
      },
    },
    {
      id: '7.1.3',
      description: 'close, then a ping (no pong may follow)',
      run: async (p) => {
        p.sendClose(1000);
        p.send({ opcode: Op.ping, payload: b('after close') });
        return expectCloseReply(p, null, [1000]);
      },
    },
    {
      id: '7.1.4',
      description: 'close, then a text message (not echoed)',
      run: async (p) => {
        p.sendClose(1000);
        p.send({ opcode: Op.text, payload: b('after close') });
        return expectCloseReply(p, null, [1000]);
      },
    },
    {
      id: '7.1.5',
      description: 'first fragment of a text, close, then the final fragment (not echoed)',
      run: async (p) => {
        p.send({ opcode: Op.text, payload: b('fragment1'), fin: false });
        p.sendClose(1000);
        p.send({ opcode: Op.continuation, payload: b('fragment2') });
        return expectCloseReply(p, null, [1000]);
      },
    },
    {
      id: '7.1.6',
      description: '256 KiB text, close, then a ping (the echo may or may not precede the close reply)',
      run: async (p) => {
        const big = textPayload(256 * 1024);
        p.send({ opcode: Op.text, payload: big });
        p.sendClose(1000);
        p.send({ opcode: Op.ping, payload: b('after close') });
        return expectCloseReply(p, null, [1000], { mayPrecede: [text(big)] });
      },
    },
    {
      id: '7.3.1',
      description: 'close with an empty body (answered with no code or 1000)',
      run: (p) => expectCloseReply(p, Buffer.alloc(0), [null, 1000]),
    },
    {
      id: '7.3.2',
      description: 'close with a 1-byte body',
      run: (p) => expectCloseReply(p, Buffer.from([0x03]), [1002]),
    },
    reasonCase('7.3.3', 'close 1000 with reason "Hello World!"', b('Hello World!'), [1000]),
    ...[1, 60, 122, 123].map((n, i) => reasonCase(`7.3.${4 + i}`, `close 1000 with a ${n}-byte reason`, Buffer.alloc(n, 0x2a), [1000])),
    reasonCase('7.3.8', 'close 1000 with a 124-byte reason (frame of 126 bytes)', Buffer.alloc(124, 0x2a), [1002]),
    reasonCase('7.5.1', 'close reason in valid multi-byte UTF-8 (κόσμε)', b('κόσμε'), [1000]),
    reasonCase('7.5.2', 'close reason with invalid UTF-8 (surrogate ed a0 80)', Buffer.from('cebae1bdb9cf83cebcceb5eda080656469746564', 'hex'), [1007]),
    reasonCase('7.5.3', 'close reason ending inside a sequence (e2 82)', Buffer.from('6f6b20e282', 'hex'), [1007]),
    reasonCase('7.5.4', 'close reason with an overlong NUL (c0 80)', Buffer.from('c080', 'hex'), [1007]),
    {
      id: '7.5.5',
      description: 'valid multi-byte close reason written one byte at a time',
      run: async (p) => {
        await p.writeChopped(p.frame({ opcode: Op.close, payload: closeBody(1000, 'κόσμε') }), 1, 2);
        return expectCloseReply(p, null, [1000]);
      },
    },
    {
      id: '7.5.6',
      description: 'invalid close reason (U+110000) written one byte at a time',
      run: async (p) => {
        await p.writeChopped(p.frame({ opcode: Op.close, payload: closeBody(1000, Buffer.from('6f6bf4908080', 'hex')) }), 1, 2);
        return expectCloseReply(p, null, [1007]);
      },
    },
    ...VALID_CODES.map((code, i) => ({
      id: `7.7.${i + 1}`,
      description: `close with valid code ${code} (echoed)`,
      run: (p: Peer) => expectCloseReply(p, closeBody(code), [code]),
    })),
    ...INVALID_CODES.map((code, i) => ({
      id: `7.9.${i + 1}`,
      description: `close with invalid code ${code}`,
      run: (p: Peer) => expectCloseReply(p, closeBody(code), [1002]),
    })),
  ],
};
