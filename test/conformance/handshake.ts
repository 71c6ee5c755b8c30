// HTTP/1.1 upgrade pieces shared by the raw client and the crafted server (RFC 6455 §4).
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

export interface HttpHead {
  /** Request line or status line. */
  startLine: string;
  headers: Map<string, string>;
  /** Bytes that arrived after the blank line: the first WebSocket frames. */
  rest: Buffer;
}

/** Reads one HTTP head (up to CRLFCRLF) from the socket, bounded in size and time. */
export function readHttpHead(socket: Socket, timeoutMs: number): Promise<HttpHead> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new Error(`no HTTP head within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > 16384) fail(new Error('HTTP head larger than 16 KiB'));
        return;
      }
      cleanup();
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        // Repeated headers are joined as HTTP allows for list-valued fields.
        headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
      }
      resolve({ startLine: lines[0] ?? '', headers, rest: buf.subarray(end + 4) });
    };
    const onEnd = (): void => fail(new Error('connection closed during the handshake'));
    const onError = (err: Error): void => fail(err);
    function cleanup(): void {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
    }
    function fail(err: Error): void {
      cleanup();
      reject(err);
    }
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
  });
}
