// Takes the file descriptor of a Node net.Socket (after an HTTP upgrade, or from net.connect) for a connection:
// wait for its pending writes (the 101 response) to flush, stop Node reading it, collect every byte Node already
// read, duplicate the fd, then destroy the Node socket without ending the TCP connection (destroy closes Node's
// descriptor only; end() would send FIN).
import * as net from 'node:net';

interface StreamHandle {
  fd?: number;
  readStop?: () => number;
  reading?: boolean;
}

/** Where a socket's bytes and descriptor go once it can be taken. */
export interface SocketTaker {
  attach(fd: number, bytes: Buffer | undefined): void;
  abort(error: Error): void;
}

function handleOf(socket: net.Socket): StreamHandle | undefined {
  return (socket as unknown as { _handle?: StreamHandle })._handle;
}

function stopNodeReading(socket: net.Socket): void {
  socket.pause();
  const handle = handleOf(socket);
  if (handle && typeof handle.readStop === 'function') {
    handle.reading = false;
    handle.readStop();
  }
}

// libuv's TCP and pipe handles: only their fd carries the WebSocket's bytes as they are. A TLS socket's handle
// (TLSWrap) also has an fd, the TCP one under the encryption: writing frames there would send them in clear.
const PLAIN_HANDLES = new Set(['TCP', 'Pipe']);

/** Whether `socket` is a plain TCP or Unix net.Socket whose fd carries the bytes as they are (the fd transport). */
export function hasPlainFd(socket: unknown): socket is net.Socket {
  if (!(socket instanceof net.Socket) || (socket as { encrypted?: boolean }).encrypted) return false;
  const name = handleOf(socket)?.constructor?.name;
  return name !== undefined && PLAIN_HANDLES.has(name);
}

/** Checks that `socket` can be handed over; throws a TypeError naming the reason otherwise. */
export function checkSocket(socket: unknown): asserts socket is net.Socket {
  if (!(socket instanceof net.Socket)) throw new TypeError('socket must be a net.Socket');
  const handle = handleOf(socket);
  if ((socket as { encrypted?: boolean }).encrypted || handle?.constructor?.name === 'TLSWrap') {
    throw new TypeError(
      "a TLS socket has no fd that carries the WebSocket's bytes: it runs on the stream transport " +
        "(transport: 'stream'), on the thread that owns it",
    );
  }
  if (socket.destroyed) throw new TypeError('socket is already destroyed');
  if (handle && !PLAIN_HANDLES.has(handle.constructor?.name ?? '')) {
    throw new TypeError('only a TCP or Unix socket can be handed over (this one is not backed by its own fd)');
  }
  if (!socket.connecting && (!handle || typeof handle.fd !== 'number' || handle.fd < 0)) {
    throw new TypeError('socket has no file descriptor (only TCP and Unix sockets on Unix systems can be handed over)');
  }
}

/**
 * Hands `socket` to `taker` once it can be taken: at once when nothing is pending, else when it has connected and
 * flushed its pending writes. A peer that never reads the 101 response would hold it forever: after `timeoutMs`
 * the socket is destroyed and `taker.abort` called. Exactly one of `attach` and `abort` is called, never from a
 * throw: an `attach` that throws (no descriptor left for a copy, EMFILE) is followed by `abort`, at once or later
 * alike. Returns a function that cancels a takeover still waiting (the socket is destroyed, neither is called), or
 * undefined when it is already done.
 */
export function takeOverSocket(
  socket: net.Socket,
  head: Uint8Array | undefined,
  taker: SocketTaker,
  timeoutMs = 10_000,
): (() => void) | undefined {
  checkSocket(socket);
  stopNodeReading(socket);

  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    cleanup();
    const chunks: Buffer[] = head && head.length ? [Buffer.from(head.buffer, head.byteOffset, head.byteLength)] : [];
    // read() may ask the handle to read again; nothing is read before the loop polls, and readStop follows.
    for (let chunk = socket.read(); chunk !== null; chunk = socket.read()) {
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    }
    stopNodeReading(socket);
    const handle = handleOf(socket);
    if (!handle || typeof handle.fd !== 'number' || handle.fd < 0) {
      taker.abort(new Error('the socket closed before it could be handed over'));
      return;
    }
    try {
      taker.attach(handle.fd, chunks.length === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    } catch (err) {
      taker.abort(err instanceof Error ? err : new Error(String(err)));
    } finally {
      socket.destroy();
    }
  };
  const fail = (err?: Error): void => {
    if (done) return;
    done = true;
    cleanup();
    taker.abort(err ?? new Error('the socket closed before it could be handed over'));
    socket.destroy();
  };
  const onClose = (): void => fail();
  let timer: NodeJS.Timeout | undefined;
  const cleanup = (): void => {
    if (timer) clearTimeout(timer);
    socket.off('error', fail);
    socket.off('close', onClose);
    socket.off('connect', whenConnected);
  };
  const whenConnected = (): void => {
    stopNodeReading(socket);
    if (socket.writableLength > 0) {
      // The callback of an empty write runs once every earlier write has reached the kernel.
      socket.write(Buffer.alloc(0), (err) => (err ? fail(err) : finish()));
    } else {
      finish();
    }
  };

  if (!socket.connecting && socket.writableLength === 0) {
    finish();
    return undefined;
  }
  socket.on('error', fail);
  socket.on('close', onClose);
  timer = setTimeout(() => fail(new Error(`the socket was not ready within ${timeoutMs} ms`)), timeoutMs);
  if (socket.connecting) socket.once('connect', whenConnected);
  else whenConnected();
  return () => {
    if (done) return;
    done = true;
    cleanup();
    socket.destroy();
  };
}
