// A raw TCP server for testing WebSocket *clients*: it answers the upgrade
// itself (accepting permessage-deflate only when a case asks for it) and hands
// the connection to the case waiting on the request path, which then plays its
// script through a Peer. Given TLS options (key, cert) it is the same server on node:tls (wss).
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import * as tls from 'node:tls';
import { DeflateCodec, parseExtensions, serverParamsFromResponse } from './deflate-codec.js';
import { acceptKey, readHttpHead } from './handshake.js';
import { Peer } from './peer.js';

export interface AcceptOptions {
  /**
   * Parameters of the permessage-deflate response, e.g. 'server_no_context_takeover'
   * ('' = plain accept). Undefined: decline any offer.
   */
  deflateResponse?: string;
}

export type Accepted =
  | { peer: Peer }
  /** The client connected but did not offer what the case needs. */
  | { declined: string };

interface Waiting {
  opts: AcceptOptions;
  resolve: (a: Accepted) => void;
}

export class CraftedServer {
  private server: Server;
  private waiting = new Map<string, Waiting>();
  private sockets = new Set<Socket>();

  constructor(tlsOptions?: tls.TlsOptions) {
    const onConnection = (socket: Socket): void => void this.onConnection(socket);
    this.server = tlsOptions ? tls.createServer(tlsOptions, onConnection) : createServer(onConnection);
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** Waits for the next upgrade request on `path` (bounded by `timeoutMs`). */
  expect(path: string, opts: AcceptOptions, timeoutMs: number): Promise<Accepted> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(path);
        reject(new Error(`no upgrade request for ${path} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(path, {
        opts,
        resolve: (a) => {
          clearTimeout(timer);
          resolve(a);
        },
      });
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async onConnection(socket: Socket): Promise<void> {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    let head;
    try {
      head = await readHttpHead(socket, 5000);
    } catch {
      socket.destroy();
      return;
    }
    const [method, path] = head.startLine.split(' ');
    const key = head.headers.get('sec-websocket-key');
    const w = path !== undefined ? this.waiting.get(path) : undefined;
    if (method !== 'GET' || !key || !w) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    this.waiting.delete(path!);
    const lines = [
      'HTTP/1.1 101 Switching Protocols',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${acceptKey(key)}`,
    ];
    let codec: DeflateCodec | null = null;
    if (w.opts.deflateResponse !== undefined) {
      const offers = parseExtensions(head.headers.get('sec-websocket-extensions') ?? '');
      const wanted = parseExtensions(`permessage-deflate; ${w.opts.deflateResponse}`)[0]!;
      const offer = offers.find((o) => o.name === 'permessage-deflate' &&
        (!wanted.params.has('client_max_window_bits') || o.params.has('client_max_window_bits')));
      if (!offer) {
        socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        w.resolve({ declined: `client did not offer permessage-deflate usable with "${w.opts.deflateResponse || 'defaults'}"` });
        return;
      }
      // Honour what the client asked of us; add what the case wants.
      for (const [k, v] of offer.params) {
        if (k === 'server_no_context_takeover' || k === 'server_max_window_bits') wanted.params.set(k, v);
      }
      const params = [...wanted.params].map(([k, v]) => (v === true ? k : `${k}=${v}`));
      lines.push(`Sec-WebSocket-Extensions: ${['permessage-deflate', ...params].join('; ')}`);
      codec = new DeflateCodec(serverParamsFromResponse(wanted));
    }
    socket.write(lines.join('\r\n') + '\r\n\r\n');
    w.resolve({ peer: new Peer('client', socket, codec, head.rest) });
  }
}
