// A peer that speaks frames by hand on a plain net.Socket: it sends exactly the bytes a test crafts and records
// exactly the frames that arrive, so tests can check masking, fragmentation and close codes on the wire.
import { createHash } from 'node:crypto';
import * as net from 'node:net';

import { clientHandshake } from './client.js';
import { FrameParser, type Frame } from './frames.js';
import { upgradeResponse } from './server.js';
import { waitFor, within } from './wait.js';

export class RawPeer {
  readonly parser = new FrameParser();
  /** Set when the TCP connection ended (FIN or reset). */
  ended = false;
  error?: Error;
  readonly endedPromise: Promise<void>;

  constructor(
    readonly socket: net.Socket,
    head: Buffer = Buffer.alloc(0),
    { read = true }: { read?: boolean } = {},
  ) {
    if (head.length) this.parser.push(head);
    let settle!: () => void;
    this.endedPromise = new Promise<void>((resolve) => (settle = resolve));
    socket.on('data', (chunk: Buffer) => this.parser.push(chunk));
    socket.on('error', (err) => (this.error = err));
    socket.on('close', () => {
      this.ended = true;
      settle();
    });
    if (read) socket.resume();
    else socket.pause();
  }

  get frames(): Frame[] {
    return this.parser.frames;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  async waitFrames(count: number, timeout = 5000): Promise<Frame[]> {
    await waitFor(() => this.frames.length >= count, timeout, `${count} frame(s) (have ${this.frames.length})`);
    return this.frames;
  }

  /** The first close frame that arrives; undefined if the connection ends without one. */
  async waitClose(timeout = 5000): Promise<Frame | undefined> {
    const find = (): Frame | undefined => this.frames.find((f) => f.opcode === 8);
    await waitFor(() => find() !== undefined || this.ended, timeout, 'a close frame or the end of the connection');
    return find();
  }

  waitEnd(timeout = 5000): Promise<void> {
    return within(this.endedPromise, timeout, 'the TCP connection to end');
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A raw client connected to `port` (an upgrade server), with `extra` sent in the same write as the request. */
export async function rawClient(port: number, extra?: Buffer, options?: { read?: boolean }): Promise<RawPeer> {
  const { socket, head } = await clientHandshake(port, extra);
  return new RawPeer(socket, head, options);
}

export interface RawServer {
  port: number;
  peers: RawPeer[];
  nextPeer(timeout?: number): Promise<RawPeer>;
  stop(): Promise<void>;
}

/**
 * A plain TCP server that answers an upgrade request by hand and then talks raw frames (for testing our client).
 * `afterResponse` bytes go out in the same write as the 101 response.
 */
export async function startRawServer(afterResponse?: () => Buffer): Promise<RawServer> {
  const peers: RawPeer[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const key = /^sec-websocket-key:\s*(\S+)/im.exec(received.subarray(0, end).toString('latin1'))?.[1] ?? '';
      const extra = afterResponse?.() ?? Buffer.alloc(0);
      socket.write(Buffer.concat([Buffer.from(upgradeResponse(key)), extra]));
      peers.push(new RawPeer(socket, received.subarray(end + 4)));
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let taken = 0;
  return {
    port: (server.address() as net.AddressInfo).port,
    peers,
    /** The next connection not yet taken by an earlier call. */
    async nextPeer(timeout = 5000) {
      const index = taken++;
      await waitFor(() => peers.length > index, timeout, 'a raw server connection');
      return peers[index];
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function sha1(data: Buffer): string {
  return createHash('sha1').update(data).digest('hex');
}
