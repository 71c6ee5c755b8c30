// The JS side of the stream transport (native/transport.h): a Duplex (a TLSSocket, or any stream) carries the
// WebSocket's bytes. Each 'data' chunk is fed to the native session in one call; what the session writes in one event
// comes back as one Buffer for socket.write(), whose callbacks tell the session the bytes have left (bufferedAmount,
// wait() and maxBackpressure count the Duplex's buffer); the session pauses and resumes the Duplex as it reads.
// 'end' is EOF (1006 when no close frame came), 'error' a socket error (its errno, or EPROTO for a TLS error).
import * as os from 'node:os';
import type * as stream from 'node:stream';

import type { NativeConnection } from './native.js';
import { checkSocket, hasPlainFd } from './socket-handover.js';

/** The native methods the stream transport drives (native/connection.h). */
export type StreamSession = Pick<NativeConnection, '_attachStream' | '_feed' | '_feedEnd' | '_written'>;

const EPROTO = os.constants.errno.EPROTO ?? 71;

function errnoOf(err: unknown): number {
  const errno = (err as { errno?: unknown } | null)?.errno;
  return typeof errno === 'number' && errno !== 0 ? Math.abs(errno) : EPROTO;
}

function noop(): void {}

/** Checks that `socket` can carry a stream transport; throws a TypeError naming the reason otherwise. */
export function checkStream(socket: unknown): asserts socket is stream.Duplex {
  const s = socket as Partial<stream.Duplex> | null;
  if (
    s === null ||
    typeof s !== 'object' ||
    typeof s.write !== 'function' ||
    typeof s.on !== 'function' ||
    typeof s.pause !== 'function' ||
    typeof s.resume !== 'function' ||
    typeof s.end !== 'function' ||
    typeof s.destroy !== 'function'
  ) {
    throw new TypeError('socket must be a net.Socket, a tls.TLSSocket or another stream.Duplex');
  }
  if (s.destroyed) throw new TypeError('socket is already destroyed');
}

/** The transport for `socket` (`forced`, or 'fd' for a plain net.Socket and 'stream' for any other Duplex), checked:
 *  a TypeError when the socket cannot carry it. */
export function chooseTransport(socket: unknown, forced: 'fd' | 'stream' | undefined): 'fd' | 'stream' {
  const transport = forced ?? (hasPlainFd(socket) ? 'fd' : 'stream');
  if (transport === 'fd') checkSocket(socket);
  else checkStream(socket);
  return transport;
}

/** Runs `session` over `socket`. After the session ends the Duplex is ended, and destroyed once its writes are
 *  out (or after `lingerMs`, for a peer that does not read them). */
export function attachStream(
  session: StreamSession,
  socket: stream.Duplex,
  head: Uint8Array | undefined,
  lingerMs: number,
): void {
  const onData = (chunk: Buffer | string): void => {
    session._feed(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  };
  const onEnd = (): void => session._feedEnd(0, false);
  const onError = (err: unknown): void => session._feedEnd(errnoOf(err), true);
  const onClose = (): void => session._feedEnd(0, true);
  const written = (): void => session._written();
  const detach = (): void => {
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', onError);
    socket.off('close', onClose);
    socket.on('error', noop);  // a late error (a reset while the last bytes leave) has nobody to tell
  };
  session._attachStream(
    head,
    // At least one gather buffer (64 KiB) per write: a smaller mark would cut big messages into many small writes.
    Math.max(socket.writableHighWaterMark || 0, 65536),
    (chunk) => {
      socket.write(chunk, written);
    },
    (reading) => {
      if (reading) socket.resume();
      else socket.pause();
    },
    () => {
      detach();
      if (socket.destroyed) return;
      const timer = setTimeout(() => socket.destroy(), lingerMs || 1);
      timer.unref();
      socket.end(() => {
        clearTimeout(timer);
        socket.destroy();
      });
    },
  );
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('error', onError);
  socket.on('close', onClose);
  socket.resume();  // a socket paused before (the client's handshake reader) flows again: the session reads now
}
