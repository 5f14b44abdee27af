/**
 * Typed errors. Every failure the core reports — of the connection, of the runtime's
 * engine, or of an operation the request's or socket's state does not allow — is a
 * {@link WebSocketError} with a stable `code` a caller can test for, and, where the
 * error ends a connection, the close status the peer is sent (the way `ws` pairs its
 * error codes with close statuses). A bad argument (a wrong type, a number out of its
 * range, text bytes that are not UTF-8) is a `TypeError` or `RangeError`, as the
 * platform's own APIs answer one (docs/semantics.md).
 *
 * @module
 */

/** Stable error codes. */
export type WebSocketErrorCode =
  /** `accept()` on a request that is not a WebSocket request. */
  | "NOT_WEBSOCKET_REQUEST"
  /** `accept()` or `reject()` after the request was already answered. */
  | "ALREADY_ANSWERED"
  /** The accept context names a sub-protocol the client did not offer, or an invalid one. */
  | "INVALID_SUBPROTOCOL"
  /** A close status or reason that RFC 6455 §7.4 does not allow on the wire. */
  | "INVALID_CLOSE_STATUS"
  /** An operation the socket's state does not allow (send after close, two receives at once…). */
  | "INVALID_STATE"
  /** The runtime's engine cannot do what was asked (see the capability table). */
  | "UNSUPPORTED"
  /** The connection ended before the operation could complete (peer vanished, abort, keep-alive timeout). */
  | "CONNECTION_CLOSED"
  /** The upgrade could not be completed (the client went away during the handshake). */
  | "UPGRADE_FAILED"
  /** `accept()` while the server shuts down: it opens no new sockets (left uncaught, the request is answered 503). */
  | "SERVER_CLOSING"
  /** A send found more than `sendBufferLimit` bytes still buffered for a peer that is not reading; the connection was aborted. */
  | "SEND_BUFFER_FULL"
  /**
   * A socket was used from another request than the one that opened it, which a
   * plain Cloudflare Worker forbids ("Cannot perform I/O on behalf of a different
   * request"): sockets shared between requests (a hub, a shutdown) need a Durable Object.
   */
  | "REQUEST_SCOPED_IO";

/** An error raised by uniws, with a code to test for. */
export class WebSocketError extends Error {
  /** Always `"WebSocketError"`. */
  override name = "WebSocketError";
  /** The stable code of this error. */
  readonly code: WebSocketErrorCode;
  /** The close status sent to the peer because of this error, when it ended the connection. */
  readonly closeStatus: number | undefined;

  /** An error with its stable `code`, the `closeStatus` it sent (if any) and the `cause` behind it. */
  constructor(code: WebSocketErrorCode, message: string, options?: { closeStatus?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.closeStatus = options?.closeStatus;
  }
}
