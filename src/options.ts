// Checks of every public option, in one place. handleUpgrade, answerUpgrade, WebSocketServer and connect run them
// before anything is written to the socket (a bad option must not leave the peer with a 101 and then a dead
// socket), and new WebSocketConnection runs the connection part itself. An unknown option name is a TypeError: a
// misspelt option must not be ignored silently.
import * as net from 'node:net';

import type { ConnectOptions } from './client.js';
import type { WebSocketConnectionOptions } from './connection.js';
import { RSV1 } from './constants.js';
import { isToken } from './extensions.js';
import { checkExtraHeaders, type ExtraHeaders } from './handshake.js';
import { type PerMessageDeflateOptions, validateDeflateOptions } from './permessage-deflate.js';
import type { UpgradeHandshakeOptions, WebSocketServerOptions } from './server.js';

type Options = Record<string, unknown>;

// Listing names as `Record<keyof T, true>` makes the compiler insist that every option of T is listed here.
function namesOf<T>(names: Record<keyof T, true>): string[] {
  return Object.keys(names);
}

/** Connection options that handleUpgrade, connect and adoptSocket decide themselves. */
export type HandshakeDecidedOption = 'fd' | 'socket' | 'head' | 'type' | 'perMessageDeflate' | 'allowedRsv';
/** The connection options a caller of handleUpgrade, connect or adoptSocket passes through. */
export type PassedConnectionOptions = Omit<WebSocketConnectionOptions, HandshakeDecidedOption>;

const CONNECTION_NAMES = namesOf<WebSocketConnectionOptions>({
  fd: true,
  socket: true,
  handshakeTimeout: true,
  transport: true,
  head: true,
  type: true,
  buffering: true,
  plainWslay: true,
  maxRecvSize: true,
  closeTimeout: true,
  messageTimeout: true,
  maxFragments: true,
  maxPendingPongs: true,
  allowedRsv: true,
  maxBackpressure: true,
  closeOnBackpressureLimit: true,
  idleTimeout: true,
  sendPingsAutomatically: true,
  maxLifetime: true,
  drainThreshold: true,
  perMessageDeflate: true,
  onMsgRecv: true,
  onPing: true,
  onPong: true,
  onDrain: true,
  onClose: true,
  genmask: true,
  onFrameRecvStart: true,
  onFrameRecvChunk: true,
  onFrameRecvEnd: true,
});
const DECIDED: ReadonlySet<string> = new Set<HandshakeDecidedOption>([
  'fd',
  'socket',
  'head',
  'type',
  'perMessageDeflate',
  'allowedRsv',
]);
const PASSED_CONNECTION_NAMES = CONNECTION_NAMES.filter((n) => !DECIDED.has(n));
const HANDSHAKE_NAMES = namesOf<UpgradeHandshakeOptions>({
  protocols: true,
  handleProtocols: true,
  headers: true,
  perMessageDeflate: true,
});
const HANDLE_UPGRADE_NAMES = [...HANDSHAKE_NAMES, ...PASSED_CONNECTION_NAMES];
const SERVER_NAMES = [
  ...namesOf<Pick<WebSocketServerOptions, 'server' | 'path'>>({ server: true, path: true }),
  ...HANDLE_UPGRADE_NAMES,
];
const CLIENT_NAMES = [
  ...namesOf<Omit<ConnectOptions, keyof PassedConnectionOptions>>({
    protocols: true,
    headers: true,
    origin: true,
    perMessageDeflate: true,
    maxHeaderSize: true,
    followRedirects: true,
    maxRedirects: true,
    localAddress: true,
    family: true,
    lookup: true,
    ca: true,
    cert: true,
    key: true,
    pfx: true,
    passphrase: true,
    rejectUnauthorized: true,
    servername: true,
    checkServerIdentity: true,
  }),
  ...PASSED_CONNECTION_NAMES,
];
const DEFLATE_NAMES = namesOf<PerMessageDeflateOptions>({
  serverNoContextTakeover: true,
  clientNoContextTakeover: true,
  serverMaxWindowBits: true,
  clientMaxWindowBits: true,
  level: true,
  memLevel: true,
  threshold: true,
});

/** Inclusive ranges of the numeric connection options. */
const CONNECTION_RANGES = {
  handshakeTimeout: [1, 2 ** 31 - 1],
  maxRecvSize: [0, Number.MAX_SAFE_INTEGER],
  closeTimeout: [0, 2 ** 31 - 1],
  messageTimeout: [1, 2 ** 31 - 1],
  maxFragments: [1, 2 ** 32 - 1],
  maxPendingPongs: [1, 2 ** 32 - 1],
  allowedRsv: [0, RSV1],
  maxBackpressure: [1, Number.MAX_SAFE_INTEGER],
  drainThreshold: [0, Number.MAX_SAFE_INTEGER],
} satisfies Record<string, [min: number, max: number]>;

/** Durations that may be fractional (idleTimeout in seconds, maxLifetime in minutes): (0, max]. The maxima keep
 *  the milliseconds within what a libuv timer takes (2^31 - 1 ms, about 24.8 days). */
const CONNECTION_DURATIONS = {
  idleTimeout: (2 ** 31 - 1) / 1000,
  maxLifetime: (2 ** 31 - 1) / 60_000,
};

/** `value` itself when it is undefined or a number in (0, max]; a RangeError otherwise. */
export function checkDuration(name: string, value: unknown, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !(value > 0 && value <= max)) {
    throw new RangeError(`${name} must be a number greater than 0 and at most ${max}`);
  }
  return value;
}

/** `value` itself when it is undefined or an integer in [min, max]; a RangeError otherwise. */
export function checkInteger(name: string, value: unknown, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** A TypeError unless `fn` is a function, undefined or null (null clears a callback). */
export function checkCallback(name: string, fn: unknown): void {
  if (fn !== undefined && fn !== null && typeof fn !== 'function') throw new TypeError(`${name} must be a function`);
}

function checkBoolean(name: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean`);
}

function checkObject(what: string, options: unknown): asserts options is Options {
  if (options === null || typeof options !== 'object') throw new TypeError(`${what} must be an object`);
}

// Each list of names as a Set, made once: checkNames runs for every upgrade (a Set lookup instead of a scan of ~30).
const nameSets = new WeakMap<readonly string[], ReadonlySet<string>>();

function checkNames(what: string, options: Options, allowed: readonly string[]): void {
  let names = nameSets.get(allowed);
  if (names === undefined) nameSets.set(allowed, (names = new Set(allowed)));
  for (const name of Object.keys(options)) {
    if (!names.has(name)) throw new TypeError(`${what}: unknown option ${JSON.stringify(name)}`);
  }
}

// Every option read by name, not in a loop over names: this runs on every upgrade, and one keyed load site that sees
// twenty names stays megamorphic, so V8 looked each of them up the slow way (most are absent: a prototype walk).
function checkConnectionValues(options: Options): void {
  checkCallback('onMsgRecv', options.onMsgRecv);
  checkCallback('onClose', options.onClose);
  checkCallback('genmask', options.genmask);
  checkCallback('onFrameRecvStart', options.onFrameRecvStart);
  checkCallback('onFrameRecvChunk', options.onFrameRecvChunk);
  checkCallback('onFrameRecvEnd', options.onFrameRecvEnd);
  checkCallback('onPing', options.onPing);
  checkCallback('onPong', options.onPong);
  checkCallback('onDrain', options.onDrain);
  checkBoolean('buffering', options.buffering);
  checkBoolean('plainWslay', options.plainWslay);
  checkBoolean('sendPingsAutomatically', options.sendPingsAutomatically);
  checkBoolean('closeOnBackpressureLimit', options.closeOnBackpressureLimit);
  const d = CONNECTION_DURATIONS;
  checkDuration('idleTimeout', options.idleTimeout, d.idleTimeout);
  checkDuration('maxLifetime', options.maxLifetime, d.maxLifetime);
  const r = CONNECTION_RANGES;
  checkInteger('handshakeTimeout', options.handshakeTimeout, ...r.handshakeTimeout);
  checkInteger('maxRecvSize', options.maxRecvSize, ...r.maxRecvSize);
  checkInteger('closeTimeout', options.closeTimeout, ...r.closeTimeout);
  checkInteger('messageTimeout', options.messageTimeout, ...r.messageTimeout);
  checkInteger('maxFragments', options.maxFragments, ...r.maxFragments);
  checkInteger('maxPendingPongs', options.maxPendingPongs, ...r.maxPendingPongs);
  checkInteger('allowedRsv', options.allowedRsv, ...r.allowedRsv);
  checkInteger('maxBackpressure', options.maxBackpressure, ...r.maxBackpressure);
  checkInteger('drainThreshold', options.drainThreshold, ...r.drainThreshold);
  if (options.head !== undefined && !(options.head instanceof Uint8Array)) {
    throw new TypeError('head must be a Buffer or Uint8Array');
  }
  if (options.transport !== undefined && options.transport !== 'fd' && options.transport !== 'stream') {
    throw new TypeError("transport must be 'fd' or 'stream'");
  }
  if (options.type !== undefined && options.type !== 'server' && options.type !== 'client') {
    throw new TypeError("type must be 'server' or 'client'");
  }
}

/** The options of `new WebSocketConnection` (except `fd`/`socket` and `perMessageDeflate`, which it checks itself). */
export function checkConnectionOptions(options: unknown): asserts options is WebSocketConnectionOptions {
  checkObject('options', options);
  checkNames('WebSocketConnection', options, CONNECTION_NAMES);
  checkConnectionValues(options);
}

function checkDeflateOption(value: unknown): void {
  if (value === undefined || typeof value === 'boolean') return;
  checkObject('perMessageDeflate', value);
  checkNames('perMessageDeflate', value, DEFLATE_NAMES);
  validateDeflateOptions(value as PerMessageDeflateOptions);
}

function checkProtocols(value: unknown): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) throw new TypeError('protocols must be an array of strings');
  for (const p of value) {
    if (typeof p !== 'string' || !isToken(p)) throw new TypeError(`Invalid subprotocol ${JSON.stringify(p)}`);
  }
  if (new Set(value).size !== value.length) throw new TypeError('Subprotocols must be unique');
}

function checkHeaders(value: unknown, side: 'request' | 'response'): void {
  if (value === undefined) return;
  checkObject('headers', value);
  checkExtraHeaders(value as ExtraHeaders, side);
}

/** The options of `answerUpgrade`. */
export function checkHandshakeOptions(options: unknown): asserts options is UpgradeHandshakeOptions {
  checkObject('options', options);
  checkNames('answerUpgrade', options, HANDSHAKE_NAMES);
  checkHandshakeValues(options);
}

function checkHandshakeValues(options: Options): void {
  checkProtocols(options.protocols);
  checkCallback('handleProtocols', options.handleProtocols);
  checkHeaders(options.headers, 'response');
  checkDeflateOption(options.perMessageDeflate);
}

/** The options of `handleUpgrade`: the handshake's and those passed to the connection. */
export function checkHandleUpgradeOptions(options: unknown, what = 'handleUpgrade'): void {
  checkObject('options', options);
  checkNames(what, options, HANDLE_UPGRADE_NAMES);
  checkHandshakeValues(options);
  checkConnectionValues(options);
}

/** The options of `new WebSocketServer`. */
export function checkServerOptions(options: unknown): asserts options is WebSocketServerOptions {
  checkObject('options', options);
  checkNames('WebSocketServer', options, SERVER_NAMES);
  const server = options.server as { on?: unknown; off?: unknown; listenerCount?: unknown } | null | undefined;
  if (
    server === null ||
    typeof server !== 'object' ||
    typeof server.on !== 'function' ||
    typeof server.off !== 'function' ||
    typeof server.listenerCount !== 'function'
  ) {
    throw new TypeError('server must be an http.Server (or another server that emits "upgrade")');
  }
  const path = options.path;
  if (path !== undefined && (typeof path !== 'string' || !path.startsWith('/'))) {
    throw new TypeError('path must be a string starting with "/"');
  }
  const { server: _server, path: _path, ...rest } = options;
  checkHandleUpgradeOptions(rest, 'WebSocketServer');
}

function headerNamed(headers: unknown, name: string): boolean {
  return headers !== undefined && Object.keys(headers as object).some((h) => h.toLowerCase() === name);
}

/** The options of `connect`. */
export function checkClientOptions(options: unknown): asserts options is ConnectOptions {
  checkObject('options', options);
  checkNames('connect', options, CLIENT_NAMES);
  checkProtocols(options.protocols);
  checkHeaders(options.headers, 'request');
  checkDeflateOption(options.perMessageDeflate);
  checkConnectionValues(options);
  if (options.origin !== undefined) {
    if (typeof options.origin !== 'string') throw new TypeError('origin must be a string');
    checkExtraHeaders({ Origin: options.origin }, 'request');
    if (headerNamed(options.headers, 'origin')) throw new TypeError('set Origin either with origin or in headers');
  }
  checkInteger('maxHeaderSize', options.maxHeaderSize, 1, 2 ** 31 - 1);
  checkBoolean('followRedirects', options.followRedirects);
  checkInteger('maxRedirects', options.maxRedirects, 0, 2 ** 31 - 1);
  const { localAddress, family } = options;
  if (localAddress !== undefined && (typeof localAddress !== 'string' || net.isIP(localAddress) === 0)) {
    throw new TypeError('localAddress must be an IPv4 or IPv6 address');
  }
  if (family !== undefined && family !== 0 && family !== 4 && family !== 6) {
    throw new TypeError('family must be 4, 6 or 0 (either)');
  }
  checkCallback('lookup', options.lookup);
  checkBoolean('rejectUnauthorized', options.rejectUnauthorized);
  checkCallback('checkServerIdentity', options.checkServerIdentity);
  for (const name of ['passphrase', 'servername']) {
    if (options[name] !== undefined && typeof options[name] !== 'string') {
      throw new TypeError(`${name} must be a string`);
    }
  }
}
