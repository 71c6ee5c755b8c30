// A node:http server on 127.0.0.1 whose 'upgrade' handler answers the handshake by hand (acceptKey) and hands the
// socket to a WebSocketConnection, recording every connection it made.
import * as http from 'node:http';
import type * as net from 'node:net';

import { acceptKey } from '../../src/index.js';
import { trackedConnection, type ConnectionOptions, type Endpoint } from './endpoint.js';
import { within } from './wait.js';

export type OptionsFor = (req: http.IncomingMessage, head: Buffer) => ConnectionOptions;

export interface TestServer {
  port: number;
  endpoints: Endpoint[];
  /** The next connection made (or the first one not yet taken by an earlier call). */
  nextEndpoint(timeout?: number): Promise<Endpoint>;
  /** Stops listening and closes what is still open (bounded). */
  stop(): Promise<void>;
}

export function upgradeResponse(key: string): string {
  return (
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`
  );
}

export async function startServer(options: ConnectionOptions | OptionsFor = {}): Promise<TestServer> {
  const endpoints: Endpoint[] = [];
  const waiters: Array<(ep: Endpoint) => void> = [];
  let taken = 0;
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const key = String(req.headers['sec-websocket-key'] ?? '');
    socket.write(upgradeResponse(key));
    const opts = typeof options === 'function' ? options(req, head) : options;
    const ep = trackedConnection({ ...opts, socket, head });
    endpoints.push(ep);
    const waiter = waiters.shift();
    if (waiter) {
      taken++;
      waiter(ep);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    endpoints,
    nextEndpoint(timeout = 5000) {
      if (taken < endpoints.length) return Promise.resolve(endpoints[taken++]);
      return within(new Promise<Endpoint>((resolve) => waiters.push(resolve)), timeout, 'a server connection');
    },
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await closeEndpoints(endpoints);
    },
  };
}

/** close() every endpoint still open and wait (at most ~1 s) for their onClose. */
export async function closeEndpoints(endpoints: Endpoint[]): Promise<void> {
  const open = endpoints.filter((ep) => ep.closes.length === 0);
  for (const ep of open) {
    try {
      ep.conn.close();
    } catch {
      // already failing: onClose is on its way
    }
  }
  await within(Promise.all(open.map((ep) => ep.closed)), 1500, 'open connections to close').catch(() => {
    for (const ep of open) ep.conn.unref();
  });
}
