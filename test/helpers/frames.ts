// RFC 6455 §5.2 frames built and parsed by hand, for crafted input and for checking exactly what went on the wire.
import { randomBytes } from 'node:crypto';

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  /** wslay's numbering: 4 = RSV1, 2 = RSV2, 1 = RSV3. */
  rsv?: number;
  /** true: a random key; a Buffer: that 4-byte key; false/undefined: unmasked. */
  mask?: boolean | Buffer;
  /** Announce this payload length instead of the real one (for truncated frames). */
  declaredLength?: number;
}

export function encodeFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const length = spec.declaredLength ?? payload.length;
  const key = spec.mask === true ? randomBytes(4) : spec.mask || undefined;
  const header: number[] = [((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | spec.opcode];
  const maskBit = key ? 0x80 : 0;
  if (length < 126) {
    header.push(maskBit | length);
  } else if (length < 65536) {
    header.push(maskBit | 126, length >> 8, length & 0xff);
  } else {
    const big = Buffer.alloc(8);
    big.writeBigUInt64BE(BigInt(length));
    header.push(maskBit | 127, ...big);
  }
  if (!key) return Buffer.concat([Buffer.from(header), payload]);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(header), key, masked]);
}

/** A client's frame (masked, as servers require). */
export function clientFrame(opcode: number, payload: Buffer | string = Buffer.alloc(0), fin = true): Buffer {
  return encodeFrame({ opcode, payload, fin, mask: true });
}

export function closePayload(code?: number, reason = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const body = Buffer.alloc(2 + Buffer.byteLength(reason));
  body.writeUInt16BE(code, 0);
  body.write(reason, 2);
  return body;
}

export interface Frame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  maskKey?: Buffer;
  /** Unmasked. */
  payload: Buffer;
}

/** Incremental parser: push bytes as they arrive, frames come out whole. Chunks are joined only once a whole
 *  frame is there, so multi-MiB frames cost linear time. */
export class FrameParser {
  #chunks: Buffer[] = [];
  #total = 0;
  readonly frames: Frame[] = [];

  push(chunk: Buffer): Frame[] {
    if (chunk.length) {
      this.#chunks.push(chunk);
      this.#total += chunk.length;
    }
    const out: Frame[] = [];
    for (;;) {
      const frame = this.#next();
      if (!frame) break;
      out.push(frame);
      this.frames.push(frame);
    }
    return out;
  }

  /** The first `n` bytes (n <= total) as one Buffer, joined in place. */
  #front(n: number): Buffer {
    if (this.#chunks[0].length < n) {
      let count = 0;
      for (let have = 0; have < n; count++) have += this.#chunks[count].length;
      this.#chunks.splice(0, count, Buffer.concat(this.#chunks.slice(0, count)));
    }
    return this.#chunks[0];
  }

  #next(): Frame | undefined {
    if (this.#total < 2) return undefined;
    const head = this.#front(Math.min(this.#total, 14));
    const masked = (head[1] & 0x80) !== 0;
    let length = head[1] & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (head.length < 4) return undefined;
      length = head.readUInt16BE(2);
      offset = 4;
    } else if (length === 127) {
      if (head.length < 10) return undefined;
      length = Number(head.readBigUInt64BE(2));
      offset = 10;
    }
    const keyEnd = offset + (masked ? 4 : 0);
    const size = keyEnd + length;
    if (this.#total < size) return undefined;
    const buf = this.#front(size);
    const maskKey = masked ? Buffer.from(buf.subarray(offset, keyEnd)) : undefined;
    const payload = Buffer.from(buf.subarray(keyEnd, size));
    if (maskKey) for (let i = 0; i < payload.length; i++) payload[i] ^= maskKey[i & 3];
    if (buf.length === size) this.#chunks.shift();
    else this.#chunks[0] = buf.subarray(size);
    this.#total -= size;
    return { fin: (buf[0] & 0x80) !== 0, rsv: (buf[0] >> 4) & 7, opcode: buf[0] & 0x0f, masked, maskKey, payload };
  }
}

/** The code of a close frame's payload, or undefined when it has none. */
export function closeCode(frame: Frame): number | undefined {
  return frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : undefined;
}
