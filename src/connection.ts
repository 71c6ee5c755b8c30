// WebSocketConnection: the typed surface over the native connection (native/connection.h). The class extends the
// native one, so hot calls (queueMsg) cost one JS frame, and `this` in callbacks is the connection itself.
import * as buffer from 'node:buffer';
import type * as net from 'node:net';

import { FragmentedStatus, isValidCloseCode, MAX_CLOSE_REASON_BYTES, Opcode, RSV1 } from './constants.js';
import { CallbackSlot, native, type NativeHandle } from './native.js';
import { deflateParamsFor, type NegotiatedDeflate } from './permessage-deflate.js';
import { checkSocket, takeOverSocket } from './socket-handover.js';

/** What `onClose` receives as its second argument. */
export interface CloseInfo {
  /** Same as the first argument: the peer's close code (1005 when its close had none), the code we failed the
   *  connection with (1002, 1007, 1009, 1011) when we did, or 1006 (EOF, reset, close timeout). */
  code: number;
  /** The reason the peer sent with its close ('' when none). */
  reason: string;
  /** A close frame went each way and the TCP connection ended without error. After failing the connection a client
   *  waits for the server's close (up to `closeTimeout`), a server closes TCP at once (not clean). */
  wasClean: boolean;
  /** The code of the close frame we sent, if one was sent (1005 for a close without a code). */
  sentCode?: number;
  /** Messages (and their bytes) that were queued but not written when the connection ended. */
  unsentMessages: number;
  unsentBytes: number;
  /** The socket error that ended the connection, if any. */
  errno?: number;
  /** The peer did not answer our close within `closeTimeout`. */
  timedOut?: boolean;
}

export type OnMsgRecv = (this: WebSocketConnection, rsv: number, opcode: number, msg: Buffer, statusCode: number) => void;
export type OnClose = (this: WebSocketConnection, code: number, info: CloseInfo) => void;
export type Genmask = (this: WebSocketConnection, len: number) => Uint8Array;
export type OnFrameRecvStart = (
  this: WebSocketConnection,
  fin: boolean,
  rsv: number,
  opcode: number,
  payloadLength: number,
) => void;
export type OnFrameRecvChunk = (this: WebSocketConnection, data: Buffer) => void;
export type OnFrameRecvEnd = (this: WebSocketConnection) => void;

/** Data for `queueMsg`: text is sent as UTF-8. */
export type MessageData = string | ArrayBufferView | ArrayBuffer;
/** A chunk, or `[chunk, status]`; see `FragmentedStatus`. */
export type FragmentSource = (
  this: WebSocketConnection,
  len: number,
) => MessageData | null | undefined | [MessageData | null | undefined, FragmentedStatus?];

export interface WebSocketConnectionOptions {
  /** A connected, upgraded socket fd. The connection owns it from now on and closes it exactly once. */
  fd?: number;
  /** Or a net.Socket (from an http 'upgrade' event or net.connect): its descriptor is duplicated and the Node
   *  socket destroyed once its pending writes are flushed. */
  socket?: net.Socket;
  /** With `socket`: how long its pending writes (the 101 response) may take to flush before the connection is
   *  given up (onClose 1006). Default 10000 ms. */
  handshakeTimeout?: number;
  /** Bytes already read past the handshake (the 'upgrade' event's `head`); fed to wslay first. */
  head?: Uint8Array;
  /** Default 'server'. Clients mask what they send; servers require masked frames. */
  type?: 'server' | 'client';
  /** Default true. With false, `onMsgRecv` gets an empty message and data arrives through the frame callbacks. */
  buffering?: boolean;
  /** Largest message (frame, without buffering) accepted, in bytes; larger → close 1009. Default 64 MiB. */
  maxRecvSize?: number;
  /** How long to wait for the peer's close after ours, in ms; then the socket is closed (1006). Default 5000. */
  closeTimeout?: number;
  /** Most fragments in one message; more → close 1009. Default 131072. */
  maxFragments?: number;
  /** Pongs (automatic or queued) that may wait unwritten before reading pauses until some are written (ping floods
   *  from peers that do not read). Other queued data does not count. Default 1024. */
  maxPendingPongs?: number;
  /** RSV bits the peer may set, for an extension negotiated by hand (`RSV1` for permessage-deflate done in JS):
   *  0 or `RSV1` (RSV2 and RSV3 are not supported: RangeError). Default 0: any RSV bit is a protocol error (1002). */
  allowedRsv?: number;
  /** Refuse new messages while more than this many bytes are queued unsent (a reader slower than we write):
   *  `queueMsg` then returns false and queues nothing. Default: no limit. */
  maxBackpressure?: number;
  /** permessage-deflate as negotiated in the handshake (handleUpgrade and connect fill it in): messages of at
   *  least `threshold` bytes are compressed, received ones inflated, both in C++ on this thread. */
  perMessageDeflate?: NegotiatedDeflate;
  onMsgRecv?: OnMsgRecv;
  onClose?: OnClose;
  /** Client only: masking keys. Must return exactly `len` bytes. Default: the OS's CSPRNG. */
  genmask?: Genmask;
  onFrameRecvStart?: OnFrameRecvStart;
  onFrameRecvChunk?: OnFrameRecvChunk;
  onFrameRecvEnd?: OnFrameRecvEnd;
}

const queueMsgByHandle = native.queueMsg;

// Internal: a function that runs before onClose whatever the user sets it to (WorkerPool counts closes with it).
const closeWatchers = new WeakMap<WebSocketConnection, () => void>();

/** @internal Calls `watcher` when `connection` closes, before its onClose. */
export function watchClose(connection: WebSocketConnection, watcher: () => void): void {
  closeWatchers.set(connection, watcher);
}

function checkNumber(name: string, value: unknown, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

// wslay 1.1.1 keeps only RSV1 of its allowed bits (RSV2/RSV3 frames would still get 1002), so only RSV1 is offered.
function checkAllowedRsv(value: unknown): number {
  if (value === undefined) return 0;
  if (value !== 0 && value !== RSV1) {
    throw new RangeError(
      'allowedRsv must be 0 or RSV1 (4): RSV2 and RSV3 are not supported (wslay 1.1.1 handles RSV1 only)',
    );
  }
  return value;
}

// Bytes from which a message is compressed: any number ≥ 0; Infinity = never compress (fragmented messages too).
function checkThreshold(deflate: NegotiatedDeflate): number {
  const t = deflate.threshold ?? 1024;
  if (typeof t !== 'number' || Number.isNaN(t) || t < 0) {
    throw new RangeError('perMessageDeflate.threshold must be a number ≥ 0 (Infinity: never compress)');
  }
  return t;
}

function checkCallback(name: string, fn: unknown): void {
  if (fn !== undefined && fn !== null && typeof fn !== 'function') throw new TypeError(`${name} must be a function`);
}

/**
 * A WebSocket connection on an already upgraded socket, run by wslay on the loop of the thread that creates it.
 * It stays alive while open even when nothing references it; `onClose` fires exactly once, after the fd is closed.
 */
export class WebSocketConnection extends native.NativeConnection {
  #onMsgRecv?: OnMsgRecv;
  #onClose?: OnClose;
  #genmask?: Genmask;
  #onFrameRecvStart?: OnFrameRecvStart;
  #onFrameRecvChunk?: OnFrameRecvChunk;
  #onFrameRecvEnd?: OnFrameRecvEnd;
  readonly #handle: NativeHandle;
  /** The subprotocol agreed in the handshake ('' for none), set by handleUpgrade and connect. */
  protocol = '';
  /** The extensions agreed in the handshake, e.g. 'permessage-deflate' ('' for none). */
  extensions = '';

  constructor(options: WebSocketConnectionOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    const { fd, socket, head } = options;
    if ((fd === undefined) === (socket === undefined)) throw new TypeError('pass exactly one of fd and socket');
    if (fd !== undefined && (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0)) {
      throw new TypeError('fd must be a non-negative integer');
    }
    if (socket !== undefined) checkSocket(socket);
    if (head !== undefined && !(head instanceof Uint8Array)) throw new TypeError('head must be a Buffer or Uint8Array');
    const type = options.type ?? 'server';
    if (type !== 'server' && type !== 'client') throw new TypeError("type must be 'server' or 'client'");
    for (const name of ['onMsgRecv', 'onClose', 'genmask', 'onFrameRecvStart', 'onFrameRecvChunk', 'onFrameRecvEnd']) {
      checkCallback(name, (options as Record<string, unknown>)[name]);
    }
    super({
      server: type === 'server',
      buffering: options.buffering ?? true,
      maxRecvSize: checkNumber('maxRecvSize', options.maxRecvSize, 0, Number.MAX_SAFE_INTEGER) ?? 64 * 1024 * 1024,
      closeTimeout: checkNumber('closeTimeout', options.closeTimeout, 0, 2 ** 31 - 1) ?? 5000,
      maxFragments: checkNumber('maxFragments', options.maxFragments, 1, 2 ** 32 - 1) ?? 1 << 17,
      maxPendingPongs: checkNumber('maxPendingPongs', options.maxPendingPongs, 1, 2 ** 32 - 1) ?? 1024,
      allowedRsv: checkAllowedRsv(options.allowedRsv),
      maxBackpressure: checkNumber('maxBackpressure', options.maxBackpressure, 1, Number.MAX_SAFE_INTEGER) ?? 0,
      deflate: options.perMessageDeflate
        ? { ...deflateParamsFor(type, options.perMessageDeflate), threshold: checkThreshold(options.perMessageDeflate) }
        : undefined,
    });
    this.#handle = this._handle();
    this._setCallback(CallbackSlot.onClose, WebSocketConnection.#deliverClose);
    this.onMsgRecv = options.onMsgRecv;
    this.onClose = options.onClose;
    this.genmask = options.genmask;
    this.onFrameRecvStart = options.onFrameRecvStart;
    this.onFrameRecvChunk = options.onFrameRecvChunk;
    this.onFrameRecvEnd = options.onFrameRecvEnd;
    try {
      if (fd !== undefined) {
        this._attach(fd, head, false);
      } else {
        takeOverSocket(
          socket!,
          head,
          { attach: (ownFd, bytes) => this._attach(ownFd, bytes, true), abort: () => this._abort(false) },
          checkNumber('handshakeTimeout', options.handshakeTimeout, 1, 2 ** 31 - 1) ?? 10_000,
        );
      }
    } catch (err) {
      this._abort(true);
      throw err;
    }
  }

  /** Called with each complete message (not close frames; pings and pongs too, after wslay answered a ping). */
  get onMsgRecv(): OnMsgRecv | undefined {
    return this.#onMsgRecv;
  }
  set onMsgRecv(fn: OnMsgRecv | undefined) {
    checkCallback('onMsgRecv', fn);
    this.#onMsgRecv = fn ?? undefined;
    this._setCallback(CallbackSlot.onMsgRecv, this.#onMsgRecv ? WebSocketConnection.#deliverMessage : undefined);
  }

  // What the native side calls for each message: small messages arrive as a view into a shared slab (see
  // native/addon_data.h), so a Buffer view is made here instead of an ArrayBuffer per message in C++.
  // `meta` packs rsv (bits 0-2), the opcode (bits 3-6) and the status code (bits 7-22).
  static #deliverMessage(this: WebSocketConnection, slab: ArrayBuffer, offset: number, length: number, meta: number): void {
    this.#onMsgRecv?.call(this, meta & 7, (meta >>> 3) & 15, Buffer.from(slab, offset, length), meta >>> 7);
  }
  /** Called once, after the fd is closed: `(code, info)`; after any messages stopRead() held (see startRead()). */
  get onClose(): OnClose | undefined {
    return this.#onClose;
  }
  set onClose(fn: OnClose | undefined) {
    checkCallback('onClose', fn);
    this.#onClose = fn ?? undefined;
  }

  static #deliverClose(this: WebSocketConnection, code: number, info: CloseInfo): void {
    const watcher = closeWatchers.get(this);
    if (watcher) {
      closeWatchers.delete(this);
      watcher();
    }
    this.#onClose?.call(this, code, info);
  }
  get genmask(): Genmask | undefined {
    return this.#genmask;
  }
  set genmask(fn: Genmask | undefined) {
    checkCallback('genmask', fn);
    this.#genmask = fn ?? undefined;
    this._setCallback(CallbackSlot.genmask, this.#genmask);
  }
  /** Data frames only (control frames arrive whole through `onMsgRecv`). */
  get onFrameRecvStart(): OnFrameRecvStart | undefined {
    return this.#onFrameRecvStart;
  }
  set onFrameRecvStart(fn: OnFrameRecvStart | undefined) {
    checkCallback('onFrameRecvStart', fn);
    this.#onFrameRecvStart = fn ?? undefined;
    this._setCallback(CallbackSlot.onFrameRecvStart, this.#onFrameRecvStart);
  }
  get onFrameRecvChunk(): OnFrameRecvChunk | undefined {
    return this.#onFrameRecvChunk;
  }
  set onFrameRecvChunk(fn: OnFrameRecvChunk | undefined) {
    checkCallback('onFrameRecvChunk', fn);
    this.#onFrameRecvChunk = fn ?? undefined;
    this._setCallback(CallbackSlot.onFrameRecvChunk, this.#onFrameRecvChunk);
  }
  get onFrameRecvEnd(): OnFrameRecvEnd | undefined {
    return this.#onFrameRecvEnd;
  }
  set onFrameRecvEnd(fn: OnFrameRecvEnd | undefined) {
    checkCallback('onFrameRecvEnd', fn);
    this.#onFrameRecvEnd = fn ?? undefined;
    this._setCallback(CallbackSlot.onFrameRecvEnd, this.#onFrameRecvEnd);
  }

  /** Queues a message (copied now, sent when the socket is writable). Opcodes: TEXT, BINARY, PING, PONG.
   *  Returns false, queueing nothing, when `maxBackpressure` bytes are already waiting. */
  queueMsg(msg: MessageData, opcode: number = Opcode.TEXT): boolean {
    return queueMsgByHandle(this.#handle, msg, opcode, 0);
  }

  /** Like queueMsg with RSV bits set (default RSV1), for an extension implemented by the caller. Only RSV1 can be
   *  sent (RSV2/RSV3: RangeError), and only when `allowedRsv` includes it and permessage-deflate was not negotiated. */
  queueMsgEx(msg: MessageData, opcode: number = Opcode.TEXT, rsv: number = RSV1): boolean {
    return queueMsgByHandle(this.#handle, msg, opcode, rsv);
  }

  /** Queues a message whose data `source(len)` produces chunk by chunk; each chunk becomes one frame. */
  queueFragmented(source: FragmentSource, opcode: number = Opcode.BINARY): void {
    this._queueFragmented(source as (len: number) => unknown, opcode, 0);
  }

  queueFragmentedEx(source: FragmentSource, opcode: number = Opcode.BINARY, rsv: number = RSV1): void {
    this._queueFragmented(source as (len: number) => unknown, opcode, rsv);
  }

  /** Calls `cb` once the send queue is empty (on a later tick if it already is). A new call replaces the old one;
   *  if the connection closes first, `cb` is not called (`onClose` is). */
  wait(cb: () => void): void {
    this._wait(cb);
  }

  /** Starts or stops all I/O, or one direction. stopRead() stops delivery at once, even within one read; held
   *  messages are delivered by startRead(), also after the connection ended (onClose then follows them). */
  start(): void {
    this._setFlow(true, true);
  }
  stop(): void {
    this._setFlow(false, false);
  }
  startRead(): void {
    this._setFlow(true, undefined);
  }
  stopRead(): void {
    this._setFlow(false, undefined);
  }
  startWrite(): void {
    this._setFlow(undefined, true);
  }
  stopWrite(): void {
    this._setFlow(undefined, false);
  }

  /** Disables one direction for good, as in wslay: the connection ends as soon as nothing is left to read or to
   *  write (after shutdownRead(), once the send queue is empty). */
  shutdownRead(): void {
    this._shutdown(true, false);
  }
  shutdownWrite(): void {
    this._shutdown(false, true);
  }

  /**
   * Starts the closing handshake: messages queued before go out first, then the close frame; reading goes on until
   * the peer's close arrives or `closeTimeout` passes, then the fd is closed and `onClose` fires. While reading is
   * paused it still reads the peer's close, dropping the data messages before it. Without a code the close frame has
   * no body. A second call does nothing.
   */
  close(code?: number, reason?: string | Uint8Array): void {
    if (code !== undefined && !isValidCloseCode(code)) {
      throw new RangeError(`invalid close code ${code}: use 1000–1003, 1007–1014 or 3000–4999`);
    }
    let bytes: Uint8Array | undefined;
    if (reason !== undefined && reason !== '') {
      if (code === undefined) throw new RangeError('a close reason needs a close code');
      if (typeof reason === 'string') bytes = Buffer.from(reason, 'utf8');
      else if (reason instanceof Uint8Array) bytes = reason;
      else throw new TypeError('reason must be a string or a Buffer');
      if (bytes.length > MAX_CLOSE_REASON_BYTES) throw new RangeError('a close reason is at most 123 bytes');
      if (!buffer.isUtf8(bytes)) throw new RangeError('a close reason must be valid UTF-8');
    }
    this._close(code, bytes);
  }
}
