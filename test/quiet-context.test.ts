// Lazy wslay contexts (native/session_quiet.cc): a connection holds a wslay context only while something is in
// flight. A quiet one gives it back after a whole quiet tick and gets a new one on its next byte in or message out;
// it keeps it through anything unfinished (a fragmented message, a frame cut in two, a close under way).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { Opcode, publish } from '../src/index.js';
import { native } from '../src/native.js';
import { connectClient } from './helpers/client.js';
import { echo, type Endpoint } from './helpers/endpoint.js';
import { clientFrame } from './helpers/frames.js';
import { rawFixture, wsFixture } from './helpers/server-fixture.js';
import { delay, waitFor } from './helpers/wait.js';
import { startWsServer, wsEcho, type WsServer } from './helpers/ws-peer.js';

const TICK_MS = 40;

/** Live wslay contexts on this thread. */
const contexts = (): number => native._testWslayContexts();

beforeAll(() => {
  native._testWslayContexts(TICK_MS);
});
afterAll(() => {
  native._testWslayContexts(0); // back to the default tick
});

/** Waits until this thread holds `n` contexts. */
async function contextsBecome(n: number, what: string): Promise<void> {
  await waitFor(() => contexts() === n, 3000, `${what} (${contexts()} contexts, want ${n})`);
}

describe('a quiet server connection', () => {
  const fixture = wsFixture();

  it('holds no wslay context until traffic, releases it when quiet, and works again when woken', async () => {
    const base = contexts();
    const { peer, ep } = await fixture.open(echo());
    await delay(TICK_MS * 3);
    expect(contexts()).toBe(base); // the upgrade alone allocates none

    // A byte in wakes it: the echo comes back.
    peer.ws.send('first');
    await waitFor(() => peer.messages.length === 1);
    expect(peer.messages[0].data.toString()).toBe('first');
    await contextsBecome(base, 'released after the echo');

    // A message out wakes it too.
    expect(ep.conn.queueMsg(Buffer.from('from the server'), Opcode.BINARY)).toBe(true);
    await waitFor(() => peer.messages.length === 2);
    expect(peer.messages[1].data.toString()).toBe('from the server');
    await contextsBecome(base, 'released after sending');

    // A ping from the peer is answered by the new context.
    const pong = new Promise<Buffer>((resolve) => peer.ws.once('pong', resolve));
    peer.ws.ping(Buffer.from('are you there'));
    expect((await pong).toString()).toBe('are you there');
    await contextsBecome(base, 'released after the pong');

    // Messages in both directions keep working after each release.
    for (let i = 0; i < 3; i++) {
      peer.ws.send(`again ${i}`);
      await waitFor(() => peer.messages.length === 3 + i);
      expect(peer.messages[2 + i].data.toString()).toBe(`again ${i}`);
      await contextsBecome(base, `released after message ${i}`);
    }
    const data = ep.messages.filter((m) => m.opcode !== Opcode.PING);
    expect(data.map((m) => m.data.toString())).toEqual(['first', 'again 0', 'again 1', 'again 2']);

    // A close after a quiet period is a full closing handshake.
    ep.conn.close(1000, 'done');
    expect(await peer.closed).toEqual({ code: 1000, reason: 'done' });
    const { code, info } = await ep.closed;
    expect(code).toBe(1000);
    expect(info.wasClean).toBe(true);
    expect(info.unsentMessages).toBe(0);
    expect(contexts()).toBe(base);
  });

  it('gets its context back for a published message (pub/sub delivery to a quiet subscriber)', async () => {
    const base = contexts();
    const { peer, ep } = await fixture.open(echo());
    expect(ep.conn.subscribe('quiet-topic')).toBe(true);
    await delay(TICK_MS * 3);
    expect(contexts()).toBe(base);
    for (let i = 0; i < 2; i++) {
      expect(publish('quiet-topic', `published ${i}`)).toBe(1);
      await waitFor(() => peer.messages.length === i + 1);
      expect(peer.messages[i].data.toString()).toBe(`published ${i}`);
      await contextsBecome(base, `released after publish ${i}`);
    }
    ep.conn.close(1000);
    expect((await ep.closed).code).toBe(1000);
  });

  it('answers a close from the peer that arrives while it has no context', async () => {
    const base = contexts();
    const { peer, ep } = await fixture.open(echo());
    peer.ws.send('wake');
    await waitFor(() => peer.messages.length === 1);
    await contextsBecome(base, 'released');
    peer.ws.close(4001, 'bye');
    expect((await peer.closed).code).toBe(4001); // the code echoed
    const { code, info } = await ep.closed;
    expect([code, info.reason, info.wasClean]).toEqual([4001, 'bye', true]);
  });
});

describe('an unfinished exchange keeps the context', () => {
  const fixture = rawFixture();

  it('a fragmented message across quiet ticks', async () => {
    const base = contexts();
    const { peer, ep } = await fixture.open(echo());
    peer.send(clientFrame(Opcode.TEXT, 'first half, ', false));
    await waitFor(() => contexts() === base + 1);
    await delay(TICK_MS * 5);
    expect(contexts()).toBe(base + 1); // mid-message: still held
    peer.send(clientFrame(Opcode.CONTINUATION, 'second half'));
    const frames = await peer.waitFrames(1);
    expect(frames[0].opcode).toBe(Opcode.TEXT);
    expect(frames[0].payload.toString()).toBe('first half, second half');
    expect(ep.messages.map((m) => m.data.toString())).toEqual(['first half, second half']);
    await contextsBecome(base, 'released once the message is complete');
    // And a continuation with no message begun is still a protocol error for the new context.
    peer.send(clientFrame(Opcode.CONTINUATION, 'orphan'));
    const close = await peer.waitClose();
    expect(close?.payload.readUInt16BE(0)).toBe(1002);
  });

  it('a frame cut in two across quiet ticks', async () => {
    const base = contexts();
    const { peer, ep } = await fixture.open(echo());
    const frame = clientFrame(Opcode.BINARY, Buffer.alloc(300, 7));
    peer.send(frame.subarray(0, 3)); // part of the 16-bit length
    await waitFor(() => contexts() === base + 1);
    await delay(TICK_MS * 5);
    expect(contexts()).toBe(base + 1);
    peer.send(frame.subarray(3, 100));
    await delay(TICK_MS * 5);
    expect(contexts()).toBe(base + 1);
    peer.send(frame.subarray(100));
    const frames = await peer.waitFrames(1);
    expect(frames[0].payload).toEqual(Buffer.alloc(300, 7));
    expect(ep.messages).toHaveLength(1);
    await contextsBecome(base, 'released after the frame');
  });

  it('a close we sent that the peer has not answered', async () => {
    const base = contexts();
    const { peer, ep } = await fixture.open({ closeTimeout: 0 });
    ep.conn.close(1000);
    const close = await peer.waitClose();
    expect(close?.payload.readUInt16BE(0)).toBe(1000);
    await delay(TICK_MS * 5);
    expect(contexts()).toBe(base + 1); // the closing handshake is under way
    expect(ep.conn.readyState).toBe('closing');
    peer.send(clientFrame(Opcode.CLOSE, Buffer.from([0x03, 0xe8])));
    const { code, info } = await ep.closed;
    expect([code, info.wasClean]).toEqual([1000, true]);
    expect(contexts()).toBe(base);
  });

  it('messages held by stopRead()', async () => {
    const base = contexts();
    const { peer, ep } = await fixture.open();
    ep.conn.stopRead();
    peer.send(clientFrame(Opcode.TEXT, 'held'));
    await delay(TICK_MS * 5);
    ep.conn.startRead();
    await waitFor(() => ep.messages.length === 1);
    expect(ep.messages[0].data.toString()).toBe('held');
    await contextsBecome(base, 'released after delivery');
    ep.conn.stopRead(); // paused and quiet: no context, and the next message waits for startRead()
    peer.send(clientFrame(Opcode.TEXT, 'after'));
    await delay(TICK_MS * 5);
    expect(ep.messages).toHaveLength(1);
    ep.conn.startRead();
    await waitFor(() => ep.messages.length === 2);
    expect(ep.messages[1].data.toString()).toBe('after');
  });
});

describe('a quiet client connection', () => {
  let server: WsServer;
  const clients: Endpoint[] = [];
  beforeAll(async () => {
    server = await startWsServer(wsEcho);
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.conn.terminate();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('masks with a new context after each release', async () => {
    const base = contexts();
    const ep = await connectClient(server.port);
    clients.push(ep);
    for (let i = 0; i < 3; i++) {
      ep.conn.queueMsg(`round ${i}`);
      await waitFor(() => ep.messages.length === i + 1);
      expect(ep.messages[i].data.toString()).toBe(`round ${i}`);
      await contextsBecome(base, `released after round ${i}`);
    }
    ep.conn.close(1000);
    const { code, info } = await ep.closed;
    expect([code, info.wasClean]).toEqual([1000, true]);
  });
});
