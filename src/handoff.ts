// Moving an upgraded socket to another thread. worker_threads cannot transfer a net.Socket, but fd numbers are
// process-wide, so the fd itself can travel in a postMessage.
//
// Ownership, so that exactly one close happens on every descriptor whatever the receiver does:
//   1. The sender detaches the socket into a SocketHandoff, which owns a duplicate of its fd (copy A), and posts
//      `handoff.message` (plain data: structured-clone safe).
//   2. The receiver calls adoptSocket(message): it duplicates A into its own copy B, which its WebSocketConnection
//      owns, and then tells the sender (adopted or not).
//   3. The sender calls handoff.release() on that answer, or once the receiving thread has exited (its 'exit'
//      event): the message was never delivered or never adopted, and A is the only copy left.
// The socket stays open through A until B exists, and nothing can close a number the receiver is about to
// duplicate: A is released only after the receiver can no longer touch it.
import type * as http from 'node:http';
import type * as net from 'node:net';
import type * as stream from 'node:stream';

import { duplicateFd, WebSocketConnection, type WebSocketConnectionOptions } from './connection.js';
import { native } from './native.js';
import type { NegotiatedDeflate } from './permessage-deflate.js';
import { answerUpgrade, type UpgradeHandshakeOptions } from './server.js';
import { checkSocket, hasPlainFd, takeOverSocket } from './socket-handover.js';

/** Tags a SocketHandoffMessage, so a receiver can tell it from its other messages. */
export const HANDOFF_KIND = 'wslay:socket-handoff';

/** What the receiving thread may want to know of the upgrade request (the socket itself stays behind). */
export interface HandoffRequestInfo {
  url: string;
  headers: Record<string, string | string[] | undefined>;
  remoteAddress: string;
  remotePort: number;
  /** 'IPv4' or 'IPv6' ('' when unknown). */
  remoteFamily: string;
  localAddress: string;
  localPort: number;
}

/** The part of a SocketHandoff that crosses postMessage. */
export interface SocketHandoffMessage {
  readonly kind: typeof HANDOFF_KIND;
  /** Unique within the sending thread: the receiver echoes it back when it answers. */
  readonly id: number;
  /** The sender's copy of the socket fd; the receiver duplicates it and never closes it. */
  readonly fd: number;
  /** Bytes already read past the handshake (may be empty). */
  readonly head: Uint8Array;
  /** The subprotocol agreed in the handshake ('' for none). */
  readonly protocol: string;
  /** 'permessage-deflate' when negotiated, else ''. */
  readonly extensions: string;
  /** The negotiated permessage-deflate parameters, for the receiver's connection. */
  readonly perMessageDeflate: NegotiatedDeflate | undefined;
  readonly request: HandoffRequestInfo | undefined;
}

/** What the handshake agreed, carried along with the socket. */
export interface HandoffDetails {
  protocol?: string;
  perMessageDeflate?: NegotiatedDeflate;
  request?: HandoffRequestInfo;
}

let nextId = 1;

/**
 * An upgraded socket detached from Node, ready to be adopted by another thread. It owns its fd until release(),
 * which closes it exactly once (later calls do nothing). Release it when the receiver has answered (adopted or
 * refused), or once the receiving thread has exited, never before: the receiver duplicates the fd number.
 */
export class SocketHandoff {
  #fd: number;
  readonly message: SocketHandoffMessage;

  /** Takes ownership of `fd`, a connected stream socket; `head` is copied. */
  constructor(fd: number, head: Uint8Array | undefined, details: HandoffDetails = {}) {
    if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) throw new TypeError('fd must be a non-negative integer');
    this.#fd = fd;
    this.message = {
      kind: HANDOFF_KIND,
      id: nextId++,
      fd,
      // A copy: an upgrade's head is often a slice of Node's shared buffer pool.
      head: head ? new Uint8Array(head) : new Uint8Array(0),
      protocol: details.protocol ?? '',
      extensions: details.perMessageDeflate ? 'permessage-deflate' : '',
      perMessageDeflate: details.perMessageDeflate,
      request: details.request,
    };
  }

  /** The owned fd, or -1 once released. */
  get fd(): number {
    return this.#fd;
  }

  get head(): Uint8Array {
    return this.message.head;
  }

  get released(): boolean {
    return this.#fd < 0;
  }

  /** Closes this thread's copy of the socket. The peer sees the connection end only if no receiver holds one. */
  release(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    native.closeFd(fd);
  }
}

/** True for a SocketHandoffMessage (after a structured clone, too). */
export function isSocketHandoffMessage(value: unknown): value is SocketHandoffMessage {
  const m = value as Partial<SocketHandoffMessage> | null;
  return (
    typeof m === 'object' &&
    m !== null &&
    m.kind === HANDOFF_KIND &&
    typeof m.id === 'number' &&
    typeof m.fd === 'number' &&
    m.head instanceof Uint8Array
  );
}

/**
 * Detaches an upgraded socket (whose 101 response has been written) into a SocketHandoff, without creating a
 * connection on this thread: pending writes are flushed first, every byte Node already read joins `head`, and the
 * Node socket is destroyed without ending the TCP connection. Rejects when the socket closes first.
 */
export function detachSocket(
  socket: net.Socket,
  head: Uint8Array | undefined,
  details: HandoffDetails = {},
): Promise<SocketHandoff> {
  return new Promise((resolve, reject) => {
    takeOverSocket(socket, head, {
      attach(fd, bytes) {
        let own: number;
        try {
          own = native.dupSocketFd(fd);
        } catch (err) {
          reject(err);
          return;
        }
        resolve(new SocketHandoff(own, bytes, details));
      },
      abort: reject,
    });
  });
}

/** Options of the receiver's connection: everything but what the handoff itself decides. */
export type AdoptOptions = Omit<
  WebSocketConnectionOptions,
  'fd' | 'socket' | 'head' | 'type' | 'perMessageDeflate' | 'allowedRsv'
>;

/**
 * The receiving side: opens a server WebSocketConnection on this thread's loop from a handoff message, on a
 * duplicate of its fd, with the negotiated protocol and permessage-deflate. The caller must then tell the sender,
 * also when this throws (TypeError when the fd is not a socket, or bad options): the sender's copy is released on
 * that answer.
 */
export function adoptSocket(message: SocketHandoffMessage, options: AdoptOptions = {}): WebSocketConnection {
  if (!isSocketHandoffMessage(message)) throw new TypeError('not a socket handoff message');
  // Our copy of the fd is made by the connection as it attaches, so it has an owner from its first moment: a
  // thread stopped in the middle of this call (worker.terminate() while user code runs) leaves none behind.
  const connection = new WebSocketConnection({
    ...options,
    fd: message.fd,
    [duplicateFd]: true,
    head: message.head.length > 0 ? message.head : undefined,
    type: 'server',
    perMessageDeflate: message.perMessageDeflate,
  } as WebSocketConnectionOptions);
  connection.protocol = message.protocol;
  connection.extensions = message.extensions;
  return connection;
}

/** The handshake options of handleUpgrade; the connection options belong to the receiver (adoptSocket). */
export type UpgradeHandoffOptions = UpgradeHandshakeOptions;

/**
 * handleUpgrade for another thread: validates the request (bad ones get 400, or 426 for another version, and
 * resolve to undefined), negotiates the subprotocol and permessage-deflate, writes the 101 response and detaches
 * the socket into a SocketHandoff that carries what was agreed.
 */
export async function upgradeForHandoff(
  req: http.IncomingMessage,
  socket: stream.Duplex,
  head: Uint8Array,
  options: UpgradeHandoffOptions = {},
): Promise<SocketHandoff | undefined> {
  // Only a plain TCP/Unix socket can go to another thread: a TLS session lives in this thread's TLSSocket. Refused
  // (and destroyed) before anything is written.
  try {
    checkSocket(socket);
  } catch (err) {
    socket.destroy();
    throw hasPlainFd(socket) || !(socket as { encrypted?: boolean }).encrypted
      ? err
      : new TypeError(
          'a TLS socket cannot be handed to another thread (WorkerPool, upgradeForHandoff): serve wss connections ' +
            'on the main thread with handleUpgrade or WebSocketServer, or terminate TLS in front',
        );
  }
  const agreed = answerUpgrade(req, socket, options);
  if (!agreed) return undefined;
  const tcp = socket as net.Socket;
  // Read before the socket is destroyed by the detach.
  const info: HandoffRequestInfo = {
    url: req.url ?? '/',
    headers: { ...req.headers },
    remoteAddress: tcp.remoteAddress ?? '',
    remotePort: tcp.remotePort ?? 0,
    remoteFamily: tcp.remoteFamily ?? '',
    localAddress: tcp.localAddress ?? '',
    localPort: tcp.localPort ?? 0,
  };
  return detachSocket(tcp, head, { protocol: agreed.protocol, perMessageDeflate: agreed.deflate, request: info });
}
