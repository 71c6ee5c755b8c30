// wslay/ws against the `ws` package, both ways: our WebSocketServer with ws's client, and our client with ws's
// server, for each behaviour of ws 8's API (doc/ws.md).
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import RealWs, { WebSocketServer as RealServer } from 'ws';

import { makeTestCertificates } from './helpers/tls-cert.js';
import { waitFor, within } from './helpers/wait.js';

const require = createRequire(import.meta.url);
const WebSocket = require('wslay/ws');
const { WebSocketServer } = WebSocket;

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

type Kind = 'ours' | 'ws';
/** A server of either kind on an ephemeral port, its connections given to `onConnection`. */
async function serve(kind: Kind, options: Record<string, unknown> = {}, onConnection?: (ws: any, req: http.IncomingMessage) => void) {
  const Ctor = kind === 'ours' ? WebSocketServer : RealServer;
  const wss: any = new Ctor({ port: 0, host: '127.0.0.1', ...options });
  cleanups.push(() => {
    for (const c of wss.clients ?? []) c.terminate();
    wss.close();
  });
  if (onConnection) wss.on('connection', onConnection);
  await new Promise((r) => wss.once('listening', r));
  return { wss, url: `ws://127.0.0.1:${wss.address().port}` };
}
function dial(kind: Kind, url: string, protocols?: unknown, options?: unknown): any {
  const Ctor = kind === 'ours' ? WebSocket : RealWs;
  const ws = new Ctor(url, protocols as any, options as any);
  ws.on('error', () => undefined);
  cleanups.push(() => ws.terminate());
  return ws;
}
const opened = (ws: any) => within(new Promise((r, j) => (ws.once('open', r), ws.once('error', j))), 5000, 'open');
const message = (ws: any) =>
  within(new Promise<[any, boolean]>((r) => ws.once('message', (d: any, b: boolean) => r([d, b]))), 5000, 'message');
const closed = (ws: any) =>
  within(new Promise<[number, Buffer]>((r) => ws.once('close', (c: number, why: Buffer) => r([c, why]))), 5000, 'close');
const connection = (wss: any) => within(new Promise<any>((r) => wss.once('connection', r)), 5000, 'connection');

/** Both directions: [our side, the peer's kind]. In 'server' our server meets ws's client; in 'client' the reverse. */
const PAIRS: Array<{ name: string; ours: 'server' | 'client' }> = [
  { name: 'our server ↔ ws client', ours: 'server' },
  { name: 'our client ↔ ws server', ours: 'client' },
];

/** Opens a pair and returns [ourSocket, peerSocket]. */
async function pair(ours: 'server' | 'client', serverOptions: Record<string, unknown> = {}, clientOptions?: unknown, protocols?: unknown) {
  const { wss, url } = await serve(ours === 'server' ? 'ours' : 'ws', serverOptions);
  const accepted = connection(wss);
  const client = dial(ours === 'client' ? 'ours' : 'ws', url, protocols, clientOptions);
  const [serverSide] = await Promise.all([accepted, opened(client)]);
  return { wss, our: ours === 'server' ? serverSide : client, peer: ours === 'server' ? client : serverSide };
}

for (const { name, ours } of PAIRS) {
  describe(name, () => {
    it('text and binary messages arrive in order with isBinary, text as a Buffer', async () => {
      const { our, peer } = await pair(ours);
      const got: Array<[string, boolean]> = [];
      our.on('message', (d: Buffer, b: boolean) => got.push([b ? d.toString('hex') : d.toString(), b]));
      const big = Buffer.alloc(70_000, 7);
      peer.send('héllo ✓');
      peer.send(Buffer.from([1, 2, 3]));
      peer.send('');
      peer.send(big);
      await waitFor(() => got.length === 4, 5000, 'four messages');
      expect(got[0]).toEqual(['héllo ✓', false]);
      expect(got[1]).toEqual(['010203', true]);
      expect(got[2]).toEqual(['', false]);
      expect(got[3]).toEqual([big.toString('hex'), true]);
      // and back: string → text, Buffer → binary, binary: false → text
      const back: Array<[string, boolean]> = [];
      peer.on('message', (d: Buffer, b: boolean) => back.push([d.toString(), b]));
      our.send('a');
      our.send(Buffer.from('b'));
      our.send(Buffer.from('c'), { binary: false });
      our.send(42);
      await waitFor(() => back.length === 4, 5000, 'four back');
      expect(back).toEqual([['a', false], ['b', true], ['c', false], ['42', false]]);
    });

    it('binaryType: arraybuffer, fragments, blob, nodebuffer', async () => {
      const { our, peer } = await pair(ours);
      expect(our.binaryType).toBe('nodebuffer');
      our.binaryType = 'arraybuffer';
      peer.send(Buffer.from([9, 8]));
      const [ab] = await message(our);
      expect(ab).toBeInstanceOf(ArrayBuffer);
      expect([...new Uint8Array(ab)]).toEqual([9, 8]);
      our.binaryType = 'fragments';
      peer.send(Buffer.from([7]));
      const [frags] = await message(our);
      expect(Array.isArray(frags)).toBe(true);
      expect([...Buffer.concat(frags)]).toEqual([7]);
      our.binaryType = 'blob';
      peer.send(Buffer.from([6, 5]));
      const [blob] = await message(our);
      expect(blob).toBeInstanceOf(Blob);
      expect([...new Uint8Array(await blob.arrayBuffer())]).toEqual([6, 5]);
      our.binaryType = 'bogus';
      expect(our.binaryType).toBe('blob');
    });

    it('close(code, reason): both sides get the code and the reason as a Buffer; readyState goes 2 then 3', async () => {
      const { our, peer } = await pair(ours);
      const peerClosed = closed(peer);
      const ourClosed = closed(our);
      expect(our.readyState).toBe(WebSocket.OPEN);
      our.close(4001, 'bye ✓');
      expect(our.readyState).toBe(WebSocket.CLOSING);
      const [[pc, pr], [oc, or]] = await Promise.all([peerClosed, ourClosed]);
      expect([pc, pr.toString()]).toEqual([4001, 'bye ✓']);
      expect(oc).toBe(4001);
      expect(Buffer.isBuffer(or)).toBe(true);
      expect(our.readyState).toBe(WebSocket.CLOSED);
      expect(our.readyState).toBe(our.CLOSED);
    });

    it('the peer closing without a code gives 1005 and an empty reason', async () => {
      const { our, peer } = await pair(ours);
      const ourClosed = closed(our);
      peer.close();
      const [code, reason] = await ourClosed;
      expect(code).toBe(1005);
      expect(reason.length).toBe(0);
    });

    it('ping(data) is answered by the peer: our "pong" gets the data; the peer\'s pings reach "ping"', async () => {
      const { our, peer } = await pair(ours);
      const pong = within(new Promise<Buffer>((r) => our.once('pong', r)), 5000, 'pong');
      let sent = false;
      our.ping('abc', undefined, () => (sent = true));
      expect((await pong).toString()).toBe('abc');
      expect(sent).toBe(true);
      const ping = within(new Promise<Buffer>((r) => our.once('ping', r)), 5000, 'ping');
      const peerPong = within(new Promise<Buffer>((r) => peer.once('pong', r)), 5000, 'peer pong');
      peer.ping(Buffer.from('xyz'));
      expect((await ping).toString()).toBe('xyz');
      expect((await peerPong).toString()).toBe('xyz'); // answered automatically
      const unsolicited = within(new Promise<Buffer>((r) => peer.once('pong', r)), 5000, 'unsolicited pong');
      our.pong('u');
      expect((await unsolicited).toString()).toBe('u');
      expect(() => our.ping(Buffer.alloc(126))).toThrow(RangeError);
    });

    it('subprotocols: handleProtocols(Set, req) picks one; protocol is set on both ends', async () => {
      let offered: Set<string> | undefined;
      const { our, peer } = await pair(
        ours,
        {
          handleProtocols: (set: Set<string>, req: http.IncomingMessage) => {
            offered = set;
            expect(req.headers['sec-websocket-protocol']).toBe('chat,superchat');
            return 'superchat';
          },
        },
        undefined,
        ['chat', 'superchat'],
      );
      expect(offered).toBeInstanceOf(Set);
      expect([...offered!]).toEqual(['chat', 'superchat']);
      expect(our.protocol).toBe('superchat');
      expect(peer.protocol).toBe('superchat');
    });

    it('perMessageDeflate (ws\'s object): negotiated, extensions says so, compressed messages pass', async () => {
      const { our, peer } = await pair(ours, { perMessageDeflate: { threshold: 10, zlibDeflateOptions: { level: 1 } } }, {
        perMessageDeflate: { threshold: 10 },
      });
      expect(our.extensions).toContain('permessage-deflate');
      expect(peer.extensions).toContain('permessage-deflate');
      const text = 'compress me '.repeat(5000);
      peer.send(text);
      const [got, isBinary] = await message(our);
      expect([got.toString(), isBinary]).toEqual([text, false]);
      our.send(text);
      const [back] = await message(peer);
      expect(back.toString()).toBe(text);
    });

    it('maxPayload: a larger message gets "error" (RangeError) then "close" 1009; the peer sees 1009', async () => {
      const { our, peer } = await pair(ours, ours === 'server' ? { maxPayload: 100 } : {}, ours === 'client' ? { maxPayload: 100 } : undefined);
      const order: string[] = [];
      let error: any;
      our.on('error', (e: any) => {
        error = e;
        order.push('error');
      });
      const ourClosed = closed(our);
      our.on('close', () => order.push('close'));
      const peerClosed = closed(peer);
      peer.send(Buffer.alloc(200));
      const [[code], [peerCode]] = await Promise.all([ourClosed, peerClosed]);
      expect(code).toBe(1009);
      expect(peerCode).toBe(1009);
      expect(order).toEqual(['error', 'close']);
      expect(error).toBeInstanceOf(RangeError);
      expect(error.code).toBe('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH');
    });

    it('a peer that closes with 1002 itself: "close" 1002 and no "error" (that is for failures of our own)', async () => {
      const { our, peer } = await pair(ours);
      const errors: Error[] = [];
      our.on('error', (e: Error) => errors.push(e));
      const ourClosed = closed(our);
      peer.close(1002, 'your fault');
      const [code, reason] = await ourClosed;
      expect([code, reason.toString()]).toEqual([1002, 'your fault']);
      expect(errors).toEqual([]);
    });

    it('send(data, cb) calls back once written; fin: false fragments arrive as one message', async () => {
      const { our, peer } = await pair(ours);
      const done = await within(new Promise<unknown>((r) => our.send('x', (err: unknown) => r(err ?? 'ok'))), 5000, 'cb');
      expect(done).toBe('ok');
      expect((await message(peer))[0].toString()).toBe('x');
      const next = message(peer);
      our.send('part1-', { fin: false });
      our.send(Buffer.from('part2-'), { fin: false });
      our.send('end', { fin: true });
      const [whole, isBinary] = await next;
      expect([whole.toString(), isBinary]).toEqual(['part1-part2-end', false]);
    });

    it('terminate(): the peer sees 1006, we do too, and sends after it call back with an error', async () => {
      const { our, peer } = await pair(ours);
      const peerClosed = closed(peer);
      const ourClosed = closed(our);
      our.terminate();
      expect((await ourClosed)[0]).toBe(1006);
      expect((await peerClosed)[0]).toBe(1006);
      const err = await within(new Promise<any>((r) => our.send('late', r)), 5000, 'late cb');
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toMatch(/readyState 3/);
    });

    it('pause() holds messages (isPaused) until resume()', async () => {
      const { our, peer } = await pair(ours);
      our.pause();
      expect(our.isPaused).toBe(true);
      const got: string[] = [];
      our.on('message', (d: Buffer) => got.push(d.toString()));
      peer.send('held');
      await new Promise((r) => setTimeout(r, 100));
      expect(got).toEqual([]);
      our.resume();
      expect(our.isPaused).toBe(false);
      await waitFor(() => got.length === 1, 5000, 'held message');
      expect(got).toEqual(['held']);
    });

    it('pause() while the peer sends and closes: on resume() the message comes first, and a reply sent from its listener still goes out before the close', async () => {
      const { our, peer } = await pair(ours);
      our.pause();
      const peerGot: string[] = [];
      peer.on('message', (d: Buffer) => peerGot.push(d.toString()));
      const peerClosed = closed(peer);
      peer.send('last words');
      peer.close(1000);
      await new Promise((r) => setTimeout(r, 100));
      const results: unknown[] = [];
      our.on('message', (d: Buffer) => {
        results.push(d.toString());
        our.send('reply', (err: Error | undefined) => results.push(err ? 'cb error' : 'cb ok'));
      });
      const ourClosed = closed(our);
      our.resume();
      expect((await ourClosed)[0]).toBe(1000);
      expect((await peerClosed)[0]).toBe(1000);
      expect(results).toEqual(['last words', 'cb ok']);
      expect(peerGot).toEqual(['reply']);
      // after the end, a send calls back with an error and throws nothing
      const late = await within(new Promise<unknown>((r) => our.send('late', r)), 5000, 'late cb');
      expect(late).toBeInstanceOf(Error);
    });

    it('WHATWG: onopen/onmessage/onclose/onerror and addEventListener with once', async () => {
      const { our, peer } = await pair(ours);
      const events: string[] = [];
      our.onmessage = (e: any) => events.push(`onmessage:${e.data}:${e.type}:${e.target === our}`);
      expect(typeof our.onmessage).toBe('function');
      const once = (e: any) => events.push(`once:${typeof e.data === 'string' ? 'string' : 'binary'}`);
      our.addEventListener('message', once, { once: true });
      our.addEventListener('message', once, { once: true }); // the same listener twice is one
      const handler = { handleEvent: (e: any) => events.push(`object:${Buffer.from(e.data).toString()}`) };
      our.addEventListener('message', handler);
      peer.send('t');
      await waitFor(() => events.length === 3, 5000, 'three events');
      our.removeEventListener('message', handler);
      peer.send(Buffer.from('b'));
      await waitFor(() => events.length === 4, 5000, 'fourth');
      expect(events).toEqual(['onmessage:t:message:true', 'once:string', 'object:t', 'onmessage:b:message:true']);
      const close = within(
        new Promise<any>((r) => (our.onclose = r)),
        5000,
        'onclose',
      );
      peer.close(1000, 'done');
      const ev = await close;
      expect([ev.type, ev.code, ev.reason, ev.wasClean]).toEqual(['close', 1000, 'done', true]);
      our.onmessage = null;
      expect(our.onmessage).toBe(null);
    });
  });
}

describe('our WebSocketServer: options and events (ws client)', () => {
  it('answers a plain HTTP request with 426, as ws does; the callback argument is the listening callback', async () => {
    let called = false;
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' }, () => (called = true));
    cleanups.push(() => wss.close());
    await new Promise((r) => wss.once('listening', r));
    expect(called).toBe(true);
    const res = await new Promise<http.IncomingMessage>((r) => http.get(`http://127.0.0.1:${wss.address().port}/`, r));
    expect(res.statusCode).toBe(426);
    res.resume();
  });

  it('"error": the http server\'s own errors are re-emitted (EADDRINUSE)', async () => {
    const { wss } = await serve('ours');
    const second = new WebSocketServer({ port: wss.address().port, host: '127.0.0.1' });
    cleanups.push(() => second.close());
    const err = await within(new Promise<any>((r) => second.on('error', r)), 5000, 'error');
    expect(err.code).toBe('EADDRINUSE');
  });

  it('path: another path gets 400, never a hang; shouldHandle says so', async () => {
    const { wss, url } = await serve('ours', { path: '/ws' });
    const bad = dial('ws', `${url}/other`);
    const err = await within(new Promise<Error>((r) => bad.on('error', r)), 5000, 'refusal');
    expect(err.message).toBe('Unexpected server response: 400');
    const good = dial('ws', `${url}/ws?x=1`);
    await opened(good);
    expect(wss.shouldHandle({ url: '/ws?y' })).toBe(true);
    expect(wss.shouldHandle({ url: '/wsx' })).toBe(false);
  });

  it('verifyClient, sync: false → 401; info has origin and req', async () => {
    let info: any;
    const { url } = await serve('ours', { verifyClient: (i: any) => ((info = i), false) });
    const c = dial('ws', url, undefined, { origin: 'https://example.com' });
    const err = await within(new Promise<Error>((r) => c.on('error', r)), 5000, 'refusal');
    expect(err.message).toBe('Unexpected server response: 401');
    expect(info.origin).toBe('https://example.com');
    expect(info.secure).toBe(false);
    expect(info.req.url).toBe('/');
  });

  it('verifyClient, async: the callback\'s code, message and headers; true lets the connection in', async () => {
    const { url } = await serve('ours', {
      verifyClient: (i: any, cb: (...a: unknown[]) => void) =>
        setTimeout(() => (i.req.url === '/ok' ? cb(true) : cb(false, 403, 'nope', { 'X-Why': 'test' })), 10),
    });
    const refused = dial('ws', `${url}/no`);
    const res = await within(
      new Promise<http.IncomingMessage>((r) => refused.on('unexpected-response', (_req: unknown, res: http.IncomingMessage) => r(res))),
      5000,
      'refusal',
    );
    expect(res.statusCode).toBe(403);
    expect(res.headers['x-why']).toBe('test');
    await opened(dial('ws', `${url}/ok`));
  });

  it('"headers" lets listeners add response headers; "connection" gets (ws, req); clients tracks it', async () => {
    const { wss, url } = await serve('ours');
    wss.on('headers', (headers: string[], req: http.IncomingMessage) => {
      expect(headers[0]).toBe('HTTP/1.1 101 Switching Protocols');
      headers.push(`X-Path: ${req.url}`);
    });
    const conn = new Promise<[any, http.IncomingMessage]>((r) => wss.once('connection', (ws: any, req: any) => r([ws, req])));
    const c = dial('ws', `${url}/h`);
    const upgrade = new Promise<http.IncomingMessage>((r) => c.once('upgrade', r));
    const [ws, req] = await within(conn, 5000, 'connection');
    expect((await upgrade).headers['x-path']).toBe('/h');
    expect(req.url).toBe('/h');
    expect(ws).toBeInstanceOf(WebSocket);
    expect(ws.url).toBeUndefined();
    expect(ws._socket.remoteAddress).toBe('127.0.0.1'); // what engine.io reads
    expect(ws._socket.remotePort).toBe(c._socket.localPort);
    expect(wss.clients.has(ws)).toBe(true);
    const gone = closed(ws);
    c.close();
    await gone;
    expect(wss.clients.size).toBe(0);
  });

  it('clientTracking: false leaves clients undefined; wsClientError gets bad requests when listened to', async () => {
    const { wss, url } = await serve('ours', { clientTracking: false });
    expect(wss.clients).toBeUndefined();
    const seen = new Promise<[Error, net.Socket]>((r) => wss.on('wsClientError', (e: Error, s: net.Socket) => r([e, s])));
    const port = Number(new URL(url).port);
    const raw = net.connect(port, '127.0.0.1', () =>
      raw.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n'),
    );
    cleanups.push(() => raw.destroy());
    const [err, socket] = await within(seen, 5000, 'wsClientError');
    expect(err).toBeInstanceOf(Error);
    socket.end('HTTP/1.1 418 I\'m a teapot\r\n\r\n');
    const reply = await within(new Promise<string>((r) => raw.once('data', (d) => r(d.toString()))), 5000, 'reply');
    expect(reply).toMatch(/^HTTP\/1.1 418/);
  });

  it('close(cb): stops accepting, keeps open connections (ws 8), "close" once they are gone; address() and noServer', async () => {
    const { wss, url } = await serve('ours');
    expect(wss.address().port).toBe(Number(new URL(url).port));
    const c = dial('ws', url);
    await opened(c);
    let closedServer = false;
    wss.close(() => (closedServer = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(c.readyState).toBe(RealWs.OPEN);
    expect(closedServer).toBe(false);
    c.close();
    await waitFor(() => closedServer, 5000, 'server close');
    const err = await new Promise<Error>((r) => wss.close(r));
    expect(err.message).toBe('The server is not running');
    const ns = new WebSocketServer({ noServer: true });
    expect(() => ns.address()).toThrow(/noServer/);
    expect(() => new WebSocketServer({ port: 0, noServer: true })).toThrow(TypeError);
  });
});

describe('our client: options and events (ws server)', () => {
  it('headers, origin and URL credentials (Basic) reach the server; url and the constants', async () => {
    let req: http.IncomingMessage | undefined;
    const { url } = await serve('ws', {}, (_ws, r) => (req = r));
    const target = url.replace('ws://', 'ws://user:p%40ss@') + '/x?y=1';
    const c = dial('ours', target, undefined, { headers: { 'X-Token': 'abc' }, origin: 'https://o.example' });
    expect(c.readyState).toBe(WebSocket.CONNECTING);
    expect(() => c.send('too early')).toThrow(/CONNECTING/);
    await opened(c);
    expect(c.url).toBe(target);
    expect(req!.url).toBe('/x?y=1');
    expect(req!.headers['x-token']).toBe('abc');
    expect(req!.headers.origin).toBe('https://o.example');
    expect(req!.headers.authorization).toBe(`Basic ${Buffer.from('user:p@ss').toString('base64')}`);
    expect([WebSocket.CONNECTING, WebSocket.OPEN, WebSocket.CLOSING, WebSocket.CLOSED]).toEqual([0, 1, 2, 3]);
    expect(c.OPEN).toBe(1);
  });

  it('generateMask fills the masking keys (a zero mask leaves the payload as sent)', async () => {
    let calls = 0;
    const { wss, url } = await serve('ws');
    const got = new Promise<string>((r) => wss.on('connection', (s: any) => s.on('message', (d: Buffer) => r(d.toString()))));
    const c = dial('ours', url, undefined, { generateMask: (m: Buffer) => (calls++, m.fill(0)) });
    await opened(c);
    c.send('masked with zeros');
    expect(await within(got, 5000, 'message')).toBe('masked with zeros');
    expect(calls).toBeGreaterThan(0);
  });

  it('"upgrade" then "open"; onopen works', async () => {
    const { url } = await serve('ws');
    const c = dial('ours', url);
    const order: string[] = [];
    c.on('upgrade', (res: http.IncomingMessage) => order.push(`upgrade:${res.statusCode}`));
    c.onopen = () => order.push('open');
    await opened(c);
    expect(order).toEqual(['upgrade:101', 'open']);
  });

  it('a refused handshake: "error" (Unexpected server response) before "close" 1006; or "unexpected-response"', async () => {
    const server = http.createServer((_req, res) => res.writeHead(403).end('no'));
    server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => server.close());
    const url = `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const c = dial('ours', url);
    const order: string[] = [];
    c.on('error', (e: Error) => order.push(e.message));
    const done = closed(c);
    expect((await done)[0]).toBe(1006);
    expect(order).toEqual(['Unexpected server response: 403']);
    const d = dial('ours', url);
    const res = await within(
      new Promise<http.IncomingMessage>((r) => d.on('unexpected-response', (_q: unknown, s: http.IncomingMessage) => r(s))),
      5000,
      'unexpected-response',
    );
    expect(res.statusCode).toBe(403);
    res.resume();
  });

  it('followRedirects/maxRedirects: "redirect" (url, req), then the target; too many → error', async () => {
    const { url } = await serve('ws');
    const redirector = http.createServer();
    redirector.on('upgrade', (req, socket) => {
      const to = req.url === '/loop' ? '/loop' : `${url}/final`;
      socket.end(`HTTP/1.1 302 Found\r\nLocation: ${to}\r\nContent-Length: 0\r\n\r\n`);
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    cleanups.push(() => redirector.close());
    const from = `ws://127.0.0.1:${(redirector.address() as net.AddressInfo).port}`;
    const c = dial('ours', `${from}/start`, undefined, { followRedirects: true });
    const redirects: string[] = [];
    c.on('redirect', (u: string, req: http.ClientRequest) => redirects.push(`${u} ${typeof req.setHeader}`));
    await opened(c);
    expect(redirects).toEqual([`${url}/final function`]);
    const loop = dial('ours', `${from}/loop`, undefined, { followRedirects: true, maxRedirects: 2 });
    const err = await within(new Promise<Error>((r) => loop.on('error', r)), 5000, 'too many');
    expect(err.message).toBe('Maximum redirects exceeded');
  });

  it('handshakeTimeout: "error" then "close" 1006 when the server never answers', async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(() => silent.close());
    const c = dial('ours', `ws://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, undefined, { handshakeTimeout: 100 });
    const order: string[] = [];
    c.on('error', (e: Error) => order.push(e.message));
    c.on('close', (code: number) => order.push(String(code)));
    await waitFor(() => order.length === 2, 5000, 'timeout');
    expect(order).toEqual(['Opening handshake has timed out', '1006']);
  });

  it('onerror and onclose see a failed handshake as ErrorEvent then CloseEvent', async () => {
    const refusing = net.createServer((sock) => sock.end('HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n'));
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    cleanups.push(() => refusing.close());
    const c = new WebSocket(`ws://127.0.0.1:${(refusing.address() as net.AddressInfo).port}`);
    const events: string[] = [];
    c.onerror = (e: any) => events.push(`${e.type}:${e.message}:${e.error instanceof Error}`);
    c.onclose = (e: any) => events.push(`${e.type}:${e.code}:${e.wasClean}`);
    await waitFor(() => events.length === 2, 5000, 'events');
    expect(events).toEqual(['error:Unexpected server response: 500:true', 'close:1006:false']);
  });

  it('close() while connecting: "error" then "close" 1006, as ws', async () => {
    const { url } = await serve('ws');
    const c = dial('ours', url);
    const order: string[] = [];
    c.on('error', (e: Error) => order.push(e.message));
    c.on('close', (code: number) => order.push(String(code)));
    c.close();
    await waitFor(() => order.length === 2, 5000, 'abort');
    expect(order).toEqual(['WebSocket was closed before the connection was established', '1006']);
  });

  it('ws+unix: URLs, and localAddress/family/lookup go to the socket', async () => {
    const sock = path.join(os.tmpdir(), `wslay-ws-${process.pid}-${Date.now()}.sock`);
    const server = http.createServer();
    const wss = new RealServer({ server });
    let reqUrl = '';
    wss.on('connection', (ws, req) => {
      reqUrl = req.url!;
      ws.send('over unix');
    });
    await new Promise<void>((r) => server.listen(sock, r));
    cleanups.push(() => server.close(), () => wss.close());
    const c = dial('ours', `ws+unix:${sock}:/p?q=1`);
    expect((await message(c))[0].toString()).toBe('over unix');
    expect(reqUrl).toBe('/p?q=1');
    const { url } = await serve('ws');
    let looked = '';
    const d = dial('ours', url.replace('127.0.0.1', 'my-host.test'), undefined, {
      localAddress: '127.0.0.1',
      family: 4,
      lookup: (host: string, opts: { all?: boolean }, cb: (...a: unknown[]) => void) => {
        looked = host;
        if (opts.all) cb(null, [{ address: '127.0.0.1', family: 4 }]);
        else cb(null, '127.0.0.1', 4);
      },
    });
    await opened(d);
    expect(looked).toBe('my-host.test');
  });

  for (const { name, ours } of PAIRS) {
    it(`wss: ${name}, with and without permessage-deflate, a bad certificate an 'error'`, async () => {
      const certs = makeTestCertificates();
      cleanups.push(() => certs.remove());
      const server = https.createServer({ cert: certs.cert, key: certs.key });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      cleanups.push(() => server.close());
      const wss: any = new (ours === 'server' ? WebSocketServer : RealServer)({ server, perMessageDeflate: true });
      cleanups.push(() => {
        for (const c of wss.clients ?? []) c.terminate();
        wss.close();
      });
      wss.on('connection', (peer: any) => peer.on('message', (d: any, b: boolean) => peer.send(d, { binary: b })));
      const url = `wss://localhost:${(server.address() as net.AddressInfo).port}/`;
      for (const perMessageDeflate of [false, true]) {
        const c = dial(ours === 'client' ? 'ours' : 'ws', url, undefined, { ca: certs.ca, perMessageDeflate });
        await opened(c);
        expect(c.extensions).toBe(perMessageDeflate ? 'permessage-deflate' : '');
        const big = Buffer.alloc(256 * 1024, 7);
        c.send('héllo');
        expect(String((await message(c))[0])).toBe('héllo');
        c.send(big);
        expect(Buffer.compare((await message(c))[0], big)).toBe(0);
        c.close(4000, 'bye');
        expect((await closed(c))[0]).toBe(4000);
      }
      // Without the CA the certificate is not trusted: 'error', then 'close' 1006.
      const untrusted = dial(ours === 'client' ? 'ours' : 'ws', url);
      const order: string[] = [];
      untrusted.on('error', () => order.push('error'));
      untrusted.on('close', (code: number) => order.push(String(code)));
      await waitFor(() => order.length === 2, 5000, 'certificate refusal');
      expect(order).toEqual(['error', '1006']);
    });
  }

  it('bad arguments throw as ws: invalid URL SyntaxError, protocolVersion RangeError, bad close code TypeError', async () => {
    expect(() => new WebSocket('ftp://x')).toThrow(SyntaxError);
    expect(() => new WebSocket('ws://x/#frag')).toThrow(SyntaxError);
    expect(() => new WebSocket('ws://127.0.0.1:1', { protocolVersion: 8 })).toThrow(RangeError);
    expect(() => new WebSocket('ws://127.0.0.1:1', ['a', 'a'])).toThrow(SyntaxError);
    const { url } = await serve('ws');
    const c = dial('ours', url);
    await opened(c);
    expect(() => c.close(1005)).toThrow(TypeError);
    expect(() => c.close(1000, 'x'.repeat(124))).toThrow(RangeError);
  });
});
