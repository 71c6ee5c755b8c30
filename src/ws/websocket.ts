// wslay/ws's WebSocket: ws 8's WebSocket class over a WebSocketConnection. One object per connection, with its
// callbacks set once: a message is emitted from the native callback itself (no per-message closure, no extra turn of
// the event loop) and its Buffer is the one the connection delivered (no copy, except where binaryType needs one).
import { EventEmitter } from 'node:events';
import type * as http from 'node:http';

import type { CloseInfo, WebSocketConnection } from '../connection.js';
import { isValidCloseCode, Opcode } from '../constants.js';
import { native, type NativeHandle } from '../native.js';
import type { PerMessageDeflateOptions } from '../permessage-deflate.js';
import {
  addEventListener,
  type EventHandler,
  getOnAttribute,
  removeEventListener,
  setOnAttribute,
} from './event-target.js';

/** The socket's addresses (the connection's own, read when it opened). */
export type SocketAddresses = Pick<
  WebSocketConnection,
  'remoteAddress' | 'remotePort' | 'remoteFamily' | 'localAddress' | 'localPort'
>;

export const CONNECTING = 0;
export const OPEN = 1;
export const CLOSING = 2;
export const CLOSED = 3;
const STATE_NAMES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];
const NATIVE_STATES = { connecting: OPEN, open: OPEN, closing: CLOSING, closed: CLOSED } as const;

export type BinaryType = 'nodebuffer' | 'arraybuffer' | 'fragments' | 'blob';
const BINARY_TYPES: readonly string[] = ['nodebuffer', 'arraybuffer', 'fragments', 'blob'];
export type RawData = Buffer | ArrayBuffer | Buffer[] | Blob;
export type SendData = string | number | ArrayBufferView | ArrayBuffer | readonly number[];
export type SendCallback = (err?: Error) => void;

const EMPTY = Buffer.alloc(0);
const queueMsgByHandle = native.queueMsg;

/** ws's option object for permessage-deflate, as this package maps it onto the native deflate. */
export interface WsPerMessageDeflateOptions {
  serverNoContextTakeover?: boolean;
  clientNoContextTakeover?: boolean;
  serverMaxWindowBits?: number | boolean;
  clientMaxWindowBits?: number | boolean;
  zlibDeflateOptions?: { level?: number; memLevel?: number; [other: string]: unknown };
  zlibInflateOptions?: Record<string, unknown>;
  threshold?: number;
  concurrencyLimit?: number;
}

/** ws's perMessageDeflate option (true, false or its object) as the native negotiation's options. */
export function mapDeflateOption(
  value: boolean | WsPerMessageDeflateOptions | undefined,
  fallback: boolean,
): PerMessageDeflateOptions | false {
  if (value === undefined) value = fallback;
  if (value === false) return false;
  if (value === true) return {};
  if (typeof value !== 'object' || value === null) throw new TypeError('perMessageDeflate must be a boolean or an object');
  const out: PerMessageDeflateOptions = {};
  if (value.serverNoContextTakeover !== undefined) out.serverNoContextTakeover = value.serverNoContextTakeover;
  if (value.clientNoContextTakeover !== undefined) out.clientNoContextTakeover = value.clientNoContextTakeover;
  // ws's `true` for a window means "the parameter without a value": the native default.
  if (typeof value.serverMaxWindowBits === 'number') out.serverMaxWindowBits = value.serverMaxWindowBits;
  if (typeof value.clientMaxWindowBits === 'number') out.clientMaxWindowBits = value.clientMaxWindowBits;
  if (value.zlibDeflateOptions?.level !== undefined) out.level = value.zlibDeflateOptions.level;
  if (value.zlibDeflateOptions?.memLevel !== undefined) out.memLevel = value.zlibDeflateOptions.memLevel;
  if (value.threshold !== undefined) out.threshold = value.threshold;
  return out;
}

/** The events of a wslay/ws WebSocket (ws 8's). */
export interface WebSocketEvents {
  open: [];
  message: [data: RawData, isBinary: boolean];
  close: [code: number, reason: Buffer];
  error: [error: Error];
  ping: [data: Buffer];
  pong: [data: Buffer];
  upgrade: [response: http.IncomingMessage];
  'unexpected-response': [request: http.ClientRequest, response: http.IncomingMessage];
  redirect: [url: string, request: http.ClientRequest];
}

function notOpen(state: number): Error {
  return new Error(`WebSocket is not open: readyState ${state} (${STATE_NAMES[state]})`);
}

function toData(data: SendData): string | ArrayBufferView | ArrayBuffer {
  if (typeof data === 'number') return String(data);
  if (Array.isArray(data)) return Buffer.from(data as number[]);
  return data as string | ArrayBufferView | ArrayBuffer;
}

function byteLengthOf(data: string | ArrayBufferView | ArrayBuffer): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
}

function asBuffer(data: string | ArrayBufferView | ArrayBuffer): Buffer {
  if (typeof data === 'string') return Buffer.from(data);
  if (data instanceof ArrayBuffer) return Buffer.from(new Uint8Array(data));
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** The error ws emits before 'close' when the connection failed on our side (the native code says which). */
function failureError(code: number): Error {
  const err =
    code === 1007
      ? Object.assign(new Error('Invalid UTF-8 sequence'), { code: 'WS_ERR_INVALID_UTF8' })
      : code === 1009
        ? Object.assign(new RangeError('Max payload size exceeded'), { code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' })
        : Object.assign(new RangeError('Invalid WebSocket frame'), { code: 'WS_ERR_INVALID_FRAME' });
  return err;
}

/** @internal Symbols the server and the client handshake use to reach a WebSocket's internals. */
export const kAttach = Symbol('wslay.ws.attach');
export const kAbortHandshake = Symbol('wslay.ws.abortHandshake');
export const kFailHandshake = Symbol('wslay.ws.failHandshake');

export interface ClientOptions {
  protocolVersion?: number;
  headers?: Record<string, string | string[] | number>;
  origin?: string;
  handshakeTimeout?: number;
  followRedirects?: boolean;
  maxRedirects?: number;
  perMessageDeflate?: boolean | WsPerMessageDeflateOptions;
  maxPayload?: number;
  skipUTF8Validation?: boolean;
  autoPong?: boolean;
  allowSynchronousEvents?: boolean;
  localAddress?: string;
  family?: number;
  lookup?: (...args: any[]) => void;
  auth?: string;
  timeout?: number;
  agent?: http.Agent;
  host?: string;
  finishRequest?: (request: http.ClientRequest, websocket: WebSocket) => void;
  /** Fills each frame's masking key (4 bytes). Default: the OS's CSPRNG. */
  generateMask?: (mask: Buffer) => void;
  [other: string]: unknown;
}

// Set by client-handshake.ts (it imports this module, so the link is made there to avoid a cycle).
let startClient: ((ws: WebSocket, address: string | URL, protocols: string[], options: ClientOptions) => void) | undefined;
/** @internal */
export function setClientStarter(fn: typeof startClient): void {
  startClient = fn;
}

export class WebSocket extends EventEmitter<WebSocketEvents> {
  static readonly CONNECTING = CONNECTING;
  static readonly OPEN = OPEN;
  static readonly CLOSING = CLOSING;
  static readonly CLOSED = CLOSED;
  declare static WebSocket: typeof WebSocket;
  declare static WebSocketServer: typeof import('./websocket-server.js').WebSocketServer;
  declare static Server: typeof import('./websocket-server.js').WebSocketServer;
  declare static createWebSocketStream: typeof import('./stream.js').createWebSocketStream;

  #conn: WebSocketConnection | undefined;
  #handle = 0 as NativeHandle;
  #state = CONNECTING;
  #binaryType: BinaryType = 'nodebuffer';
  #isPaused = false;
  #url: string | undefined;
  #protocol = '';
  #extensions = '';
  #closeCalled = false;
  #wasClean = false;
  /** fin: false sends: the message's chunks so far and its opcode, until the fin: true send. */
  #fragments: Buffer[] | undefined;
  #fragmentOpcode: typeof Opcode.TEXT | typeof Opcode.BINARY = Opcode.BINARY;
  /** Send callbacks waiting for the queue to be written, in order. */
  #callbacks: SendCallback[] = [];
  readonly #flushCallbacks = (): void => {
    const cbs = this.#callbacks;
    this.#callbacks = [];
    for (const cb of cbs) cb();
  };
  /** @internal Set by the client handshake while it runs: how to abort it. */
  [kAbortHandshake]: ((err: Error) => void) | undefined;

  constructor(address: string | URL | null, protocols?: string | string[] | ClientOptions, options?: ClientOptions) {
    super();
    if (address === null) return; // a server's connection: the server attaches it
    if (protocols !== undefined && !Array.isArray(protocols) && typeof protocols === 'object') {
      options = protocols as ClientOptions;
      protocols = undefined;
    }
    const list = protocols === undefined ? [] : Array.isArray(protocols) ? protocols : [protocols as string];
    this.#url = typeof address === 'string' ? address : address.href;
    if (!startClient) throw new Error('wslay/ws: the client is not loaded (import wslay/ws, not its files)');
    startClient(this, address, list, options ?? {});
  }

  get CONNECTING(): 0 {
    return CONNECTING;
  }
  get OPEN(): 1 {
    return OPEN;
  }
  get CLOSING(): 2 {
    return CLOSING;
  }
  get CLOSED(): 3 {
    return CLOSED;
  }

  /** @internal Takes over an open connection (the server's, or the client's after its handshake). */
  [kAttach](conn: WebSocketConnection, protocol: string, extensions: string): void {
    this.#conn = conn;
    this.#state = OPEN;
    this.#protocol = protocol;
    this.#extensions = extensions;
    this.#handle = conn._handle();
    conn.onMsgRecv = (_rsv, opcode, msg) => {
      if (opcode === Opcode.TEXT) this.emit('message', msg, false);
      else if (opcode === Opcode.BINARY) this.emit('message', this.#convert(msg), true);
      else if (opcode === Opcode.PING) this.emit('ping', msg);
      else this.emit('pong', msg);
    };
    conn.onClose = (code, info) => this.#closed(code, info);
  }

  #convert(msg: Buffer): RawData {
    switch (this.#binaryType) {
      case 'nodebuffer':
        return msg;
      case 'arraybuffer':
        // A message in a shared slab is a view: the ArrayBuffer must be its own.
        return msg.byteOffset === 0 && msg.byteLength === msg.buffer.byteLength
          ? (msg.buffer as ArrayBuffer)
          : msg.buffer.slice(msg.byteOffset, msg.byteOffset + msg.byteLength) as ArrayBuffer;
      case 'fragments':
        return [msg];
      default:
        return new Blob([msg]);
    }
  }

  #closed(code: number, info: CloseInfo): void {
    this.#state = CLOSED;
    this.#wasClean = info.wasClean;
    // ws emits 'close' once the socket has closed, never in the same pass as the last message: work a message
    // handler deferred with process.nextTick (socket.io does) runs first. One tick per connection, not per message.
    process.nextTick(() => this.#emitClose(code, info));
  }

  #emitClose(code: number, info: CloseInfo): void {
    const cbs = this.#callbacks;
    this.#callbacks = [];
    if (cbs.length) {
      const err = info.unsentMessages > 0 ? notOpen(CLOSED) : undefined;
      for (const cb of cbs) cb(err);
    }
    // ws emits 'error' first when it failed the connection itself (a protocol error, bad UTF-8, a message too big).
    // A peer that closed with such a code itself got it echoed too; what tells the two apart: a server that fails
    // closes TCP at once (not clean), and a client's failing close has no reason, so the server's echo has none.
    const failedHere = this.#url === undefined ? !info.wasClean : info.reason === '';
    if (!this.#closeCalled && failedHere && info.sentCode === code && (code === 1002 || code === 1007 || code === 1009)) {
      this.emit('error', failureError(code));
    }
    this.emit('close', code, code === 1005 || !info.reason ? EMPTY : Buffer.from(info.reason));
  }

  /** @internal The client handshake failed: ws's order, 'error' then 'close' (1006). */
  [kFailHandshake](err: Error): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSING;
    this.emit('error', err);
    this.#state = CLOSED;
    this.emit('close', 1006, EMPTY);
  }

  /** Not ws's net.Socket (the native connection owns the fd): its addresses only, for code that reads
   *  `ws._socket.remoteAddress` (engine.io does); undefined before the handshake. */
  get _socket(): SocketAddresses | undefined {
    return this.#conn;
  }

  get readyState(): number {
    // While OPEN in JS, the native state says whether the peer has started closing.
    return this.#state === OPEN ? NATIVE_STATES[this.#conn!.readyState] : this.#state;
  }
  get binaryType(): BinaryType {
    return this.#binaryType;
  }
  set binaryType(type: BinaryType) {
    if (!BINARY_TYPES.includes(type)) return; // as ws: other values are ignored
    this.#binaryType = type;
  }
  get bufferedAmount(): number {
    return this.#conn && this.#state !== CLOSED ? this.#conn.bufferedAmount : 0;
  }
  get extensions(): string {
    return this.#extensions;
  }
  get protocol(): string {
    return this.#protocol;
  }
  get url(): string | undefined {
    return this.#url;
  }
  get isPaused(): boolean {
    return this.#isPaused;
  }
  /** Whether the close was clean (a close frame each way): CloseEvent.wasClean. */
  get wasClean(): boolean {
    return this.#wasClean;
  }

  /**
   * Sends `data` (text for a string unless `binary`; binary otherwise). `cb(err?)` is called once the message and
   * everything queued before it are written. `fin: false` holds the chunk until the `fin: true` send, which sends
   * the whole message. `compress` and `mask` are decided by the connection (threshold; clients always mask).
   */
  send(data: SendData, options?: { binary?: boolean; compress?: boolean; fin?: boolean; mask?: boolean } | SendCallback, cb?: SendCallback): void {
    if (typeof options === 'function') {
      cb = options;
      options = undefined;
    }
    // The JS state, not the native accessor: one N-API call less per message. A connection the peer is closing
    // is still OPEN here; its queueMsg returns false or throws, which the callback then reports.
    if (this.#state !== OPEN) {
      if (this.#state === CONNECTING) throw new Error('WebSocket is not open: readyState 0 (CONNECTING)');
      if (cb) process.nextTick(cb, notOpen(this.#state));
      return;
    }
    const value = toData(data);
    const binary = options?.binary ?? typeof value !== 'string';
    let ok: boolean;
    try {
      if (options?.fin === false) {
        if (!this.#fragments) {
          this.#fragments = [];
          this.#fragmentOpcode = binary ? Opcode.BINARY : Opcode.TEXT;
        }
        this.#fragments.push(Buffer.from(asBuffer(value))); // the caller may reuse its buffer before fin
        ok = true;
      } else if (this.#fragments) {
        const whole = Buffer.concat([...this.#fragments, asBuffer(value)]);
        const opcode = this.#fragmentOpcode;
        this.#fragments = undefined;
        ok = this.#conn!.queueMsg(whole, opcode);
      } else {
        // By handle, as WebSocketConnection.queueMsg does, one JS frame less per message.
        ok = queueMsgByHandle(this.#handle, value, binary ? Opcode.BINARY : Opcode.TEXT, 0);
      }
    } catch (err) {
      // A bad argument is the caller's error; a connection that has ended is reported as ws does.
      if (err instanceof TypeError || err instanceof RangeError) throw err;
      ok = false;
    }
    if (cb) this.#afterWrite(ok, cb);
  }

  #afterWrite(ok: boolean, cb: SendCallback): void {
    if (!ok) {
      process.nextTick(cb, notOpen(this.readyState === OPEN ? CLOSING : this.readyState));
      return;
    }
    this.#callbacks.push(cb);
    if (this.#callbacks.length === 1) this.#conn!.wait(this.#flushCallbacks);
  }

  #control(kind: 'ping' | 'pong', data: unknown, mask: unknown, cb: unknown): void {
    if (typeof data === 'function') {
      cb = data;
      data = undefined;
    } else if (typeof mask === 'function') {
      cb = mask;
    }
    const state = this.#state;
    if (state === CONNECTING) throw new Error('WebSocket is not open: readyState 0 (CONNECTING)');
    const payload = data === undefined ? EMPTY : toData(data as SendData);
    if (byteLengthOf(payload) > 125) throw new RangeError('The data size must not be greater than 125 bytes');
    const callback = cb as SendCallback | undefined;
    if (state !== OPEN || !this.#conn) {
      if (callback) process.nextTick(callback, notOpen(state));
      return;
    }
    let ok: boolean;
    try {
      ok = kind === 'ping' ? this.#conn.ping(payload) : this.#conn.pong(payload);
    } catch (err) {
      if (err instanceof TypeError || err instanceof RangeError) throw err;
      ok = false;
    }
    if (callback) this.#afterWrite(ok, callback);
  }

  /** Sends a ping (at most 125 bytes of data). `mask` is decided by the connection (clients always mask). */
  ping(data?: unknown, mask?: boolean | SendCallback, cb?: SendCallback): void {
    this.#control('ping', data, mask, cb);
  }
  pong(data?: unknown, mask?: boolean | SendCallback, cb?: SendCallback): void {
    this.#control('pong', data, mask, cb);
  }

  /** Starts the closing handshake (code 1000 or 3000–4999, reason ≤ 123 bytes); before the handshake ends it
   *  aborts it ('error', then 'close' 1006). */
  close(code?: number, reason?: string | Buffer): void {
    if (this.#state === CLOSED) return;
    if (code !== undefined && (typeof code !== 'number' || !isValidCloseCode(code))) {
      throw new TypeError('First argument must be a valid error code number');
    }
    if (reason !== undefined && Buffer.byteLength(reason) > 123) {
      throw new RangeError('The message must not be greater than 123 bytes');
    }
    if (!this.#conn) {
      this[kAbortHandshake]?.(new Error('WebSocket was closed before the connection was established'));
      return;
    }
    this.#closeCalled = true;
    if (this.#state === OPEN) this.#state = CLOSING;
    this.#conn.close(code, reason);
  }

  /** Closes the connection at once, without the closing handshake ('close' 1006). */
  terminate(): void {
    if (this.#state === CLOSED) return;
    if (!this.#conn) {
      this[kAbortHandshake]?.(new Error('WebSocket was closed before the connection was established'));
      return;
    }
    this.#closeCalled = true;
    if (this.#state === OPEN) this.#state = CLOSING;
    this.#conn.terminate();
  }

  /** Stops reading (the peer meets TCP backpressure); resume() goes on. */
  pause(): void {
    if (this.#state === CONNECTING || this.readyState === CLOSED) return;
    this.#isPaused = true;
    this.#conn!.stopRead();
  }
  resume(): void {
    if (this.#state === CONNECTING || this.readyState === CLOSED) return;
    this.#isPaused = false;
    this.#conn!.startRead();
  }

  /** Pub/sub (not in ws; the package's `publish`, as uWebSockets.js has): true if newly subscribed. False before
   *  the connection is open and after it has ended. */
  subscribe(topic: string): boolean {
    return this.#conn ? this.#conn.subscribe(topic) : false;
  }
  unsubscribe(topic: string): boolean {
    return this.#conn ? this.#conn.unsubscribe(topic) : false;
  }
  isSubscribed(topic: string): boolean {
    return this.#conn ? this.#conn.isSubscribed(topic) : false;
  }
  get topics(): string[] {
    return this.#conn ? this.#conn.topics : [];
  }

  addEventListener(type: string, handler: EventHandler, options?: { once?: boolean }): void {
    addEventListener(this, type, handler, options);
  }
  removeEventListener(type: string, handler: EventHandler): void {
    removeEventListener(this, type, handler);
  }
  get onopen(): EventHandler | null {
    return getOnAttribute(this, 'open');
  }
  set onopen(h: EventHandler | null) {
    setOnAttribute(this, 'open', h);
  }
  get onmessage(): EventHandler | null {
    return getOnAttribute(this, 'message');
  }
  set onmessage(h: EventHandler | null) {
    setOnAttribute(this, 'message', h);
  }
  get onclose(): EventHandler | null {
    return getOnAttribute(this, 'close');
  }
  set onclose(h: EventHandler | null) {
    setOnAttribute(this, 'close', h);
  }
  get onerror(): EventHandler | null {
    return getOnAttribute(this, 'error');
  }
  set onerror(h: EventHandler | null) {
    setOnAttribute(this, 'error', h);
  }
}

/** ws's maxPayload (default 100 MiB, 0 = no limit) as the connection's maxRecvSize. */
export function maxRecvSizeFor(maxPayload: number | undefined): number {
  if (maxPayload === undefined) return 100 * 1024 * 1024;
  if (typeof maxPayload !== 'number' || !(maxPayload >= 0)) throw new RangeError('maxPayload must be a number ≥ 0');
  return maxPayload === 0 ? Number.MAX_SAFE_INTEGER : Math.floor(maxPayload);
}

// The types users reach through the CommonJS export (`import WebSocket = require('wslay/ws')`), as in @types/ws.
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace WebSocket {
  type WebSocketServer = import('./websocket-server.js').WebSocketServer;
  type Server = import('./websocket-server.js').WebSocketServer;
  type ServerOptions = import('./websocket-server.js').ServerOptions;
  type VerifyClientCallback = import('./websocket-server.js').VerifyClientCallback;
  type ClientOptions = import('./websocket.js').ClientOptions;
  type RawData = import('./websocket.js').RawData;
  type Data = import('./websocket.js').RawData | string;
  type PerMessageDeflateOptions = import('./websocket.js').WsPerMessageDeflateOptions;
}
