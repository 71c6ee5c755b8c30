// Section 10: the other end may fragment what it sends; the echo must still be
// one message, and we (or the client under test) must reassemble it.
import type { Section } from '../case-types.js';
import { binary, expectEcho, text } from '../expect.js';
import { Op } from '../frame-codec.js';
import { MiB, binaryPayload, textPayload } from './payloads.js';

export const autoFragmentation: Section = {
  id: '10',
  title: 'Auto-fragmentation',
  cases: [
    {
      id: '10.1.1',
      description: 'text message of 64 KiB in one frame (the echo may come fragmented)',
      run: async (p) => {
        p.send({ opcode: Op.text, payload: textPayload(65536) });
        return expectEcho(p, [text(textPayload(65536))]);
      },
    },
    {
      id: '10.1.2',
      description: 'text message of 64 KiB in 1300-byte fragments (as an auto-fragmenting sender would)',
      run: async (p) => {
        p.sendMessage(Op.text, textPayload(65536), { fragmentSize: 1300 });
        return expectEcho(p, [text(textPayload(65536))]);
      },
    },
    {
      id: '10.1.3',
      description: 'binary message of 1 MiB in 4 KiB fragments',
      run: async (p) => {
        p.sendMessage(Op.binary, binaryPayload(MiB), { fragmentSize: 4096 });
        return expectEcho(p, [binary(binaryPayload(MiB))]);
      },
    },
    {
      id: '10.1.4',
      description: 'text fragmented inside multi-byte characters, 7-byte fragments',
      run: async (p) => {
        const data = Buffer.from('κόσμε 😀 漢字 '.repeat(200));
        p.sendMessage(Op.text, data, { fragmentSize: 7 });
        return expectEcho(p, [text(data)]);
      },
    },
  ],
};
