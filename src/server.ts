// Server side of the handshake: handleUpgrade() answers an http 'upgrade' request (or rejects it) and hands the
// socket to a WebSocketConnection; WebSocketServer attaches that to an http.Server.
import { EventEmitter } from 'node:events';
import type * as http from 'node:http';
import type * as stream from 'node:stream';

import {
  optionsChecked,
  takeoverFailure,
  WebSocketConnection,
  type WebSocketConnectionOptions,
} from './connection.js';
import { buildUpgradeResponse, type ExtraHeaders, formatHttpResponse, validateUpgradeRequest } from './handshake.js';
import {
  checkHandleUpgradeOptions,
  checkHandshakeOptions,
  checkServerOptions,
  type PassedConnectionOptions,
} from './options.js';
import {
  type NegotiatedDeflate,
  negotiateServer,
  type PerMessageDeflateOptions,
  resolveDeflateOption,
} from './permessage-deflate.js';
import { hasPlainFd } from './socket-handover.js';
import { checkStream, chooseTransport } from './stream-transport.js';

/** The server's side of the opening handshake. */
export interface UpgradeHandshakeOptions {
  /** Subprotocols this server speaks; the first one the client offers (in the client's order) is chosen.
   *  Default: none (no subprotocol is agreed). */
  protocols?: readonly string[];
  /** Chooses the subprotocol instead: return one of `offered`, or undefined/false for none. Default: none. */
  handleProtocols?: (offered: string[], req: http.IncomingMessage) => string | undefined | false;
  /** Extra headers for the 101 response. Default: none. */
  headers?: ExtraHeaders;
  /** permessage-deflate (RFC 7692), negotiated when the client offers it: true for the defaults, or the
   *  parameters. Default false. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
}

export interface HandleUpgradeOptions extends UpgradeHandshakeOptions, PassedConnectionOptions {}

/** What the handshake agreed. */
export interface UpgradeAgreement {
  /** The subprotocol chosen, or undefined for none. */
  protocol: string | undefined;
  /** The permessage-deflate parameters agreed, or undefined when it is not in use. */
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

// A bad option is refused before anything is written: the socket is destroyed and the error thrown.
function refuseBadOptions<T>(socket: stream.Duplex, check: () => T): T {
  try {
    return check();
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/**
 * The handshake part of handleUpgrade (and of upgradeForHandoff): refuses a socket that can carry neither transport
 * (not a stream.Duplex, or destroyed: TypeError, the socket destroyed, nothing written), validates the request,
 * answering a bad one with 400 (426 for another protocol version) and destroying the socket (→ undefined);
 * otherwise picks the subprotocol, negotiates permessage-deflate and writes the complete 101 response. A bad or unknown option (or a failing
 * `handleProtocols`) throws before anything is written, and the socket is destroyed.
 */
export function answerUpgrade(
  req: http.IncomingMessage,
  socket: stream.Duplex,
  options: UpgradeHandshakeOptions = {},
): UpgradeAgreement | undefined {
  refuseBadOptions(socket, () => checkHandshakeOptions(options));
  return negotiate(req, socket, options);
}

function negotiate(
  req: http.IncomingMessage,
  socket: stream.Duplex,
  options: UpgradeHandshakeOptions,
): UpgradeAgreement | undefined {
  // Before any byte is written: a socket that can carry neither transport would get a 101 and then nothing.
  refuseBadOptions(socket, () => {
    if (!hasPlainFd(socket)) checkStream(socket);
  });
  // Whatever fails here (handleProtocols throwing or choosing what was not offered) fails before the 101.
  const answer = refuseBadOptions(socket, () => planUpgradeAnswer(req, options));
  if (!answer.ok) {
    refuse(socket, answer.response);
    return undefined;
  }
  socket.write(answer.response);
  return { protocol: answer.protocol, deflate: answer.deflate };
}

/**
 * Completes a WebSocket upgrade on an http server's 'upgrade' event: validates the request (bad ones get 400, or 426
 * for another protocol version, and the socket is destroyed), negotiates the subprotocol and permessage-deflate,
 * writes the complete 101 response, and returns the connection, or undefined when the request was rejected.
 * A bad or unknown option throws (TypeError/RangeError) before anything is written, and the socket is destroyed.
 */
export function handleUpgrade(
  req: http.IncomingMessage,
  socket: stream.Duplex,
  head: Uint8Array,
  options: HandleUpgradeOptions = {},
): WebSocketConnection | undefined {
  refuseBadOptions(socket, () => {
    checkHandleUpgradeOptions(options);
    if (!(head instanceof Uint8Array)) throw new TypeError('head must be a Buffer or Uint8Array');
    chooseTransport(socket, options.transport);
  });
  const { protocols, handleProtocols, headers, perMessageDeflate, ...connectionOptions } = options;
  const agreed = negotiate(req, socket, { protocols, handleProtocols, headers, perMessageDeflate });
  if (!agreed) return undefined;
  const connection = new WebSocketConnection({
    ...connectionOptions,
    socket,
    head,
    type: 'server',
    perMessageDeflate: agreed.deflate,
    [optionsChecked]: true,
  } as WebSocketConnectionOptions);
  connection.protocol = agreed.protocol ?? '';
  connection.extensions = agreed.deflate ? 'permessage-deflate' : '';
  return connection;
}

export interface WebSocketServerOptions extends HandleUpgradeOptions {
  /** The http.Server whose 'upgrade' events this server handles. */
  server: http.Server;
  /** Only upgrade requests for this path (the query string is ignored). A request for another path is left to
   *  the server's other 'upgrade' listeners when it has any, and answered with 400 otherwise. Default: every
   *  path. */
  path?: string;
}

/** The events of a WebSocketServer, for its typed `on`/`once`/`off`/`emit`. */
export interface WebSocketServerEvents {
  /** A connection opened: the connection and the upgrade request. */
  connection: [connection: WebSocketConnection, request: http.IncomingMessage];
  /** An upgrade failed after its request was taken (e.g. EMFILE when the socket's fd was duplicated, or a socket
   *  that cannot be handed over); its socket is destroyed. Without a listener the failure is only counted in
   *  `failedConnections`, never thrown. */
  error: [error: unknown, request: http.IncomingMessage];
}

/**
 * Attaches handleUpgrade to an http.Server and emits 'connection' (connection, request) for each new connection.
 * Its options are checked in the constructor, which throws on a bad one. close() stops accepting and closes every
 * open connection with 1001 (going away).
 */
export class WebSocketServer extends EventEmitter<WebSocketServerEvents> {
  readonly #server: http.Server;
  readonly #connections = new Set<WebSocketConnection>();
  readonly #onUpgrade: (req: http.IncomingMessage, socket: stream.Duplex, head: Buffer) => void;
  /** Upgrades that failed after their request was taken (their sockets were destroyed); see the 'error' event. */
  failedConnections = 0;

  constructor(options: WebSocketServerOptions) {
    super();
    checkServerOptions(options);
    const { server, path, ...upgradeOptions } = options;
    this.#server = server;
    this.#onUpgrade = (req, socket, head) => {
      if (path !== undefined && (req.url ?? '/').split('?')[0] !== path) {
        // Another 'upgrade' listener may serve this path; with none, the client would wait for nothing.
        if (this.#server.listenerCount('upgrade') === 1) notFound(socket);
        return;
      }
      const fail = (err: unknown): void => {
        socket.destroy();
        this.failedConnections++;
        if (this.listenerCount('error') > 0) this.emit('error', err, req);
      };
      let connection: WebSocketConnection | undefined;
      try {
        connection = handleUpgrade(req, socket, head, upgradeOptions);
      } catch (err) {
        fail(err);
        return;
      }
      if (!connection) return;
      // A takeover that failed at once (no descriptor left for the copy) never opened: its onClose(1006) follows.
      const failure = takeoverFailure(connection);
      if (failure) {
        fail(failure);
        return;
      }
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

  /** Stops handling upgrades and closes every open connection with `code` (default 1001) and `reason`. */
  close(code = 1001, reason = ''): void {
    this.#server.off('upgrade', this.#onUpgrade);
    for (const c of this.#connections) if (c.readyState !== 'closed') c.close(code, reason);
    this.#connections.clear();
  }

  #prune(): void {
    for (const c of this.#connections) if (c.readyState === 'closed') this.#connections.delete(c);
  }
}

/** Writes an HTTP error response and destroys the socket once it is out (or fails). */
function refuse(socket: stream.Duplex, response: string): void {
  socket.on('error', () => socket.destroy());
  socket.end(response, () => socket.destroy());
}

function notFound(socket: stream.Duplex): void {
  const body = 'No WebSocket endpoint at this path';
  const headers = {
    Connection: 'close',
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  };
  refuse(socket, formatHttpResponse(400, headers, body));
}
