// Options are checked before anything is written: a bad option to handleUpgrade / answerUpgrade throws and the
// client sees its socket closed without a 101 (not a 101 and then a dead socket); new WebSocketServer throws in its
// constructor. WebSocketServer answers a request for another path with 400 (unless another 'upgrade' listener takes
// it), and a per-connection failure without an 'error' listener is counted, never thrown.
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { answerUpgrade, handleUpgrade, WebSocketServer, type HandleUpgradeOptions } from '../src/index.js';
import { addonPath, writeScript } from './helpers/child.js';
import { clientHandshake } from './helpers/client.js';
import { captureUncaught } from './helpers/uncaught.js';
import { waitFor, within } from './helpers/wait.js';

/** Sends an upgrade request for `path` and collects every byte until the server closes the connection. */
function upgradeExchange(port: number, path = '/'): Promise<string> {
  const request =
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  const done = new Promise<string>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
    socket.on('close', () => resolve(received));
  });
  return within(done, 3000, `the server to answer and close (path ${path})`);
}

let server: http.Server | undefined;
const sockets = new Set<net.Socket>();
afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function listen(s: http.Server): Promise<number> {
  server = s;
  s.on('connection', (socket) => sockets.add(socket));
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return (s.address() as net.AddressInfo).port;
}

const badOptions: Array<[string, Record<string, unknown>, ErrorConstructor]> = [
  ['maxRecvSize: -1', { maxRecvSize: -1 }, RangeError],
  ["onMsgRecv: 'nope'", { onMsgRecv: 'nope' }, TypeError],
  ['an unknown option', { maxRecvSzie: 10 }, TypeError],
  ['buffering: 1', { buffering: 1 }, TypeError],
  ['closeTimeout: 1.5', { closeTimeout: 1.5 }, RangeError],
  ['perMessageDeflate: { level: 42 }', { perMessageDeflate: { level: 42 } }, RangeError],
  ['perMessageDeflate with an unknown field', { perMessageDeflate: { windowBits: 9 } }, TypeError],
  ['protocols with a non-token', { protocols: ['a b'] }, TypeError],
  ['a header the handshake sets', { headers: { 'Sec-WebSocket-Accept': 'x' } }, TypeError],
  ['a header with CRLF', { headers: { 'X-A': 'a\r\nX-B: b' } }, TypeError],
  ["type: 'client' (decided by handleUpgrade)", { type: 'client' }, TypeError],
];

describe('handleUpgrade checks its options before the 101', () => {
  it.each(badOptions)('%s: throws synchronously, destroys the socket, writes nothing', async (_name, options, type) => {
    const thrown: unknown[] = [];
    const destroyed: boolean[] = [];
    const port = await listen(
      http.createServer().on('upgrade', (req, socket, head) => {
        try {
          handleUpgrade(req, socket, head, options as HandleUpgradeOptions);
        } catch (err) {
          thrown.push(err);
        }
        destroyed.push(socket.destroyed);
      }),
    );
    const received = await upgradeExchange(port);
    expect(received).toBe('');
    expect(thrown).toHaveLength(1);
    expect(thrown[0]).toBeInstanceOf(type);
    expect(destroyed).toEqual([true]);
  });

  it('a handleProtocols that throws fails before the 101 too, and the socket is destroyed', async () => {
    const thrown: unknown[] = [];
    const port = await listen(
      http.createServer().on('upgrade', (req, socket, head) => {
        try {
          handleUpgrade(req, socket, head, {
            handleProtocols() {
              throw new Error('no');
            },
          });
        } catch (err) {
          thrown.push(err);
        }
      }),
    );
    expect(await upgradeExchange(port)).toBe('');
    expect(thrown).toHaveLength(1);
  });

  it('answerUpgrade checks its options before writing', async () => {
    const thrown: unknown[] = [];
    const port = await listen(
      http.createServer().on('upgrade', (req, socket) => {
        try {
          answerUpgrade(req, socket, { maxRecvSize: 10 } as never);
        } catch (err) {
          thrown.push(err);
        }
      }),
    );
    expect(await upgradeExchange(port)).toBe('');
    expect(thrown[0]).toBeInstanceOf(TypeError);
  });
});

describe('WebSocketServer', () => {
  it.each(badOptions)('new WebSocketServer with %s throws in the constructor', (_name, options, type) => {
    const s = http.createServer();
    expect(() => new WebSocketServer({ server: s, ...options } as never)).toThrow(type);
    expect(s.listenerCount('upgrade')).toBe(0);
  });

  it('new WebSocketServer checks server and path', () => {
    expect(() => new WebSocketServer({} as never)).toThrow(TypeError);
    expect(() => new WebSocketServer({ server: http.createServer(), path: 'ws' })).toThrow(TypeError);
  });

  it('a request for another path gets 400 at once when no other upgrade listener exists', async () => {
    const s = http.createServer();
    const wss = new WebSocketServer({ server: s, path: '/ws' });
    const port = await listen(s);
    const received = await upgradeExchange(port, '/elsewhere');
    expect(received).toMatch(/^HTTP\/1\.1 400 /);
    // The right path still works.
    const { socket } = await clientHandshake(port, undefined, '/ws?x=1');
    socket.destroy();
    wss.close();
  });

  it('a request for another path is left to another upgrade listener', async () => {
    const s = http.createServer();
    const wss = new WebSocketServer({ server: s, path: '/ws' });
    const others: string[] = [];
    s.on('upgrade', (req, socket, head) => {
      if (req.url === '/ws') return;
      others.push(req.url ?? '');
      handleUpgrade(req, socket, head)?.close(1000);
    });
    const port = await listen(s);
    const { socket, head } = await clientHandshake(port, undefined, '/other');
    expect(others).toEqual(['/other']);
    socket.destroy();
    void head;
    wss.close();
  });

  it('without an error listener, a failing upgrade is counted and nothing is thrown', async () => {
    const uncaught = captureUncaught();
    try {
      const s = http.createServer();
      const wss = new WebSocketServer({
        server: s,
        protocols: ['chat'],
        handleProtocols() {
          throw new Error('the application failed');
        },
      });
      const port = await listen(s);
      expect(await upgradeExchange(port)).toBe('');
      await waitFor(() => wss.failedConnections === 1, 2000, 'the failure to be counted');
      expect(uncaught.errors).toEqual([]);
      // With a listener it is emitted (with the request) and counted too.
      const errors: unknown[] = [];
      wss.on('error', (err, req) => errors.push([(err as Error).message, req.url]));
      expect(await upgradeExchange(port, '/again')).toBe('');
      expect(errors).toEqual([['the application failed', '/again']]);
      expect(wss.failedConnections).toBe(2);
      wss.close();
    } finally {
      uncaught.restore();
    }
  });

  it('EMFILE while taking over a socket: the process survives, the socket is destroyed and counted', async () => {
    // A child with a low descriptor limit fills its table so that accept() gets the last free descriptor and the
    // connection's dup() fails with EMFILE.
    const script = await writeScript(
      'emfile-server.js',
      `
const fs = require('node:fs');
const http = require('node:http');
const { WebSocketServer } = require('./index.js');
const server = http.createServer();
const wss = new WebSocketServer({ server });
let held = [];
server.listen(0, '127.0.0.1', () => {
  try { for (;;) held.push(fs.openSync('/dev/null', 'r')); } catch (err) { if (err.code !== 'EMFILE') throw err; }
  fs.closeSync(held.pop());
  console.log(JSON.stringify({ port: server.address().port }));
});
const timer = setInterval(() => {
  if (wss.failedConnections === 0) return;
  clearInterval(timer);
  for (const fd of held) fs.closeSync(fd);
  console.log(JSON.stringify({ failed: wss.failedConnections, open: wss.clients.size }));
  server.close();
}, 20);
`,
    );
    const child = spawn('sh', ['-c', 'ulimit -n 128 && exec "$0" "$@"', process.execPath, script], {
      env: { ...process.env, WSLAY_ADDON_PATH: addonPath },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await waitFor(() => stdout.includes('"port"'), 10_000, 'the child server');
      const { port } = JSON.parse(stdout.split('\n')[0]) as { port: number };
      await upgradeExchange(port).catch(() => '');
      const code = await within(exited, 10_000, 'the child to exit');
      expect(stderr).not.toMatch(/Error/);
      expect(code).toBe(0);
      expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({ failed: 1, open: 0 });
    } finally {
      child.kill('SIGKILL');
    }
  });
});
