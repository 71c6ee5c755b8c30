// Section 2: pings must be answered by a pong with the same payload; pongs need no answer.
import type { Section } from '../case-types.js';
import { expectEcho, expectFailure, pong } from '../expect.js';
import { Op } from '../frame-codec.js';
import type { Peer } from '../peer.js';
import { binaryPayload } from './payloads.js';

const ping = (payload: Buffer | string = '') => ({ opcode: Op.ping, payload: Buffer.from(payload) });

export const pingPong: Section = {
  id: '2',
  title: 'Pings/Pongs',
  cases: [
    ...[0, 1, 2, 16, 64, 124, 125].map((n, i) => ({
      id: `2.1.${i + 1}`,
      description: `ping with a ${n}-byte binary payload`,
      run: async (p: Peer) => {
        p.send(ping(binaryPayload(n, n + 3)));
        return expectEcho(p, [pong(binaryPayload(n, n + 3))]);
      },
    })),
    {
      id: '2.2',
      description: 'ping with a text payload',
      run: async (p) => {
        p.send(ping('Hello, world!'));
        return expectEcho(p, [pong('Hello, world!')]);
      },
    },
    {
      id: '2.3',
      description: 'ping with payload bytes 00 ff fe fd fc fb 00 ff',
      run: async (p) => {
        const b = Buffer.from([0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff]);
        p.send(ping(b));
        return expectEcho(p, [pong(b)]);
      },
    },
    {
      id: '2.4',
      description: 'ping with 126 bytes (control frames are limited to 125)',
      run: async (p) => {
        p.send(ping(Buffer.alloc(126, 0xfe)));
        return expectFailure(p, [1002]);
      },
    },
    {
      id: '2.5',
      description: 'ping of 125 bytes written one byte at a time with 1 ms pauses',
      run: async (p) => {
        await p.writeChopped(p.frame(ping(Buffer.alloc(125, 0xfe))), 1, 1);
        return expectEcho(p, [pong(Buffer.alloc(125, 0xfe))]);
      },
    },
    {
      id: '2.6',
      description: 'unsolicited empty pong (no answer expected)',
      run: async (p) => {
        p.send({ opcode: Op.pong });
        return expectEcho(p, []);
      },
    },
    {
      id: '2.7',
      description: 'unsolicited pong with payload',
      run: async (p) => {
        p.send({ opcode: Op.pong, payload: Buffer.from('unsolicited pong payload') });
        return expectEcho(p, []);
      },
    },
    {
      id: '2.8',
      description: 'unsolicited pong, then a ping',
      run: async (p) => {
        p.send({ opcode: Op.pong, payload: Buffer.from('unsolicited') });
        p.send(ping('solicited'));
        return expectEcho(p, [pong('solicited')]);
      },
    },
    {
      id: '2.9',
      description: '10 pings back to back',
      run: async (p) => {
        for (let i = 0; i < 10; i++) p.send(ping(`payload-${i}`));
        return expectEcho(p, Array.from({ length: 10 }, (_, i) => pong(`payload-${i}`)));
      },
    },
    {
      id: '2.10',
      description: '10 pings, each written in 1-byte chops',
      run: async (p) => {
        for (let i = 0; i < 10; i++) await p.writeChopped(p.frame(ping(`payload-${i}`)), 1, 0);
        return expectEcho(p, Array.from({ length: 10 }, (_, i) => pong(`payload-${i}`)));
      },
    },
    {
      id: '2.11',
      description: 'ping with a 126-byte payload announced with a 16-bit length, chopped',
      run: async (p) => {
        await p.writeChopped(p.frame({ ...ping(Buffer.alloc(126, 0x41)) }), 7, 1);
        return expectFailure(p, [1002]);
      },
    },
  ],
};
