// Client side of the handshake: connect() opens a TCP or Unix socket, sends the upgrade request, checks the 101
// response (following redirects when asked), and hands the socket (with any bytes read past the response) to a
// `type: 'client'` connection.
import * as net from 'node:net';
import * as tls from 'node:tls';

import { WebSocketConnection } from './connection.js';
import { HandshakeError } from './errors.js';
import {
  buildClientRequest,
  DEFAULT_MAX_HEADER_SIZE,
  type ExtraHeaders,
  generateKey,
  type ParsedServerResponse,
  parseServerResponse,
  validateServerResponse,
} from './handshake.js';
import { checkClientOptions, type PassedConnectionOptions } from './options.js';
import { buildClientOffer, type PerMessageDeflateOptions, resolveDeflateOption } from './permessage-deflate.js';

export interface ConnectOptions extends PassedConnectionOptions {
  /** Subprotocols to offer, in order of preference (tokens, unique). Default: none. */
  protocols?: readonly string[];
  /** Extra request headers (Cookie, Authorization, …). Default: none. */
  headers?: ExtraHeaders;
  /** The `Origin` header to send, e.g. 'https://example.com'. Default: none. */
  origin?: string;
  /** Offer permessage-deflate (RFC 7692): true for the defaults, or the parameters to offer. Default false. */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Milliseconds for the TCP connect plus the handshake, redirects included; then the promise rejects with code
   *  'TIMEOUT'. Default 10000. */
  handshakeTimeout?: number;
  /** Largest response header block accepted, in bytes. Default 16 KiB. */
  maxHeaderSize?: number;
  /** Follow 301, 302, 303, 307 and 308 responses to ws:, wss:, ws+unix:, http: or https: URLs. Default false (a
   *  redirect rejects with 'BAD_STATUS'). */
  followRedirects?: boolean;
  /** With `followRedirects`: most redirects followed; one more rejects with 'TOO_MANY_REDIRECTS'. Default 10. */
  maxRedirects?: number;
  /** Local IP address to connect from. Default: chosen by the OS. */
  localAddress?: string;
  /** IP version to resolve the host name to: 4, 6, or 0 for either. Default 0. */
  family?: number;
  /** Resolves the host name instead of `dns.lookup` (same signature). Default `dns.lookup`. */
  lookup?: net.LookupFunction;
  /** wss: only, passed to tls.connect as `ws` does: trusted CAs (default: Node's bundled list). */
  ca?: tls.ConnectionOptions['ca'];
  /** wss: a client certificate, its key (or a PKCS#12 `pfx`) and the key's passphrase. */
  cert?: tls.ConnectionOptions['cert'];
  key?: tls.ConnectionOptions['key'];
  pfx?: tls.ConnectionOptions['pfx'];
  passphrase?: string;
  /** wss: refuse a server whose certificate does not verify. Default true. */
  rejectUnauthorized?: boolean;
  /** wss: the SNI name and the name the certificate must match. Default: the URL's host (none for an IP). */
  servername?: string;
  /** wss: replaces the check of the certificate against the host name (tls.checkServerIdentity). */
  checkServerIdentity?: tls.ConnectionOptions['checkServerIdentity'];
}

/** The node:tls options a caller may give connect() (and wslay/ws's client). */
export const TLS_OPTION_NAMES = [
  'ca',
  'cert',
  'key',
  'pfx',
  'passphrase',
  'rejectUnauthorized',
  'servername',
  'checkServerIdentity',
] as const;
type TlsOptionName = (typeof TLS_OPTION_NAMES)[number];
type TlsOptions = Pick<ConnectOptions, TlsOptionName>;

/** Takes the node:tls options (those given) out of the rest of connect()'s options, which go to the connection. */
function splitTlsOptions<T extends TlsOptions>(options: T): { tlsOptions: TlsOptions; connectionOptions: Omit<T, TlsOptionName> } {
  const connectionOptions: Record<string, unknown> = { ...options };
  const tlsOptions: Record<string, unknown> = {};
  for (const name of TLS_OPTION_NAMES) {
    if (options[name] !== undefined) tlsOptions[name] = options[name];
    delete connectionOptions[name];
  }
  return { tlsOptions: tlsOptions as TlsOptions, connectionOptions: connectionOptions as Omit<T, TlsOptionName> };
}

interface Target {
  url: URL;
  connect: net.NetConnectOpts;
  /** For ws+unix: URLs, the socket's path. */
  socketPath: string | undefined;
  /** wss: or https: */
  secure: boolean;
  host: string;
  path: string;
  /** `user:password` from the URL, decoded; undefined when the URL has none. */
  credentials: string | undefined;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
// Headers that carry the caller's identity: they are not sent on to another host after a redirect.
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie']);

function badUrl(message: string, cause?: unknown): HandshakeError {
  return new HandshakeError('BAD_URL', message, { cause });
}

function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch (err) {
    throw badUrl(`invalid percent-encoding in ${JSON.stringify(part)}`, err);
  }
}

// ws://host[:port]/path?query (http: is the same), or ws+unix:/path/to/socket[:/request/path] (the `ws` package's
// form). `base` resolves a redirect's relative Location.
function parseTarget(url: string | URL, base?: URL): Target {
  let u: URL;
  try {
    u = new URL(url, base);
  } catch (err) {
    throw badUrl(`invalid URL ${JSON.stringify(String(url))}`, err);
  }
  if (u.hash) throw badUrl('a WebSocket URL has no fragment');
  const credentials = u.username || u.password ? `${decoded(u.username)}:${decoded(u.password)}` : undefined;
  if (u.protocol === 'ws+unix:') {
    const full = decoded(u.pathname);
    const colon = full.indexOf(':');
    const socketPath = colon === -1 ? full : full.slice(0, colon);
    const path = (colon === -1 ? '/' : full.slice(colon + 1) || '/') + u.search;
    if (!socketPath) throw badUrl(`no socket path in ${u.href}`);
    return { url: u, connect: { path: socketPath }, socketPath, secure: false, host: 'localhost', path, credentials };
  }
  const secure = u.protocol === 'wss:' || u.protocol === 'https:';
  if (u.protocol !== 'ws:' && u.protocol !== 'http:' && !secure) {
    throw badUrl(`unsupported URL scheme ${u.protocol} (use ws:, wss:, http:, https: or ws+unix:)`);
  }
  const port = u.port ? Number(u.port) : secure ? 443 : 80;
  const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (!hostname) throw badUrl(`no host in ${u.href}`);
  return {
    url: u,
    connect: { host: hostname, port },
    socketPath: undefined,
    secure,
    host: u.host,
    path: (u.pathname || '/') + u.search,
    credentials,
  };
}

/** Where a redirect response points, relative to the URL that answered it. */
function redirectTarget(from: Target, location: string): Target {
  if (from.url.protocol === 'ws+unix:' && !/^[a-z][a-z0-9+.-]*:/i.test(location)) {
    throw badUrl(`a redirect from a ws+unix: URL must be absolute (Location: ${location})`);
  }
  return parseTarget(location, from.url);
}

function sameEndpoint(a: Target, b: Target): boolean {
  return a.url.protocol === b.url.protocol && a.host === b.host && a.socketPath === b.socketPath;
}

/** The request headers for one attempt: the caller's, Origin, and Basic credentials from the URL. */
function requestHeaders(
  target: Target,
  headers: ExtraHeaders | undefined,
  origin: string | undefined,
  redirectedElsewhere: boolean,
): ExtraHeaders {
  const out: ExtraHeaders = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (redirectedElsewhere && CREDENTIAL_HEADERS.has(name.toLowerCase())) continue;
    out[name] = value;
  }
  if (origin !== undefined) out.Origin = origin;
  // An explicit Authorization header wins over credentials in the URL.
  const hasAuthorization = Object.keys(out).some((n) => n.toLowerCase() === 'authorization');
  if (target.credentials !== undefined && !hasAuthorization) {
    out.Authorization = `Basic ${Buffer.from(target.credentials, 'utf8').toString('base64')}`;
  }
  return out;
}

/**
 * Opens a WebSocket client connection (ws:, wss: over node:tls with SNI and ALPN http/1.1, or ws+unix:). Rejects
 * with a `HandshakeError` whose `code` says why: 'BAD_URL', 'TLS' (the node:tls error as `cause`: a certificate
 * that does not verify, a failed TLS handshake), 'CONNECTION_REFUSED', 'CONNECTION_CLOSED', 'TIMEOUT',
 * 'BAD_STATUS' (with `status` and `headers`), 'BAD_ACCEPT', 'BAD_EXTENSION', 'BAD_PROTOCOL', 'BAD_RESPONSE', 'HEADERS_TOO_LARGE',
 * 'TOO_MANY_REDIRECTS'; and with a TypeError or RangeError for a bad or unknown option. It never throws
 * synchronously.
 */
export async function connect(url: string | URL, options: ConnectOptions = {}): Promise<WebSocketConnection> {
  checkClientOptions(options);
  const {
    protocols,
    headers,
    origin,
    perMessageDeflate,
    handshakeTimeout = 10_000,
    maxHeaderSize = DEFAULT_MAX_HEADER_SIZE,
    followRedirects = false,
    maxRedirects = 10,
    localAddress,
    family,
    lookup,
    ...rest
  } = options;
  const { tlsOptions, connectionOptions } = splitTlsOptions(rest);
  const deflateOptions = resolveDeflateOption(perMessageDeflate);
  const deadline = Date.now() + handshakeTimeout;
  let first: Target;
  try {
    first = parseTarget(url);
  } catch (err) {
    return Promise.reject(err);
  }
  let target = first;
  for (let redirects = 0; ; redirects++) {
    const attempt: Attempt = {
      target,
      headers: requestHeaders(target, headers, origin, !sameEndpoint(first, target)),
      socketOptions: target.socketPath === undefined ? { localAddress, family, lookup } : {},
      tlsOptions,
      protocols,
      deflateOptions,
      maxHeaderSize,
      timeoutMs: Math.max(0, deadline - Date.now()),
      handshakeTimeout,
      followRedirects,
      connectionOptions,
    };
    const outcome = await attemptHandshake(attempt);
    if (outcome instanceof WebSocketConnection) return outcome;
    if (redirects >= maxRedirects) {
      throw new HandshakeError('TOO_MANY_REDIRECTS', `more than ${maxRedirects} redirects`, {
        status: outcome.status,
        headers: outcome.headers,
      });
    }
    target = redirectTarget(target, outcome.headers['location']!);
  }
}

interface Attempt {
  target: Target;
  headers: ExtraHeaders;
  socketOptions: Pick<net.TcpNetConnectOpts, 'localAddress' | 'family' | 'lookup'>;
  tlsOptions: TlsOptions;
  protocols: readonly string[] | undefined;
  deflateOptions: PerMessageDeflateOptions | null;
  maxHeaderSize: number;
  timeoutMs: number;
  handshakeTimeout: number;
  followRedirects: boolean;
  connectionOptions: PassedConnectionOptions;
}

/** One request: resolves with the open connection, or with the redirect response when redirects are followed. */
function attemptHandshake(a: Attempt): Promise<WebSocketConnection | ParsedServerResponse> {
  const key = generateKey();
  const request = buildClientRequest({
    host: a.target.host,
    path: a.target.path,
    key,
    protocols: a.protocols,
    extensions: a.deflateOptions ? [buildClientOffer(a.deflateOptions)] : undefined,
    headers: a.headers,
  });

  return new Promise((resolve, reject) => {
    const connectOptions = { ...a.target.connect, ...a.socketOptions } as net.NetConnectOpts;
    const host = (a.target.connect as net.TcpNetConnectOpts).host ?? '';
    const socket: net.Socket = a.target.secure
      ? tls.connect({
          ...(connectOptions as net.TcpNetConnectOpts),
          // SNI from the host (RFC 6066 allows no IP address there); HTTP/1.1 is what the upgrade speaks.
          servername: net.isIP(host) === 0 ? host : undefined,
          ALPNProtocols: ['http/1.1'],
          ...a.tlsOptions,
        })
      : net.connect(connectOptions);
    let tcpConnected = false;
    let secured = false;
    socket.once('connect', () => (tcpConnected = true));
    socket.once('secureConnect', () => (secured = true));
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
      () => fail(new HandshakeError('TIMEOUT', `no WebSocket handshake within ${a.handshakeTimeout} ms`)),
      a.timeoutMs,
    );
    socket.once(a.target.secure ? 'secureConnect' : 'connect', () => socket.write(request));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // After TCP connected and before the request went out: the TLS handshake failed (a certificate that does not
      // verify, a protocol error).
      if (a.target.secure && tcpConnected && !secured) {
        fail(new HandshakeError('TLS', err.message, { cause: err }));
        return;
      }
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
        const response = parseServerResponse(received, a.maxHeaderSize);
        if (response === 'incomplete') return;
        if (a.followRedirects && REDIRECT_STATUSES.has(response.status) && response.headers['location']) {
          settled = true;
          clearTimeout(timer);
          socket.destroy();
          resolve(response);
          return;
        }
        const accepted = validateServerResponse(response, {
          key,
          protocols: a.protocols,
          perMessageDeflate: a.deflateOptions,
        });
        socket.off('data', onData);
        socket.pause();
        socket.removeAllListeners('close');
        socket.removeAllListeners('error');
        clearTimeout(timer);
        settled = true;
        connection = new WebSocketConnection({
          ...a.connectionOptions,
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
