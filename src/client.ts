// Client side of the handshake: connect() opens a TCP or Unix socket, sends the upgrade request, checks the 101
// response, and hands the socket (with any bytes read past the response) to a `type: 'client'` connection.
import * as net from 'node:net';

import { WebSocketConnection, type WebSocketConnectionOptions } from './connection.js';
import { HandshakeError } from './errors.js';
import {
  buildClientRequest,
  DEFAULT_MAX_HEADER_SIZE,
  type ExtraHeaders,
  generateKey,
  parseServerResponse,
  validateServerResponse,
} from './handshake.js';
import { buildClientOffer, type PerMessageDeflateOptions, resolveDeflateOption } from './permessage-deflate.js';

export interface ConnectOptions
  extends Omit<WebSocketConnectionOptions, 'fd' | 'socket' | 'head' | 'type' | 'perMessageDeflate' | 'allowedRsv'> {
  /** Subprotocols to offer, in order of preference. */
  protocols?: readonly string[];
  /** Extra request headers (Origin, Authorization, …). */
  headers?: ExtraHeaders;
  /** Offer permessage-deflate (RFC 7692). Default false. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Milliseconds for the TCP connect plus the handshake; then the promise rejects with code 'TIMEOUT'. Default 10000. */
  handshakeTimeout?: number;
  /** Largest response header block accepted. Default 16 KiB. */
  maxHeaderSize?: number;
}

interface Target {
  connect: net.NetConnectOpts;
  host: string;
  path: string;
}

// ws://host[:port]/path?query, or ws+unix:/path/to/socket[:/request/path] (the `ws` package's form).
function parseTarget(url: string | URL): Target {
  const u = typeof url === 'string' ? new URL(url) : url;
  if (u.protocol === 'ws+unix:') {
    const full = decodeURIComponent(u.pathname);
    const colon = full.indexOf(':');
    const socketPath = colon === -1 ? full : full.slice(0, colon);
    const path = (colon === -1 ? '/' : full.slice(colon + 1) || '/') + u.search;
    if (!socketPath) throw new TypeError(`no socket path in ${u.href}`);
    return { connect: { path: socketPath }, host: 'localhost', path };
  }
  if (u.protocol === 'wss:') {
    throw new TypeError('wss: is not supported: wslay works on a plain socket (terminate TLS in front, e.g. nginx)');
  }
  if (u.protocol !== 'ws:') throw new TypeError(`unsupported URL scheme ${u.protocol} (use ws: or ws+unix:)`);
  if (u.hash) throw new TypeError('a WebSocket URL has no fragment');
  const port = u.port ? Number(u.port) : 80;
  const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return { connect: { host: hostname, port }, host: u.host, path: (u.pathname || '/') + u.search };
}

/**
 * Opens a WebSocket client connection. Rejects with a `HandshakeError` whose `code` says why: 'CONNECTION_REFUSED',
 * 'CONNECTION_CLOSED', 'TIMEOUT', 'BAD_STATUS' (with `status` and `headers`), 'BAD_ACCEPT', 'BAD_EXTENSION',
 * 'BAD_PROTOCOL', 'BAD_RESPONSE', 'HEADERS_TOO_LARGE'.
 */
export function connect(url: string | URL, options: ConnectOptions = {}): Promise<WebSocketConnection> {
  const { protocols, headers, perMessageDeflate, handshakeTimeout = 10_000, maxHeaderSize, ...connectionOptions } =
    options;
  const target = parseTarget(url);
  const deflateOptions = resolveDeflateOption(perMessageDeflate);
  const key = generateKey();
  const request = buildClientRequest({
    host: target.host,
    path: target.path,
    key,
    protocols,
    extensions: deflateOptions ? [buildClientOffer(deflateOptions)] : undefined,
    headers,
  });

  return new Promise((resolve, reject) => {
    const socket = net.connect(target.connect);
    let received: Buffer = Buffer.alloc(0);
    let settled = false;
    const fail = (err: HandshakeError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new HandshakeError('TIMEOUT', `no WebSocket handshake within ${handshakeTimeout} ms`)),
      handshakeTimeout,
    );
    socket.once('connect', () => socket.write(request));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const refused = ['ECONNREFUSED', 'ENOENT', 'EHOSTUNREACH', 'ENETUNREACH'].includes(err.code ?? '');
      fail(
        new HandshakeError(refused ? 'CONNECTION_REFUSED' : 'CONNECTION_CLOSED', err.message, { cause: err }),
      );
    });
    socket.on('close', () => fail(new HandshakeError('CONNECTION_CLOSED', 'the server closed the connection')));
    const onData = (chunk: Buffer): void => {
      received = received.length ? Buffer.concat([received, chunk]) : chunk;
      let connection: WebSocketConnection;
      try {
        const response = parseServerResponse(received, maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE);
        if (response === 'incomplete') return;
        const accepted = validateServerResponse(response, { key, protocols, perMessageDeflate: deflateOptions });
        socket.off('data', onData);
        socket.pause();
        socket.removeAllListeners('close');
        socket.removeAllListeners('error');
        clearTimeout(timer);
        settled = true;
        connection = new WebSocketConnection({
          ...connectionOptions,
          socket,
          head: received.subarray(response.bodyOffset),
          type: 'client',
          perMessageDeflate: accepted.deflate ?? undefined,
        });
        connection.protocol = accepted.protocol ?? '';
        connection.extensions = accepted.deflate ? 'permessage-deflate' : '';
      } catch (err) {
        if (settled) {
          socket.destroy();
          reject(err);
          return;
        }
        fail(err instanceof HandshakeError ? err : new HandshakeError('BAD_RESPONSE', String(err), { cause: err }));
        return;
      }
      resolve(connection);
    };
    socket.on('data', onData);
  });
}
