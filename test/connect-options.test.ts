// connect(url, options): origin, URL credentials as Basic authorization, redirects (followRedirects,
// maxRedirects), localAddress, family and lookup; bad input (unknown options, malformed URLs, wss:) is a rejection,
// never a synchronous throw.
import * as http from 'node:http';
import type * as net from 'node:net';
import type * as stream from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';

import { connect, type ConnectOptions, handleUpgrade, HandshakeError, type WebSocketConnection } from '../src/index.js';
import { waitFor } from './helpers/wait.js';

interface Seen {
  url: string;
  headers: http.IncomingHttpHeaders;
  remoteAddress: string | undefined;
}

const servers: http.Server[] = [];
const opened: WebSocketConnection[] = [];
afterEach(async () => {
  for (const c of opened.splice(0)) if (c.readyState !== 'closed') c.close(1000);
  await waitFor(() => opened.every((c) => c.readyState === 'closed'), 2000, 'connections to close');
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

/**
 * An http server on 127.0.0.1 that records each upgrade request, then answers it with `answer` (a raw HTTP
 * response, e.g. a redirect) or, when that returns undefined, accepts it.
 */
async function startServer(answer: (req: http.IncomingMessage) => string | undefined = () => undefined) {
  const seen: Seen[] = [];
  const server = http.createServer();
  server.on('upgrade', (req: http.IncomingMessage, socket: stream.Duplex, head: Buffer) => {
    seen.push({ url: req.url ?? '', headers: req.headers, remoteAddress: req.socket.remoteAddress });
    const response = answer(req);
    if (response === undefined) {
      const conn = handleUpgrade(req, socket, head);
      if (conn) opened.push(conn);
    } else {
      socket.end(response);
    }
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, seen, port: (server.address() as net.AddressInfo).port };
}

function redirect(status: number, location: string): string {
  return `HTTP/1.1 ${status} Moved\r\nLocation: ${location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`;
}

async function open(url: string, options?: ConnectOptions): Promise<WebSocketConnection> {
  const conn = await connect(url, options);
  opened.push(conn);
  return conn;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('resolved, expected a rejection');
    },
    (err: unknown) => err,
  );
}

describe('connect: bad input is a rejection', () => {
  it('an unknown option is a TypeError rejection', async () => {
    const { port, seen } = await startServer();
    const p = connect(`ws://127.0.0.1:${port}/`, { perMessageDeflat: true } as ConnectOptions);
    expect(await rejection(p)).toBeInstanceOf(TypeError);
    expect(seen).toEqual([]);
  });

  it.each<[string, Record<string, unknown>, ErrorConstructor]>([
    ['maxRecvSize: -1', { maxRecvSize: -1 }, RangeError],
    ["onMsgRecv: 'nope'", { onMsgRecv: 'nope' }, TypeError],
    ['origin: 5', { origin: 5 }, TypeError],
    ['Origin both ways', { origin: 'http://a', headers: { origin: 'http://b' } }, TypeError],
    ['maxRedirects: -1', { maxRedirects: -1 }, RangeError],
    ["localAddress: 'nope'", { localAddress: 'nope' }, TypeError],
    ['family: 5', { family: 5 }, TypeError],
    ["lookup: 'dns'", { lookup: 'dns' }, TypeError],
    ["type: 'server' (decided by connect)", { type: 'server' }, TypeError],
  ])('%s rejects before the request is sent', async (_name, options, type) => {
    const { port, seen } = await startServer();
    expect(await rejection(connect(`ws://127.0.0.1:${port}/`, options as ConnectOptions))).toBeInstanceOf(type);
    expect(seen).toEqual([]);
  });

  it('a malformed URL rejects with BAD_URL, a refused wss: with CONNECTION_REFUSED; neither throws synchronously', async () => {
    let p: Promise<unknown> | undefined;
    expect(() => (p = connect('not a url'))).not.toThrow();
    expect(await rejection(p!)).toMatchObject({ name: 'HandshakeError', code: 'BAD_URL' });
    expect(await rejection(connect('ftp://127.0.0.1/'))).toMatchObject({ code: 'BAD_URL' });
    expect(await rejection(connect('ws://a%zz:b@127.0.0.1/'))).toMatchObject({ code: 'BAD_URL' });
    expect(() => (p = connect('wss://127.0.0.1:1/'))).not.toThrow();
    expect(await rejection(p!)).toMatchObject({ code: 'CONNECTION_REFUSED' });
  });
});

describe('connect: request options', () => {
  it('sends origin as the Origin header', async () => {
    const { port, seen } = await startServer();
    await open(`ws://127.0.0.1:${port}/`, { origin: 'https://app.example' });
    expect(seen[0].headers.origin).toBe('https://app.example');
  });

  it('sends URL credentials as Authorization: Basic (percent-decoded)', async () => {
    const { port, seen } = await startServer();
    await open(`ws://al%20ice:p%40ss:w@127.0.0.1:${port}/x`);
    expect(seen[0].headers.authorization).toBe(`Basic ${Buffer.from('al ice:p@ss:w').toString('base64')}`);
    expect(seen[0].url).toBe('/x');
  });

  it('an explicit Authorization header wins over URL credentials', async () => {
    const { port, seen } = await startServer();
    await open(`ws://u:p@127.0.0.1:${port}/`, { headers: { Authorization: 'Bearer t' } });
    expect(seen[0].headers.authorization).toBe('Bearer t');
  });

  it('connects from localAddress', async () => {
    const { port, seen } = await startServer();
    // The whole 127/8 is loopback on Linux: 127.0.0.2 proves the option was used.
    await open(`ws://127.0.0.1:${port}/`, { localAddress: '127.0.0.2' });
    expect(seen[0].remoteAddress).toBe('127.0.0.2');
  });

  it('resolves the host name with lookup, passing family', async () => {
    const { port, seen } = await startServer();
    const asked: Array<[string, unknown]> = [];
    const lookup = ((hostname: string, options: { family?: number }, callback: (...args: unknown[]) => void) => {
      asked.push([hostname, options.family]);
      if ((options as { all?: boolean }).all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
      else callback(null, '127.0.0.1', 4);
    }) as unknown as net.LookupFunction;
    const conn = await open(`ws://wslay.invalid:${port}/`, { lookup, family: 4 });
    expect(conn.readyState).toBe('open');
    expect(asked).toEqual([['wslay.invalid', 4]]);
    expect(seen[0].headers.host).toBe(`wslay.invalid:${port}`);
  });
});

describe('connect: redirects', () => {
  it('without followRedirects a redirect rejects with BAD_STATUS', async () => {
    const target = await startServer();
    const { port } = await startServer(() => redirect(302, `ws://127.0.0.1:${target.port}/`));
    const err = await rejection(connect(`ws://127.0.0.1:${port}/`));
    expect(err).toMatchObject({ code: 'BAD_STATUS', status: 302 });
    expect(target.seen).toEqual([]);
  });

  it('follows 301, 307 and 308 across servers, to http: and ws: locations', async () => {
    let portA = 0;
    const b = await startServer((req) => (req.url === '/b' ? redirect(307, `ws://127.0.0.1:${portA}/c`) : undefined));
    const a = await startServer((req) => {
      if (req.url === '/a') return redirect(301, `http://127.0.0.1:${b.port}/b`);
      if (req.url === '/c') return redirect(308, '/d');
      return undefined;
    });
    portA = a.port;
    const conn = await open(`ws://127.0.0.1:${a.port}/a`, { followRedirects: true });
    expect(conn.readyState).toBe('open');
    expect(a.seen.map((s) => s.url)).toEqual(['/a', '/c', '/d']);
    expect(b.seen.map((s) => s.url)).toEqual(['/b']);
  });

  it('resolves a relative Location against the URL that answered', async () => {
    const { port, seen } = await startServer((req) => {
      if (req.url === '/one') return redirect(302, 'two?x=1');
      const here = (req.socket.address() as net.AddressInfo).port;
      if (req.url === '/two?x=1') return redirect(303, `http://127.0.0.1:${here}/three`);
      return undefined;
    });
    await open(`ws://127.0.0.1:${port}/one`, { followRedirects: true });
    expect(seen.map((s) => s.url)).toEqual(['/one', '/two?x=1', '/three']);
  });

  it('stops after maxRedirects with TOO_MANY_REDIRECTS', async () => {
    const { port, seen } = await startServer((req) => redirect(302, `${req.url}x`));
    const err = await rejection(connect(`ws://127.0.0.1:${port}/`, { followRedirects: true, maxRedirects: 3 }));
    expect(err).toBeInstanceOf(HandshakeError);
    expect(err).toMatchObject({ code: 'TOO_MANY_REDIRECTS' });
    expect(seen.map((s) => s.url)).toEqual(['/', '/x', '/xx', '/xxx']);
  });

  it('a redirect to wss: or https: is followed over TLS (here to a port that refuses: CONNECTION_REFUSED)', async () => {
    for (const scheme of ['wss', 'https']) {
      const { port } = await startServer(() => redirect(302, `${scheme}://127.0.0.1:1/`));
      const err = await rejection(connect(`ws://127.0.0.1:${port}/`, { followRedirects: true }));
      expect(err).toMatchObject({ code: 'CONNECTION_REFUSED' });
    }
  });

  it('credentials and cookies are not sent on to another host; Origin and other headers are', async () => {
    const target = await startServer();
    const { port, seen } = await startServer(() => redirect(302, `ws://127.0.0.1:${target.port}/`));
    await open(`ws://u:p@127.0.0.1:${port}/`, {
      followRedirects: true,
      origin: 'https://app.example',
      headers: { Cookie: 'a=1', 'X-Trace': '7' },
    });
    expect(seen[0].headers).toMatchObject({ authorization: expect.stringMatching(/^Basic /), cookie: 'a=1' });
    expect(target.seen[0].headers.authorization).toBeUndefined();
    expect(target.seen[0].headers.cookie).toBeUndefined();
    expect(target.seen[0].headers).toMatchObject({ origin: 'https://app.example', 'x-trace': '7' });
  });
});
