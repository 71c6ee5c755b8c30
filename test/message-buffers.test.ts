// What onMsgRecv's Buffer is: small messages are views into a slab the thread reuses (as Node's own Buffer pool
// does), larger ones own their memory. Neither may change after delivery, and a slab must survive being put in a
// postMessage transfer list (it is marked untransferable, so the transfer copies it).
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';

import { wsFixture } from './helpers/server-fixture.js';
import { waitFor } from './helpers/wait.js';

describe('message buffers', () => {
  const fixture = wsFixture();

  it('a kept message does not change when later messages arrive, small or large', async () => {
    const kept: Buffer[] = [];
    const { ep, peer: client } = await fixture.open();
    ep.conn.onMsgRecv = (_rsv, _opcode, msg) => kept.push(msg);
    const sent: Buffer[] = [];
    for (let i = 0; i < 300; i++) {
      const size = i % 10 === 0 ? 10_000 : 1 + ((i * 37) % 3000); // mostly slab-sized, some of their own
      const m = Buffer.alloc(size, i & 0xff);
      sent.push(m);
      client.ws.send(m);
    }
    await waitFor(() => kept.length === sent.length, 5000, 'all messages');
    for (let i = 0; i < sent.length; i++) expect(kept[i]!.equals(sent[i]!)).toBe(true);
  });

  it("transferring a message's ArrayBuffer copies it: later messages still arrive intact", async () => {
    const { port1, port2 } = new MessageChannel();
    port2.on('message', () => {});
    const { ep, peer: client } = await fixture.open();
    const echoed: string[] = [];
    let detached = 0;
    ep.conn.onMsgRecv = function (_rsv, opcode, msg) {
      const before = msg.buffer.byteLength;
      port1.postMessage(msg.buffer, [msg.buffer]);
      if (msg.buffer.byteLength !== before) detached++;
      this.queueMsg(msg, opcode);
    };
    for (let i = 0; i < 200; i++) client.ws.send(`message ${i}`);
    await waitFor(() => client.messages.length === 200, 5000, '200 echoes');
    for (const m of client.messages) echoed.push(m.data.toString());
    port1.close();
    expect(detached).toBe(0);
    expect(echoed).toEqual(Array.from({ length: 200 }, (_, i) => `message ${i}`));
    expect(client.messages.every((m) => !m.isBinary)).toBe(true);
  });
});
