// Python's `websockets` (Debian's python3-websockets) as a real peer: its client against our echo server
// (dist/examples/echo-server-helpers.js) and its server against our connect(), with permessage-deflate on and off,
// 4 MiB messages, pings with payloads and close codes.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { connect, Opcode, type CloseInfo, type WebSocketConnection } from '../src/index.js';
import { makeTestCertificates, type TestCertificates } from './helpers/tls-cert.js';
import { waitFor, within } from './helpers/wait.js';
import { requirePeer, skipWithout } from './peers/availability.js';
import { echoServerForSuite, startEchoServer } from './peers/echo-server.js';
import { pythonPeer, runPython, type PeerEvent, type PythonPeer } from './peers/python.js';

const peer = pythonPeer();
const version = peer.version;
const MIB = 1024 * 1024;
const TEXT = 'héllo wörld — ✓ 𝄞 日本語';

const running: PythonPeer[] = [];
function python(script: string, args: string[]): PythonPeer {
  const p = runPython(script, args);
  running.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});

describe.skipIf(skipWithout(peer))(`websockets ${version ?? '(missing)'} client → our echo server`, () => {
  const server = echoServerForSuite(peer);

  it.each([
    ['deflate', ['permessage-deflate']],
    ['none', []],
  ])('compression %s: 4 MiB text and binary echo byte-exact, a ping payload comes back, close 4000 is answered', async (compression, extensions) => {
    const client = python('websockets_client.py', [`ws://127.0.0.1:${server().port}/`, '--compression', compression]);
    expect(await within(client.exited, 60_000, 'the python client'), client.output()).toBe(0);
    const byEvent = (name: string): PeerEvent[] => client.events.filter((e) => e.event === name);
    expect(byEvent('open')[0].extensions).toEqual(extensions);
    const echoes = byEvent('echo');
    expect(echoes.map((e) => [e.kind, e.equal])).toEqual([
      ['text', true],
      ['binary', true],
      ['empty-text', true],
      ['large-binary', true],
      ['large-text', true],
    ]);
    expect(echoes.find((e) => e.kind === 'large-binary')!.bytes).toBe(4 * MIB);
    expect(echoes.find((e) => e.kind === 'large-text')!.bytes).toBeGreaterThan(4 * MIB); // multi-byte characters
    expect(byEvent('pong')[0].payload).toBe(Buffer.from('ping \x00\xff payload', 'latin1').toString('hex'));
    // Our server answers a close with the peer's own code and no reason.
    expect(byEvent('closed')[0]).toMatchObject({ code: 4000, reason: '' });
  });

  it('sees 1001 when the server shuts down (SIGTERM closes every connection)', async () => {
    const own = await startEchoServer();
    try {
      const client = python('websockets_client.py', [`ws://127.0.0.1:${own.port}/`, '--wait-close']);
      await client.next((e) => e.event === 'open', 10_000, 'open');
      await own.stop();
      const closed = await client.next((e) => e.event === 'closed', 10_000, 'closed');
      expect(closed.code).toBe(1001);
      expect(await within(client.exited, 10_000, 'the python client')).toBe(0);
    } finally {
      await own.stop();
    }
  });
});

interface OurClient {
  conn: WebSocketConnection;
  messages: Array<{ opcode: number; data: Buffer }>;
  closed: Promise<{ code: number; info: CloseInfo }>;
}

async function ourClient(url: string, perMessageDeflate: boolean): Promise<OurClient> {
  const messages: OurClient['messages'] = [];
  let settle!: (c: { code: number; info: CloseInfo }) => void;
  const closed = new Promise<{ code: number; info: CloseInfo }>((resolve) => (settle = resolve));
  const conn = await connect(url, {
    perMessageDeflate,
    maxRecvSize: 16 * MIB,
    onMsgRecv(_rsv, opcode, data) {
      if (opcode === Opcode.TEXT || opcode === Opcode.BINARY) messages.push({ opcode, data });
    },
    onClose(code, info) {
      settle({ code, info });
    },
  });
  return { conn, messages, closed };
}

describe.skipIf(skipWithout(peer))(`our connect() → websockets ${version ?? '(missing)'} server`, () => {
  beforeAll(() => requirePeer(peer));

  async function startServer(compression: 'deflate' | 'none'): Promise<{ server: PythonPeer; port: number }> {
    const server = python('websockets_server.py', ['--compression', compression]);
    const listening = await server.next((e) => e.event === 'listening', 15_000, 'listening');
    return { server, port: listening.port as number };
  }

  it.each([
    { python: 'deflate', ours: true, negotiated: true },
    { python: 'none', ours: true, negotiated: false },
    { python: 'deflate', ours: false, negotiated: false },
  ] as const)('python $python, ours offers deflate: $ours → echoes byte-exact, closes 1000 both ways', async (c) => {
    const { server, port } = await startServer(c.python);
    const client = await ourClient(`ws://127.0.0.1:${port}/echo`, c.ours);
    const connection = await server.next((e) => e.event === 'connection', 5000, 'connection');
    expect(client.conn.extensions).toBe(c.negotiated ? 'permessage-deflate' : '');
    expect(connection.extensions).toEqual(c.negotiated ? ['permessage-deflate'] : []);

    const binary = randomBytes(1000);
    const large = randomBytes(4 * MIB);
    const largeText = 'aé€𝄞日'.repeat(200_000);
    client.conn.queueMsg(TEXT, Opcode.TEXT);
    client.conn.queueMsg(binary, Opcode.BINARY);
    client.conn.queueMsg(large, Opcode.BINARY);
    client.conn.queueMsg(largeText, Opcode.TEXT);
    await waitFor(() => client.messages.length === 4, 20_000, 'four echoes');
    expect(client.messages.map((m) => m.opcode)).toEqual([Opcode.TEXT, Opcode.BINARY, Opcode.BINARY, Opcode.TEXT]);
    expect(client.messages[0].data.toString('utf8')).toBe(TEXT);
    expect(client.messages[1].data.equals(binary)).toBe(true);
    expect(client.messages[2].data.equals(large)).toBe(true);
    expect(client.messages[3].data.toString('utf8')).toBe(largeText);

    client.conn.close(1000, 'done');
    const { code, info } = await within(client.closed, 10_000, 'onClose');
    expect(code).toBe(1000);
    expect(info.wasClean).toBe(true);
    const pyClosed = await server.next((e) => e.event === 'closed', 10_000, 'closed');
    expect(pyClosed).toMatchObject({ code: 1000, reason: 'done' });
  });

  it('answers the server’s ping with its payload; the server’s close 4001 and reason reach onClose', async () => {
    const { server, port } = await startServer('deflate');
    const client = await ourClient(`ws://127.0.0.1:${port}/close/4001`, true);
    const pong = await server.next((e) => e.event === 'pong', 10_000, 'pong');
    expect(pong.payload).toBe(Buffer.from('server ping \x01\x02').toString('hex'));
    const { code, info } = await within(client.closed, 10_000, 'onClose');
    expect(code).toBe(4001);
    expect(info.reason).toBe('closing from python');
    expect(info.wasClean).toBe(true);
    const pyClosed = await server.next((e) => e.event === 'closed', 10_000, 'closed');
    expect(pyClosed.code).toBe(4001); // we answer with the server's code
  });
});

describe.skipIf(skipWithout(peer))(`wss: websockets ${version ?? '(missing)'} ↔ ours over TLS (a throwaway CA)`, () => {
  let certs: TestCertificates;
  beforeAll(() => {
    requirePeer(peer);
    certs = makeTestCertificates();
  });
  afterAll(() => certs?.remove());

  it.each(['deflate', 'none'])(
    'the python wss client → npm start --tls-cert --tls-key (compression %s): echoes byte-exact, close answered',
    async (compression) => {
      const own = await startEchoServer({ port: 0 }, ['--tls-cert', certs.certFile, '--tls-key', certs.keyFile]);
      try {
        expect(own.output()).toMatch(/listening on https:/);
        const client = python('websockets_client.py', [
          `wss://localhost:${own.port}/`,
          '--compression',
          compression,
          '--ca',
          certs.caFile,
        ]);
        expect(await within(client.exited, 60_000, 'the python client'), client.output()).toBe(0);
        const echoes = client.events.filter((e) => e.event === 'echo');
        expect(echoes.map((e) => e.equal)).toEqual([true, true, true, true, true]);
        expect(client.events.find((e) => e.event === 'open')!.extensions).toEqual(
          compression === 'deflate' ? ['permessage-deflate'] : [],
        );
        expect(client.events.find((e) => e.event === 'closed')).toMatchObject({ code: 4000 });
      } finally {
        await own.stop();
      }
    },
  );

  it("our connect('wss://…') → the python wss server: echoes 4 MiB byte-exact, closes 1000 both ways", async () => {
    const server = python('websockets_server.py', ['--tls-cert', certs.certFile, '--tls-key', certs.keyFile]);
    const { port } = (await server.next((e) => e.event === 'listening', 15_000, 'listening')) as { port: number } & PeerEvent;
    const messages: Buffer[] = [];
    let settle!: (c: { code: number; info: CloseInfo }) => void;
    const closed = new Promise<{ code: number; info: CloseInfo }>((resolve) => (settle = resolve));
    const conn = await connect(`wss://localhost:${port}/echo`, {
      ca: certs.ca,
      perMessageDeflate: true,
      maxRecvSize: 16 * MIB,
      onMsgRecv: (_rsv, _opcode, data) => messages.push(data),
      onClose: (code, info) => settle({ code, info }),
    });
    expect(conn.extensions).toBe('permessage-deflate');
    const large = randomBytes(4 * MIB);
    conn.queueMsg(TEXT);
    conn.queueMsg(large, Opcode.BINARY);
    await waitFor(() => messages.length === 2, 20_000, 'two echoes');
    expect(messages[0].toString('utf8')).toBe(TEXT);
    expect(messages[1].equals(large)).toBe(true);
    conn.close(1000, 'done');
    const { code, info } = await within(closed, 10_000, 'onClose');
    expect([code, info.wasClean]).toEqual([1000, true]);
    expect(await server.next((e) => e.event === 'closed', 10_000, 'closed')).toMatchObject({ code: 1000, reason: 'done' });
  });
});
