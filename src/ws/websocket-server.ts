// wslay/ws's WebSocketServer: ws 8's server (own http.Server on `port`, an existing `server`, or `noServer` with
// handleUpgrade), answering the handshake with this package's checks and negotiation and handing each socket to a
// WebSocketConnection wrapped in a wslay/ws WebSocket.
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import type * as net from 'node:net';
import type * as stream from 'node:stream';

import { WebSocketConnection } from '../connection.js';
import { Opcode } from '../constants.js';
import { buildUpgradeResponse, validateUpgradeRequest } from '../handshake.js';
import { formatExtensions } from '../extensions.js';
import { negotiateServer, type NegotiatedDeflate, resolveDeflateOption } from '../permessage-deflate.js';
import { publish, type PublishData, type PublishOptions } from '../pubsub.js';
import { hasPlainFd } from '../socket-handover.js';
import { checkStream } from '../stream-transport.js';
import { kAttach, mapDeflateOption, maxRecvSizeFor, WebSocket, type WsPerMessageDeflateOptions } from './websocket.js';

export interface VerifyClientInfo {
  origin: string | undefined;
  secure: boolean;
  req: http.IncomingMessage;
}
export type VerifyClientCallback = (
  verified: boolean,
  code?: number,
  message?: string,
  headers?: http.OutgoingHttpHeaders,
) => void;

export interface ServerOptions {
  host?: string;
  port?: number;
  backlog?: number;
  server?: http.Server | import('node:https').Server;
  noServer?: boolean;
  path?: string;
  verifyClient?:
    | ((info: VerifyClientInfo) => boolean)
    | ((info: VerifyClientInfo, callback: VerifyClientCallback) => void);
  handleProtocols?: (protocols: Set<string>, request: http.IncomingMessage) => string | false;
  clientTracking?: boolean;
  perMessageDeflate?: boolean | WsPerMessageDeflateOptions;
  maxPayload?: number;
  autoPong?: boolean;
  skipUTF8Validation?: boolean;
  allowSynchronousEvents?: boolean;
  WebSocket?: typeof WebSocket;
}

export interface WebSocketServerEvents {
  connection: [socket: WebSocket, request: http.IncomingMessage];
  error: [error: Error];
  headers: [headers: string[], request: http.IncomingMessage];
  listening: [];
  close: [];
  wsClientError: [error: Error, socket: stream.Duplex, request: http.IncomingMessage];
}

const RUNNING = 0;
const CLOSING = 1;
const CLOSED = 2;
const kHandled = Symbol('wslay.ws.handledSocket');

function socketOnError(this: stream.Duplex): void {
  this.destroy();
}

/** Writes an HTTP error response and destroys the socket (ws's abortHandshake). */
function abortHandshake(
  socket: stream.Duplex,
  code: number,
  message = http.STATUS_CODES[code] ?? '',
  headers: http.OutgoingHttpHeaders = {},
): void {
  const all: http.OutgoingHttpHeaders = {
    Connection: 'close',
    'Content-Type': 'text/html',
    'Content-Length': Buffer.byteLength(message),
    ...headers,
  };
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${code} ${http.STATUS_CODES[code]}\r\n` +
      Object.entries(all)
        .map(([n, v]) => `${n}: ${String(v)}`)
        .join('\r\n') +
      '\r\n\r\n' +
      message,
  );
}

export class WebSocketServer extends EventEmitter<WebSocketServerEvents> {
  readonly options: ServerOptions & { maxPayload: number; clientTracking: boolean };
  /** The open connections (with `clientTracking`, the default). */
  readonly clients: Set<WebSocket> | undefined;
  #server: http.Server | null = null;
  #ownServer = false;
  #removeListeners: (() => void) | undefined;
  #state = RUNNING;
  #emitCloseWhenEmpty = false;
  readonly #deflate;
  readonly #maxRecvSize: number;

  constructor(options: ServerOptions, callback?: () => void) {
    super();
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    // Unknown options are ignored, as ws does (engine.io passes its own, e.g. maxBufferedChunks).
    const modes = Number(options.port != null) + Number(!!options.server) + Number(!!options.noServer);
    if (modes !== 1) {
      throw new TypeError('One and only one of the "port", "server", or "noServer" options must be specified');
    }
    if (options.autoPong === false) throw new RangeError('wslay/ws: autoPong: false is not supported (pings are always answered)');
    this.#deflate = resolveDeflateOption(mapDeflateOption(options.perMessageDeflate, false) || false);
    this.#maxRecvSize = maxRecvSizeFor(options.maxPayload);
    this.options = { ...options, maxPayload: options.maxPayload ?? 100 * 1024 * 1024, clientTracking: options.clientTracking ?? true };
    this.clients = this.options.clientTracking ? new Set() : undefined;

    if (options.port != null) {
      const own = http.createServer((req, res) => {
        const body = http.STATUS_CODES[426]!;
        res.writeHead(426, { 'Content-Length': body.length, 'Content-Type': 'text/plain' });
        res.end(body);
      });
      own.listen(options.port, options.host, options.backlog, callback);
      this.#server = own;
      this.#ownServer = true;
    } else if (options.server) {
      this.#server = options.server as http.Server;
    }
    if (this.#server) {
      const server = this.#server;
      const onListening = (): void => void this.emit('listening');
      const onError = (err: Error): void => void this.emit('error', err);
      const onUpgrade = (req: http.IncomingMessage, socket: stream.Duplex, head: Buffer): void => {
        // Several servers may share one http.Server by path: a request for another path is left to them, and
        // answered with 400 only when no other 'upgrade' listener is there to take it.
        if (!this.shouldHandle(req) && server.listenerCount('upgrade') > 1) return;
        this.handleUpgrade(req, socket, head, (ws) => this.emit('connection', ws, req));
      };
      server.on('listening', onListening);
      server.on('error', onError);
      server.on('upgrade', onUpgrade);
      this.#removeListeners = () => {
        server.off('listening', onListening);
        server.off('error', onError);
        server.off('upgrade', onUpgrade);
      };
    }
  }

  /** The bound address of the http server (as `server.address()`); null when it is not listening. */
  address(): net.AddressInfo | string | null {
    if (this.options.noServer) throw new Error('The server is operating in "noServer" mode');
    if (!this.#server) return null;
    return this.#server.address();
  }

  /** Pub/sub (not in ws): the package's `publish(topic, data, opcode, options)`, for every subscriber in the process
   *  (`ws.subscribe(topic)`). Returns the number of this thread's subscribers it was queued to. */
  publish(topic: string, data: PublishData, opcode: number = Opcode.TEXT, options?: PublishOptions): number {
    return publish(topic, data, opcode, options);
  }

  /** Whether this server takes the request (its `path`, when given; the query string is ignored). */
  shouldHandle(req: http.IncomingMessage): boolean {
    if (this.options.path === undefined) return true;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    return (q === -1 ? url : url.slice(0, q)) === this.options.path;
  }

  /**
   * Stops accepting connections; open ones stay open (ws 8). 'close' is emitted once the server's own http server
   * (with `port`) has closed and, with clientTracking, every connection has closed. `cb` gets the 'close' event,
   * or an error when the server was not running.
   */
  close(cb?: (err?: Error) => void): void {
    if (cb) {
      if (this.#state === CLOSED) {
        process.nextTick(cb, new Error('The server is not running'));
        return;
      }
      this.once('close', () => cb());
    }
    if (this.#state !== RUNNING) return;
    this.#state = CLOSING;
    this.#removeListeners?.();
    this.#removeListeners = undefined;
    const server = this.#server;
    this.#server = null;
    const finish = (): void => {
      if (this.clients && this.clients.size > 0) {
        this.#emitCloseWhenEmpty = true;
        return;
      }
      this.#state = CLOSED;
      this.emit('close');
    };
    if (this.#ownServer && server) server.close(() => finish());
    else process.nextTick(finish);
  }

  /**
   * Completes the handshake of an 'upgrade' request and calls `cb(ws, req)`; a bad request gets its HTTP error (or,
   * with a 'wsClientError' listener, is left to it), a refused one (verifyClient) 401 or the code given.
   */
  handleUpgrade(
    req: http.IncomingMessage,
    socket: stream.Duplex,
    head: Buffer,
    cb: (ws: WebSocket, req: http.IncomingMessage) => void,
  ): void {
    socket.on('error', socketOnError);
    if (!this.shouldHandle(req)) {
      this.#clientError(socket, req, 400, 'Invalid URL path');
      return;
    }
    const request = validateUpgradeRequest(req);
    if (!request.ok) {
      if (this.listenerCount('wsClientError') > 0) {
        this.emit('wsClientError', new Error(request.body), socket, req);
      } else {
        abortHandshake(socket, request.status, request.body, request.headers);
      }
      return;
    }
    let negotiated: { response: string; negotiated: NegotiatedDeflate } | null = null;
    if (this.#deflate) {
      try {
        const n = negotiateServer(request.extensions, this.#deflate);
        if (n) negotiated = { response: formatExtensions([n.response]), negotiated: n.negotiated };
      } catch {
        this.#clientError(socket, req, 400, 'Invalid or unacceptable Sec-WebSocket-Extensions header');
        return;
      }
    }
    const protocols = new Set(request.protocols);
    const verify = this.options.verifyClient;
    if (verify) {
      const info: VerifyClientInfo = {
        origin: req.headers.origin,
        secure: Boolean((req.socket as { authorized?: boolean; encrypted?: boolean }).authorized ||
          (req.socket as { encrypted?: boolean }).encrypted),
        req,
      };
      if (verify.length === 2) {
        (verify as (i: VerifyClientInfo, c: VerifyClientCallback) => void)(info, (verified, code, message, headers) => {
          if (!verified) return abortHandshake(socket, code || 401, message, headers);
          this.#complete(negotiated, request.key, protocols, req, socket, head, cb);
        });
        return;
      }
      if (!(verify as (i: VerifyClientInfo) => boolean)(info)) return abortHandshake(socket, 401);
    }
    this.#complete(negotiated, request.key, protocols, req, socket, head, cb);
  }

  #clientError(socket: stream.Duplex, req: http.IncomingMessage, code: number, message: string): void {
    if (this.listenerCount('wsClientError') > 0) this.emit('wsClientError', new Error(message), socket, req);
    else abortHandshake(socket, code, message);
  }

  #complete(
    deflate: { response: string; negotiated: NegotiatedDeflate } | null,
    key: string,
    protocols: Set<string>,
    req: http.IncomingMessage,
    socket: stream.Duplex,
    head: Buffer,
    cb: (ws: WebSocket, req: http.IncomingMessage) => void,
  ): void {
    if (!socket.readable || !socket.writable) {
      socket.destroy();
      return;
    }
    if ((socket as { [kHandled]?: boolean })[kHandled]) {
      throw new Error(
        'server.handleUpgrade() was called more than once with the same socket, possibly due to a misconfiguration',
      );
    }
    if (this.#state !== RUNNING) return abortHandshake(socket, 503);
    try {
      // A plain socket goes to the fd transport, a TLS one (or another Duplex) to the stream transport.
      if (!hasPlainFd(socket)) checkStream(socket);
    } catch (err) {
      socket.destroy();
      if (this.listenerCount('error') > 0) this.emit('error', err as Error);
      return;
    }
    let protocol: string | undefined;
    if (protocols.size) {
      protocol = this.options.handleProtocols
        ? this.options.handleProtocols(protocols, req) || undefined
        : protocols.values().next().value;
    }
    const response = buildUpgradeResponse({ key, protocol, extensions: deflate?.response });
    // ws's 'headers' event: the response's lines, which listeners may change before they are written.
    const lines = response.slice(0, -4).split('\r\n');
    this.emit('headers', lines, req);
    socket.write(lines.concat('\r\n').join('\r\n'));
    socket.removeListener('error', socketOnError);
    (socket as { [kHandled]?: boolean })[kHandled] = true;
    const Ctor = this.options.WebSocket ?? WebSocket;
    const ws = new Ctor(null);
    const conn = new WebSocketConnection({
      socket,
      head,
      type: 'server',
      perMessageDeflate: deflate?.negotiated,
      maxRecvSize: this.#maxRecvSize,
    });
    ws[kAttach](conn, protocol ?? '', deflate ? 'permessage-deflate' : '');
    if (this.clients) {
      this.clients.add(ws);
      ws.on('close', () => {
        this.clients!.delete(ws);
        if (this.#emitCloseWhenEmpty && this.clients!.size === 0) {
          this.#emitCloseWhenEmpty = false;
          this.#state = CLOSED;
          process.nextTick(() => this.emit('close'));
        }
      });
    }
    cb(ws, req);
  }
}
