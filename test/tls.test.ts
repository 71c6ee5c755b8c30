// wss: the stream transport under a real node:tls session, with a certificate signed at test time by a throwaway CA
// (test/helpers/tls-cert.ts). Our server on https.createServer against the `ws` package as a wss client, and our
// connect('wss://…') against a ws server on https, with and without permessage-deflate; certificate errors; what
// the fd-only paths (upgradeForHandoff, WorkerPool, transport: 'fd') say about a TLS socket.
import { randomBytes } from 'node:crypto';
import * as https from 'node:https';
import type * as net from 'node:net';
import * as tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer as WsServer } from 'ws';

import {
  connect,
  handleUpgrade,
  HandshakeError,
  Opcode,
  upgradeForHandoff,
  WebSocketConnection,
  WebSocketServer,
} from '../src/index.js';
import { makeTestCertificates, type TestCertificates } from './helpers/tls-cert.js';
import { waitFor, within } from './helpers/wait.js';

let certs: TestCertificates;
const servers: Array<{ close(cb: () => void): void }> = [];
const sockets: Array<{ destroy(): void }> = [];

beforeAll(() => {
  certs = makeTestCertificates();
});
afterAll(() => certs.remove());
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await new Promise<void>((resolve) => s.close(() => resolve()));
});

async function startHttps(onUpgrade?: (req: https.IncomingMessage, socket: net.Socket, head: Buffer) => void) {
  const server = https.createServer({ key: certs.key, cert: certs.cert });
  servers.push(server);
  if (onUpgrade) server.on('upgrade', onUpgrade);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as net.AddressInfo).port };
}

function wssClient(port: number, options: WebSocket.ClientOptions = {}) {
  const ws = new WebSocket(`wss://localhost:${port}/`, { ca: certs.ca, perMessageDeflate: false, ...options });
  sockets.push({ destroy: () => ws.terminate() });
  const messages: Array<{ data: Buffer; isBinary: boolean }> = [];
  ws.on('message', (data, isBinary) => messages.push({ data: data as Buffer, isBinary }));
  ws.on('error', () => {});
  const opened = within(new Promise<void>((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject))),
    5000, 'the wss client to open');
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return { ws, messages, opened, closed };
}

/** A TLS client that sends an upgrade request and records what comes back until the connection ends. */
function tlsUpgradeClient(port: number): { received: () => string; ended: Promise<void> } {
  let received = '';
  const socket = tls.connect({ port, host: '127.0.0.1', ca: certs.ca, servername: 'localhost' }, () =>
    socket.write(
      'GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    ),
  );
  sockets.push(socket);
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  socket.on('error', () => {});
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return { received: () => received, ended: within(ended, 5000, 'the TLS connection to end') };
}

describe.each([false, true])('our wss server ↔ ws client (permessage-deflate: %s)', (deflate) => {
  it('echoes text and binary (up to 4 MiB) byte-exact over TLS; close 4000 with its reason reaches both', async () => {
    const { server, port } = await startHttps();
    const wss = new WebSocketServer({ server: server as unknown as import('node:http').Server, perMessageDeflate: deflate });
    const conns: WebSocketConnection[] = [];
    const closes: Array<{ code: number; wasClean: boolean; reason: string }> = [];
    wss.on('connection', (c) => {
      conns.push(c);
      c.onMsgRecv = function (_rsv, opcode, msg) {
        if (opcode === Opcode.TEXT || opcode === Opcode.BINARY) this.queueMsg(msg, opcode);
      };
      c.onClose = (code, info) => closes.push({ code, wasClean: info.wasClean, reason: info.reason });
    });
    const client = wssClient(port, { perMessageDeflate: deflate });
    await client.opened;
    expect(client.ws.extensions).toBe(deflate ? 'permessage-deflate' : '');
    const big = randomBytes(4 << 20);
    client.ws.send('héllo ✓');
    client.ws.send(big);
    client.ws.send(Buffer.alloc(0));
    await waitFor(() => client.messages.length === 3, 15_000);
    expect(client.messages[0]).toEqual({ data: Buffer.from('héllo ✓'), isBinary: false });
    expect(client.messages[1].data.equals(big)).toBe(true);
    expect(client.messages[2].data.length).toBe(0);
    client.ws.close(4000, 'done');
    // Our echo of a close carries its code only.
    expect(await within(client.closed, 5000, 'the ws close')).toEqual({ code: 4000, reason: '' });
    await waitFor(() => closes.length === 1);
    expect(closes).toEqual([{ code: 4000, wasClean: true, reason: 'done' }]);
    wss.close();
  });
});

describe('a TLS socket on the server side', () => {
  it('handleUpgrade gives it the stream transport: bufferedAmount counts what the TLS stream holds', async () => {
    let conn: WebSocketConnection | undefined;
    const { port } = await startHttps((req, socket, head) => {
      conn = handleUpgrade(req, socket, head);
    });
    const client = wssClient(port);
    await client.opened;
    await waitFor(() => conn !== undefined);
    // The ws client stops reading: what we queue piles up in the TLS stream and in our queue.
    (client.ws as unknown as { _socket: net.Socket })._socket.pause();
    const chunk = randomBytes(256 * 1024);
    for (let i = 0; i < 64; i++) conn!.queueMsg(chunk, Opcode.BINARY);
    await new Promise((r) => setTimeout(r, 200));
    const held = conn!.bufferedAmount;
    expect(held).toBeGreaterThan(0);
    let drained = false;
    conn!.wait(() => (drained = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(drained).toBe(false);
    (client.ws as unknown as { _socket: net.Socket })._socket.resume();
    await waitFor(() => client.messages.length === 64, 20_000);
    await waitFor(() => drained, 5000);
    expect(conn!.bufferedAmount).toBe(0);
    expect(client.messages.every((m) => m.data.equals(chunk))).toBe(true);
  });

  it('a peer that resets the TLS connection: onClose(1006) exactly once, not clean', async () => {
    const closes: Array<{ code: number; wasClean: boolean }> = [];
    const { port } = await startHttps((req, socket, head) => {
      const c = handleUpgrade(req, socket, head)!;
      c.onMsgRecv = () => {}; // a connection with no reader does not read, so it would not see the end either
      c.onClose = (code, info) => closes.push({ code, wasClean: info.wasClean });
    });
    const client = wssClient(port);
    await client.opened;
    client.ws.terminate();
    await waitFor(() => closes.length === 1);
    await new Promise((r) => setTimeout(r, 100));
    expect(closes).toEqual([{ code: 1006, wasClean: false }]);
  });

  it("transport: 'fd' is refused before the 101 (its fd is the TCP one under the encryption)", async () => {
    const errors: unknown[] = [];
    const { port } = await startHttps((req, socket, head) => {
      try {
        handleUpgrade(req, socket, head, { transport: 'fd' });
      } catch (err) {
        errors.push(err);
      }
    });
    const client = tlsUpgradeClient(port);
    await client.ended;
    expect(client.received()).toBe('');
    expect(errors[0]).toBeInstanceOf(TypeError);
    expect(String(errors[0])).toMatch(/TLS socket has no fd/);
  });

  it('upgradeForHandoff (the WorkerPool) rejects it before writing anything: a TLS session stays on its thread', async () => {
    const outcomes: Array<Promise<unknown>> = [];
    const { port } = await startHttps((req, socket, head) =>
      outcomes.push(upgradeForHandoff(req, socket, head).then(() => 'resolved', (err: unknown) => err)),
    );
    const client = tlsUpgradeClient(port);
    await client.ended;
    expect(client.received()).toBe('');
    const err = await outcomes[0];
    expect(err).toBeInstanceOf(TypeError);
    expect(String(err)).toMatch(/cannot be handed to another thread/);
  });

  it('something that is not a stream is a TypeError', () => {
    expect(() => new WebSocketConnection({ socket: {} as net.Socket })).toThrow(TypeError);
    expect(() => new WebSocketConnection({ fd: 0, transport: 'stream' })).toThrow(TypeError);
    expect(() => new WebSocketConnection({ fd: 0, transport: 'tcp' as 'fd' })).toThrow(TypeError);
  });
});

describe("our client: connect('wss://…')", () => {
  async function startWssPeer(deflate: boolean) {
    const server = https.createServer({ key: certs.key, cert: certs.cert });
    servers.push(server);
    const alpn: Array<string | false> = [];
    const sni: Array<string | false> = [];
    server.on('secureConnection', (s: tls.TLSSocket) => {
      alpn.push(s.alpnProtocol);
      sni.push((s as unknown as { servername: string | false }).servername);
    });
    const wss = new WsServer({ server, perMessageDeflate: deflate });
    wss.on('connection', (ws) => {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      ws.on('ping', () => {});
    });
    servers.push(wss);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { port: (server.address() as net.AddressInfo).port, alpn, sni };
  }

  it.each([false, true])('echoes through a ws wss server (permessage-deflate: %s), SNI and ALPN set', async (deflate) => {
    const peer = await startWssPeer(deflate);
    const messages: Buffer[] = [];
    const conn = await connect(`wss://localhost:${peer.port}/echo`, {
      ca: certs.ca,
      perMessageDeflate: deflate,
      onMsgRecv: (_rsv, _op, msg) => messages.push(msg),
    });
    expect(conn.extensions).toBe(deflate ? 'permessage-deflate' : '');
    const big = randomBytes(2 << 20);
    conn.queueMsg('hi');
    conn.queueMsg(big, Opcode.BINARY);
    await waitFor(() => messages.length === 2, 10_000);
    expect(messages[0].toString()).toBe('hi');
    expect(messages[1].equals(big)).toBe(true);
    expect(peer.alpn).toEqual(['http/1.1']);
    expect(peer.sni).toEqual(['localhost']);
    const closed = new Promise<number>((resolve) => (conn.onClose = (code) => resolve(code)));
    conn.close(1000);
    expect(await within(closed, 5000, 'onClose')).toBe(1000);
  });

  it("a certificate that does not verify rejects with code 'TLS' and the tls error as cause", async () => {
    const peer = await startWssPeer(false);
    const err = await connect(`wss://localhost:${peer.port}/`).then(
      () => 'connected',
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HandshakeError);
    expect(err).toMatchObject({ code: 'TLS' });
    expect((err as { cause?: { code?: string } }).cause?.code).toMatch(/UNABLE_TO_VERIFY|SELF_SIGNED|UNABLE_TO_GET/);
    // A name the certificate does not carry, with the right CA: also TLS.
    const misnamed = await connect(`wss://127.0.0.1:${peer.port}/`, { ca: certs.ca, servername: 'example.com' }).then(
      () => 'connected',
      (e: unknown) => e,
    );
    expect(misnamed).toMatchObject({ code: 'TLS' });
    // rejectUnauthorized: false accepts it (as ws does).
    const conn = await connect(`wss://localhost:${peer.port}/`, { rejectUnauthorized: false });
    conn.close(1000);
  });

  it('follows a redirect from ws: to wss:', async () => {
    const peer = await startWssPeer(false);
    const http = await import('node:http');
    const redirector = http.createServer();
    servers.push(redirector);
    redirector.on('upgrade', (_req, socket: net.Socket) =>
      socket.end(`HTTP/1.1 302 Found\r\nLocation: wss://localhost:${peer.port}/\r\nContent-Length: 0\r\n\r\n`));
    await new Promise<void>((resolve) => redirector.listen(0, '127.0.0.1', resolve));
    const port = (redirector.address() as net.AddressInfo).port;
    const conn = await connect(`ws://127.0.0.1:${port}/`, { followRedirects: true, ca: certs.ca });
    expect(conn.readyState).toBe('open');
    conn.close(1000);
  });

  it('an invalid URL rejects (BAD_URL), never throws', async () => {
    let p: Promise<unknown> | undefined;
    expect(() => (p = connect('wss://'))).not.toThrow();
    await expect(p).rejects.toMatchObject({ code: 'BAD_URL' });
  });
});
