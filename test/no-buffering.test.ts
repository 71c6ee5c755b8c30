// buffering: false: data arrives only through onFrameRecvStart / onFrameRecvChunk / onFrameRecvEnd, for frames of
// several MiB, and onMsgRecv still marks each message's end with an empty Buffer.
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import { connectClient } from './helpers/client.js';
import type { ConnectionOptions, Endpoint } from './helpers/endpoint.js';
import { wsFixture } from './helpers/server-fixture.js';
import { waitFor, within } from './helpers/wait.js';
import { startWsServer, type WsServer } from './helpers/ws-peer.js';

const MIB = 1024 * 1024;

interface FrameLog {
  events: string[];
  starts: Array<{ fin: boolean; rsv: number; opcode: number; length: number }>;
  chunks: Buffer[][];
  bytes: number;
}

function frameRecorder(): { log: FrameLog; options: ConnectionOptions } {
  const log: FrameLog = { events: [], starts: [], chunks: [], bytes: 0 };
  return {
    log,
    options: {
      buffering: false,
      onFrameRecvStart(fin, rsv, opcode, length) {
        log.events.push('start');
        log.starts.push({ fin, rsv, opcode, length });
        log.chunks.push([]);
      },
      onFrameRecvChunk(data) {
        log.events.push('chunk');
        log.chunks.at(-1)!.push(data);
        log.bytes += data.length;
      },
      onFrameRecvEnd() {
        log.events.push('end');
      },
      onMsgRecv() {
        log.events.push('msg');
      },
    },
  };
}

const sha = (b: Buffer): string => createHash('sha1').update(b).digest('hex');

describe('buffering: false on our server (ws client)', () => {
  const ws = wsFixture();

  it('delivers a 6 MiB frame through the frame callbacks; onMsgRecv gets an empty Buffer', async () => {
    const { log, options } = frameRecorder();
    const { ep, peer: client } = await ws.open(options);
    const data = randomBytes(6 * MIB);
    client.ws.send(data);
    await waitFor(() => log.events.includes('msg'), 15_000, 'the end of the message');
    expect(log.starts).toEqual([{ fin: true, rsv: 0, opcode: Opcode.BINARY, length: data.length }]);
    const chunks = log.chunks[0];
    expect(chunks.length).toBeGreaterThan(1); // really streamed, not buffered whole
    expect(sha(Buffer.concat(chunks))).toBe(sha(data));
    expect(log.events.filter((e) => e === 'end').length).toBe(1);
    expect(log.events.at(-2)).toBe('end');
    expect(ep.messages.length).toBe(1);
    expect(ep.messages[0].opcode).toBe(Opcode.BINARY);
    expect(Buffer.isBuffer(ep.messages[0].data)).toBe(true);
    expect(ep.messages[0].data.length).toBe(0);
  });

  it('reports each frame of a fragmented message, with the continuation opcode', async () => {
    const { log, options } = frameRecorder();
    const { ep, peer: client } = await ws.open(options);
    const parts = [randomBytes(2 * MIB), randomBytes(3 * MIB), Buffer.from('tail')];
    client.ws.send(parts[0], { fin: false, binary: true });
    client.ws.send(parts[1], { fin: false, binary: true });
    client.ws.send(parts[2], { fin: true, binary: true });
    await waitFor(() => log.events.includes('msg'), 15_000, 'the end of the message');
    expect(log.starts.map((s) => [s.fin, s.opcode, s.length])).toEqual([
      [false, Opcode.BINARY, parts[0].length],
      [false, 0, parts[1].length],
      [true, 0, parts[2].length],
    ]);
    log.chunks.forEach((c, i) => expect(sha(Buffer.concat(c)), `frame ${i}`).toBe(sha(parts[i])));
    expect(log.events.filter((e) => e === 'end').length).toBe(3);
    expect(ep.messages.map((m) => [m.opcode, m.data.length])).toEqual([[Opcode.BINARY, 0]]);
  });

  it('still delivers text frames and pings (control frames come whole through onMsgRecv)', async () => {
    const { log, options } = frameRecorder();
    const { ep, peer: client } = await ws.open(options);
    client.ws.send('tëxt');
    client.ws.ping('pp');
    await waitFor(() => ep.messages.length === 2);
    expect(Buffer.concat(log.chunks[0]).toString()).toBe('tëxt');
    expect(log.starts.length).toBe(1); // the ping is not a data frame
    const ping = ep.messages.find((m) => m.opcode === Opcode.PING)!;
    expect(ping.data.toString()).toBe('pp');
  });
});

describe('buffering: false on our client (ws server)', () => {
  let server: WsServer;
  let ep: Endpoint | undefined;

  afterEach(async () => {
    if (ep && ep.closes.length === 0) ep.conn.unref();
    await server?.stop();
  });

  it('streams a 5 MiB frame from the server', async () => {
    const data = randomBytes(5 * MIB);
    server = await startWsServer((ws) => ws.send(data));
    const { log, options } = frameRecorder();
    ep = await connectClient(server.port, options);
    await waitFor(() => log.events.includes('msg'), 15_000, 'the end of the message');
    expect(log.starts[0].length).toBe(data.length);
    expect(log.bytes).toBe(data.length);
    expect(sha(Buffer.concat(log.chunks[0]))).toBe(sha(data));
    expect(ep.messages[0].data.length).toBe(0);
    ep.conn.close(1000);
    expect((await within(ep.closed, 3000, 'close')).code).toBe(1000);
  });
});
