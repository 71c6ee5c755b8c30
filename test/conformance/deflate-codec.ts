// permessage-deflate (RFC 7692): header parsing and a per-connection codec.
// Node's one-shot zlib calls take a preset dictionary, so context takeover is
// modelled by passing the last window's worth of uncompressed bytes as the
// dictionary of the next message: the same LZ77 window a streaming codec keeps.
import { constants, deflateRawSync, inflateRawSync } from 'node:zlib';

const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

export interface ExtensionOffer {
  name: string;
  params: Map<string, string | true>;
}

/** Parses a Sec-WebSocket-Extensions value (RFC 6455 §9.1, quoted values allowed). */
export function parseExtensions(header: string): ExtensionOffer[] {
  const out: ExtensionOffer[] = [];
  for (const item of splitOutsideQuotes(header, ',')) {
    const [name, ...rest] = splitOutsideQuotes(item, ';').map((s) => s.trim());
    if (!name) continue;
    const params = new Map<string, string | true>();
    for (const p of rest) {
      const eq = p.indexOf('=');
      if (eq < 0) {
        params.set(p.toLowerCase(), true);
      } else {
        let v = p.slice(eq + 1).trim();
        if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
        params.set(p.slice(0, eq).trim().toLowerCase(), v);
      }
    }
    out.push({ name: name.toLowerCase(), params });
  }
  return out;
}

function splitOutsideQuotes(s: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of s) {
    if (ch === '"') quoted = !quoted;
    if (ch === sep && !quoted) {
      parts.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  parts.push(cur);
  return parts.filter((p) => p.trim() !== '');
}

/** Agreed parameters, seen from one endpoint ("send" = what we compress). */
export interface DeflateParams {
  sendNoContextTakeover: boolean;
  recvNoContextTakeover: boolean;
  sendWindowBits: number;
  recvWindowBits: number;
}

function windowBits(v: string | true | undefined, fallback: number): number | null {
  if (v === undefined) return fallback;
  if (v === true || !/^[0-9]+$/.test(v)) return null;
  const n = Number(v);
  return n >= 8 && n <= 15 ? n : null;
}

/**
 * Validates a server's accepted parameters against what the client offered
 * (RFC 7692 §7.1) and returns them from the client's point of view, or an error.
 */
export function clientParamsFromResponse(response: ExtensionOffer, offer: ExtensionOffer): DeflateParams | string {
  const known = ['server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits', 'client_max_window_bits'];
  for (const [k, v] of response.params) {
    if (!known.includes(k)) return `unknown parameter ${k} in the accepted extension`;
    if (k.endsWith('takeover') && v !== true) return `${k} must not have a value`;
  }
  if (response.params.has('client_max_window_bits') && !offer.params.has('client_max_window_bits')) {
    return 'client_max_window_bits in the response although the offer did not include it';
  }
  const offeredServerBits = windowBits(offer.params.get('server_max_window_bits'), 15);
  const serverBits = windowBits(response.params.get('server_max_window_bits'), 15);
  const clientBits = windowBits(response.params.get('client_max_window_bits'), 15);
  if (serverBits === null || clientBits === null) return 'invalid max_window_bits value in the response';
  if (offeredServerBits !== null && serverBits > offeredServerBits) {
    return response.params.has('server_max_window_bits')
      ? `server_max_window_bits=${serverBits} is above the offered ${offeredServerBits}`
      : `the offer asked for server_max_window_bits=${offeredServerBits} but the response omits it ` +
        '(RFC 7692 §7.1.2.1: accepting it means answering with an equal or smaller value)';
  }
  if (offer.params.has('server_no_context_takeover') && !response.params.has('server_no_context_takeover')) {
    return 'server_no_context_takeover was requested but not acknowledged';
  }
  return {
    sendNoContextTakeover: response.params.has('client_no_context_takeover'),
    recvNoContextTakeover: response.params.has('server_no_context_takeover'),
    sendWindowBits: clientBits,
    recvWindowBits: serverBits,
  };
}

/** Server's point of view of the parameters it put in its response. */
export function serverParamsFromResponse(response: ExtensionOffer): DeflateParams {
  return {
    sendNoContextTakeover: response.params.has('server_no_context_takeover'),
    recvNoContextTakeover: response.params.has('client_no_context_takeover'),
    sendWindowBits: windowBits(response.params.get('server_max_window_bits'), 15) ?? 15,
    recvWindowBits: windowBits(response.params.get('client_max_window_bits'), 15) ?? 15,
  };
}

export class DeflateCodec {
  private sendHistory: Buffer = Buffer.alloc(0);
  private recvHistory: Buffer = Buffer.alloc(0);

  constructor(readonly params: DeflateParams) {}

  /** Compresses one whole message; returns the payload without the 00 00 ff ff tail. */
  compress(data: Buffer): Buffer {
    const p = this.params;
    const bits = Math.max(p.sendWindowBits, 9); // zlib's raw deflate has no 8-bit window
    const out = deflateRawSync(data, {
      finishFlush: constants.Z_SYNC_FLUSH,
      windowBits: bits,
      ...(this.sendHistory.length > 0 ? { dictionary: this.sendHistory } : {}),
    });
    if (!p.sendNoContextTakeover) this.sendHistory = keepTail(this.sendHistory, data, 1 << Math.min(p.sendWindowBits, bits));
    return out.subarray(0, out.length - 4);
  }

  /** Inflates one whole message payload; throws on corrupt data or a window the peer may not use. */
  decompress(payload: Buffer, maxSize = 64 * 1024 * 1024): Buffer {
    const p = this.params;
    const out = inflateRawSync(Buffer.concat([payload, TRAILER]), {
      finishFlush: constants.Z_SYNC_FLUSH,
      windowBits: p.recvWindowBits,
      maxOutputLength: maxSize,
      ...(this.recvHistory.length > 0 ? { dictionary: this.recvHistory } : {}),
    });
    if (!p.recvNoContextTakeover) this.recvHistory = keepTail(this.recvHistory, out, 1 << p.recvWindowBits);
    return out;
  }
}

function keepTail(history: Buffer, data: Buffer, window: number): Buffer {
  if (data.length >= window) return Buffer.from(data.subarray(data.length - window));
  const joined = Buffer.concat([history, data]);
  return joined.length > window ? Buffer.from(joined.subarray(joined.length - window)) : joined;
}
