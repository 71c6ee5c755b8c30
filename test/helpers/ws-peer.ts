// The `ws` package as an independent peer: a client for our server, a server for our client.
import type * as net from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

import { within } from './wait.js';

export interface WsMessage {
  data: Buffer;
  isBinary: boolean;
}

export interface WsClient {
  ws: WebSocket;
  messages: WsMessage[];
  /** Resolves with the close code and reason ws reports. */
  closed: Promise<{ code: number; reason: string }>;
}

function record(ws: WebSocket): WsClient {
  const messages: WsMessage[] = [];
  ws.on('message', (data, isBinary) => messages.push({ data: data as Buffer, isBinary }));
  ws.on('error', () => {}); // a reset or protocol error still ends in 'close', which tests check
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  return { ws, messages, closed };
}

export async function wsConnect(port: number, options: WebSocket.ClientOptions = {}, urlPath = '/'): Promise<WsClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${urlPath}`, { perMessageDeflate: false, ...options });
  const client = record(ws);
  await within(
    new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    }),
    5000,
    'the ws client to connect',
  );
  return client;
}

export interface WsServer {
  port: number;
  clients: WsClient[];
  nextClient(timeout?: number): Promise<WsClient>;
  stop(): Promise<void>;
}

/** A ws server; `onConnection` sets each connection up (e.g. echo). */
export async function startWsServer(onConnection?: (ws: WebSocket) => void): Promise<WsServer> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  const clients: WsClient[] = [];
  const waiters: Array<(c: WsClient) => void> = [];
  server.on('connection', (ws) => {
    const client = record(ws);
    clients.push(client);
    onConnection?.(ws);
    waiters.shift()?.(client);
  });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  let taken = 0;
  return {
    port: (server.address() as net.AddressInfo).port,
    clients,
    nextClient(timeout = 5000) {
      if (taken < clients.length) return Promise.resolve(clients[taken++]);
      return within(
        new Promise<WsClient>((resolve) => waiters.push((c) => (taken++, resolve(c)))),
        timeout,
        'a ws server connection',
      );
    },
    async stop() {
      for (const c of server.clients) c.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Echoes every message with its type. */
export function wsEcho(ws: WebSocket): void {
  ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
}
