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
