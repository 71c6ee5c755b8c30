// Server side of the handshake: handleUpgrade() answers an http 'upgrade' request (or rejects it) and hands the
// socket to a WebSocketConnection; WebSocketServer attaches that to an http.Server.
import { EventEmitter } from 'node:events';
import type * as http from 'node:http';
import type * as net from 'node:net';

import { WebSocketConnection, type WebSocketConnectionOptions } from './connection.js';
import { buildUpgradeResponse, type ExtraHeaders, formatHttpResponse, validateUpgradeRequest } from './handshake.js';
import {
  type NegotiatedDeflate,
  negotiateServer,
  type PerMessageDeflateOptions,
  resolveDeflateOption,
} from './permessage-deflate.js';

/** The server's side of the opening handshake. */
export interface UpgradeHandshakeOptions {
  /** Subprotocols this server speaks; the first one the client offers (in the client's order) is chosen. */
  protocols?: readonly string[];
  /** Chooses the subprotocol instead: return one of `offered`, or undefined/false for none. */
  handleProtocols?: (offered: string[], req: http.IncomingMessage) => string | undefined | false;
  /** Extra headers for the 101 response. */
  headers?: ExtraHeaders;
  /** permessage-deflate (RFC 7692), negotiated when the client offers it. Default false. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
}

export interface HandleUpgradeOptions
  extends UpgradeHandshakeOptions,
    Omit<WebSocketConnectionOptions, 'fd' | 'socket' | 'head' | 'type' | 'perMessageDeflate' | 'allowedRsv'> {}

/** What the handshake agreed. */
export interface UpgradeAgreement {
  protocol: string | undefined;
  deflate: NegotiatedDeflate | undefined;
}

/** The server's answer to an upgrade request, as bytes to write (latin1) and what they agree. */
export type UpgradeAnswer =
  | { ok: false; response: string }
  | { ok: true; response: string; protocol: string | undefined; deflate: NegotiatedDeflate | undefined };

/**
 * The decisions of answerUpgrade without the socket (a pure function, fuzzed by fuzz/handshake-fuzzer.mjs): validates
 * the request (400, or 426 for another protocol version), picks the subprotocol, negotiates permessage-deflate and
 * formats the complete response.
 *
 * @throws Error when handleProtocols chooses a subprotocol that was not offered; TypeError from the response's
 *   formatting (an invalid extra header).
 */
export function planUpgradeAnswer(req: http.IncomingMessage, options: UpgradeHandshakeOptions): UpgradeAnswer {
  const deflateOptions = resolveDeflateOption(options.perMessageDeflate);
  const request = validateUpgradeRequest(req);
  if (!request.ok) return { ok: false, response: formatHttpResponse(request.status, request.headers, request.body) };
  let protocol: string | undefined;
  if (options.handleProtocols) {
    const chosen = options.handleProtocols([...request.protocols], req);
    if (typeof chosen === 'string') {
      if (!request.protocols.includes(chosen)) throw new Error(`handleProtocols chose ${chosen}, which was not offered`);
      protocol = chosen;
    }
  } else if (options.protocols) {
    const supported = options.protocols;
    protocol = request.protocols.find((p) => supported.includes(p));
  }
  const deflate = deflateOptions ? negotiateServer(request.extensions, deflateOptions) : null;
  const response = buildUpgradeResponse({
    key: request.key,
    protocol,
    extensions: deflate ? [deflate.response] : undefined,
    headers: options.headers,
  });
  return { ok: true, response, protocol, deflate: deflate?.negotiated };
}

/**
 * The handshake part of handleUpgrade (and of upgradeForHandoff): validates the request, answering a bad one with
 * 400 (426 for another protocol version) and destroying the socket (→ undefined); otherwise picks the subprotocol,
 * negotiates permessage-deflate and writes the complete 101 response.
 */
export function answerUpgrade(
  req: http.IncomingMessage,
  socket: net.Socket,
  options: UpgradeHandshakeOptions,
): UpgradeAgreement | undefined {
  const answer = planUpgradeAnswer(req, options);
  if (!answer.ok) {
    socket.on('error', () => socket.destroy());
    socket.end(answer.response, () => socket.destroy());
    return undefined;
  }
  socket.write(answer.response);
  return { protocol: answer.protocol, deflate: answer.deflate };
}

/**
 * Completes a WebSocket upgrade on an http server's 'upgrade' event: validates the request (bad ones get 400, or 426
 * for another protocol version, and the socket is destroyed), negotiates the subprotocol and permessage-deflate,
 * writes the complete 101 response, and returns the connection, or undefined when the request was rejected.
 */
export function handleUpgrade(
  req: http.IncomingMessage,
  socket: net.Socket,
  head: Uint8Array,
  options: HandleUpgradeOptions = {},
): WebSocketConnection | undefined {
  const { protocols, handleProtocols, headers, perMessageDeflate, ...connectionOptions } = options;
  const agreed = answerUpgrade(req, socket, { protocols, handleProtocols, headers, perMessageDeflate });
  if (!agreed) return undefined;
  const connection = new WebSocketConnection({
    ...connectionOptions,
    socket,
    head,
    type: 'server',
    perMessageDeflate: agreed.deflate,
  });
  connection.protocol = agreed.protocol ?? '';
  connection.extensions = agreed.deflate ? 'permessage-deflate' : '';
  return connection;
}

export interface WebSocketServerOptions extends HandleUpgradeOptions {
  server: http.Server;
  /** Only upgrade requests for this path (the query string is ignored); others are left to other listeners. */
  path?: string;
}

/**
 * Attaches handleUpgrade to an http.Server and emits 'connection' (connection, request) for each new connection.
 * close() stops accepting and closes every open connection with 1001 (going away).
 */
export class WebSocketServer extends EventEmitter {
  readonly #server: http.Server;
  readonly #options: WebSocketServerOptions;
  readonly #connections = new Set<WebSocketConnection>();
  readonly #onUpgrade: (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void;

  constructor(options: WebSocketServerOptions) {
    super();
    this.#options = options;
    this.#server = options.server;
    this.#onUpgrade = (req, socket, head) => {
      if (options.path !== undefined && (req.url ?? '/').split('?')[0] !== options.path) return;
      const { server: _server, path: _path, ...upgradeOptions } = options;
      let connection: WebSocketConnection | undefined;
      try {
        connection = handleUpgrade(req, socket, head, upgradeOptions);
      } catch (err) {
        socket.destroy();
        this.emit('error', err);
        return;
      }
      if (!connection) return;
      this.#prune();
      this.#connections.add(connection);
      this.emit('connection', connection, req);
    };
    this.#server.on('upgrade', this.#onUpgrade);
  }

  /** The connections that are not closed yet. */
  get clients(): ReadonlySet<WebSocketConnection> {
    this.#prune();
    return this.#connections;
  }

  close(code = 1001, reason = ''): void {
    this.#server.off('upgrade', this.#onUpgrade);
    for (const c of this.#connections) if (c.readyState !== 'closed') c.close(code, reason);
    this.#connections.clear();
  }

  #prune(): void {
    for (const c of this.#connections) if (c.readyState === 'closed') this.#connections.delete(c);
  }
}
