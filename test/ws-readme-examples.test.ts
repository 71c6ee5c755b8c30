// ws's README examples and recipes, run with only the import changed ('ws' → 'wslay/ws'), each against the real
// `ws` package as the other end.
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import RealWs, { WebSocketServer as RealServer } from 'ws';

import { within } from './helpers/wait.js';

const require = createRequire(import.meta.url);
// The line a user changes: `const WebSocket = require('ws')`.
const WebSocket = require('wslay/ws');
const { WebSocketServer, createWebSocketStream } = WebSocket;

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

function portOf(server: { address(): unknown }): number {
  return (server.address() as AddressInfo).port;
}

function listening(wss: any): Promise<number> {
  return new Promise((resolve) => wss.on('listening', () => resolve(portOf(wss))));
}

function opened(ws: any): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
}

function nextMessage(ws: any): Promise<{ data: any; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data: any, isBinary: boolean) => resolve({ data, isBinary })));
}

describe("ws README examples with require('wslay/ws')", () => {
  it('simple server: echo, sending "something" on connection (ws client)', async () => {
    const wss = new WebSocketServer({ port: 0 });
    cleanups.push(() => wss.close());
    wss.on('connection', function connection(ws: any) {
      ws.on('error', console.error);
      ws.on('message', function message(data: any) {
        ws.send(`received: ${data}`);
      });
      ws.send('something');
    });
    const port = await listening(wss);
    const client = new RealWs(`ws://127.0.0.1:${port}`);
    cleanups.push(() => client.terminate());
    const first = await within(nextMessage(client), 5000, 'greeting');
    expect(first.data.toString()).toBe('something');
    client.send('hello');
    const second = await within(nextMessage(client), 5000, 'echo');
    expect(second.data.toString()).toBe('received: hello');
    expect(second.isBinary).toBe(false);
  });

  it('sending and receiving text data (our client against a ws server)', async () => {
    const wss = new RealServer({ port: 0 });
    cleanups.push(() => wss.close());
    await new Promise((r) => wss.on('listening', r));
    wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    const ws = new WebSocket(`ws://127.0.0.1:${portOf(wss)}/path`);
    cleanups.push(() => ws.terminate());
    ws.on('error', console.error);
    ws.on('open', function open() {
      ws.send('something');
    });
    const got = await within(nextMessage(ws), 5000, 'message');
    expect(got.data.toString()).toBe('something');
    expect(got.isBinary).toBe(false);
  });

  it('sending binary data (our client to a ws server)', async () => {
    const wss = new RealServer({ port: 0 });
    cleanups.push(() => wss.close());
    await new Promise((r) => wss.on('listening', r));
    const received = new Promise<{ data: RealWs.RawData; isBinary: boolean }>((resolve) =>
      wss.on('connection', (ws) => ws.on('message', (data, isBinary) => resolve({ data, isBinary }))),
    );
    const ws = new WebSocket(`ws://127.0.0.1:${portOf(wss)}`);
    cleanups.push(() => ws.terminate());
    ws.on('open', function open() {
      const array = new Float32Array(5);
      for (let i = 0; i < array.length; ++i) array[i] = i / 2;
      ws.send(array);
    });
    const got = await within(received, 5000, 'binary');
    expect(got.isBinary).toBe(true);
    expect([...new Float32Array(new Uint8Array(got.data as Buffer).buffer)]).toEqual([0, 0.5, 1, 1.5, 2]);
  });

  it('server broadcast to all other connected clients through wss.clients', async () => {
    const wss = new WebSocketServer({ port: 0 });
    cleanups.push(() => wss.close());
    wss.on('connection', function connection(ws: any) {
      ws.on('message', function message(data: any, isBinary: boolean) {
        wss.clients.forEach(function each(client: any) {
          if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
        });
      });
    });
    const port = await listening(wss);
    const clients = [0, 1, 2].map(() => new RealWs(`ws://127.0.0.1:${port}`));
    for (const c of clients) cleanups.push(() => c.terminate());
    await Promise.all(clients.map(opened));
    await within(
      (async () => {
        while (wss.clients.size < 3) await new Promise((r) => setTimeout(r, 5));
      })(),
      5000,
      'three clients',
    );
    const others = [nextMessage(clients[1]), nextMessage(clients[2])];
    let selfGot = false;
    clients[0].on('message', () => (selfGot = true));
    clients[0].send(Buffer.from([1, 2, 3]));
    for (const m of await within(Promise.all(others), 5000, 'broadcast')) {
      expect(m.isBinary).toBe(true);
      expect([...(m.data as Buffer)]).toEqual([1, 2, 3]);
    }
    expect(selfGot).toBe(false);
  });

  it('heartbeat: isAlive with ping() and "pong" terminates a peer that stopped answering', async () => {
    const wss = new WebSocketServer({ port: 0 });
    cleanups.push(() => wss.close());
    function heartbeat(this: any) {
      this.isAlive = true;
    }
    wss.on('connection', function connection(ws: any) {
      ws.isAlive = true;
      ws.on('error', console.error);
      ws.on('pong', heartbeat);
    });
    const interval = setInterval(function ping() {
      wss.clients.forEach(function each(ws: any) {
        if (ws.isAlive === false) return ws.terminate();
        ws.isAlive = false;
        ws.ping();
      });
    }, 50);
    wss.on('close', function close() {
      clearInterval(interval);
    });
    cleanups.push(() => clearInterval(interval));
    const port = await listening(wss);
    const alive = new RealWs(`ws://127.0.0.1:${port}`);
    // A client that stopped answering pings (ws's own autoPong: false).
    const dead = new RealWs(`ws://127.0.0.1:${port}`, { autoPong: false });
    cleanups.push(() => alive.terminate(), () => dead.terminate());
    await Promise.all([opened(alive), opened(dead)]);
    let pings = 0;
    alive.on('ping', () => pings++);
    const deadClosed = new Promise<number>((resolve) => dead.on('close', (code) => resolve(code)));
    expect(await within(deadClosed, 5000, 'dead client terminated')).toBe(1006);
    const seen = pings;
    await within(
      (async () => {
        while (pings < seen + 2) await new Promise((r) => setTimeout(r, 5));
      })(),
      5000,
      'pings after the dead one left',
    );
    expect(alive.readyState).toBe(RealWs.OPEN);
  });

  it('client heartbeat: our client sees the server\'s pings as "ping" events', async () => {
    const wss = new RealServer({ port: 0 });
    cleanups.push(() => wss.close());
    await new Promise((r) => wss.on('listening', r));
    wss.on('connection', (ws) => ws.ping('beat'));
    const client = new WebSocket(`ws://127.0.0.1:${portOf(wss)}`);
    cleanups.push(() => client.terminate());
    const data = await within(new Promise<Buffer>((r) => client.on('ping', r)), 5000, 'ping');
    expect(data.toString()).toBe('beat');
  });

  it('authentication in "upgrade" with noServer: 401 for a bad token, a connection with the client for a good one', async () => {
    const server = http.createServer();
    const wss = new WebSocketServer({ noServer: true });
    cleanups.push(() => server.close(), () => wss.close());
    function onSocketError(err: Error) {
      console.error(err);
    }
    function authenticate(request: http.IncomingMessage, next: (err: Error | null, client?: string) => void) {
      const token = new URL(request.url!, 'http://x').searchParams.get('token');
      if (token === 'good') next(null, 'alice');
      else next(new Error('bad token'));
    }
    const connected: string[] = [];
    wss.on('connection', function connection(ws: any, request: http.IncomingMessage, client: string) {
      connected.push(client);
      ws.on('message', function message(data: any) {
        ws.send(`Received message ${data} from user ${client}`);
      });
    });
    server.on('upgrade', function upgrade(request, socket, head) {
      socket.on('error', onSocketError);
      authenticate(request, function next(err, client) {
        if (err || !client) {
          socket.write('HTTP/1.1 401 Unauthorized\r\n\r\n');
          socket.destroy();
          return;
        }
        socket.removeListener('error', onSocketError);
        wss.handleUpgrade(request, socket, head, function done(ws: any) {
          wss.emit('connection', ws, request, client);
        });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = portOf(server);
    const refused = new RealWs(`ws://127.0.0.1:${port}/?token=bad`);
    const status = await within(
      new Promise<string>((r) => refused.on('error', (e) => r(e.message))),
      5000,
      'refusal',
    );
    expect(status).toBe('Unexpected server response: 401');
    const ok = new RealWs(`ws://127.0.0.1:${port}/?token=good`);
    cleanups.push(() => ok.terminate());
    await opened(ok);
    ok.send('hi');
    expect((await within(nextMessage(ok), 5000, 'reply')).data.toString()).toBe('Received message hi from user alice');
    expect(connected).toEqual(['alice']);
  });

  it('multiple servers sharing a single HTTP server by path', async () => {
    const server = http.createServer();
    const wss1 = new WebSocketServer({ noServer: true });
    const wss2 = new WebSocketServer({ noServer: true });
    cleanups.push(() => server.close(), () => wss1.close(), () => wss2.close());
    wss1.on('connection', (ws: any) => ws.send('one'));
    wss2.on('connection', (ws: any) => ws.send('two'));
    server.on('upgrade', function upgrade(request, socket, head) {
      const { pathname } = new URL(request.url!, 'wss://base.url');
      if (pathname === '/foo') {
        wss1.handleUpgrade(request, socket, head, function done(ws: any) {
          wss1.emit('connection', ws, request);
        });
      } else if (pathname === '/bar') {
        wss2.handleUpgrade(request, socket, head, function done(ws: any) {
          wss2.emit('connection', ws, request);
        });
      } else {
        socket.destroy();
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = portOf(server);
    const a = new WebSocket(`ws://127.0.0.1:${port}/foo`);
    const b = new RealWs(`ws://127.0.0.1:${port}/bar`);
    cleanups.push(() => a.terminate(), () => b.terminate());
    const [ma, mb] = await within(Promise.all([nextMessage(a), nextMessage(b)]), 5000, 'greetings');
    expect(ma.data.toString()).toBe('one');
    expect(mb.data.toString()).toBe('two');
  });

  it('the same with the `server` and `path` options: each path reaches its server, others get 400', async () => {
    const server = http.createServer();
    const wss1 = new WebSocketServer({ server, path: '/foo' });
    const wss2 = new WebSocketServer({ server, path: '/bar' });
    cleanups.push(() => server.close(), () => wss1.close(), () => wss2.close());
    wss1.on('connection', (ws: any) => ws.send('one'));
    wss2.on('connection', (ws: any) => ws.send('two'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = portOf(server);
    const a = new RealWs(`ws://127.0.0.1:${port}/foo`);
    const b = new RealWs(`ws://127.0.0.1:${port}/bar?x=1`);
    cleanups.push(() => a.terminate(), () => b.terminate());
    const [ma, mb] = await within(Promise.all([nextMessage(a), nextMessage(b)]), 5000, 'greetings');
    expect([ma.data.toString(), mb.data.toString()]).toEqual(['one', 'two']);
    wss2.close();
    const lone = new RealWs(`ws://127.0.0.1:${port}/elsewhere`);
    const err = await within(new Promise<Error>((r) => lone.on('error', r)), 5000, 'refusal');
    expect(err.message).toBe('Unexpected server response: 400');
  });

  it('createWebSocketStream: a Duplex piped through the WebSocket, both ends ws semantics', async () => {
    const wss = new RealServer({ port: 0 });
    cleanups.push(() => wss.close());
    await new Promise((r) => wss.on('listening', r));
    wss.on('connection', (ws) => ws.on('message', (data) => ws.send(String(data).toUpperCase())));
    const ws = new WebSocket(`ws://127.0.0.1:${portOf(wss)}`);
    const duplex = createWebSocketStream(ws, { encoding: 'utf8' });
    duplex.on('error', console.error);
    const chunks: string[] = [];
    duplex.on('data', (c: string) => chunks.push(c));
    duplex.write('hello');
    duplex.write('world');
    await within(
      (async () => {
        while (chunks.length < 2) await new Promise((r) => setTimeout(r, 5));
      })(),
      5000,
      'echoes',
    );
    expect(chunks).toEqual(['HELLO', 'WORLD']);
    const closed = new Promise<number>((r) => ws.on('close', (code: number) => r(code)));
    duplex.end();
    expect(await within(closed, 5000, 'close after end')).toBe(1005);
  });

  it('createWebSocketStream on the server side: a peer\'s messages read in order, destroy() terminates', async () => {
    const wss = new WebSocketServer({ port: 0 });
    cleanups.push(() => wss.close());
    const got: Buffer[] = [];
    const ended = new Promise<void>((resolve) =>
      wss.on('connection', (ws: any) => {
        const duplex = createWebSocketStream(ws);
        duplex.on('data', (c: Buffer) => got.push(c));
        duplex.on('end', resolve);
      }),
    );
    const port = await listening(wss);
    const client = new RealWs(`ws://127.0.0.1:${port}`);
    await opened(client);
    client.send('a');
    client.send(Buffer.from('b'));
    client.close(1000);
    await within(ended, 5000, 'end');
    expect(Buffer.concat(got).toString()).toBe('ab');
  });
});
