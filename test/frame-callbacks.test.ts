// The frame callbacks see the payload as the user would, with or without buffering and compressed or not: for a
// permessage-deflate message, onFrameRecvChunk gets the inflated bytes (and onFrameRecvStart no RSV1), and with
// buffering the chunks add up to the message onMsgRecv then gets.
import { describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import { encodeFrame } from './helpers/frames.js';
import { rawFixture } from './helpers/server-fixture.js';
import { waitFor } from './helpers/wait.js';
import { DEFAULT_DEFLATE, deflatedFrames } from './hostile/crafted.js';

const raw = rawFixture();
const parts = [Buffer.from('first part, '.repeat(50)), Buffer.from('second part.'.repeat(70))];

for (const buffering of [true, false]) {
  for (const compressed of [false, true]) {
    const name = `${buffering ? 'buffering' : 'no buffering'}, ${compressed ? 'compressed' : 'plain'}`;
    describe(`frame callbacks (${name})`, () => {
      it('chunks carry the message as the user receives it, frame by frame', async () => {
        const starts: { fin: boolean; rsv: number; opcode: number }[] = [];
        const chunks: Buffer[] = [];
        let ends = 0;
        const { ep, peer } = await raw.open({
          buffering,
          perMessageDeflate: compressed ? DEFAULT_DEFLATE : undefined,
          onFrameRecvStart(fin, rsv, opcode) {
            starts.push({ fin, rsv, opcode });
          },
          onFrameRecvChunk(data) {
            chunks.push(Buffer.from(data));
          },
          onFrameRecvEnd() {
            ends++;
          },
        });
        const payloads = compressed ? await deflatedFrames(parts) : parts;
        peer.send(Buffer.concat(payloads.map((payload, i) => encodeFrame({
          opcode: i === 0 ? Opcode.TEXT : Opcode.CONTINUATION,
          rsv: compressed && i === 0 ? 4 : 0,
          payload,
          fin: i === payloads.length - 1,
          mask: true,
        }))));
        await waitFor(() => ends === 2, 3000, 'both frames');
        expect(starts).toEqual([
          { fin: false, rsv: 0, opcode: Opcode.TEXT },
          { fin: true, rsv: 0, opcode: Opcode.CONTINUATION },
        ]);
        expect(Buffer.concat(chunks).toString()).toBe(Buffer.concat(parts).toString());
        await waitFor(() => ep.messages.length === 1, 3000, 'onMsgRecv');
        expect(ep.messages[0].data.toString()).toBe(buffering ? Buffer.concat(parts).toString() : '');
      });
    });
  }
}
