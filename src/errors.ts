/**
 * Typed errors raised while opening a WebSocket connection.
 *
 * Every handshake failure is a `HandshakeError` whose `code` says what went wrong, so callers can branch on
 * `err.code` instead of parsing messages.
 */

/** What went wrong during a handshake. */
export type HandshakeErrorCode =
  /** The server answered with a status other than 101 (`status` and `headers` are set). */
  | 'BAD_STATUS'
  /** `Sec-WebSocket-Accept` is missing or does not match our key. */
  | 'BAD_ACCEPT'
  /** `Sec-WebSocket-Extensions` is malformed, names an extension we did not offer, or has invalid parameters. */
  | 'BAD_EXTENSION'
  /** `Sec-WebSocket-Protocol` is malformed or names a subprotocol we did not offer. */
  | 'BAD_PROTOCOL'
  /** The response is not valid HTTP, or lacks `Upgrade: websocket` / `Connection: upgrade`. */
  | 'BAD_RESPONSE'
  /** The response header block is larger than the limit. */
  | 'HEADERS_TOO_LARGE'
  /** No complete response within `handshakeTimeout`. */
  | 'TIMEOUT'
  /** The TCP (or unix socket) connection could not be established. */
  | 'CONNECTION_REFUSED'
  /** The peer closed the connection before the handshake completed. */
  | 'CONNECTION_CLOSED'
  /** The URL (or a redirect's `Location`) is malformed, or its scheme is not ws:, ws+unix:, http: or https:/wss:. */
  | 'BAD_URL'
  /** wss:/https: only: the TLS handshake failed, e.g. the server's certificate does not verify (`cause` is the
   *  node:tls error). */
  | 'TLS'
  /** With `followRedirects`: more than `maxRedirects` redirects. */
  | 'TOO_MANY_REDIRECTS';

/** Extra data a `HandshakeError` may carry. */
export interface HandshakeErrorDetails {
  /** HTTP status of the response (set for `BAD_STATUS`). */
  status?: number;
  /** Response headers, lower-case names, repeated headers joined with `, ` (set for `BAD_STATUS`). */
  headers?: Record<string, string>;
  /** The underlying error, e.g. the socket's `ECONNREFUSED`. */
  cause?: unknown;
}

/** A failed WebSocket opening handshake. */
export class HandshakeError extends Error {
  /** Machine-readable reason; stable across versions. */
  readonly code: HandshakeErrorCode;
  /** HTTP status of the server's response, when there was one. */
  readonly status: number | undefined;
  /** Headers of the server's response, when there was one. */
  readonly headers: Record<string, string> | undefined;

  constructor(code: HandshakeErrorCode, message: string, details: HandshakeErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'HandshakeError';
    this.code = code;
    this.status = details.status;
    this.headers = details.headers;
  }
}

/**
 * A header value that does not follow its grammar (RFC 6455 §9.1 for `Sec-WebSocket-Extensions`, §4.1 for
 * `Sec-WebSocket-Protocol`). Servers answer it with 400; clients turn it into a `HandshakeError`.
 */
export class HeaderSyntaxError extends SyntaxError {
  /** Name of the header that failed to parse. */
  readonly header: string;

  constructor(header: string, message: string) {
    super(`Invalid ${header} header: ${message}`);
    this.name = 'HeaderSyntaxError';
    this.header = header;
  }
}
