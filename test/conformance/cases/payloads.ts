// Deterministic message bodies, so a failing case can be replayed byte for byte.

/** ASCII text of `n` bytes made of words, compressible like real text. */
export function textPayload(n: number, seed = 1): Buffer {
  const words = ['echo', 'frame', 'socket', 'deflate', 'window', 'message', 'close', 'ping', 'pong', 'utf8'];
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  let i = 0;
  while (i < n) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const w = words[(x >>> 16) % words.length]!;
    for (let j = 0; j < w.length && i < n; j++) out[i++] = w.charCodeAt(j);
    if (i < n) out[i++] = 0x20;
  }
  return out;
}

/** Binary of `n` bytes with every byte value, from a small LCG (incompressible enough). */
export function binaryPayload(n: number, seed = 7): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export const KiB = 1024;
export const MiB = 1024 * 1024;

/** '64K', '1M' style label for case descriptions. */
export function sizeLabel(n: number): string {
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n} B`;
}
