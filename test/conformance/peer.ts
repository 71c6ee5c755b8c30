// One WebSocket connection after the handshake, seen from our crafted end.
// The same class plays the client (against a server under test) or the server
// (against a client under test); `side` names the implementation under test.
// It sends whatever bytes a case asks for and turns what the other end sends
// into an ordered list of events, checking that other end's frames as it goes.
import type { Socket } from 'node:net';
import { isUtf8 } from 'node:buffer';
import { DeflateCodec } from './deflate-codec.js';
import { FrameDecoder, Op, closeBody, encodeFrame, isControl, isKnownOpcode, isValidCloseCode } from './frame-codec.js';
import type { DecodedFrame, FrameSpec } from './frame-codec.js';

export type Side = 'server' | 'client';

export type PeerEvent =
  | { type: 'message'; opcode: number; data: Buffer; frames: number; compressed: boolean; at: number }
  | { type: 'ping'; data: Buffer; at: number }
  | { type: 'pong'; data: Buffer; at: number }
  | { type: 'close'; code: number | null; reason: Buffer; at: number }
  /** TCP FIN from the other end (or the socket closed without an error). */
  | { type: 'end'; at: number }
  /** TCP reset or write error. */
  | { type: 'reset'; error: string; at: number }
  /** The implementation under test sent something RFC 6455/7692 forbids. */
  | { type: 'violation'; reason: string; at: number };

type WriteCb = (err?: Error | null) => void;
interface StreamWriteHooks {
  _write(chunk: Buffer, encoding: BufferEncoding, cb: WriteCb): void;
  _writev?(chunks: { chunk: Buffer; encoding: BufferEncoding }[], cb: WriteCb): void;
}

/**
 * When the implementation fails the connection while we are still sending, it
 * often closes with our bytes unread, so its kernel answers with RST and our
 * next write gets EPIPE. Node would then destroy the socket and drop the close
 * frame already sitting in our receive buffer. Swallowing write errors keeps
 * the readable side alive so that close frame (and then EOF/RST) is still seen.
 */
function keepReadingAfterWriteErrors(socket: Socket): void {
  const hooks = socket as unknown as StreamWriteHooks;
  const write = hooks._write;
  const writev = hooks._writev;
  hooks._write = (chunk, encoding, cb) => write.call(socket, chunk, encoding, () => cb());
  if (writev) hooks._writev = (chunks, cb) => writev.call(socket, chunks, () => cb());
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Peer {
  readonly side: Side;
  readonly socket: Socket;
  /** Set when permessage-deflate was agreed in the handshake. */
  readonly deflate: DeflateCodec | null;
  private decoder = new FrameDecoder();
  private events: PeerEvent[] = [];
  private waiter: (() => void) | null = null;
  private tcpDone = false;
  private message: { opcode: number; parts: Buffer[]; frames: number; compressed: boolean } | null = null;
  private closeSeen = false;
  /** How many data messages arrived with RSV1 (compressed), for reporting. */
  compressedReceived = 0;
  private closeSent = false;

  constructor(side: Side, socket: Socket, deflate: DeflateCodec | null, leftover: Buffer) {
    this.side = side;
    this.socket = socket;
    this.deflate = deflate;
    socket.setNoDelay(true);
    keepReadingAfterWriteErrors(socket);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.finish({ type: 'end', at: Date.now() }));
    socket.on('error', (err: NodeJS.ErrnoException) => this.finish({ type: 'reset', error: err.code ?? err.message, at: Date.now() }));
    socket.on('close', () => this.finish({ type: 'end', at: Date.now() }));
    if (leftover.length > 0) this.onData(leftover);
  }

  /** Frames we send are masked exactly when we play the client. */
  get masks(): boolean {
    return this.side === 'server';
  }

  get closed(): boolean {
    return this.tcpDone;
  }

  // ---- sending ---------------------------------------------------------

  frame(spec: FrameSpec): Buffer {
    return encodeFrame({ mask: this.masks, ...spec });
  }

  write(bytes: Buffer): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(bytes);
  }

  send(spec: FrameSpec): void {
    if (spec.opcode === Op.close) this.closeSent = true;
    this.write(this.frame(spec));
  }

  sendClose(code?: number, reason: Buffer | string = ''): void {
    this.send({ opcode: Op.close, payload: closeBody(code, reason) });
  }

  /** Sends a data message, compressed with RSV1 when `compress` (needs deflate), split into `fragmentSize` frames. */
  sendMessage(opcode: number, data: Buffer, opts: { compress?: boolean; fragmentSize?: number } = {}): void {
    let payload = data;
    if (opts.compress) {
      if (!this.deflate) throw new Error('permessage-deflate was not negotiated');
      payload = this.deflate.compress(data);
    }
    const size = opts.fragmentSize ?? Math.max(payload.length, 1);
    const frames: Buffer[] = [];
    let off = 0;
    do {
      const piece = payload.subarray(off, off + size);
      const first = off === 0;
      off += piece.length;
      frames.push(this.frame({
        opcode: first ? opcode : Op.continuation,
        payload: piece,
        fin: off >= payload.length,
        rsv: first && opts.compress ? 4 : 0,
      }));
    } while (off < payload.length);
    this.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }

  /**
   * Writes `bytes` in pieces of `size` with `delayMs` between them. Delay 0
   * still yields to the event loop (setImmediate, not a ~1 ms timer) so each
   * piece goes out as its own write without making big chopped sends slow.
   */
  async writeChopped(bytes: Buffer, size: number, delayMs: number): Promise<void> {
    for (let off = 0; off < bytes.length && !this.tcpDone; off += size) {
      this.write(bytes.subarray(off, off + size));
      if (off + size >= bytes.length) break;
      if (delayMs > 0) await sleep(delayMs);
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  endTcp(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  // ---- receiving -------------------------------------------------------

  /** Next event, or null after `timeoutMs`. After the TCP connection is gone it keeps returning `end`. */
  async next(timeoutMs: number): Promise<PeerEvent | null> {
    const deadline = Date.now() + Math.max(0, timeoutMs);
    for (;;) {
      const ev = this.events.shift();
      if (ev) return ev;
      if (this.tcpDone) return { type: 'end', at: Date.now() };
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, left);
        function done(): void {
          clearTimeout(t);
          resolve();
        }
        this.waiter = done;
      });
      this.waiter = null;
    }
  }

  /** Returns an event taken with next() to the front of the queue. */
  putBack(ev: PeerEvent): void {
    this.events.unshift(ev);
  }

  private push(ev: PeerEvent): void {
    this.events.push(ev);
    this.waiter?.();
  }

  private finish(ev: PeerEvent): void {
    if (this.tcpDone) return;
    this.tcpDone = true;
    this.push(ev);
  }

  private onData(chunk: Buffer): void {
    let frames: DecodedFrame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.violation(`undecodable frame: ${(err as Error).message}`);
      return;
    }
    for (const f of frames) this.onFrame(f);
  }

  private violation(reason: string): void {
    this.push({ type: 'violation', reason: `${this.side} ${reason}`, at: Date.now() });
  }

  /** Checks one frame from the implementation under test and turns it into events. */
  private onFrame(f: DecodedFrame): void {
    const at = Date.now();
    if (this.closeSeen) return this.violation(`sent a frame (opcode ${f.opcode}) after its close frame`);
    if (f.masked !== (this.side === 'client')) {
      return this.violation(f.masked ? 'sent a masked frame' : 'sent an unmasked frame');
    }
    if (f.nonMinimalLength) return this.violation('used a non-minimal payload length encoding');
    if (!isKnownOpcode(f.opcode)) return this.violation(`used reserved opcode ${f.opcode}`);
    const rsv1Allowed = this.deflate !== null && (f.opcode === Op.text || f.opcode === Op.binary);
    if ((f.rsv & 3) !== 0 || ((f.rsv & 4) !== 0 && !rsv1Allowed)) return this.violation(`set RSV bits ${f.rsv} without an extension allowing them`);
    if (isControl(f.opcode)) {
      if (!f.fin) return this.violation('fragmented a control frame');
      if (f.payload.length > 125) return this.violation('sent a control frame longer than 125 bytes');
      if (f.opcode === Op.ping) return this.push({ type: 'ping', data: f.payload, at });
      if (f.opcode === Op.pong) return this.push({ type: 'pong', data: f.payload, at });
      return this.onClose(f.payload, at);
    }
    if (f.opcode === Op.continuation) {
      if (!this.message) return this.violation('sent a continuation frame without a message to continue');
    } else {
      if (this.message) return this.violation('started a new data message inside a fragmented one');
      this.message = { opcode: f.opcode, parts: [], frames: 0, compressed: (f.rsv & 4) !== 0 };
    }
    const m = this.message!;
    m.parts.push(f.payload);
    m.frames++;
    if (!f.fin) return;
    this.message = null;
    let data = m.parts.length === 1 ? m.parts[0]! : Buffer.concat(m.parts);
    if (m.compressed) {
      try {
        data = this.deflate!.decompress(data);
      } catch (err) {
        return this.violation(`sent a compressed message that does not inflate: ${(err as Error).message}`);
      }
    }
    if (m.compressed) this.compressedReceived++;
    this.push({ type: 'message', opcode: m.opcode, data, frames: m.frames, compressed: m.compressed, at });
  }

  private onClose(body: Buffer, at: number): void {
    this.closeSeen = true;
    if (body.length === 1) return this.violation('sent a close frame with a 1-byte body');
    const code = body.length >= 2 ? body.readUInt16BE(0) : null;
    const reason = body.subarray(2);
    if (code !== null && !isValidCloseCode(code)) return this.violation(`sent invalid close code ${code}`);
    if (!isUtf8(reason)) return this.violation('sent a close reason that is not UTF-8');
    this.push({ type: 'close', code, reason, at });
  }

  /** True once we have written a close frame. */
  get sentClose(): boolean {
    return this.closeSent;
  }
}
