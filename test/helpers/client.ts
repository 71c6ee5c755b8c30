// The client side, handshake done by hand over net.connect: a raw socket (for crafted frames) or our own
// WebSocketConnection of type 'client'.
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';

import { acceptKey } from '../../src/index.js';
import { trackedConnection, type ConnectionOptions, type Endpoint } from './endpoint.js';
import { within } from './wait.js';

export interface Handshaken {
  socket: net.Socket;
  /** Bytes that arrived after the 101 response's header block. */
  head: Buffer;
}

/**
 * Connects, sends an upgrade request (with `extra` bytes in the same write), and resolves once a valid 101 has
 * arrived. The socket is left paused, with no listeners, so it can be handed over.
 */
export function clientHandshake(port: number, extra?: Buffer, path = '/'): Promise<Handshaken> {
  const key = randomBytes(16).toString('base64');
  const request =
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
  const done = new Promise<Handshaken>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    const fail = (err: Error): void => {
      socket.destroy();
      reject(err);
    };
    socket.on('error', fail);
    socket.once('connect', () => socket.write(extra ? Buffer.concat([Buffer.from(request), extra]) : request));
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.pause();
      socket.off('data', onData);
      socket.off('error', fail);
      const header = received.subarray(0, end).toString('latin1');
      if (!/^HTTP\/1\.1 101 /.test(header)) return fail(new Error(`handshake refused: ${header.split('\r\n')[0]}`));
      const accept = /^sec-websocket-accept:\s*(\S+)/im.exec(header)?.[1];
      if (accept !== acceptKey(key)) return fail(new Error('wrong Sec-WebSocket-Accept'));
      resolve({ socket, head: received.subarray(end + 4) });
    };
    socket.on('data', onData);
  });
  return within(done, 5000, 'the client handshake');
}

/** Our client: handshake by hand, then the socket (and any bytes past the 101) go to a WebSocketConnection. */
export async function connectClient(port: number, options: ConnectionOptions = {}, extra?: Buffer): Promise<Endpoint> {
  const { socket, head } = await clientHandshake(port, extra);
  return trackedConnection({ ...options, type: 'client', socket, head });
}
