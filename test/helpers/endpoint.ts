// A WebSocketConnection whose messages and closes are recorded, for assertions. The test's own callbacks still
// run (after the recording, so a throwing callback does not lose the record).
import { WebSocketConnection, type CloseInfo, type WebSocketConnectionOptions } from '../../src/index.js';

export interface Received {
  rsv: number;
  opcode: number;
  data: Buffer;
  statusCode: number;
}

export interface Closed {
  code: number;
  info: CloseInfo;
}

export interface Endpoint {
  conn: WebSocketConnection;
  messages: Received[];
  /** Every onClose call (exactly one is expected). */
  closes: Closed[];
  /** The first onClose call. */
  closed: Promise<Closed>;
}

export type ConnectionOptions = Omit<WebSocketConnectionOptions, 'fd' | 'socket' | 'head'>;

/** The transport forced on every socket given to trackedConnection: the stream run of the transport matrix
 *  (vitest.config.mts) sets WSLAY_TEST_TRANSPORT=stream, so the same tests run plain TCP through a Duplex. */
export const TEST_TRANSPORT = process.env.WSLAY_TEST_TRANSPORT as 'fd' | 'stream' | undefined;

export function trackedConnection(options: WebSocketConnectionOptions): Endpoint {
  if (TEST_TRANSPORT && options.socket && options.transport === undefined) {
    options = { ...options, transport: TEST_TRANSPORT };
  }
  const messages: Received[] = [];
  const closes: Closed[] = [];
  let settle!: (closed: Closed) => void;
  const closed = new Promise<Closed>((resolve) => (settle = resolve));
  const { onMsgRecv, onClose } = options;
  const conn = new WebSocketConnection({
    ...options,
    onMsgRecv(rsv, opcode, data, statusCode) {
      messages.push({ rsv, opcode, data, statusCode });
      onMsgRecv?.call(this, rsv, opcode, data, statusCode);
    },
    onClose(code, info) {
      closes.push({ code, info });
      settle({ code, info });
      onClose?.call(this, code, info);
    },
  });
  return { conn, messages, closes, closed };
}

/** Options whose onMsgRecv echoes text and binary messages back. */
export function echo(extra: ConnectionOptions = {}): ConnectionOptions {
  return {
    ...extra,
    onMsgRecv(rsv, opcode, msg, statusCode) {
      if (opcode === 1 || opcode === 2) this.queueMsg(msg, opcode);
      extra.onMsgRecv?.call(this, rsv, opcode, msg, statusCode);
    },
  };
}
