// Memory figures of this process for "no allocation" and "bounded" checks: resident set size read from /proc, the
// number that a real allocation of the claimed size would move (V8's heap statistics would not see native memory).
import * as fs from 'node:fs';

function status(field: 'VmRSS' | 'VmSize'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error(`no ${field} in /proc/self/status`);
  return Number(match[1]) * 1024;
}

/** VmRSS of this process in bytes. */
export function rssBytes(): number {
  return status('VmRSS');
}

/** VmSize: address space, which grows with an allocation even before it is touched (RSS would not). */
export function virtualBytes(): number {
  return status('VmSize');
}

/** Samples RSS every `intervalMs` until stopped; `peak` is the largest seen. */
export function sampleRss(intervalMs = 20): { readonly peak: number; stop(): number } {
  let peak = rssBytes();
  const timer = setInterval(() => (peak = Math.max(peak, rssBytes())), intervalMs);
  return {
    get peak() {
      return peak;
    },
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, rssBytes());
      return peak;
    },
  };
}

export const MiB = 1024 * 1024;

/** A memory bound, loosened under AddressSanitizer (scripts/test-asan.mjs sets WSLAY_SANITIZED), whose quarantine
 *  and redzones inflate RSS for reasons that are not ours. */
export function rssBound(bytes: number): number {
  return process.env.WSLAY_SANITIZED ? bytes * 4 : bytes;
}
