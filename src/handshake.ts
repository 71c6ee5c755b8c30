/**
 * The WebSocket opening handshake (RFC 6455 §4) as pure functions: validate a server-side upgrade request and
 * build its responses, build a client request and parse/validate the server's answer. No sockets here; the
 * strings built are ASCII unless the caller's extra headers hold latin1 text, so write them with 'latin1'.
 */

import { createHash, randomBytes } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { HandshakeError, HeaderSyntaxError } from './errors.js';
import { formatExtensions, isToken, parseExtensions, parseProtocols, type ExtensionElement } from './extensions.js';
import { negotiateClient, PERMESSAGE_DEFLATE, type NegotiatedDeflate, type PerMessageDeflateOptions } from './permessage-deflate.js';

/** RFC 6455 §1.3. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Default cap on the response header block (status line + headers + blank line) a client accepts. */
export const DEFAULT_MAX_HEADER_SIZE = 16 * 1024;

// 16 bytes in base64: 22 significant characters and two padding characters.
const KEY_PATTERN = /^[A-Za-z0-9+/]{22}==$/;
// RFC 7230 field-value characters: HTAB, SP, VCHAR, obs-text.
const INVALID_FIELD_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)) (RFC 6455 §4.2.2).
 * The key is used as given (callers trim it); no validation.
 */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID, 'latin1').digest('base64');
}

/** A fresh random `Sec-WebSocket-Key`: 16 bytes from the CSPRNG, base64-encoded (RFC 6455 §4.1). */
export function generateKey(): string {
  return randomBytes(16).toString('base64');
}

/** True when `key` is the base64 encoding of 16 bytes (padding included), as RFC 6455 §4.1 requires. */
export function isValidKey(key: string): boolean {
  return KEY_PATTERN.test(key);
}

/** What `validateUpgradeRequest` needs of a request; `http.IncomingMessage` fits. Header names are lower-case. */
export interface UpgradeRequestLike {
  method?: string | undefined;
  /** e.g. "1.1" */
  httpVersion?: string | undefined;
  headers: Record<string, string | string[] | undefined>;
}

/** A valid upgrade request, with its parsed offers. */
export interface UpgradeAccepted {
  ok: true;
  /** The trimmed `Sec-WebSocket-Key`. */
  key: string;
  /** Offered subprotocols in the client's order (empty when none). */
  protocols: string[];
  /** Offered extensions in the client's order (empty when none). */
  extensions: ExtensionElement[];
}

/** An invalid upgrade request and the HTTP response to answer it with before destroying the socket. */
export interface UpgradeRejected {
  ok: false;
  status: number;
  headers: Record<string, string>;
  /** Short plain-text reason. */
  body: string;
}

function headerValue(headers: UpgradeRequestLike['headers'], name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : v;
}

/** True when the comma-separated `list` holds `token` (ASCII case-insensitive), e.g. `Connection: keep-alive, Upgrade`. */
function listHasToken(list: string | undefined, token: string): boolean {
  if (list === undefined) return false;
  return list.split(',').some((item) => item.trim().toLowerCase() === token);
}

function reject(status: number, body: string, extraHeaders: Record<string, string> = {}): UpgradeRejected {
  return {
    ok: false,
    status,
    headers: {
      Connection: 'close',
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(body)),
      ...extraHeaders,
    },
    body,
  };
}

/**
 * Checks a server-side upgrade request (RFC 6455 §4.2.1), in this order: method GET, HTTP/1.1 or later,
 * `Upgrade: websocket`, `Connection` containing `upgrade` (both case-insensitive), `Sec-WebSocket-Version: 13`,
 * `Sec-WebSocket-Key` = base64 of 16 bytes, then the syntax of `Sec-WebSocket-Protocol` and
 * `Sec-WebSocket-Extensions`.
 *
 * @returns the parsed key and offers, or the rejection: 426 with `Sec-WebSocket-Version: 13` (and `Upgrade`, as
 *   RFC 7231 §6.5.15 asks) for a missing or other version, 400 for everything else; bodies are short plain text.
 */
export function validateUpgradeRequest(req: UpgradeRequestLike): UpgradeAccepted | UpgradeRejected {
  if (req.method !== 'GET') return reject(400, 'Invalid HTTP method: a WebSocket handshake must use GET');
  const version = /^(\d+)\.(\d+)$/.exec(req.httpVersion ?? '');
  if (!version || Number(version[1]) * 1000 + Number(version[2]) < 1001) {
    return reject(400, 'Invalid HTTP version: a WebSocket handshake needs HTTP/1.1');
  }
  const h = req.headers;
  if (!listHasToken(headerValue(h, 'upgrade'), 'websocket')) {
    return reject(400, 'Missing or invalid Upgrade header: expected websocket');
  }
  if (!listHasToken(headerValue(h, 'connection'), 'upgrade')) {
    return reject(400, 'Missing or invalid Connection header: expected upgrade');
  }
  if ((headerValue(h, 'sec-websocket-version') ?? '').trim() !== '13') {
    return reject(426, 'Unsupported WebSocket version: expected 13', {
      'Sec-WebSocket-Version': '13',
      Upgrade: 'websocket',
      Connection: 'Upgrade, close',
    });
  }
  const key = (headerValue(h, 'sec-websocket-key') ?? '').trim();
  if (!isValidKey(key)) return reject(400, 'Missing or invalid Sec-WebSocket-Key header');

  let protocols: string[] = [];
  let extensions: ExtensionElement[] = [];
  try {
    const protocolHeader = headerValue(h, 'sec-websocket-protocol');
    if (protocolHeader !== undefined) protocols = parseProtocols(protocolHeader);
    const extensionHeader = headerValue(h, 'sec-websocket-extensions');
    if (extensionHeader !== undefined) extensions = parseExtensions(extensionHeader);
  } catch (err) {
    if (err instanceof HeaderSyntaxError) return reject(400, err.message);
    throw err;
  }
  return { ok: true, key, protocols, extensions };
}

/** Extra headers for a request or response: value lists become repeated header lines. */
export type ExtraHeaders = Record<string, string | number | readonly string[] | undefined>;

function formatExtraHeaders(headers: ExtraHeaders | undefined, reserved: ReadonlySet<string>): string {
  if (headers === undefined) return '';
  let out = '';
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (!isToken(name)) throw new TypeError(`Invalid header name ${JSON.stringify(name)}`);
    if (reserved.has(name.toLowerCase())) throw new TypeError(`Header ${name} is set by the handshake itself`);
    for (const v of Array.isArray(value) ? value : [value]) {
      const s = String(v);
      if (INVALID_FIELD_CHAR.test(s)) throw new TypeError(`Invalid character in header ${name}`);
      out += `${name}: ${s}\r\n`;
    }
  }
  return out;
}

/**
 * Formats a complete HTTP/1.1 response: status line, headers, blank line, body.
 * Used for rejections: `formatHttpResponse(r.status, r.headers, r.body)` for an `UpgradeRejected` `r`.
 *
 * @throws TypeError on an invalid header name or value (CR/LF injection included).
 */
export function formatHttpResponse(status: number, headers: ExtraHeaders, body = ''): string {
  const reason = STATUS_CODES[status] ?? 'Unknown';
  return `HTTP/1.1 ${status} ${reason}\r\n${formatExtraHeaders(headers, new Set())}\r\n${body}`;
}

const RESPONSE_RESERVED = new Set([
  'upgrade',
  'connection',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

/** Inputs of `buildUpgradeResponse`. */
export interface UpgradeResponseOptions {
  /** The request's `Sec-WebSocket-Key` (as returned by `validateUpgradeRequest`). */
  key: string;
  /** The chosen subprotocol, if any (must be a token). */
  protocol?: string | undefined;
  /** Accepted extensions: a formatted header value or elements to format. Empty → no header. */
  extensions?: string | readonly ExtensionElement[] | undefined;
  /** Additional headers; the handshake's own headers cannot be overridden. */
  headers?: ExtraHeaders | undefined;
}

/**
 * The complete `101 Switching Protocols` response, ending with the blank line (RFC 6455 §4.2.2).
 *
 * @throws TypeError on an invalid protocol, extension or extra header, or an attempt to set a handshake header.
 */
export function buildUpgradeResponse(options: UpgradeResponseOptions): string {
  let out =
    'HTTP/1.1 101 Switching Protocols\r\n' +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Accept: ${acceptKey(options.key)}\r\n`;
  if (options.protocol !== undefined) {
    if (!isToken(options.protocol)) throw new TypeError(`Invalid subprotocol ${JSON.stringify(options.protocol)}`);
    out += `Sec-WebSocket-Protocol: ${options.protocol}\r\n`;
  }
  const ext = options.extensions;
  const extValue = typeof ext === 'string' ? ext : ext === undefined ? '' : formatExtensions(ext);
  if (INVALID_FIELD_CHAR.test(extValue)) throw new TypeError('Invalid character in Sec-WebSocket-Extensions');
  if (extValue !== '') out += `Sec-WebSocket-Extensions: ${extValue}\r\n`;
  return `${out}${formatExtraHeaders(options.headers, RESPONSE_RESERVED)}\r\n`;
}

const REQUEST_RESERVED = new Set([
  'host',
  'upgrade',
  'connection',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

/** Inputs of `buildClientRequest`. */
export interface ClientRequestOptions {
  /** `Host` header value, e.g. `example.com:8080` (RFC 7230 §5.4). */
  host: string;
  /** Request target: path and query, starting with `/`, already percent-encoded. */
  path: string;
  /** `Sec-WebSocket-Key`, usually from `generateKey()`. */
  key: string;
  /** Subprotocols to offer, in preference order (tokens, unique). */
  protocols?: readonly string[] | undefined;
  /** Extensions to offer: a formatted value or elements (see `buildClientOffer`). Empty → no header. */
  extensions?: string | readonly ExtensionElement[] | undefined;
  /** Additional headers (e.g. Origin, Authorization); the handshake's own headers cannot be overridden. */
  headers?: ExtraHeaders | undefined;
}

/**
 * The complete client opening handshake request (RFC 6455 §4.1), ending with the blank line.
 *
 * @throws TypeError on an invalid host, path, key, protocol list, extension or extra header.
 */
export function buildClientRequest(options: ClientRequestOptions): string {
  if (!/^\/[\x21-\x7e]*$/.test(options.path)) throw new TypeError(`Invalid request path ${JSON.stringify(options.path)}`);
  if (options.host === '' || INVALID_FIELD_CHAR.test(options.host) || /\s/.test(options.host)) {
    throw new TypeError(`Invalid host ${JSON.stringify(options.host)}`);
  }
  if (!isValidKey(options.key)) throw new TypeError('Invalid Sec-WebSocket-Key: expected base64 of 16 bytes');
  let out =
    `GET ${options.path} HTTP/1.1\r\n` +
    `Host: ${options.host}\r\n` +
    'Upgrade: websocket\r\n' +
    'Connection: Upgrade\r\n' +
    `Sec-WebSocket-Key: ${options.key}\r\n` +
    'Sec-WebSocket-Version: 13\r\n';
  const protocols = options.protocols ?? [];
  if (protocols.length > 0) {
    for (const p of protocols) if (!isToken(p)) throw new TypeError(`Invalid subprotocol ${JSON.stringify(p)}`);
    if (new Set(protocols).size !== protocols.length) throw new TypeError('Subprotocols must be unique');
    out += `Sec-WebSocket-Protocol: ${protocols.join(', ')}\r\n`;
  }
  const ext = options.extensions;
  const extValue = typeof ext === 'string' ? ext : ext === undefined ? '' : formatExtensions(ext);
  if (INVALID_FIELD_CHAR.test(extValue)) throw new TypeError('Invalid character in Sec-WebSocket-Extensions');
  if (extValue !== '') out += `Sec-WebSocket-Extensions: ${extValue}\r\n`;
  return `${out}${formatExtraHeaders(options.headers, REQUEST_RESERVED)}\r\n`;
}

/**
 * Checks extra headers the way `buildUpgradeResponse` (side 'response') or `buildClientRequest` (side 'request')
 * will use them, so options can be refused before anything is written.
 *
 * @throws TypeError on an invalid name or value, or a header the handshake sets itself.
 */
export function checkExtraHeaders(headers: ExtraHeaders | undefined, side: 'request' | 'response'): void {
  formatExtraHeaders(headers, side === 'request' ? REQUEST_RESERVED : RESPONSE_RESERVED);
}

/** A parsed HTTP response head. */
export interface ParsedServerResponse {
  /** e.g. "1.1" */
  httpVersion: string;
  status: number;
  statusText: string;
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  /** Headers as received, in order. */
  rawHeaders: Array<[name: string, value: string]>;
  /** Index of the first byte after the blank line: bytes from here on belong to the WebSocket stream. */
  bodyOffset: number;
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

const isOws = (c: number): boolean => c === 0x20 || c === 0x09;

/**
 * `text` from `start` on without leading and trailing spaces and tabs (RFC 7230 OWS), in one pass. A regex such as
 * /^[ \t]+|[ \t]+$/g is quadratic: it retries `[ \t]+$` from every position of every run of whitespace, so a
 * server's 64 KiB header value blocked the event loop for seconds.
 */
function trimOws(text: string, start: number): string {
  let begin = start;
  let end = text.length;
  while (begin < end && isOws(text.charCodeAt(begin))) begin++;
  while (end > begin && isOws(text.charCodeAt(end - 1))) end--;
  return text.slice(begin, end);
}

/**
 * Parses the head of the server's response from the bytes received so far.
 *
 * @param maxHeaderSize largest accepted head, blank line included (default 16 KiB).
 * @returns 'incomplete' when the blank line has not arrived yet (call again with more bytes), otherwise the head.
 * @throws HandshakeError 'HEADERS_TOO_LARGE' when no blank line fits in `maxHeaderSize` bytes; 'BAD_RESPONSE' on a
 *   malformed status line or header line (obsolete line folding included).
 */
export function parseServerResponse(
  bytes: Uint8Array,
  maxHeaderSize: number = DEFAULT_MAX_HEADER_SIZE,
): ParsedServerResponse | 'incomplete' {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const searchable = buf.subarray(0, Math.min(buf.length, maxHeaderSize));
  const end = searchable.indexOf(CRLFCRLF);
  if (end === -1) {
    if (buf.length >= maxHeaderSize) {
      throw new HandshakeError('HEADERS_TOO_LARGE', `Response header block exceeds ${maxHeaderSize} bytes`);
    }
    return 'incomplete';
  }
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const bad = (what: string): never => {
    throw new HandshakeError('BAD_RESPONSE', `Malformed HTTP response: ${what}`);
  };
  const statusLine = /^HTTP\/(\d\.\d) (\d{3})(?: ([^\r\n]*))?$/.exec(lines[0]!);
  if (!statusLine) return bad(`status line ${JSON.stringify(lines[0]!.slice(0, 80))}`);

  const headers: Record<string, string> = {};
  const rawHeaders: Array<[string, string]> = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    const name = colon === -1 ? '' : line.slice(0, colon);
    // isToken also rules out leading whitespace (obs-fold) and whitespace before the colon (RFC 7230 §3.2.4).
    if (!isToken(name)) return bad(`header line ${JSON.stringify(line.slice(0, 80))}`);
    const value = trimOws(line, colon + 1);
    if (INVALID_FIELD_CHAR.test(value)) return bad(`invalid character in header ${name}`);
    rawHeaders.push([name, value]);
    const lower = name.toLowerCase();
    headers[lower] = headers[lower] === undefined ? value : `${headers[lower]}, ${value}`;
  }
  return {
    httpVersion: statusLine[1]!,
    status: Number(statusLine[2]),
    statusText: statusLine[3] ?? '',
    headers,
    rawHeaders,
    bodyOffset: end + CRLFCRLF.length,
  };
}

/** What the client offered, for `validateServerResponse`. */
export interface ClientOffer {
  /** The `Sec-WebSocket-Key` we sent. */
  key: string;
  /** Subprotocols we offered (empty/undefined: none). */
  protocols?: readonly string[] | undefined;
  /** The permessage-deflate options our offer was built from; `null`/undefined: not offered. */
  perMessageDeflate?: PerMessageDeflateOptions | null | undefined;
  /** Names of other extensions we offered and handle ourselves; their parameters are returned unchecked. */
  extensions?: readonly string[] | undefined;
}

/** The outcome of a successful client handshake. */
export interface ServerAcceptance {
  /** The subprotocol the server chose, or undefined when it chose none (RFC 6455 allows that). */
  protocol: string | undefined;
  /** Every accepted extension element, in the server's order. */
  extensions: ExtensionElement[];
  /** The agreed permessage-deflate configuration, or null when not in use. */
  deflate: NegotiatedDeflate | null;
}

/**
 * Checks the server's response against our offer (RFC 6455 §4.1 steps 1-6, RFC 7692 §7).
 *
 * @throws HandshakeError: 'BAD_STATUS' (status ≠ 101; carries `status` and `headers`), 'BAD_RESPONSE' (Upgrade is not
 *   websocket or Connection lacks upgrade), 'BAD_ACCEPT', 'BAD_EXTENSION' (malformed header, an extension we did not
 *   offer or listed twice, an invalid permessage-deflate response), 'BAD_PROTOCOL' (malformed, several, or not
 *   offered).
 */
export function validateServerResponse(res: ParsedServerResponse, offer: ClientOffer): ServerAcceptance {
  const h = res.headers;
  if (res.status !== 101) {
    throw new HandshakeError('BAD_STATUS', `Unexpected server response: ${res.status} ${res.statusText}`.trimEnd(), {
      status: res.status,
      headers: { ...h },
    });
  }
  if ((h['upgrade'] ?? '').toLowerCase() !== 'websocket') {
    throw new HandshakeError('BAD_RESPONSE', 'Missing or invalid Upgrade header in the 101 response');
  }
  if (!listHasToken(h['connection'], 'upgrade')) {
    throw new HandshakeError('BAD_RESPONSE', 'Missing or invalid Connection header in the 101 response');
  }
  if (h['sec-websocket-accept'] !== acceptKey(offer.key)) {
    throw new HandshakeError('BAD_ACCEPT', 'Missing or invalid Sec-WebSocket-Accept header');
  }

  let extensions: ExtensionElement[] = [];
  const extHeader = h['sec-websocket-extensions'];
  if (extHeader !== undefined) {
    try {
      extensions = parseExtensions(extHeader);
    } catch (err) {
      if (err instanceof HeaderSyntaxError) throw new HandshakeError('BAD_EXTENSION', err.message);
      throw err;
    }
  }
  const offered = new Set(offer.extensions ?? []);
  if (offer.perMessageDeflate) offered.add(PERMESSAGE_DEFLATE);
  const accepted = new Set<string>();
  for (const e of extensions) {
    if (!offered.has(e.name)) throw new HandshakeError('BAD_EXTENSION', `Server accepted extension ${e.name} we did not offer`);
    if (accepted.has(e.name)) throw new HandshakeError('BAD_EXTENSION', `Server accepted extension ${e.name} twice`);
    accepted.add(e.name);
  }
  const deflate = offer.perMessageDeflate ? negotiateClient(extensions, offer.perMessageDeflate) : null;

  let protocol: string | undefined;
  const protoHeader = (h['sec-websocket-protocol'] ?? '').trim();
  if (protoHeader !== '') {
    if (!isToken(protoHeader)) {
      throw new HandshakeError('BAD_PROTOCOL', `Server chose an invalid subprotocol ${JSON.stringify(protoHeader)}`);
    }
    if (!(offer.protocols ?? []).includes(protoHeader)) {
      throw new HandshakeError('BAD_PROTOCOL', `Server chose subprotocol ${protoHeader} we did not offer`);
    }
    protocol = protoHeader;
  }
  return { protocol, extensions, deflate };
}
