// Frames no honest peer sends, built byte by byte: headers that claim more than will ever come, and compressed
// payloads (permessage-deflate, RFC 7692) for bombs and garbage.
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';

/** A masked frame header announcing `length` (a bigint: up to 2^64 - 1), with no payload after it. */
export function headerClaiming(opcode: number, length: bigint, { fin = true, rsv = 0 } = {}): Buffer {
  const header = Buffer.alloc(2 + 8 + 4);
  header[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(length, 2);
  randomBytes(4).copy(header, 10);
  return header;
}

/**
 * `total` bytes of zeros deflated the way permessage-deflate sends a message (sync flush, the trailing
 * 00 00 ff ff removed), produced from one reused chunk so the test process never holds the whole input.
 */
export async function deflatedZeros(total: number, chunk = 1024 * 1024): Promise<Buffer> {
  const deflate = zlib.createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  deflate.on('data', (c: Buffer) => out.push(c));
  const zeros = Buffer.alloc(chunk);
  for (let written = 0; written < total; written += chunk) {
    if (!deflate.write(zeros)) await new Promise((resolve) => deflate.once('drain', resolve));
  }
  await new Promise<void>((resolve) => deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
  deflate.close();
  const all = Buffer.concat(out);
  if (!all.subarray(-4).equals(Buffer.from([0, 0, 0xff, 0xff]))) throw new Error('no sync-flush trailer');
  return all.subarray(0, -4);
}

/** permessage-deflate as negotiated with default parameters, for a connection configured by hand. */
export const DEFAULT_DEFLATE = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
  level: 6,
  memLevel: 8,
  threshold: 1024,
};

/**
 * One permessage-deflate message (RFC 7692) as the payloads of its frames: each part of `parts` is compressed and
 * sync-flushed on its own, so frame i inflates to exactly parts[i]; the last payload drops the 00 00 ff ff trailer.
 */
export async function deflatedFrames(parts: Buffer[]): Promise<Buffer[]> {
  const deflate = zlib.createDeflateRaw();
  const out: Buffer[] = [];
  for (const part of parts) {
    const chunks: Buffer[] = [];
    const collect = (c: Buffer) => chunks.push(c);
    deflate.on('data', collect);
    deflate.write(part);
    await new Promise<void>((resolve) => deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    deflate.off('data', collect);
    out.push(Buffer.concat(chunks));
  }
  deflate.close();
  out[out.length - 1] = out[out.length - 1].subarray(0, -4);
  return out;
}
