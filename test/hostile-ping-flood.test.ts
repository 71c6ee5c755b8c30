// A ping flood from a peer that never reads: every ping makes wslay queue a pong that cannot be written once the
// peer's receive buffer and ours are full. maxPendingPongs bounds that queue by pausing reading, so while the peer
// floods for ~2 s the server's queue (queuedCount, bufferedAmount) and RSS stay bounded; when the peer finally reads,
// the pongs drain and the connection works again. maxPendingPongs counts pongs not yet written, not pings since the
// send queue was last empty: a server that keeps streaming (its queue never empties) keeps reading as long as its
// pongs go out.
import { describe, expect, it } from 'vitest';

import { FragmentedStatus, Opcode } from '../src/index.js';
import { clientFrame } from './helpers/frames.js';
import { TEST_TRANSPORT } from './helpers/endpoint.js';
import { rawFixture } from './helpers/server-fixture.js';
import { delay, waitFor } from './helpers/wait.js';
import { MiB, rssBound, rssBytes } from './hostile/memory.js';

const raw = rawFixture();

describe('ping flood from a peer that never reads', () => {
  it('maxPendingPongs bounds the pong queue and RSS; reading resumes once the peer reads', async () => {
    const MAX_PONGS = 64;
    const { ep, peer } = await raw.open({ maxPendingPongs: MAX_PONGS }, { read: false });
    const ping = clientFrame(Opcode.PING, Buffer.alloc(125, 0x70)); // the largest pong each
    const burst = Buffer.concat(Array.from({ length: 1000 }, () => ping));

    const rssBefore = rssBytes();
    let maxQueued = 0;
    let maxBuffered = 0;
    let peerBlocked = 0;
    let pings = 0;
    const started = Date.now();
    while (Date.now() - started < 2000) {
      // Flood as fast as our own send buffer takes it; past that, Node would queue in this process, which says
      // nothing about the server.
      if (peer.socket.writableLength < 4 * MiB) {
        peer.send(burst);
        pings += 1000;
      } else {
        peerBlocked++;
      }
      maxQueued = Math.max(maxQueued, ep.conn.queuedCount());
      maxBuffered = Math.max(maxBuffered, ep.conn.bufferedAmount);
      await delay(2);
    }
    const rssGrowth = rssBytes() - rssBefore;
    expect(peerBlocked, 'the flood filled every buffer on the way').toBeGreaterThan(0);
    // Each pong is 127 bytes on the wire; a few batches past the limit may be parsed before reading pauses.
    expect(maxQueued).toBeLessThanOrEqual(MAX_PONGS * 8);
    // On the stream transport bufferedAmount also counts what the Duplex holds: up to its 64 KiB high-water mark.
    const duplexHeld = TEST_TRANSPORT === 'stream' ? 64 * 1024 : 0;
    expect(maxBuffered).toBeLessThan(MAX_PONGS * 8 * 127 + 64 * 1024 + duplexHeld);
    expect(rssGrowth).toBeLessThan(rssBound(64 * MiB));
    expect(ep.conn.readyState).toBe('open');

    // The peer reads again: every ping gets its pong (the server reads the rest of the flood, including what it
    // had already read before pausing, without needing more data from the peer), then a text is echoed.
    peer.socket.resume();
    const pongs = (): number => peer.frames.filter((f) => f.opcode === Opcode.PONG).length;
    await waitFor(() => pongs() === pings, 15_000, `${pings} pongs`).catch(() => {
      throw new Error(`${pongs()} pongs of ${pings} pings arrived: the server stopped reading the flood`);
    });
    expect(peer.frames.every((f) => f.opcode === Opcode.PONG && f.payload.length === 125)).toBe(true);
    ep.conn.onMsgRecv = function (_rsv, opcode, msg) {
      if (opcode === Opcode.TEXT) this.queueMsg(msg, Opcode.TEXT);
    };
    peer.send(clientFrame(Opcode.TEXT, 'after the flood'));
    await waitFor(() => peer.frames.some((f) => f.opcode === Opcode.TEXT), 5000, 'the echo after the flood');
    expect(peer.frames.find((f) => f.opcode === Opcode.TEXT)!.payload.toString()).toBe('after the flood');
  }, 40_000);

  it('the same flood with the default maxPendingPongs stays bounded too', async () => {
    const { ep, peer } = await raw.open({}, { read: false });
    const burst = Buffer.concat(Array.from({ length: 1000 }, () => clientFrame(Opcode.PING, Buffer.alloc(125))));
    const rssBefore = rssBytes();
    let maxQueued = 0;
    const started = Date.now();
    while (Date.now() - started < 2000) {
      if (peer.socket.writableLength < 4 * MiB) peer.send(burst);
      maxQueued = Math.max(maxQueued, ep.conn.queuedCount());
      await delay(2);
    }
    expect(maxQueued).toBeLessThanOrEqual(1024 * 8);
    expect(rssBytes() - rssBefore).toBeLessThan(rssBound(64 * MiB));
    expect(ep.conn.readyState).toBe('open');
  }, 20_000);
});

describe('pings while the send queue never empties', () => {
  it('a server streaming to a reader keeps reading after more pings than maxPendingPongs, all answered', async () => {
    const MAX_PONGS = 4;
    const PINGS = 3 * MAX_PONGS;
    const { ep, peer } = await raw.open({ maxPendingPongs: MAX_PONGS });
    // An endless fragmented message: it stays queued (queuedCount() >= 1) until the test ends it.
    let streaming = true;
    const chunk = Buffer.alloc(4096, 0x61);
    ep.conn.queueFragmented(() => (streaming ? chunk : [chunk, FragmentedStatus.EOF]));
    // The peer keeps only what matters (pongs, texts), so the stream costs no memory here.
    let pongs = 0;
    let streamed = 0;
    peer.socket.on('data', () => {
      for (const f of peer.frames) {
        if (f.opcode === Opcode.PONG) pongs++;
        else streamed += f.payload.length;
      }
      peer.frames.length = 0;
    });
    await waitFor(() => streamed > 0, 5000, 'the stream');
    for (let i = 0; i < PINGS; i++) {
      peer.send(clientFrame(Opcode.PING, `ping ${i}`));
      await waitFor(() => pongs === i + 1, 5000, `pong ${i + 1}`);
      expect(ep.conn.queuedCount(), 'the send queue was never empty').toBeGreaterThanOrEqual(1);
    }
    const received: string[] = [];
    ep.conn.onMsgRecv = (_rsv, opcode, msg) => {
      if (opcode === Opcode.TEXT) received.push(msg.toString());
    };
    peer.send(clientFrame(Opcode.TEXT, 'still reading'));
    await waitFor(() => received.length === 1, 5000, 'the text after the pings').catch(() => {
      throw new Error(`the server stopped reading after ${PINGS} answered pings (maxPendingPongs ${MAX_PONGS})`);
    });
    expect(received).toEqual(['still reading']);
    streaming = false;
  }, 20_000);
});
