// A WebSocket client written from RFC 6455/7692 for testing servers: it does the
// upgrade (optionally offering permessage-deflate) and hands back a Peer that
// can send any bytes and reports everything the server does.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import * as tls from 'node:tls';
import { DeflateCodec, clientParamsFromResponse, parseExtensions } from './deflate-codec.js';
import { acceptKey, readHttpHead } from './handshake.js';
import { Peer } from './peer.js';

export interface Target {
  host: string;
  port: number;
  path?: string;
  /** Speak TLS (wss) with these node:tls options, e.g. { ca, servername }. */
  tls?: tls.ConnectionOptions;
}

export interface ClientOptions {
  /** Sec-WebSocket-Extensions value to offer, e.g. 'permessage-deflate; client_max_window_bits'. */
  extensions?: string;
  timeoutMs?: number;
}

export class HandshakeError extends Error {}

function openSocket(target: Target, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = target.tls ? tls.connect({ ...target.tls, host: target.host, port: target.port })
      : connect({ host: target.host, port: target.port });
    const connected = target.tls ? 'secureConnect' : 'connect';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new HandshakeError(`TCP connect timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once(connected, () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new HandshakeError(`${target.tls ? 'TLS' : 'TCP'} connect failed: ${err.message}`));
    });
  });
}

/** Connects and upgrades; rejects with HandshakeError when the server's answer is not a valid 101. */
export async function connectRawClient(target: Target, opts: ClientOptions = {}): Promise<Peer> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const socket = await openSocket(target, timeoutMs);
  try {
    const key = randomBytes(16).toString('base64');
    const lines = [
      `GET ${target.path ?? '/'} HTTP/1.1`,
      `Host: ${target.host}:${target.port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${key}`,
      'Sec-WebSocket-Version: 13',
    ];
    if (opts.extensions) lines.push(`Sec-WebSocket-Extensions: ${opts.extensions}`);
    socket.write(lines.join('\r\n') + '\r\n\r\n');
    const head = await readHttpHead(socket, timeoutMs);
    if (!/^HTTP\/1\.1 101\b/.test(head.startLine)) throw new HandshakeError(`expected 101, got "${head.startLine}"`);
    if (head.headers.get('upgrade')?.toLowerCase() !== 'websocket') throw new HandshakeError('101 without Upgrade: websocket');
    if (!/\bupgrade\b/i.test(head.headers.get('connection') ?? '')) throw new HandshakeError('101 without Connection: Upgrade');
    if (head.headers.get('sec-websocket-accept') !== acceptKey(key)) throw new HandshakeError('wrong Sec-WebSocket-Accept');
    let codec: DeflateCodec | null = null;
    const accepted = parseExtensions(head.headers.get('sec-websocket-extensions') ?? '');
    if (accepted.length > 0) {
      const offered = parseExtensions(opts.extensions ?? '');
      if (accepted.length > 1) throw new HandshakeError('more than one extension accepted');
      const offer = offered.find((o) => o.name === accepted[0]!.name);
      if (!offer || accepted[0]!.name !== 'permessage-deflate') {
        throw new HandshakeError(`server accepted extension "${accepted[0]!.name}" that was not offered`);
      }
      // With several offers the server accepts one; check against the most permissive of them.
      const candidates = offered.filter((o) => o.name === 'permessage-deflate');
      let params: ReturnType<typeof clientParamsFromResponse> = 'no offer';
      for (const o of candidates) {
        params = clientParamsFromResponse(accepted[0]!, o);
        if (typeof params !== 'string') break;
      }
      if (typeof params === 'string') throw new HandshakeError(`invalid permessage-deflate response: ${params}`);
      codec = new DeflateCodec(params);
    }
    return new Peer('server', socket, codec, head.rest);
  } catch (err) {
    socket.destroy();
    throw err;
  }
}
