// Half-closed sockets: a peer that shuts down its write side (FIN) but keeps reading. After a close frame: our close
// answer still reaches it, onClose(1000) is clean. After data without a close: the data is delivered and answered,
// then the EOF ends the connection as 1006 (not clean), once, with the fd closed.
import { describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import { echo } from './helpers/endpoint.js';
import { clientFrame, closeCode, closePayload, encodeFrame } from './helpers/frames.js';
import { rawFixture } from './helpers/server-fixture.js';
import { delay, within } from './helpers/wait.js';

const raw = rawFixture();

async function open() {
  const opened = await raw.open(echo());
  // Our side of a half-closed TCP connection stays open for reading (Node would end it otherwise).
  (opened.peer.socket as unknown as { allowHalfOpen: boolean }).allowHalfOpen = true;
  return opened;
}

describe('half-closed peer', () => {
  it('close frame, then shutdown(SHUT_WR): our close reaches the peer, onClose(1000) clean', async () => {
    const { ep, peer } = await open();
    peer.socket.end(encodeFrame({ opcode: Opcode.CLOSE, payload: closePayload(1000, 'bye'), mask: true }));
    const frame = await peer.waitClose(3000);
    expect(frame && closeCode(frame)).toBe(1000);
    const closed = await within(ep.closed, 3000, 'onClose');
    expect(closed.code).toBe(1000);
    expect(closed.info.reason).toBe('bye');
    expect(closed.info.wasClean).toBe(true);
    await peer.waitEnd(3000); // and we closed the TCP connection
    await delay(50);
    expect(ep.closes.length).toBe(1);
  });

  it('data, then shutdown(SHUT_WR) without a close: delivered and answered, then 1006 once', async () => {
    const { ep, peer } = await open();
    peer.socket.end(Buffer.concat([clientFrame(Opcode.TEXT, 'one'), clientFrame(Opcode.TEXT, 'two')]));
    const closed = await within(ep.closed, 3000, 'onClose after the EOF');
    expect(ep.messages.map((m) => m.data.toString())).toEqual(['one', 'two']);
    expect(closed.code).toBe(1006);
    expect(closed.info.wasClean).toBe(false);
    await peer.waitEnd(3000);
    // The peer was still reading: what was answered before the EOF was read either reached it or is counted unsent.
    const echoed = peer.frames.filter((f) => f.opcode === Opcode.TEXT).map((f) => f.payload.toString());
    expect(echoed.length + closed.info.unsentMessages).toBe(2);
    expect(echoed).toEqual(['one', 'two'].slice(0, echoed.length));
    await delay(50);
    expect(ep.closes.length).toBe(1);
  });

  it('shutdown(SHUT_WR) in the middle of a frame: 1006 once, the partial frame never delivered', async () => {
    const { ep, peer } = await open();
    peer.socket.end(clientFrame(Opcode.BINARY, Buffer.alloc(1000)).subarray(0, 500));
    const closed = await within(ep.closed, 3000, 'onClose');
    expect(closed.code).toBe(1006);
    expect(ep.messages).toEqual([]);
  });

  it('our own close() to a peer that already sent FIN without a close: ends at once, not after closeTimeout', async () => {
    const { ep, peer } = await raw.open({ closeTimeout: 10_000 });
    (peer.socket as unknown as { allowHalfOpen: boolean }).allowHalfOpen = true;
    ep.conn.stopRead(); // the EOF is not seen before close()
    peer.socket.end();
    await delay(100);
    const started = Date.now();
    ep.conn.close(1000);
    ep.conn.startRead();
    const closed = await within(ep.closed, 5000, 'onClose');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(closed.code).toBe(1006);
    expect(closed.info.sentCode).toBe(1000);
    const frame = await peer.waitClose(3000);
    expect(frame && closeCode(frame)).toBe(1000); // our close still reached the half-open peer
  });
});
