// WebSocketConnection: the typed surface over the native connection (native/connection.h). The class extends the
// native one, so hot calls (queueMsg) cost one JS frame, and `this` in callbacks is the connection itself.
import type * as net from 'node:net';
import type * as stream from 'node:stream';
import { isArrayBuffer } from 'node:util/types';

import {
  closeReasonBytes,
  type DataOpcode,
  type FragmentedStatus,
  type FrameOpcode,
  type MessageOpcode,
  Opcode,
  RSV1,
  RSV2,
  RSV3,
  type RsvBits,
} from './constants.js';
import { CallbackSlot, native, type NativeHandle } from './native.js';
import { checkCallback, checkConnectionOptions } from './options.js';
import { deflateParamsFor, type NegotiatedDeflate } from './permessage-deflate.js';
import { takeOverSocket } from './socket-handover.js';
import { attachStream, chooseTransport } from './stream-transport.js';

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
  /** Published messages this connection missed because it was over its backpressure limit. */
  droppedMessages: number;
  /** The socket error that ended the connection, if any. */
  errno?: number;
  /** The peer did not answer our close within `closeTimeout`, or was silent for `idleTimeout` (then `code` is 1006
   *  and no close frame was sent). */
  timedOut?: boolean;
}

export type OnMsgRecv = (
  this: WebSocketConnection,
  rsv: RsvBits,
  opcode: MessageOpcode,
  msg: Buffer,
  statusCode: number,
) => void;
export type OnClose = (this: WebSocketConnection, code: number, info: CloseInfo) => void;
export type Genmask = (this: WebSocketConnection, len: number) => Uint8Array;
export type OnFrameRecvStart = (
  this: WebSocketConnection,
  fin: boolean,
  rsv: RsvBits,
  opcode: FrameOpcode,
  payloadLength: number,
) => void;
export type OnFrameRecvChunk = (this: WebSocketConnection, data: Buffer) => void;
export type OnFrameRecvEnd = (this: WebSocketConnection) => void;
/** A ping or pong from the peer, with its payload (at most 125 bytes). */
export type OnControl = (this: WebSocketConnection, data: Buffer) => void;
export type OnDrain = (this: WebSocketConnection) => void;

/** Data for `queueMsg`: text is sent as UTF-8. */
export type MessageData = string | ArrayBufferView | ArrayBuffer;
/** A chunk, or `[chunk, status]`; see `FragmentedStatus`. */
export type FragmentSource = (
  this: WebSocketConnection,
  len: number,
) => MessageData | null | undefined | [MessageData | null | undefined, FragmentedStatus?];

export interface WebSocketConnectionOptions {
  /** A connected, upgraded socket fd. The connection owns it from now on and closes it exactly once. Give `fd` or
   *  `socket`, not both. */
  fd?: number;
  /** Or a socket (from an http or https 'upgrade' event, typed `stream.Duplex` there, net.connect or tls.connect).
   *  A plain TCP or Unix net.Socket gets the fd transport: its descriptor is duplicated and the Node socket
   *  destroyed once its pending writes are flushed. A tls.TLSSocket or any other Duplex gets the stream transport:
   *  the connection reads its 'data' and writes through it, and ends it when the connection ends. */
  socket?: net.Socket | stream.Duplex;
  /** Forces the transport: 'fd' (the socket's descriptor, polled natively; plain TCP/Unix sockets only, else a
   *  TypeError) or 'stream' (through the Duplex's reads and writes; any socket). Default: 'fd' for `fd` and plain
   *  net.Sockets, 'stream' for everything else. */
  transport?: 'fd' | 'stream';
  /** With `socket`: how long its pending writes (the 101 response) may take to flush before the connection is
   *  given up (onClose 1006), in milliseconds. Default 10000. */
  handshakeTimeout?: number;
  /** Bytes already read past the handshake (the 'upgrade' event's `head`); fed to wslay first. Default: none. */
  head?: Uint8Array;
  /** Which end this is. Default 'server'. Clients mask what they send; servers require masked frames. */
  type?: 'server' | 'client';
  /** Assemble whole messages for `onMsgRecv`. Default true. With false, `onMsgRecv` gets an empty message and
   *  data arrives through the frame callbacks. */
  buffering?: boolean;
  /** Force the plain wslay path: no fast path of the binding around wslay (the receive scanner, the direct frame
   *  writer), every frame through wslay's own parser and send queue. For comparing the two paths and for
   *  bisecting; slower. Default: the environment variable `WSLAY_PLAIN=1`, else false. */
  plainWslay?: boolean;
  /** Largest message (frame, without buffering) accepted, in bytes; larger → close 1009. Default 64 MiB. */
  maxRecvSize?: number;
  /** How long to wait for the peer's close after ours, in milliseconds; then the socket is closed (1006).
   *  Default 5000. */
  closeTimeout?: number;
  /** Longest time, in ms, a received message may stay incomplete (a peer trickling fragments); then the
   *  connection fails with 1008. Time while reading is paused (stopRead) does not count. Default: no limit. */
  messageTimeout?: number;
  /** Most fragments (frames) in one message; more → close 1009. Default 131072. */
  maxFragments?: number;
  /** Pongs (automatic or queued) that may wait unwritten before reading pauses until some are written (ping floods
   *  from peers that do not read). Other queued data does not count. Default 1024. */
  maxPendingPongs?: number;
  /** RSV bits the peer may set, for an extension negotiated by hand (`RSV1` for permessage-deflate done in JS):
   *  0 or `RSV1` (RSV2 and RSV3 are not supported: RangeError). Default 0: any RSV bit is a protocol error (1002). */
  allowedRsv?: 0 | typeof RSV1;
  /** Refuse new messages while more than this many bytes are queued unsent (a reader slower than we write):
   *  `queueMsg` then returns false and queues nothing. Default: no limit. */
  maxBackpressure?: number;
  /** A subscriber over its backpressure limit (`maxBackpressure`, or 1 MiB queued for published messages without
   *  it) is closed with 1008 instead of missing the published message. Default false. */
  closeOnBackpressureLimit?: boolean;
  /** Seconds (fractions allowed) without any bytes received after which the connection is ended like
   *  `terminate()`: code 1006, `timedOut: true`, no close frame. With `sendPingsAutomatically` a ping goes out
   *  after half of it, so a live peer's pong keeps the connection open. Sending does not count as traffic.
   *  Default: off. */
  idleTimeout?: number;
  /** With `idleTimeout`: send a ping after half of `idleTimeout` without traffic. Default true. */
  sendPingsAutomatically?: boolean;
  /** Minutes (fractions allowed) after which the connection is closed with 1001 (a closing handshake, under
   *  `closeTimeout`), however busy. Default: off. */
  maxLifetime?: number;
  /** `onDrain` fires when `bufferedAmount` falls to this many bytes after having been above it. Default 0. */
  drainThreshold?: number;
  /** permessage-deflate as negotiated in the handshake (handleUpgrade and connect fill it in): messages of at
   *  least `threshold` bytes are compressed, received ones inflated, both in C++ on this thread. Default: none. */
  perMessageDeflate?: NegotiatedDeflate;
  /** Called with each complete message `(rsv, opcode, msg, statusCode)`, `this` being the connection (pings and
   *  pongs too, after the automatic pong; not close frames). Default: none. */
  onMsgRecv?: OnMsgRecv;
  /** Called once, after the fd is closed: `(code, info)`. Default: none. */
  onClose?: OnClose;
  /** A ping from the peer `(data)`, after the automatic pong was queued (and after `onMsgRecv`). Like every
   *  received message, only while `onMsgRecv` is set: without it the connection does not read. Default: none. */
  onPing?: OnControl;
  /** A pong from the peer `(data)`, after `onMsgRecv`; same condition as `onPing`. Default: none. */
  onPong?: OnControl;
  /** `bufferedAmount` fell to `drainThreshold` after having been above it: more can be queued. Default: none. */
  onDrain?: OnDrain;
  /** Client only: masking keys. Must return exactly `len` bytes. Default: the OS's CSPRNG. */
  genmask?: Genmask;
  /** With `buffering: false`: a data frame starts `(fin, rsv, opcode, payloadLength in bytes)`. Default: none. */
  onFrameRecvStart?: OnFrameRecvStart;
  /** With `buffering: false`: a chunk of the current frame's payload. Default: none. */
  onFrameRecvChunk?: OnFrameRecvChunk;
  /** With `buffering: false`: the current frame ended. Default: none. */
  onFrameRecvEnd?: OnFrameRecvEnd;
}

const { queueText, queueBytes, deliveryInfo } = native;
// deliveryInfo's batch slots and the shared callback slot of the batch loop (native/addon_data.h).
const BATCH_SLOT = 7;
const BATCH_STOP = 3;
const BATCH_DONE = 4;
const EMPTY = Buffer.alloc(0);

function checkSmallInt(value: unknown, max: number, name: string): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number`);
  if (!(Number.isInteger(value) && value >= 0 && value <= max)) {
    throw new RangeError(`${name} must be an integer from 0 to ${max}`);
  }
  return value;
}

/** @internal queueMsg by handle: the arguments are checked here, where it is cheap, and the native call takes them
 *  as they are (native/connection.h, QueueText/QueueBytes). The control frame limits (125 bytes, no RSV) are
 *  checked natively, where the encoded length is known. */
export function queueMsgByHandle(handle: NativeHandle, data: MessageData, opcode: number, rsv: number): boolean {
  if (!((opcode === Opcode.TEXT || opcode === Opcode.BINARY) && rsv === 0)) {
    checkSmallInt(opcode, 15, 'opcode');
    checkSmallInt(rsv, 7, 'rsv');
    if ((rsv & (RSV2 | RSV3)) !== 0) {
      throw new RangeError('RSV2 and RSV3 are not supported (wslay 1.1.1 handles RSV1 only)');
    }
    if (opcode !== Opcode.TEXT && opcode !== Opcode.BINARY && opcode !== Opcode.PING && opcode !== Opcode.PONG) {
      throw new RangeError('opcode must be TEXT (1), BINARY (2), PING (9) or PONG (10); use close() to close');
    }
  }
  const flags = opcode | (rsv << 4);
  if (typeof data === 'string') return queueText(handle, data, flags);
  if (data instanceof Uint8Array) return queueBytes(handle, data, flags); // Buffers too
  if (ArrayBuffer.isView(data)) return queueBytes(handle, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), flags);
  if (isArrayBuffer(data)) return queueBytes(handle, new Uint8Array(data), flags);
  throw new TypeError('message must be a string, Buffer, TypedArray, DataView or ArrayBuffer');
}
// WSLAY_PLAIN=1 forces the plain wslay path for every connection that does not choose (CI runs suites both ways).
const PLAIN_WSLAY_DEFAULT = process.env.WSLAY_PLAIN === '1';

type Addresses = [string, number, 'IPv4' | 'IPv6', string, number];

/** The socket's addresses, read now: after the handover Node's socket is destroyed and says undefined. */
function addressesOf(fd: number | undefined, socket: net.Socket | undefined): Addresses | undefined {
  if (fd !== undefined) return native.socketAddresses(fd);
  if (socket?.remoteAddress === undefined || socket.remotePort === undefined) {
    // Not connected yet (net.connect still connecting): from the fd once it has one.
    const handleFd = (socket as unknown as { _handle?: { fd?: number } } | undefined)?._handle?.fd;
    return typeof handleFd === 'number' && handleFd >= 0 ? native.socketAddresses(handleFd) : undefined;
  }
  const family = socket.remoteFamily === 'IPv6' ? 'IPv6' : 'IPv4';
  return [socket.remoteAddress, socket.remotePort, family, socket.localAddress ?? '', socket.localPort ?? 0];
}

// Internal: a function that runs before onClose whatever the user sets it to (WorkerPool counts closes with it).
const closeWatchers = new WeakMap<WebSocketConnection, () => void>();

/** @internal With `fd`: the connection duplicates it as it attaches and leaves the given one to its owner. */
export const duplicateFd = Symbol('wslay.duplicateFd');

/** @internal Set by handleUpgrade on options it has checked already (checkHandleUpgradeOptions): the constructor
 *  does not check them a second time on every upgrade. */
export const optionsChecked = Symbol('wslay.optionsChecked');

/** @internal The error of a socket takeover that failed before the constructor returned (EMFILE): WebSocketServer
 *  counts such an upgrade as failed instead of emitting the connection. Its onClose(1006) still follows. */
const takeoverFailures = new WeakMap<WebSocketConnection, Error>();
export function takeoverFailure(connection: WebSocketConnection): Error | undefined {
  return takeoverFailures.get(connection);
}

/** A takeover's error as onClose's errno (Node's socket errors carry it negative). */
function errnoOf(err: unknown): number | undefined {
  const errno = (err as { errno?: unknown } | null)?.errno;
  return typeof errno === 'number' && errno !== 0 ? Math.abs(errno) : undefined;
}

/** @internal Calls `watcher` when `connection` closes, before its onClose. */
export function watchClose(connection: WebSocketConnection, watcher: () => void): void {
  closeWatchers.set(connection, watcher);
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
  #onPing?: OnControl;
  #onPong?: OnControl;
  #onDrain?: OnDrain;
  readonly #buffering: boolean;
  #remote: [string, number, 'IPv4' | 'IPv6', string, number] | undefined;
  readonly #handle: NativeHandle;
  /** Set while a socket's takeover waits (its 101 still flushing): a close in the meantime cancels it. */
  #cancelTakeover: (() => void) | undefined;
  /** The subprotocol agreed in the handshake ('' for none), set by handleUpgrade and connect. */
  protocol = '';
  /** The extensions agreed in the handshake, e.g. 'permessage-deflate' ('' for none). */
  extensions = '';

  constructor(options: WebSocketConnectionOptions) {
    const checked = (options as { [optionsChecked]?: boolean } | null | undefined)?.[optionsChecked] === true;
    if (!checked) checkConnectionOptions(options);
    const { fd, socket, head } = options;
    if ((fd === undefined) === (socket === undefined)) throw new TypeError('pass exactly one of fd and socket');
    if (fd !== undefined && (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0)) {
      throw new TypeError('fd must be a non-negative integer');
    }
    if (socket === undefined && options.transport === 'stream') {
      throw new TypeError("transport 'stream' needs a socket (a stream.Duplex), not an fd");
    }
    const transport = socket === undefined ? 'fd' : chooseTransport(socket, options.transport);
    const type = options.type ?? 'server';
    const idleTimeout = options.idleTimeout ?? 0;
    super({
      server: type === 'server',
      buffering: options.buffering ?? true,
      plainWslay: options.plainWslay ?? PLAIN_WSLAY_DEFAULT,
      maxRecvSize: options.maxRecvSize ?? 64 * 1024 * 1024,
      closeTimeout: options.closeTimeout ?? 5000,
      messageTimeout: options.messageTimeout ?? 0,
      maxFragments: options.maxFragments ?? 1 << 17,
      maxPendingPongs: options.maxPendingPongs ?? 1024,
      allowedRsv: checkAllowedRsv(options.allowedRsv),
      maxBackpressure: options.maxBackpressure ?? 0,
      idleTimeoutMs: Math.ceil(idleTimeout * 1000),
      sendPingsAutomatically: idleTimeout > 0 && (options.sendPingsAutomatically ?? true),
      maxLifetimeMs: Math.ceil((options.maxLifetime ?? 0) * 60_000),
      drainThreshold: options.drainThreshold ?? 0,
      closeOnBackpressureLimit: options.closeOnBackpressureLimit ?? false,
      deflate: options.perMessageDeflate
        ? { ...deflateParamsFor(type, options.perMessageDeflate), threshold: checkThreshold(options.perMessageDeflate) }
        : undefined,
    });
    this.#handle = this._handle();
    this.#buffering = options.buffering ?? true;
    this._setCallback(CallbackSlot.onClose, true); // #deliverClose, shared by the thread's connections
    this.#remote = addressesOf(fd, socket as net.Socket | undefined);
    this.onMsgRecv = options.onMsgRecv;
    this.onPing = options.onPing;
    this.onPong = options.onPong;
    this.onDrain = options.onDrain;
    this.onClose = options.onClose;
    this.genmask = options.genmask;
    this.onFrameRecvStart = options.onFrameRecvStart;
    this.onFrameRecvChunk = options.onFrameRecvChunk;
    this.onFrameRecvEnd = options.onFrameRecvEnd;
    try {
      if (fd !== undefined) {
        this._attach(fd, head, (options as { [duplicateFd]?: boolean })[duplicateFd] === true);
      } else if (transport === 'stream') {
        attachStream(this, socket as stream.Duplex, head, options.closeTimeout ?? 5000);
      } else {
        // A takeover that fails, now or after waiting, ends in onClose(1006), with the errno when there is one.
        let constructing = true;
        this.#cancelTakeover = takeOverSocket(
          socket as net.Socket,
          head,
          {
            attach: (ownFd, bytes) => {
              this.#cancelTakeover = undefined;
              this._attach(ownFd, bytes, true);
            },
            abort: (err) => {
              this.#cancelTakeover = undefined;
              if (constructing) takeoverFailures.set(this, err);
              this._abort(false, errnoOf(err));
            },
          },
          options.handshakeTimeout ?? 10_000,
        );
        constructing = false;
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
    this._setCallback(CallbackSlot.onMsgRecv, this.#onMsgRecv ? true : undefined); // true: #deliverMessage
    this.#updateReader();
  }

  // Messages must never be lost because a callback was set late: until one takes them the connection does not
  // read (onMsgRecv; without buffering also a frame callback, which the data comes through).
  #updateReader(): void {
    const frames = !this.#buffering && !!(this.#onFrameRecvStart || this.#onFrameRecvChunk || this.#onFrameRecvEnd);
    this._setReader(!!this.#onMsgRecv || frames);
  }

  /** A ping from the peer `(data)`, after the automatic pong (and after `onMsgRecv`). */
  get onPing(): OnControl | undefined {
    return this.#onPing;
  }
  set onPing(fn: OnControl | undefined) {
    checkCallback('onPing', fn);
    this.#onPing = fn ?? undefined;
  }
  /** A pong from the peer `(data)`, after `onMsgRecv`. */
  get onPong(): OnControl | undefined {
    return this.#onPong;
  }
  set onPong(fn: OnControl | undefined) {
    checkCallback('onPong', fn);
    this.#onPong = fn ?? undefined;
  }
  /** `bufferedAmount` fell to `drainThreshold` (default 0) after having been above it. */
  get onDrain(): OnDrain | undefined {
    return this.#onDrain;
  }
  set onDrain(fn: OnDrain | undefined) {
    checkCallback('onDrain', fn);
    this.#onDrain = fn ?? undefined;
    this._setCallback(CallbackSlot.onDrain, this.#onDrain);
  }

  /** The peer's IP address, captured when the connection was made (it stays after the socket is gone); undefined
   *  for a socket that is not TCP. */
  get remoteAddress(): string | undefined {
    return this.#remote?.[0];
  }
  /** The peer's port. */
  get remotePort(): number | undefined {
    return this.#remote?.[1];
  }
  /** 'IPv4' or 'IPv6'. */
  get remoteFamily(): 'IPv4' | 'IPv6' | undefined {
    return this.#remote?.[2];
  }
  /** Our end's IP address. */
  get localAddress(): string | undefined {
    return this.#remote?.[3];
  }
  /** Our end's port. */
  get localPort(): number | undefined {
    return this.#remote?.[4];
  }

  // What the native side calls for each message: small messages arrive as a view into a shared slab (see
  // native/addon_data.h), so a Buffer view is made here instead of an ArrayBuffer per message in C++; large ones
  // as their own Buffer. Offset, length and meta come in deliveryInfo (no numbers made per message), read before
  // any user code runs. `meta` packs rsv (bits 0-2), the opcode (bits 3-6) and the status code (bits 7-22).
  static {
    // The native side keeps one reference per thread to each of these, not one per connection (_setCallback(slot,
    // true) selects it): about 200 bytes less per connection.
    native.setSharedCallback(CallbackSlot.onMsgRecv, WebSocketConnection.#deliverMessage);
    native.setSharedCallback(CallbackSlot.onClose, WebSocketConnection.#deliverClose);
    native.setSharedCallback(BATCH_SLOT, WebSocketConnection.#deliverBatch);
  }

  // Several messages of one read in one call (native/connection_batch.cc): `where` is the first entry's index in
  // deliveryInfo << 7 | the count; each entry is (offset, length, meta) in `slab`. The loop stops after a callback
  // that paused, closed, terminated or dropped the reader (the native side sets the stop slot), and reports how far
  // it got, also when a callback throws: the native side hands the rest back to the session.
  static #deliverBatch(this: WebSocketConnection, slab: ArrayBuffer, where: number): void {
    const first = where >>> 7;
    const end = first + 3 * (where & 127);
    let at = first;
    try {
      while (at < end) {
        const meta = deliveryInfo[at + 2];
        const msg = Buffer.from(slab, deliveryInfo[at], deliveryInfo[at + 1]);
        at += 3;
        this.#onMsgRecv?.call(this, (meta & 7) as RsvBits, ((meta >>> 3) & 15) as MessageOpcode, msg, meta >>> 7);
        if (deliveryInfo[BATCH_STOP] !== 0) break;
      }
    } finally {
      deliveryInfo[BATCH_DONE] = (at - first) / 3;
    }
  }

  static #deliverMessage(this: WebSocketConnection, bytes: ArrayBuffer | Buffer): void {
    const offset = deliveryInfo[0];
    const meta = deliveryInfo[2];
    const opcode = ((meta >>> 3) & 15) as MessageOpcode;
    const msg = offset < 0 ? (bytes as Buffer) : Buffer.from(bytes as ArrayBuffer, offset, deliveryInfo[1]);
    this.#onMsgRecv?.call(this, (meta & 7) as RsvBits, opcode, msg, meta >>> 7);
    if (opcode === Opcode.PING) this.#onPing?.call(this, msg);
    else if (opcode === Opcode.PONG) this.#onPong?.call(this, msg);
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
    // Closed (close timeout) while the socket still waited to be taken over: it is not taken any more.
    this.#cancelTakeover?.();
    this.#cancelTakeover = undefined;
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
    this.#updateReader();
  }
  get onFrameRecvChunk(): OnFrameRecvChunk | undefined {
    return this.#onFrameRecvChunk;
  }
  set onFrameRecvChunk(fn: OnFrameRecvChunk | undefined) {
    checkCallback('onFrameRecvChunk', fn);
    this.#onFrameRecvChunk = fn ?? undefined;
    this._setCallback(CallbackSlot.onFrameRecvChunk, this.#onFrameRecvChunk);
    this.#updateReader();
  }
  get onFrameRecvEnd(): OnFrameRecvEnd | undefined {
    return this.#onFrameRecvEnd;
  }
  set onFrameRecvEnd(fn: OnFrameRecvEnd | undefined) {
    checkCallback('onFrameRecvEnd', fn);
    this.#onFrameRecvEnd = fn ?? undefined;
    this._setCallback(CallbackSlot.onFrameRecvEnd, this.#onFrameRecvEnd);
    this.#updateReader();
  }

  /** Queues a message (copied now, sent when the socket is writable). Opcodes: TEXT, BINARY, PING, PONG.
   *  Returns false, queueing nothing, when `maxBackpressure` bytes are already waiting, or when the connection is
   *  closing (the message is then counted in onClose's `unsentMessages`/`unsentBytes`). Throws after onClose. */
  queueMsg(msg: MessageData, opcode: MessageOpcode = Opcode.TEXT): boolean {
    return queueMsgByHandle(this.#handle, msg, opcode, 0);
  }

  /** Queues a ping with `data` (at most 125 bytes, RangeError otherwise; default empty). The answer arrives
   *  through `onPong`. Returns false as `queueMsg` does. */
  ping(data: MessageData = EMPTY): boolean {
    return queueMsgByHandle(this.#handle, data, Opcode.PING, 0);
  }

  /** Queues an unsolicited pong with `data` (at most 125 bytes, RangeError otherwise; default empty). Pings are
   *  answered automatically. Returns false as `queueMsg` does. */
  pong(data: MessageData = EMPTY): boolean {
    return queueMsgByHandle(this.#handle, data, Opcode.PONG, 0);
  }

  /** Subscribes to `topic` (see `publish`). Returns true if newly subscribed, false if it already was or the
   *  connection has ended. Subscriptions end with the connection. */
  subscribe(topic: string): boolean {
    return native.subscribe(this.#handle, topic);
  }
  /** Returns true if it was subscribed. */
  unsubscribe(topic: string): boolean {
    return native.unsubscribe(this.#handle, topic);
  }
  isSubscribed(topic: string): boolean {
    return native.isSubscribed(this.#handle, topic);
  }
  /** The topics subscribed, in the order they were subscribed (empty once the connection has ended). */
  get topics(): string[] {
    return native.topics(this.#handle);
  }
  /** Published messages this connection missed because it was over its backpressure limit. */
  get droppedMessages(): number {
    return native.droppedMessages(this.#handle);
  }

  /** Ends the connection now: no closing handshake, queued messages dropped (counted in onClose's
   *  `unsentMessages`/`unsentBytes`), the fd closed before this returns; `onClose(1006)` follows on a later turn.
   *  After the end it does nothing. */
  terminate(): void {
    this.#cancelTakeover?.();
    this.#cancelTakeover = undefined;
    this._terminate();
  }

  /** Like queueMsg with RSV bits set (default RSV1), for an extension implemented by the caller. Only RSV1 can be
   *  sent (RSV2/RSV3: RangeError), and only when `allowedRsv` includes it and permessage-deflate was not negotiated. */
  queueMsgEx(msg: MessageData, opcode: MessageOpcode = Opcode.TEXT, rsv: RsvBits = RSV1): boolean {
    return queueMsgByHandle(this.#handle, msg, opcode, rsv);
  }

  /** Queues a message whose data `source(len)` produces chunk by chunk; each chunk becomes one frame. */
  queueFragmented(source: FragmentSource, opcode: DataOpcode = Opcode.BINARY): void {
    this._queueFragmented(source as (len: number) => unknown, opcode, 0);
  }

  queueFragmentedEx(source: FragmentSource, opcode: DataOpcode = Opcode.BINARY, rsv: RsvBits = RSV1): void {
    this._queueFragmented(source as (len: number) => unknown, opcode, rsv);
  }

  /** Calls `cb` once the send queue is empty (on a later tick if it already is). Every waiter is kept and called in
   *  order; if the connection closes first, they are not called (`onClose` is). */
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
    this._close(code, closeReasonBytes(code, reason));
  }
}
