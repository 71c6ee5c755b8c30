import { isUtf8 } from 'node:buffer';

/** Frame opcodes (RFC 6455 §5.2). Plain data properties (frozen), so reading one costs no call. */
export const Opcode = Object.freeze({
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const);
export type Opcode = (typeof Opcode)[keyof typeof Opcode];

/** The opcodes of whole messages: what `onMsgRecv` delivers and `queueMsg` sends (close goes through `close()`). */
export type MessageOpcode = typeof Opcode.TEXT | typeof Opcode.BINARY | typeof Opcode.PING | typeof Opcode.PONG;
/** The opcodes a fragmented message may have (`queueFragmented`). */
export type DataOpcode = typeof Opcode.TEXT | typeof Opcode.BINARY;
/** The opcode of a data frame (`onFrameRecvStart`): the first frame of a message, or a continuation. */
export type FrameOpcode = DataOpcode | typeof Opcode.CONTINUATION;

/** RSV bits as wslay numbers them (RSV1 is the one permessage-deflate uses). */
export const RSV1 = 4;
export const RSV2 = 2;
export const RSV3 = 1;
/** A set of RSV bits: `RSV1 | RSV2 | RSV3` or any part of it (0 = none). */
export type RsvBits = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;

/** What a `queueFragmented` source returns with its data (the seed's WS_FRAGMENTED_*). */
export const FragmentedStatus = {
  /** The last chunk: the message ends with it. */
  EOF: 0,
  /** A chunk; more follow. An empty DATA chunk means "nothing yet": call `startWrite()` when there is. */
  DATA: 1,
  /** The message cannot be completed: the connection is failed (close 1011). */
  ERROR: -1,
} as const;
export type FragmentedStatus = (typeof FragmentedStatus)[keyof typeof FragmentedStatus];

/** Close codes an endpoint may send (RFC 6455 §7.4.1 and the IANA registry). */
export function isValidCloseCode(code: number): boolean {
  return (
    Number.isInteger(code) &&
    ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999))
  );
}

/** A close reason is at most 123 bytes of UTF-8 (125 bytes of control payload minus the code). */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * Checks the arguments of a close(code, reason) and returns the reason's bytes (undefined for none).
 * @throws RangeError for an invalid code, a reason without a code, longer than 123 bytes or not UTF-8;
 *   TypeError for a reason that is neither a string nor a Uint8Array.
 */
export function closeReasonBytes(code: number | undefined, reason: string | Uint8Array | undefined): Uint8Array | undefined {
  if (code !== undefined && !isValidCloseCode(code)) {
    throw new RangeError(`invalid close code ${code}: use 1000–1003, 1007–1014 or 3000–4999`);
  }
  if (reason === undefined || reason === '') return undefined;
  if (code === undefined) throw new RangeError('a close reason needs a close code');
  let bytes: Uint8Array;
  if (typeof reason === 'string') bytes = Buffer.from(reason, 'utf8');
  else if (reason instanceof Uint8Array) bytes = reason;
  else throw new TypeError('reason must be a string or a Buffer');
  if (bytes.length > MAX_CLOSE_REASON_BYTES) throw new RangeError('a close reason is at most 123 bytes');
  if (!isUtf8(bytes)) throw new RangeError('a close reason must be valid UTF-8');
  return bytes;
}
