// RFC 6455 §5.2 frame encoding and incremental decoding, written to craft
// frames that a normal library refuses to build (bad RSV bits, reserved
// opcodes, non-minimal lengths, wrong masking).
import { randomBytes } from 'node:crypto';

export const Op = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

export const isControl = (opcode: number): boolean => (opcode & 0x8) !== 0;
export const isKnownOpcode = (opcode: number): boolean =>
  opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xa);

/** How the payload length is written: the minimal form, or forced to 7, 16 or 64 bits. */
export type LengthEncoding = 'minimal' | 7 | 16 | 64;

export interface FrameSpec {
  opcode: number;
  payload?: Buffer;
  fin?: boolean;
  /** RSV1..3 as a 3-bit number: 4 = RSV1, 2 = RSV2, 1 = RSV3. */
  rsv?: number;
  mask?: boolean;
  /** Fixed masking key; random when absent. */
  maskKey?: Buffer;
  length?: LengthEncoding;
  /** Length written in the header instead of the real one (only for the 64-bit form). */
  declaredLength?: bigint;
}

export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = spec.payload ?? Buffer.alloc(0);
  const len = payload.length;
  const enc = spec.length ?? 'minimal';
  const form = enc === 'minimal' ? (len < 126 ? 7 : len < 65536 ? 16 : 64) : enc;
  if (form === 7 && len > 125) throw new Error(`payload of ${len} bytes does not fit a 7-bit length`);
  if (form === 16 && len > 0xffff) throw new Error(`payload of ${len} bytes does not fit a 16-bit length`);
  const extra = form === 7 ? 0 : form === 16 ? 2 : 8;
  const mask = spec.mask ?? false;
  const header = Buffer.alloc(2 + extra + (mask ? 4 : 0));
  header[0] = ((spec.fin ?? true) ? 0x80 : 0) | (((spec.rsv ?? 0) & 0x7) << 4) | (spec.opcode & 0xf);
  header[1] = (mask ? 0x80 : 0) | (form === 7 ? len : form === 16 ? 126 : 127);
  if (form === 16) header.writeUInt16BE(len, 2);
  if (form === 64) header.writeBigUInt64BE(spec.declaredLength ?? BigInt(len), 2);
  if (!mask) return Buffer.concat([header, payload]);
  const key = spec.maskKey ?? randomBytes(4);
  key.copy(header, 2 + extra);
  return Buffer.concat([header, applyMask(payload, key)]);
}

/** XORs with the 4-byte key into a new buffer (masking and unmasking are the same). */
export function applyMask(data: Buffer, key: Buffer): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  const k0 = key[0]!, k1 = key[1]!, k2 = key[2]!, k3 = key[3]!;
  const n = data.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    out[i] = data[i]! ^ k0;
    out[i + 1] = data[i + 1]! ^ k1;
    out[i + 2] = data[i + 2]! ^ k2;
    out[i + 3] = data[i + 3]! ^ k3;
  }
  for (; i < n; i++) out[i] = data[i]! ^ key[i & 3]!;
  return out;
}

export function closeBody(code?: number, reason: Buffer | string = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const r = typeof reason === 'string' ? Buffer.from(reason) : reason;
  const body = Buffer.alloc(2 + r.length);
  body.writeUInt16BE(code, 0);
  r.copy(body, 2);
  return body;
}

/** Close codes a peer may send on the wire (RFC 6455 §7.4, IANA registry incl. 1012–1014). */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999);
}

export interface DecodedFrame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
  /** The length field used more bytes than needed (a MUST violation by the sender). */
  nonMinimalLength: boolean;
}

/**
 * Incremental decoder: feed whatever TCP delivers, get whole frames back.
 * Chunks are kept in a list and joined once per frame so a 16 MiB frame that
 * arrives in 64 KiB reads costs one copy, not one per read.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private maxFrame: number;

  constructor(maxFrame = 64 * 1024 * 1024) {
    this.maxFrame = maxFrame;
  }

  push(chunk: Buffer): DecodedFrame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: DecodedFrame[] = [];
    for (;;) {
      const frame = this.tryFrame();
      if (!frame) return frames;
      frames.push(frame);
    }
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!.subarray(0, n);
    const all = Buffer.concat(this.chunks);
    this.chunks = [all];
    return all.subarray(0, n);
  }

  private take(n: number): Buffer {
    const out = n === 0 ? Buffer.alloc(0) : this.peek(n);
    let left = n;
    while (left > 0) {
      const head = this.chunks[0]!;
      if (head.length <= left) {
        this.chunks.shift();
        left -= head.length;
      } else {
        this.chunks[0] = head.subarray(left);
        left = 0;
      }
    }
    this.buffered -= n;
    // peek() may have returned a view into a buffer we keep using; copy to detach.
    return Buffer.from(out);
  }

  private tryFrame(): DecodedFrame | null {
    if (this.buffered < 2) return null;
    const h = this.peek(2);
    const b0 = h[0]!, b1 = h[1]!;
    const masked = (b1 & 0x80) !== 0;
    const len7 = b1 & 0x7f;
    const extra = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
    const headerLen = 2 + extra + (masked ? 4 : 0);
    if (this.buffered < headerLen) return null;
    const header = this.peek(headerLen);
    let len = len7;
    let nonMinimal = false;
    if (len7 === 126) {
      len = header.readUInt16BE(2);
      nonMinimal = len < 126;
    } else if (len7 === 127) {
      const big = header.readBigUInt64BE(2);
      if (big > BigInt(this.maxFrame)) throw new Error(`frame length ${big} exceeds the decoder limit`);
      len = Number(big);
      nonMinimal = len < 65536;
    }
    if (this.buffered < headerLen + len) return null;
    const hdr = this.take(headerLen);
    let payload = this.take(len);
    if (masked) payload = applyMask(payload, hdr.subarray(2 + extra, 6 + extra));
    return {
      fin: (b0 & 0x80) !== 0,
      rsv: (b0 >> 4) & 0x7,
      opcode: b0 & 0xf,
      masked,
      payload,
      nonMinimalLength: nonMinimal,
    };
  }
}
