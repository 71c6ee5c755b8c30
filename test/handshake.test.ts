import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer, type PerMessageDeflateOptions as WsDeflateOptions } from 'ws';
import { HandshakeError, type HandshakeErrorCode } from '../src/errors.js';
import { formatExtensions } from '../src/extensions.js';
import {
  acceptKey,
  buildClientRequest,
  buildUpgradeResponse,
  formatHttpResponse,
  generateKey,
  isValidKey,
  parseServerResponse,
  validateServerResponse,
  validateUpgradeRequest,
  type ClientOffer,
  type ParsedServerResponse,
  type UpgradeRejected,
  type UpgradeRequestLike,
} from '../src/handshake.js';
import {
  buildClientOffer,
  negotiateServer,
  type NegotiatedDeflate,
  type PerMessageDeflateOptions,
} from '../src/permessage-deflate.js';
import { NEGOTIATED_DEFAULTS } from './helpers/deflate-defaults.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

function request(overrides: Partial<UpgradeRequestLike> & { set?: Record<string, string | string[] | undefined> } = {}) {
  const headers: UpgradeRequestLike['headers'] = {
    host: 'example.com',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': KEY,
    'sec-websocket-version': '13',
    ...overrides.set,
  };
  return { method: 'GET', httpVersion: '1.1', headers, ...overrides };
}

function rejected(req: UpgradeRequestLike): UpgradeRejected {
  const result = validateUpgradeRequest(req);
  if (result.ok) throw new Error('expected a rejection');
  return result;
}

function catchHandshake(fn: () => unknown): HandshakeError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HandshakeError) return err;
    throw err;
  }
  throw new Error('expected a HandshakeError');
}

describe('HandshakeError', () => {
  it('carries its code, the response and the cause', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const err = new HandshakeError('CONNECTION_REFUSED', 'Connection refused', { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ name: 'HandshakeError', code: 'CONNECTION_REFUSED', status: undefined, headers: undefined });
    expect(err.cause).toBe(cause);
    const timeout = new HandshakeError('TIMEOUT', 'No response within 10 ms');
    expect(timeout.cause).toBeUndefined();
    expect('cause' in timeout).toBe(false);
  });
});

describe('acceptKey / generateKey', () => {
  it('matches the RFC 6455 §1.3 example', () => {
    expect(acceptKey(KEY)).toBe(ACCEPT);
  });

  it('generates valid, distinct keys', () => {
    const keys = new Set(Array.from({ length: 50 }, generateKey));
    expect(keys.size).toBe(50);
    for (const k of keys) {
      expect(isValidKey(k)).toBe(true);
      expect(Buffer.from(k, 'base64')).toHaveLength(16);
    }
  });
});

describe('validateUpgradeRequest', () => {
  it('accepts a valid request and returns the key and parsed offers', () => {
    expect(
      validateUpgradeRequest(
        request({
          set: {
            'sec-websocket-protocol': 'chat, superchat',
            'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits',
          },
        }),
      ),
    ).toEqual({
      ok: true,
      key: KEY,
      protocols: ['chat', 'superchat'],
      extensions: [{ name: 'permessage-deflate', params: [{ name: 'client_max_window_bits', value: true }] }],
    });
  });

  it('accepts case variants and token lists in Upgrade and Connection', () => {
    for (const [upgrade, connection] of [
      ['WebSocket', 'upgrade'],
      ['WEBSOCKET', 'keep-alive, Upgrade'],
      ['h2c, websocket', 'Upgrade,keep-alive'],
    ]) {
      expect(validateUpgradeRequest(request({ set: { upgrade, connection } })).ok).toBe(true);
    }
  });

  it('accepts a key surrounded by whitespace and no protocol/extension headers', () => {
    const result = validateUpgradeRequest(request({ set: { 'sec-websocket-key': ` ${KEY} ` } }));
    expect(result).toEqual({ ok: true, key: KEY, protocols: [], extensions: [] });
  });

  it.each<[string, Partial<UpgradeRequestLike> & { set?: Record<string, string | string[] | undefined> }, RegExp]>([
    ['POST', { method: 'POST' }, /GET/],
    ['HEAD', { method: 'HEAD' }, /GET/],
    ['HTTP/1.0', { httpVersion: '1.0' }, /HTTP\/1\.1/],
    ['no HTTP version', { httpVersion: undefined }, /HTTP\/1\.1/],
    ['no Upgrade', { set: { upgrade: undefined } }, /Upgrade/],
    ['Upgrade: h2c', { set: { upgrade: 'h2c' } }, /Upgrade/],
    ['Upgrade: websockets', { set: { upgrade: 'websockets' } }, /Upgrade/],
    ['no Connection', { set: { connection: undefined } }, /Connection/],
    ['Connection: keep-alive', { set: { connection: 'keep-alive' } }, /Connection/],
    ['Connection: upgraded', { set: { connection: 'upgraded' } }, /Connection/],
    ['no key', { set: { 'sec-websocket-key': undefined } }, /Sec-WebSocket-Key/],
    ['empty key', { set: { 'sec-websocket-key': '' } }, /Sec-WebSocket-Key/],
    ['key without padding', { set: { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ' } }, /Sec-WebSocket-Key/],
    ['key of 15 bytes', { set: { 'sec-websocket-key': Buffer.alloc(15).toString('base64') } }, /Sec-WebSocket-Key/],
    ['key of 17 bytes', { set: { 'sec-websocket-key': Buffer.alloc(17).toString('base64') } }, /Sec-WebSocket-Key/],
    ['key with a bad character', { set: { 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZ.==' } }, /Sec-WebSocket-Key/],
    ['two keys', { set: { 'sec-websocket-key': [KEY, KEY] } }, /Sec-WebSocket-Key/],
    ['malformed protocols', { set: { 'sec-websocket-protocol': 'chat superchat' } }, /Sec-WebSocket-Protocol/],
    ['repeated protocol', { set: { 'sec-websocket-protocol': 'chat, chat' } }, /Sec-WebSocket-Protocol/],
    ['malformed extensions', { set: { 'sec-websocket-extensions': 'permessage-deflate;' } }, /Sec-WebSocket-Extensions/],
    ['bad quoted extension value', { set: { 'sec-websocket-extensions': 'x; a="b c"' } }, /Sec-WebSocket-Extensions/],
  ])('%s → 400 with a short plain-text body', (_name, overrides, body) => {
    const r = rejected(request(overrides));
    expect(r.status).toBe(400);
    expect(r.body).toMatch(body);
    expect(r.body.length).toBeLessThan(200);
    expect(r.headers).toEqual({
      Connection: 'close',
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(r.body)),
    });
  });

  it.each([['8'], ['12'], ['14'], ['13, 8'], [''], [undefined]])('Sec-WebSocket-Version %j → 426', (version) => {
    const r = rejected(request({ set: { 'sec-websocket-version': version } }));
    expect(r.status).toBe(426);
    expect(r.headers['Sec-WebSocket-Version']).toBe('13');
    expect(r.headers['Upgrade']).toBe('websocket');
    expect(r.body).toMatch(/version/);
  });

  it('checks the method before anything else', () => {
    expect(rejected({ method: 'PUT', httpVersion: '1.0', headers: {} }).body).toMatch(/GET/);
  });
});

describe('formatHttpResponse', () => {
  it('formats a rejection as a complete response', () => {
    const r = rejected(request({ set: { 'sec-websocket-version': '8' } }));
    const text = formatHttpResponse(r.status, r.headers, r.body);
    expect(text).toBe(
      'HTTP/1.1 426 Upgrade Required\r\nConnection: Upgrade, close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
        `Content-Length: ${r.body.length}\r\nSec-WebSocket-Version: 13\r\nUpgrade: websocket\r\n\r\n${r.body}`,
    );
  });

  it('refuses header injection', () => {
    expect(() => formatHttpResponse(400, { 'X-A': 'a\r\nSet-Cookie: x' })).toThrow(TypeError);
    expect(() => formatHttpResponse(400, { 'X A': 'a' })).toThrow(TypeError);
  });
});

describe('buildUpgradeResponse', () => {
  it('builds the minimal 101 response', () => {
    expect(buildUpgradeResponse({ key: KEY })).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`,
    );
  });

  it('adds the protocol, extensions (elements or string) and extra headers', () => {
    const text = buildUpgradeResponse({
      key: KEY,
      protocol: 'chat',
      extensions: [{ name: 'permessage-deflate', params: [{ name: 'server_max_window_bits', value: '10' }] }],
      headers: { 'X-Powered-By': 'wslay', 'Set-Cookie': ['a=1', 'b=2'], 'X-Skip': undefined, 'X-Num': 5 },
    });
    expect(text).toBe(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${ACCEPT}\r\nSec-WebSocket-Protocol: chat\r\n` +
        'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n' +
        'X-Powered-By: wslay\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Num: 5\r\n\r\n',
    );
    expect(buildUpgradeResponse({ key: KEY, extensions: 'permessage-deflate' })).toContain(
      'Sec-WebSocket-Extensions: permessage-deflate\r\n',
    );
    expect(buildUpgradeResponse({ key: KEY, extensions: [] })).not.toContain('Extensions');
  });

  it.each([
    [{ key: KEY, protocol: 'a b' }],
    [{ key: KEY, protocol: '' }],
    [{ key: KEY, extensions: 'x\r\nEvil: 1' }],
    [{ key: KEY, headers: { 'X-A': 'a\nb' } }],
    [{ key: KEY, headers: { 'Bad Name': 'a' } }],
    [{ key: KEY, headers: { 'sec-websocket-accept': 'x' } }],
    [{ key: KEY, headers: { Upgrade: 'h2c' } }],
    [{ key: KEY, headers: { Connection: 'close' } }],
  ])('throws TypeError for %j', (options) => {
    expect(() => buildUpgradeResponse(options)).toThrow(TypeError);
  });
});

describe('buildClientRequest', () => {
  it('builds the request of RFC 6455 §4.1', () => {
    expect(
      buildClientRequest({
        host: 'server.example.com',
        path: '/chat?x=1',
        key: KEY,
        protocols: ['chat', 'superchat'],
        extensions: [buildClientOffer({})],
        headers: { Origin: 'http://example.com' },
      }),
    ).toBe(
      'GET /chat?x=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n` +
        'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nOrigin: http://example.com\r\n\r\n',
    );
  });

  it('omits empty protocol and extension lists', () => {
    const text = buildClientRequest({ host: '127.0.0.1:9', path: '/', key: KEY, protocols: [], extensions: '' });
    expect(text).not.toContain('Sec-WebSocket-Protocol');
    expect(text).not.toContain('Sec-WebSocket-Extensions');
  });

  it.each([
    [{ path: 'chat' }],
    [{ path: '/a b' }],
    [{ path: '/a\r\nX: 1' }],
    [{ host: '' }],
    [{ host: 'a b' }],
    [{ host: 'a\r\nX: 1' }],
    [{ key: 'short' }],
    [{ protocols: ['a b'] }],
    [{ protocols: ['a', 'a'] }],
    [{ headers: { Host: 'other' } }],
    [{ headers: { 'Sec-WebSocket-Key': KEY } }],
    [{ headers: { 'X-A': 'a\r\n' } }],
  ])('throws TypeError for %j', (overrides) => {
    expect(() => buildClientRequest({ host: 'h', path: '/', key: KEY, ...overrides })).toThrow(TypeError);
  });
});

const GOOD_RESPONSE =
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  `Sec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`;

describe('parseServerResponse', () => {
  it('returns incomplete until the blank line, for every prefix', () => {
    const bytes = Buffer.from(GOOD_RESPONSE, 'latin1');
    for (let i = 0; i < bytes.length; i++) expect(parseServerResponse(bytes.subarray(0, i))).toBe('incomplete');
    expect(parseServerResponse(bytes)).toMatchObject({ status: 101, bodyOffset: bytes.length });
  });

  it('parses status, headers and the offset of the first WebSocket byte', () => {
    const bytes = Buffer.concat([
      Buffer.from(`${GOOD_RESPONSE.slice(0, -2)}X-A: 1\r\nx-a:  2 \t\r\nEmpty:\r\n\r\n`, 'latin1'),
      Buffer.from([0x81, 0x02, 0x68, 0x69]),
    ]);
    const parsed = parseServerResponse(bytes) as ParsedServerResponse;
    expect(parsed).toMatchObject({
      httpVersion: '1.1',
      status: 101,
      statusText: 'Switching Protocols',
      headers: { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-accept': ACCEPT, 'x-a': '1, 2', empty: '' },
    });
    expect(parsed.rawHeaders).toContainEqual(['x-a', '2']);
    expect(bytes.subarray(parsed.bodyOffset)).toEqual(Buffer.from([0x81, 0x02, 0x68, 0x69]));
  });

  it('works on a Uint8Array view with an offset', () => {
    const backing = new Uint8Array(100 + GOOD_RESPONSE.length);
    backing.set(Buffer.from(GOOD_RESPONSE, 'latin1'), 100);
    const parsed = parseServerResponse(backing.subarray(100)) as ParsedServerResponse;
    expect(parsed.status).toBe(101);
    expect(parsed.bodyOffset).toBe(GOOD_RESPONSE.length);
  });

  it('accepts an empty reason phrase', () => {
    expect(parseServerResponse(Buffer.from('HTTP/1.1 101\r\n\r\n'))).toMatchObject({ status: 101, statusText: '' });
    expect(parseServerResponse(Buffer.from('HTTP/1.1 101 \r\n\r\n'))).toMatchObject({ status: 101, statusText: '' });
  });

  it('enforces the header size limit', () => {
    const big = Buffer.from(`HTTP/1.1 101 OK\r\nX: ${'a'.repeat(20000)}\r\n\r\n`);
    expect(catchHandshake(() => parseServerResponse(big)).code).toBe('HEADERS_TOO_LARGE');
    // Still incomplete below the limit, too large once the limit is reached without a blank line.
    expect(parseServerResponse(big.subarray(0, 16383))).toBe('incomplete');
    expect(catchHandshake(() => parseServerResponse(big.subarray(0, 16384))).code).toBe('HEADERS_TOO_LARGE');
    expect(parseServerResponse(big, 32 * 1024)).toMatchObject({ status: 101 });
    // A head of exactly the limit is accepted.
    const exact = Buffer.from(GOOD_RESPONSE, 'latin1');
    expect(parseServerResponse(exact, exact.length)).toMatchObject({ status: 101 });
    expect(catchHandshake(() => parseServerResponse(exact, exact.length - 1)).code).toBe('HEADERS_TOO_LARGE');
  });

  it.each([
    ['not HTTP', 'SSH-2.0-OpenSSH\r\n\r\n'],
    ['HTTP/1.1 without status', 'HTTP/1.1\r\n\r\n'],
    ['four-digit status', 'HTTP/1.1 1010 X\r\n\r\n'],
    ['lower-case http', 'http/1.1 101 X\r\n\r\n'],
    ['header without colon', 'HTTP/1.1 101 X\r\nUpgrade websocket\r\n\r\n'],
    ['space before colon', 'HTTP/1.1 101 X\r\nUpgrade : websocket\r\n\r\n'],
    ['obsolete line folding', 'HTTP/1.1 101 X\r\nUpgrade: web\r\n socket\r\n\r\n'],
    ['control character in a value', 'HTTP/1.1 101 X\r\nX: a\u0000b\r\n\r\n'],
    ['bare LF inside a line', 'HTTP/1.1 101 X\r\nX: a\nY: b\r\n\r\n'],
  ])('%s → BAD_RESPONSE', (_name, text) => {
    expect(catchHandshake(() => parseServerResponse(Buffer.from(text, 'latin1'))).code).toBe('BAD_RESPONSE');
  });
});

describe('validateServerResponse', () => {
  const parse = (text: string) => parseServerResponse(Buffer.from(text, 'latin1')) as ParsedServerResponse;
  const withHeaders = (extra: string) => parse(`${GOOD_RESPONSE.slice(0, -2)}${extra}\r\n`);
  const offer: ClientOffer = { key: KEY };

  it('accepts a plain 101', () => {
    expect(validateServerResponse(parse(GOOD_RESPONSE), offer)).toEqual({ protocol: undefined, extensions: [], deflate: null });
  });

  it('returns the chosen protocol and the negotiated deflate', () => {
    const res = withHeaders('Sec-WebSocket-Protocol: b\r\nSec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=10\r\n');
    const result = validateServerResponse(res, { key: KEY, protocols: ['a', 'b'], perMessageDeflate: {} });
    expect(result.protocol).toBe('b');
    expect(result.deflate).toMatchObject({ serverMaxWindowBits: 10, clientMaxWindowBits: 15 });
  });

  it('accepts a server that chooses no protocol among those offered', () => {
    expect(validateServerResponse(parse(GOOD_RESPONSE), { key: KEY, protocols: ['a'] }).protocol).toBeUndefined();
  });

  it('accepts other extensions we offered, returning them unchecked', () => {
    const res = withHeaders('Sec-WebSocket-Extensions: x-foo; a=1\r\n');
    expect(validateServerResponse(res, { key: KEY, extensions: ['x-foo'] }).extensions).toEqual([
      { name: 'x-foo', params: [{ name: 'a', value: '1' }] },
    ]);
  });

  it('BAD_STATUS carries the status and headers', () => {
    const res = parse('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nX-Reason: nope\r\n\r\n');
    const err = catchHandshake(() => validateServerResponse(res, offer));
    expect(err.code).toBe('BAD_STATUS');
    expect(err.status).toBe(403);
    expect(err.headers).toEqual({ 'content-length': '0', 'x-reason': 'nope' });
    expect(err.message).toMatch(/403 Forbidden/);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('HandshakeError');
  });

  it.each<[string, string, ClientOffer, HandshakeErrorCode]>([
    ['200 OK', 'HTTP/1.1 200 OK\r\n\r\n', offer, 'BAD_STATUS'],
    ['missing Upgrade', GOOD_RESPONSE.replace('Upgrade: websocket\r\n', ''), offer, 'BAD_RESPONSE'],
    ['Upgrade: h2c', GOOD_RESPONSE.replace('Upgrade: websocket', 'Upgrade: h2c'), offer, 'BAD_RESPONSE'],
    ['missing Connection', GOOD_RESPONSE.replace('Connection: Upgrade\r\n', ''), offer, 'BAD_RESPONSE'],
    ['Connection: close', GOOD_RESPONSE.replace('Connection: Upgrade', 'Connection: close'), offer, 'BAD_RESPONSE'],
    ['missing accept', GOOD_RESPONSE.replace(`Sec-WebSocket-Accept: ${ACCEPT}\r\n`, ''), offer, 'BAD_ACCEPT'],
    ['wrong accept', GOOD_RESPONSE, { key: generateKey() }, 'BAD_ACCEPT'],
  ])('%s → %s', (_name, text, o, code) => {
    expect(catchHandshake(() => validateServerResponse(parse(text), o)).code).toBe(code);
  });

  it('accepts Upgrade/Connection case variants', () => {
    const text = GOOD_RESPONSE.replace('Upgrade: websocket', 'upgrade: WebSocket').replace(
      'Connection: Upgrade',
      'connection: keep-alive, UPGRADE',
    );
    expect(validateServerResponse(parse(text), offer).protocol).toBeUndefined();
  });

  it.each<[string, string, ClientOffer, HandshakeErrorCode]>([
    ['extension not offered', 'Sec-WebSocket-Extensions: permessage-deflate\r\n', offer, 'BAD_EXTENSION'],
    ['unknown extension', 'Sec-WebSocket-Extensions: x-foo\r\n', { key: KEY, perMessageDeflate: {} }, 'BAD_EXTENSION'],
    [
      'extension accepted twice',
      'Sec-WebSocket-Extensions: x-foo, x-foo\r\n',
      { key: KEY, extensions: ['x-foo'] },
      'BAD_EXTENSION',
    ],
    ['malformed extensions', 'Sec-WebSocket-Extensions: permessage-deflate;\r\n', { key: KEY, perMessageDeflate: {} }, 'BAD_EXTENSION'],
    [
      'invalid deflate parameter',
      'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7\r\n',
      { key: KEY, perMessageDeflate: {} },
      'BAD_EXTENSION',
    ],
    [
      'deflate split over two header lines',
      'Sec-WebSocket-Extensions: permessage-deflate\r\nSec-WebSocket-Extensions: permessage-deflate\r\n',
      { key: KEY, perMessageDeflate: {} },
      'BAD_EXTENSION',
    ],
    ['protocol not offered', 'Sec-WebSocket-Protocol: chat\r\n', offer, 'BAD_PROTOCOL'],
    ['protocol not among offered', 'Sec-WebSocket-Protocol: chat\r\n', { key: KEY, protocols: ['a'] }, 'BAD_PROTOCOL'],
    ['two protocols', 'Sec-WebSocket-Protocol: a, b\r\n', { key: KEY, protocols: ['a', 'b'] }, 'BAD_PROTOCOL'],
    ['protocol header twice', 'Sec-WebSocket-Protocol: a\r\nSec-WebSocket-Protocol: a\r\n', { key: KEY, protocols: ['a'] }, 'BAD_PROTOCOL'],
  ])('%s → %s', (_name, extra, o, code) => {
    expect(catchHandshake(() => validateServerResponse(withHeaders(extra), o)).code).toBe(code);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Cross-checks with the ws package over real sockets on 127.0.0.1.

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function listen(server: http.Server | WebSocketServer): Promise<number> {
  return new Promise((resolve) => {
    const s = server instanceof WebSocketServer ? server : server.listen(0, '127.0.0.1');
    const done = () => resolve((s.address() as AddressInfo).port);
    if (s.address()) done();
    else s.once('listening', done);
  });
}

/** Sends `text` on a fresh connection and resolves with the parsed response head (5 s at most). */
function rawHandshake(port: number, text: string): Promise<ParsedServerResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    cleanups.push(() => void socket.destroy());
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error('no response within 5 s')), 5000);
    socket.on('error', reject);
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      try {
        const parsed = parseServerResponse(received);
        if (parsed === 'incomplete') return;
        clearTimeout(timer);
        resolve(parsed);
      } catch (err) {
        clearTimeout(timer);
        reject(err);
      }
    });
    socket.write(text, 'latin1');
  });
}

describe('our client handshake against a ws server', () => {
  async function wsServer(options: ConstructorParameters<typeof WebSocketServer>[0]): Promise<number> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, ...options });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const client of wss.clients) client.terminate();
          wss.close(() => resolve());
        }),
    );
    return listen(wss);
  }

  it.each<[string, WsDeflateOptions | boolean, PerMessageDeflateOptions, Partial<NegotiatedDeflate> | null]>([
    ['defaults', true, {}, {}],
    ['ws without deflate', false, {}, null],
    [
      'ws asks for everything',
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 11 },
      {},
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 11 },
    ],
    [
      'we ask for everything',
      true,
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 12, clientMaxWindowBits: 10 },
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 12, clientMaxWindowBits: 10 },
    ],
    ['we ask for server_max_window_bits=9', true, { serverMaxWindowBits: 9 }, { serverMaxWindowBits: 9 }],
    ['ws lowers our offered window', { clientMaxWindowBits: 9 }, { clientMaxWindowBits: 12 }, { clientMaxWindowBits: 9 }],
  ])('%s', async (_name, wsOptions, ours, expected) => {
    const port = await wsServer({ perMessageDeflate: wsOptions });
    const key = generateKey();
    const res = await rawHandshake(
      port,
      buildClientRequest({ host: `127.0.0.1:${port}`, path: '/', key, extensions: [buildClientOffer(ours)] }),
    );
    const accepted = validateServerResponse(res, { key, perMessageDeflate: ours });
    expect(accepted.deflate).toEqual(expected && { ...NEGOTIATED_DEFAULTS, ...expected });
  });

  it('negotiates a subprotocol', async () => {
    const port = await wsServer({ handleProtocols: (offered) => (offered.has('b') ? 'b' : false) });
    const key = generateKey();
    const res = await rawHandshake(port, buildClientRequest({ host: 'localhost', path: '/x', key, protocols: ['a', 'b'] }));
    expect(validateServerResponse(res, { key, protocols: ['a', 'b'] })).toEqual({ protocol: 'b', extensions: [], deflate: null });
  });

  it('reports ws rejections as BAD_STATUS with the response', async () => {
    const port = await wsServer({ verifyClient: () => false });
    const key = generateKey();
    const res = await rawHandshake(port, buildClientRequest({ host: 'localhost', path: '/', key }));
    const err = catchHandshake(() => validateServerResponse(res, { key }));
    expect(err.code).toBe('BAD_STATUS');
    expect(err.status).toBe(401);
  });
});

describe('our server handshake against a ws client', () => {
  interface ServerSide {
    port: number;
    negotiated: Array<NegotiatedDeflate | null>;
    /** The Sec-WebSocket-Extensions values we sent. */
    responses: string[];
  }

  /** A node:http server answering upgrades with our functions only (no binding): 101, or the rejection. */
  async function ourServer(deflate: PerMessageDeflateOptions | null, protocols: string[] = []): Promise<ServerSide> {
    const side: ServerSide = { port: 0, negotiated: [], responses: [] };
    const sockets = new Set<net.Socket>();
    const server = http.createServer((_req, res) => res.writeHead(404).end());
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
      sockets.add(socket);
      const v = validateUpgradeRequest(req);
      if (!v.ok) {
        socket.end(formatHttpResponse(v.status, v.headers, v.body), 'latin1');
        return;
      }
      const accepted = deflate ? negotiateServer(v.extensions, deflate) : null;
      side.negotiated.push(accepted?.negotiated ?? null);
      side.responses.push(accepted ? formatExtensions([accepted.response]) : '');
      const protocol = v.protocols.find((p) => protocols.includes(p));
      socket.write(
        buildUpgradeResponse({ key: v.key, protocol, extensions: accepted ? [accepted.response] : undefined }),
        'latin1',
      );
    });
    side.port = await listen(server);
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    );
    return side;
  }

  /** Opens a ws client; resolves with it once open, or with the error/unexpected status. */
  function wsClient(port: number, protocols: string[], options: ConstructorParameters<typeof WebSocket>[2]) {
    return new Promise<{ ws?: WebSocket; status?: number; body?: string; error?: Error }>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`, protocols, { handshakeTimeout: 5000, ...options });
      cleanups.push(() => void ws.terminate());
      ws.on('open', () => resolve({ ws }));
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      ws.on('error', (error) => resolve({ error }));
    });
  }

  it.each<[string, WsDeflateOptions | boolean, PerMessageDeflateOptions, string, Partial<NegotiatedDeflate>]>([
    ['defaults', true, {}, 'permessage-deflate', {}],
    [
      'ws asks for everything',
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 11, clientMaxWindowBits: 10 },
      {},
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; client_max_window_bits=10',
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 11, clientMaxWindowBits: 10 },
    ],
    [
      'we ask for everything',
      true,
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9',
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 9 },
    ],
    [
      'ws asks for window 8 (we keep 8; our compressor sends stored blocks)',
      { serverMaxWindowBits: 8 },
      {},
      'permessage-deflate; server_max_window_bits=8',
      { serverMaxWindowBits: 8 },
    ],
  ])('%s', async (_name, wsOptions, ours, header, expected) => {
    const side = await ourServer(ours);
    const result = await wsClient(side.port, [], { perMessageDeflate: wsOptions });
    // ws fails the handshake on any response it finds invalid, so 'open' means it accepted ours.
    expect(result.error).toBeUndefined();
    expect(result.ws!.extensions).toBe('permessage-deflate');
    expect(side.responses).toEqual([header]);
    expect(side.negotiated).toEqual([{ ...NEGOTIATED_DEFAULTS, ...expected }]);
  });

  it('ws without deflate gets no extension; a chosen subprotocol is accepted', async () => {
    const side = await ourServer({}, ['v2']);
    const result = await wsClient(side.port, ['v1', 'v2'], { perMessageDeflate: false });
    expect(result.ws!.extensions).toBe('');
    expect(result.ws!.protocol).toBe('v2');
    expect(side.negotiated).toEqual([null]);
  });

  it('a ws client speaking version 8 gets our 426', async () => {
    const side = await ourServer({});
    const result = await wsClient(side.port, [], { protocolVersion: 8 });
    expect(result.status).toBe(426);
    expect(result.body).toMatch(/expected 13/);
  });

  it('node:http reads our 400 with its body', async () => {
    const side = await ourServer({});
    const { status, body, version } = await new Promise<{ status: number; body: string; version: string | undefined }>(
      (resolve, reject) => {
        const req = http.request({
          host: '127.0.0.1',
          port: side.port,
          headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'x' },
        });
        cleanups.push(() => void req.destroy());
        req.on('response', (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode!, body: text, version: res.headers['sec-websocket-version'] }));
        });
        req.on('upgrade', () => reject(new Error('unexpected upgrade')));
        req.on('error', reject);
        req.end();
      },
    );
    expect(status).toBe(400);
    expect(body).toBe('Missing or invalid Sec-WebSocket-Key header');
    expect(version).toBeUndefined();
  });
});
