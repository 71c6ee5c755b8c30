// Our server and our client against the `ws` package, an independent implementation: every kind of message
// goes through both ways unchanged, in order, with the right opcode; pings are answered automatically.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import { connectClient } from './helpers/client.js';
import { echo, type Endpoint } from './helpers/endpoint.js';
import { wsFixture } from './helpers/server-fixture.js';
import { waitFor, within } from './helpers/wait.js';
import { startWsServer, wsEcho, type WsServer } from './helpers/ws-peer.js';

const TEXT = 'héllo wörld — ✓ 𝄞 日本語';
const MIB = 1024 * 1024;

describe('our server ↔ ws client', () => {
  const ws = wsFixture();
  const setup = () => ws.open(echo());

  it('echoes multi-byte UTF-8 text as text, with opcode TEXT', async () => {
    const { ep, peer: client } = await setup();
    client.ws.send(TEXT);
    await waitFor(() => client.messages.length === 1);
    expect(client.messages[0].isBinary).toBe(false);
    expect(client.messages[0].data.toString('utf8')).toBe(TEXT);
    expect(ep.messages[0].opcode).toBe(Opcode.TEXT);
    expect(ep.messages[0].data.toString('utf8')).toBe(TEXT);
    expect(ep.messages[0].rsv).toBe(0);
  });

  it('echoes binary as binary, with opcode BINARY', async () => {
    const { ep, peer: client } = await setup();
    const data = randomBytes(777);
    client.ws.send(data);
    await waitFor(() => client.messages.length === 1);
    expect(client.messages[0].isBinary).toBe(true);
    expect(client.messages[0].data.equals(data)).toBe(true);
    expect(ep.messages[0].opcode).toBe(Opcode.BINARY);
  });

  it('echoes empty text and empty binary messages', async () => {
    const { ep, peer: client } = await setup();
    client.ws.send('');
    client.ws.send(Buffer.alloc(0));
    await waitFor(() => client.messages.length === 2);
    expect(client.messages.map((m) => [m.isBinary, m.data.length])).toEqual([
      [false, 0],
      [true, 0],
    ]);
    expect(ep.messages.map((m) => [m.opcode, m.data.length])).toEqual([
      [Opcode.TEXT, 0],
      [Opcode.BINARY, 0],
    ]);
  });

  it('echoes a 1 MiB message intact', async () => {
    const { ep, peer: client } = await setup();
    const data = randomBytes(MIB);
    client.ws.send(data);
    await waitFor(() => client.messages.length === 1, 10_000);
    expect(client.messages[0].data.equals(data)).toBe(true);
    expect(ep.messages[0].data.length).toBe(MIB);
  });

  it('delivers many messages in order', async () => {
    const { peer: client } = await setup();
    const count = 2000;
    for (let i = 0; i < count; i++) client.ws.send(`message ${i}`);
    await waitFor(() => client.messages.length === count, 10_000);
    expect(client.messages.map((m) => m.data.toString())).toEqual(
      Array.from({ length: count }, (_, i) => `message ${i}`),
    );
  });

  it('answers a ping with a pong carrying the same payload, and reports the ping as opcode PING', async () => {
    const { ep, peer: client } = await setup();
    const pong = new Promise<Buffer>((resolve) => client.ws.once('pong', resolve));
    client.ws.ping(Buffer.from('are you there'));
    expect((await within(pong, 3000, 'pong')).toString()).toBe('are you there');
    await waitFor(() => ep.messages.length === 1);
    expect(ep.messages[0].opcode).toBe(Opcode.PING);
    expect(ep.messages[0].data.toString()).toBe('are you there');
  });

  it('sends pings and reports the pong (opcode PONG)', async () => {
    const { ep, peer: client } = await setup();
    const ping = new Promise<Buffer>((resolve) => client.ws.once('ping', resolve));
    ep.conn.queueMsg('hey', Opcode.PING);
    expect((await within(ping, 3000, 'ping at the ws client')).toString()).toBe('hey');
    await waitFor(() => ep.messages.some((m) => m.opcode === Opcode.PONG));
    expect(ep.messages.find((m) => m.opcode === Opcode.PONG)!.data.toString()).toBe('hey');
  });
});

describe('our client ↔ ws server', () => {
  let server: WsServer;
  let ep: Endpoint | undefined;

  afterEach(async () => {
    if (ep && ep.closes.length === 0) {
      ep.conn.close();
      await within(ep.closed, 3000, 'client close').catch(() => ep!.conn.unref());
    }
    ep = undefined;
    await server?.stop();
  });

  async function setup(): Promise<Endpoint> {
    server = await startWsServer(wsEcho);
    ep = await connectClient(server.port);
    return ep;
  }

  it('sends text, binary, empty and 1 MiB messages and gets them back in order with the right opcodes', async () => {
    const c = await setup();
    const big = randomBytes(MIB);
    const small = randomBytes(100);
    c.conn.queueMsg(TEXT);
    c.conn.queueMsg(small, Opcode.BINARY);
    c.conn.queueMsg('');
    c.conn.queueMsg(Buffer.alloc(0), Opcode.BINARY);
    c.conn.queueMsg(big, Opcode.BINARY);
    await waitFor(() => c.messages.length === 5, 10_000);
    expect(c.messages.map((m) => m.opcode)).toEqual([Opcode.TEXT, Opcode.BINARY, Opcode.TEXT, Opcode.BINARY, Opcode.BINARY]);
    expect(c.messages[0].data.toString('utf8')).toBe(TEXT);
    expect(c.messages[1].data.equals(small)).toBe(true);
    expect(c.messages[2].data.length).toBe(0);
    expect(c.messages[3].data.length).toBe(0);
    expect(c.messages[4].data.equals(big)).toBe(true);
    // ws saw the same types.
    const peer = server.clients[0];
    expect(peer.messages.map((m) => m.isBinary)).toEqual([false, true, false, true, true]);
  });

  it('keeps many messages in order', async () => {
    const c = await setup();
    const count = 2000;
    for (let i = 0; i < count; i++) c.conn.queueMsg(`n${i}`);
    await waitFor(() => c.messages.length === count, 10_000);
    expect(c.messages.map((m) => m.data.toString())).toEqual(Array.from({ length: count }, (_, i) => `n${i}`));
  });

  it('answers the server’s ping automatically and gets pongs for its own pings', async () => {
    const c = await setup();
    const peer = await server.nextClient();
    const pong = new Promise<Buffer>((resolve) => peer.ws.once('pong', resolve));
    peer.ws.ping(Buffer.from('ping from ws'));
    expect((await within(pong, 3000, 'pong at the ws server')).toString()).toBe('ping from ws');
    c.conn.queueMsg(Buffer.from([1, 2, 3]), Opcode.PING);
    await waitFor(() => c.messages.some((m) => m.opcode === Opcode.PONG));
    expect([...c.messages.find((m) => m.opcode === Opcode.PONG)!.data]).toEqual([1, 2, 3]);
    expect(c.messages.find((m) => m.opcode === Opcode.PING)!.data.toString()).toBe('ping from ws');
  });
});
