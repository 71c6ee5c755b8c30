/**
 * permessage-deflate negotiation (RFC 7692 §7) for both roles, as pure functions over parsed
 * `Sec-WebSocket-Extensions` elements. The codec itself is native (native/deflate.h).
 *
 * Window bits 8: zlib refuses an 8-bit window for raw deflate, and Node/ws silently compress with 9 instead, which
 * can emit back-references up to 512 bytes that a peer keeping a 256-byte window may reject. We keep 8 as a legal
 * negotiated value (so we never have to decline or fail a peer for it), and the native compressor honours it by
 * emitting stored blocks only (no back-references at all, valid for any window). Decompression with "8" uses a
 * 9-bit window, tolerating zlib-based peers that bumped 8 to 9.
 */

import { HandshakeError } from './errors.js';
import type { ExtensionElement, ExtensionParam } from './extensions.js';

/** The extension token. */
export const PERMESSAGE_DEFLATE = 'permessage-deflate';

/**
 * User options for permessage-deflate. Names follow RFC 7692 (server_* = what the server compresses with); each
 * field says what it means on a server and on a client.
 */
export interface PerMessageDeflateOptions {
  /** Server: true → reset our compressor after every message (announced); false → decline offers that demand
   *  it; unset → do what the client asks. Client: true → ask the server to reset per message (a response
   *  without it fails the handshake). Default unset. */
  serverNoContextTakeover?: boolean;
  /** Server: true → ask the client to reset per message; false → never ask; unset → confirm it when the client
   *  offers it. Client: true → promise to reset our compressor per message. Default unset. */
  clientNoContextTakeover?: boolean;
  /** The server's compression window, in bits of window size (8..15: 256 B..32 KiB). Server: the largest it
   *  compresses with (the client can only lower it). Client: ask for at most this; the response must confirm it.
   *  Default 15. */
  serverMaxWindowBits?: number;
  /** The client's compression window, in bits (8..15). Server: ask the client for at most this (only when the
   *  client offered `client_max_window_bits`). Client: offer it; unset → offer the parameter without a value.
   *  Default 15. */
  clientMaxWindowBits?: number;
  /** zlib compression level, -1..9 (-1 = zlib's default, 6; 0 = stored only). Default -1. */
  level?: number;
  /** zlib memLevel, 1..9: memory for the compressor's state against speed and ratio. Default 8. */
  memLevel?: number;
  /** Messages shorter than this many bytes are sent uncompressed; `Infinity`: nothing is compressed, fragmented
   *  messages included. Default 1024. */
  threshold?: number;
}

/** The agreed configuration. `server*` fields describe what the server compresses, `client*` the client. */
export interface NegotiatedDeflate {
  /** The server resets its compressor after every message. */
  serverNoContextTakeover: boolean;
  /** The client resets its compressor after every message. */
  clientNoContextTakeover: boolean;
  /** The server's compression window, in bits (8..15). */
  serverMaxWindowBits: number;
  /** The client's compression window, in bits (8..15). */
  clientMaxWindowBits: number;
  /** zlib level we compress with (-1..9). */
  level: number;
  /** zlib memLevel we compress with (1..9). */
  memLevel: number;
  /** Smallest message compressed, in bytes. */
  threshold: number;
}

/** Mirror of the native `wslay_node::DeflateParams` struct: the same configuration seen from one endpoint. */
export interface DeflateParams {
  compressWindowBits: number;
  decompressWindowBits: number;
  compressNoContextTakeover: boolean;
  decompressNoContextTakeover: boolean;
  level: number;
  memLevel: number;
}

/** The result of a server-side negotiation: the element to put in the 101 response and what it means. */
export interface DeflateAcceptance {
  response: ExtensionElement;
  negotiated: NegotiatedDeflate;
}

const DEFAULT_THRESHOLD = 1024;
const DEFAULT_LEVEL = -1;
const DEFAULT_MEM_LEVEL = 8;
const MAX_WINDOW_BITS = 15;

const SERVER_NO_CONTEXT_TAKEOVER = 'server_no_context_takeover';
const CLIENT_NO_CONTEXT_TAKEOVER = 'client_no_context_takeover';
const SERVER_MAX_WINDOW_BITS = 'server_max_window_bits';
const CLIENT_MAX_WINDOW_BITS = 'client_max_window_bits';
const KNOWN_PARAMS = new Set([
  SERVER_NO_CONTEXT_TAKEOVER,
  CLIENT_NO_CONTEXT_TAKEOVER,
  SERVER_MAX_WINDOW_BITS,
  CLIENT_MAX_WINDOW_BITS,
]);

// RFC 7692 §7.1.2: a decimal integer 8..15 without leading zeros.
const WINDOW_BITS_VALUE = /^(?:8|9|1[0-5])$/;

/**
 * Turns the user-facing `perMessageDeflate` option into options or `null` (disabled).
 * `true` means all defaults; `false`/`undefined` disable the extension.
 *
 * @throws RangeError/TypeError from `validateDeflateOptions` on bad values.
 */
export function resolveDeflateOption(
  option: boolean | PerMessageDeflateOptions | undefined,
): PerMessageDeflateOptions | null {
  if (option === undefined || option === false) return null;
  if (option === true) return {};
  validateDeflateOptions(option);
  return option;
}

/**
 * Checks user options: window bits integers 8..15, level -1..9, memLevel 1..9, threshold ≥ 0, booleans boolean.
 *
 * @throws TypeError for a wrong type, RangeError for a value out of range.
 */
export function validateDeflateOptions(options: PerMessageDeflateOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('perMessageDeflate must be an object');
  for (const key of ['serverNoContextTakeover', 'clientNoContextTakeover'] as const) {
    const v = options[key];
    if (v !== undefined && typeof v !== 'boolean') throw new TypeError(`perMessageDeflate.${key} must be a boolean`);
  }
  checkInt(options.serverMaxWindowBits, 'serverMaxWindowBits', 8, 15);
  checkInt(options.clientMaxWindowBits, 'clientMaxWindowBits', 8, 15);
  checkInt(options.level, 'level', -1, 9);
  checkInt(options.memLevel, 'memLevel', 1, 9);
  const t = options.threshold;
  if (t !== undefined && (typeof t !== 'number' || Number.isNaN(t) || t < 0)) {
    throw new RangeError('perMessageDeflate.threshold must be a number ≥ 0 (Infinity: never compress)');
  }
}

function checkInt(v: number | undefined, name: string, min: number, max: number): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`perMessageDeflate.${name} must be an integer`);
  if (v < min || v > max) throw new RangeError(`perMessageDeflate.${name} must be between ${min} and ${max}`);
}

/** The parameters of one element, checked for RFC 7692 §7 validity; `reason` says why they are not. */
type ParsedParams =
  | {
      ok: true;
      serverNoContextTakeover: boolean;
      clientNoContextTakeover: boolean;
      /** undefined = absent. */
      serverMaxWindowBits: number | undefined;
      /** undefined = absent, true = present without a value. */
      clientMaxWindowBits: number | true | undefined;
    }
  | { ok: false; reason: string };

// Shared by both roles: unknown names, duplicates, and values of the wrong shape are invalid in offers and
// responses alike. Role-specific rules (a bare client_max_window_bits is only legal in offers) are the callers'.
function parseParams(params: readonly ExtensionParam[]): ParsedParams {
  const seen = new Set<string>();
  let serverMaxWindowBits: number | undefined;
  let clientMaxWindowBits: number | true | undefined;
  for (const { name, value } of params) {
    if (!KNOWN_PARAMS.has(name)) return { ok: false, reason: `unknown parameter ${name}` };
    if (seen.has(name)) return { ok: false, reason: `parameter ${name} is repeated` };
    seen.add(name);
    if (name === SERVER_NO_CONTEXT_TAKEOVER || name === CLIENT_NO_CONTEXT_TAKEOVER) {
      if (value !== true) return { ok: false, reason: `parameter ${name} takes no value` };
    } else if (value === true) {
      if (name === SERVER_MAX_WINDOW_BITS) return { ok: false, reason: `parameter ${name} needs a value` };
      clientMaxWindowBits = true;
    } else {
      if (!WINDOW_BITS_VALUE.test(value)) {
        return { ok: false, reason: `parameter ${name} has invalid value ${JSON.stringify(value)} (8..15)` };
      }
      if (name === SERVER_MAX_WINDOW_BITS) serverMaxWindowBits = Number(value);
      else clientMaxWindowBits = Number(value);
    }
  }
  return {
    ok: true,
    serverNoContextTakeover: seen.has(SERVER_NO_CONTEXT_TAKEOVER),
    clientNoContextTakeover: seen.has(CLIENT_NO_CONTEXT_TAKEOVER),
    serverMaxWindowBits,
    clientMaxWindowBits,
  };
}

function codecSettings(options: PerMessageDeflateOptions): Pick<NegotiatedDeflate, 'level' | 'memLevel' | 'threshold'> {
  return {
    level: options.level ?? DEFAULT_LEVEL,
    memLevel: options.memLevel ?? DEFAULT_MEM_LEVEL,
    threshold: options.threshold ?? DEFAULT_THRESHOLD,
  };
}

/**
 * Server side: accepts a single permessage-deflate offer, or returns why it is declined.
 * An offer is declined (RFC 7692 §7: "MUST decline") when it has an unknown parameter, a repeated parameter, or an
 * invalid value, or when it demands `server_no_context_takeover` and `options.serverNoContextTakeover === false`.
 */
export function acceptOffer(
  offer: ExtensionElement,
  options: PerMessageDeflateOptions = {},
): DeflateAcceptance | { declined: string } {
  const p = parseParams(offer.params);
  if (!p.ok) return { declined: p.reason };
  if (p.serverNoContextTakeover && options.serverNoContextTakeover === false) {
    return { declined: 'server_no_context_takeover requested but disabled by options' };
  }

  const params: ExtensionParam[] = [];
  const serverNoContextTakeover = p.serverNoContextTakeover || options.serverNoContextTakeover === true;
  if (serverNoContextTakeover) params.push({ name: SERVER_NO_CONTEXT_TAKEOVER, value: true });

  const clientNoContextTakeover =
    options.clientNoContextTakeover === true || (p.clientNoContextTakeover && options.clientNoContextTakeover !== false);
  if (clientNoContextTakeover) params.push({ name: CLIENT_NO_CONTEXT_TAKEOVER, value: true });

  // The client's server_max_window_bits is a ceiling we must confirm (§7.1.2.1); our option can only lower it.
  let serverMaxWindowBits = MAX_WINDOW_BITS;
  if (p.serverMaxWindowBits !== undefined || options.serverMaxWindowBits !== undefined) {
    serverMaxWindowBits = Math.min(p.serverMaxWindowBits ?? MAX_WINDOW_BITS, options.serverMaxWindowBits ?? MAX_WINDOW_BITS);
    params.push({ name: SERVER_MAX_WINDOW_BITS, value: String(serverMaxWindowBits) });
  }

  // We may only send client_max_window_bits when the client offered it (§7.1.2.2). A server "may ignore" the value
  // in an offer, so a client may read a response without the parameter as "up to 15": whenever the window is below
  // 15 we say so in the response, and both ends agree on the number our decompressor uses.
  let clientMaxWindowBits = MAX_WINDOW_BITS;
  if (p.clientMaxWindowBits !== undefined) {
    const offered = p.clientMaxWindowBits === true ? MAX_WINDOW_BITS : p.clientMaxWindowBits;
    clientMaxWindowBits = Math.min(offered, options.clientMaxWindowBits ?? MAX_WINDOW_BITS);
    if (clientMaxWindowBits < MAX_WINDOW_BITS) {
      params.push({ name: CLIENT_MAX_WINDOW_BITS, value: String(clientMaxWindowBits) });
    }
  }

  return {
    response: { name: PERMESSAGE_DEFLATE, params },
    negotiated: {
      serverNoContextTakeover,
      clientNoContextTakeover,
      serverMaxWindowBits,
      clientMaxWindowBits,
      ...codecSettings(options),
    },
  };
}

/**
 * Server side: picks the first acceptable permessage-deflate offer among the parsed `Sec-WebSocket-Extensions`
 * elements (other extensions are ignored; the client lists offers in order of preference, RFC 7692 §5).
 *
 * @returns the response element and the agreed configuration, or `null` when there is no offer or every offer is
 *   declined (the connection then proceeds without compression).
 */
export function negotiateServer(
  offers: readonly ExtensionElement[],
  options: PerMessageDeflateOptions = {},
): DeflateAcceptance | null {
  for (const offer of offers) {
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    const result = acceptOffer(offer, options);
    if ('response' in result) return result;
  }
  return null;
}

/**
 * Client side: the offer to send in `Sec-WebSocket-Extensions`. `client_max_window_bits` is always offered (with
 * the option's value, or bare) so the server may lower our window to save its memory.
 */
export function buildClientOffer(options: PerMessageDeflateOptions = {}): ExtensionElement {
  const params: ExtensionParam[] = [];
  if (options.serverNoContextTakeover === true) params.push({ name: SERVER_NO_CONTEXT_TAKEOVER, value: true });
  if (options.clientNoContextTakeover === true) params.push({ name: CLIENT_NO_CONTEXT_TAKEOVER, value: true });
  if (options.serverMaxWindowBits !== undefined) {
    params.push({ name: SERVER_MAX_WINDOW_BITS, value: String(options.serverMaxWindowBits) });
  }
  params.push({
    name: CLIENT_MAX_WINDOW_BITS,
    value: options.clientMaxWindowBits === undefined ? true : String(options.clientMaxWindowBits),
  });
  return { name: PERMESSAGE_DEFLATE, params };
}

/**
 * Client side: checks the server's permessage-deflate response against the offer `buildClientOffer(options)` made
 * (RFC 7692 §7: unknown or repeated parameters, invalid values, `client_max_window_bits` without a value or above
 * what we offered, `server_max_window_bits` above what we asked or missing although we asked, missing
 * `server_no_context_takeover` although we asked).
 *
 * @throws HandshakeError with code 'BAD_EXTENSION' when the response must fail the connection.
 */
export function acceptServerResponse(
  response: ExtensionElement,
  options: PerMessageDeflateOptions = {},
): NegotiatedDeflate {
  const fail = (reason: string): never => {
    throw new HandshakeError('BAD_EXTENSION', `Invalid permessage-deflate response: ${reason}`);
  };
  if (response.name !== PERMESSAGE_DEFLATE) fail(`unexpected extension ${response.name}`);
  const p = parseParams(response.params);
  if (!p.ok) return fail(p.reason);

  if (options.serverNoContextTakeover === true && !p.serverNoContextTakeover) {
    fail('server_no_context_takeover was requested but not confirmed');
  }

  const serverMaxWindowBits = p.serverMaxWindowBits ?? MAX_WINDOW_BITS;
  if (options.serverMaxWindowBits !== undefined) {
    if (p.serverMaxWindowBits === undefined) fail('server_max_window_bits was requested but not confirmed');
    if (serverMaxWindowBits > options.serverMaxWindowBits) {
      fail(`server_max_window_bits=${serverMaxWindowBits} exceeds the requested ${options.serverMaxWindowBits}`);
    }
  }

  const offeredClientBits = options.clientMaxWindowBits ?? MAX_WINDOW_BITS;
  let clientMaxWindowBits = offeredClientBits;
  if (p.clientMaxWindowBits === true) fail('client_max_window_bits needs a value in a response');
  if (typeof p.clientMaxWindowBits === 'number') {
    if (p.clientMaxWindowBits > offeredClientBits) {
      fail(`client_max_window_bits=${p.clientMaxWindowBits} exceeds the offered ${offeredClientBits}`);
    }
    clientMaxWindowBits = p.clientMaxWindowBits;
  }

  return {
    serverNoContextTakeover: p.serverNoContextTakeover,
    // Our own offer of client_no_context_takeover is a promise to reset (§7.1.1.2), confirmed or not.
    clientNoContextTakeover: p.clientNoContextTakeover || options.clientNoContextTakeover === true,
    serverMaxWindowBits,
    clientMaxWindowBits,
    ...codecSettings(options),
  };
}

/**
 * Client side: finds and checks the permessage-deflate element in the server's parsed `Sec-WebSocket-Extensions`.
 *
 * @returns `null` when the server did not accept the extension.
 * @throws HandshakeError 'BAD_EXTENSION' when it appears more than once or its response is invalid. Other extension
 *   names are the caller's to reject (see `validateServerResponse`).
 */
export function negotiateClient(
  responses: readonly ExtensionElement[],
  options: PerMessageDeflateOptions = {},
): NegotiatedDeflate | null {
  const matching = responses.filter((e) => e.name === PERMESSAGE_DEFLATE);
  if (matching.length === 0) return null;
  if (matching.length > 1) throw new HandshakeError('BAD_EXTENSION', 'permessage-deflate accepted more than once');
  return acceptServerResponse(matching[0]!, options);
}

/**
 * Maps the agreed configuration to one endpoint's codec parameters (the native `DeflateParams`): a server
 * compresses with the `server*` values and inflates the client's `client*` ones, and a client the reverse.
 * A compress window of 8 makes the native compressor emit stored blocks only (see the module comment), so callers
 * may prefer not to compress at all in that case.
 */
export function deflateParamsFor(role: 'server' | 'client', n: NegotiatedDeflate): DeflateParams {
  const server = role === 'server';
  return {
    compressWindowBits: server ? n.serverMaxWindowBits : n.clientMaxWindowBits,
    decompressWindowBits: server ? n.clientMaxWindowBits : n.serverMaxWindowBits,
    compressNoContextTakeover: server ? n.serverNoContextTakeover : n.clientNoContextTakeover,
    decompressNoContextTakeover: server ? n.clientNoContextTakeover : n.serverNoContextTakeover,
    level: n.level,
    memLevel: n.memLevel,
  };
}
