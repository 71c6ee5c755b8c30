// Section 5: fragmented messages, control frames between fragments, and every
// way a fragment sequence can be broken.
import type { Section } from '../case-types.js';
import { binary, expectEcho, expectFailure, pong, text } from '../expect.js';
import { Op } from '../frame-codec.js';
import type { FrameSpec } from '../frame-codec.js';
import { sleep } from '../peer.js';
import type { Peer } from '../peer.js';

const b = (s: string): Buffer => Buffer.from(s);
const first = (payload: string, opcode: number = Op.text): FrameSpec => ({ opcode, payload: b(payload), fin: false });
const cont = (payload: string, fin = true): FrameSpec => ({ opcode: Op.continuation, payload: b(payload), fin });
const ping = (payload: string): FrameSpec => ({ opcode: Op.ping, payload: b(payload) });

/** Sends frames one TCP write each, with `delayMs` between them, or each chopped into 1-byte writes. */
async function sendFrames(p: Peer, frames: FrameSpec[], how: 'burst' | 'delayed' | 'chopped'): Promise<void> {
  for (const f of frames) {
    if (how === 'chopped') await p.writeChopped(p.frame(f), 1, 0);
    else p.send(f);
    if (how === 'delayed') await sleep(50);
  }
}

const MODES = ['burst', 'delayed', 'chopped'] as const;

export const fragmentation: Section = {
  id: '5',
  title: 'Fragmentation',
  cases: [
    {
      id: '5.1',
      description: 'ping fragmented into 2 frames',
      run: async (p) => {
        p.send({ opcode: Op.ping, payload: b('fragment1'), fin: false });
        p.send(cont('fragment2'));
        return expectFailure(p, [1002]);
      },
    },
    {
      id: '5.2',
      description: 'pong fragmented into 2 frames',
      run: async (p) => {
        p.send({ opcode: Op.pong, payload: b('fragment1'), fin: false });
        p.send(cont('fragment2'));
        return expectFailure(p, [1002]);
      },
    },
    {
      id: '5.3',
      description: 'close fragmented into 2 frames',
      run: async (p) => {
        p.send({ opcode: Op.close, payload: Buffer.from([0x03, 0xe8]), fin: false });
        p.send(cont('bye'));
        return expectFailure(p, [1002]);
      },
    },
    ...MODES.map((how, i) => ({
      id: `5.4.${i + 1}`,
      description: `text in 2 fragments (${how})`,
      run: async (p: Peer) => {
        await sendFrames(p, [first('fragment1'), cont('fragment2')], how);
        return expectEcho(p, [text('fragment1fragment2')]);
      },
    })),
    ...MODES.map((how, i) => ({
      id: `5.5.${i + 1}`,
      description: `text in 2 fragments with a ping between them (${how})`,
      run: async (p: Peer) => {
        await sendFrames(p, [first('fragment1'), ping('pongme!'), cont('fragment2')], how);
        return expectEcho(p, [pong('pongme!'), text('fragment1fragment2')]);
      },
    })),
    {
      id: '5.6',
      description: 'binary in 3 fragments',
      run: async (p) => {
        p.send(first('\x00\x01', Op.binary));
        p.send(cont('\x02\x03', false));
        p.send(cont('\x04'));
        return expectEcho(p, [binary(Buffer.from([0, 1, 2, 3, 4]))]);
      },
    },
    {
      id: '5.7',
      description: 'text in 5 fragments with a ping and an unsolicited pong between each',
      run: async (p) => {
        p.send(first('one '));
        for (const [i, part] of ['two ', 'three ', 'four '].entries()) {
          p.send(ping(`p${i}`));
          p.send({ opcode: Op.pong, payload: b('unsolicited') });
          p.send(cont(part, false));
        }
        p.send(ping('p3'));
        p.send(cont('five'));
        return expectEcho(p, [pong('p0'), pong('p1'), pong('p2'), pong('p3'), text('one two three four five')]);
      },
    },
    {
      id: '5.8',
      description: 'fragments of zero length at the start, middle and end',
      run: async (p) => {
        p.send(first(''));
        p.send(cont('a', false));
        p.send(cont('', false));
        p.send(cont('b', false));
        p.send(cont(''));
        return expectEcho(p, [text('ab')]);
      },
    },
    {
      id: '5.9',
      description: 'text in 1000 one-byte fragments',
      run: async (p) => {
        const frames = Array.from({ length: 1000 }, (_, i) =>
          p.frame(i === 0 ? first('x') : cont('x', i === 999)));
        p.write(Buffer.concat(frames));
        return expectEcho(p, [text('x'.repeat(1000))]);
      },
    },
    {
      id: '5.10',
      description: 'two fragmented messages back to back, text then binary',
      run: async (p) => {
        p.send(first('ab'));
        p.send(cont('cd'));
        p.send(first('\x01', Op.binary));
        p.send(cont('\x02'));
        return expectEcho(p, [text('abcd'), binary(Buffer.from([1, 2]))]);
      },
    },
    ...MODES.map((how, i) => ({
      id: `5.11.${i + 1}`,
      description: `continuation (FIN=0) without a message to continue (${how})`,
      run: async (p: Peer) => {
        await sendFrames(p, [cont('fragment1', false), first('fragment2'), cont('fragment3')], how);
        return expectFailure(p, [1002]);
      },
    })),
    {
      id: '5.12',
      description: 'continuation (FIN=1) without a message to continue',
      run: async (p) => {
        p.send(cont('fragment1'));
        return expectFailure(p, [1002]);
      },
    },
    {
      id: '5.13',
      description: 'complete text message, then a stray continuation',
      run: async (p) => {
        p.send({ opcode: Op.text, payload: b('complete') });
        p.send(cont('stray'));
        return expectFailure(p, [1002], { before: [text('complete')] });
      },
    },
    {
      id: '5.14',
      description: 'fragmented text, then a stray continuation after its final fragment',
      run: async (p) => {
        p.send(first('frag1'));
        p.send(cont('frag2'));
        p.send(cont('frag3', false));
        p.send(cont('frag4'));
        return expectFailure(p, [1002], { before: [text('frag1frag2')] });
      },
    },
    {
      id: '5.15',
      description: 'new text frame in the middle of a fragmented text message',
      run: async (p) => {
        p.send(first('fragment1'));
        p.send({ opcode: Op.text, payload: b('fragment2') });
        return expectFailure(p, [1002]);
      },
    },
    {
      id: '5.16',
      description: 'new binary frame (FIN=0) in the middle of a fragmented text message',
      run: async (p) => {
        p.send(first('fragment1'));
        p.send(first('fragment2', Op.binary));
        p.send(cont('fragment3'));
        return expectFailure(p, [1002]);
      },
    },
    {
      id: '5.17',
      description: 'fragmented ping inside a fragmented text message',
      run: async (p) => {
        p.send(first('fragment1'));
        p.send({ opcode: Op.ping, payload: b('half'), fin: false });
        p.send(cont('fragment2'));
        return expectFailure(p, [1002]);
      },
    },
  ],
};
