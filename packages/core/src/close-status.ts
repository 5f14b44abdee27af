/**
 * Close status codes (RFC 6455 §7.4.1), under the names the seed's
 * `WebSocketCloseStatus` gives them, and the rules for what may go on the wire.
 *
 * @module
 */
import { WebSocketError } from "./errors.ts";

/** Well-known close status codes. */
export const CloseStatus = {
  /** 1000: the purpose of the connection was fulfilled. */
  NormalClosure: 1000,
  /** 1001: the endpoint is going away (server shutdown, idle timeout). */
  EndpointUnavailable: 1001,
  /** 1002: a protocol error. */
  ProtocolError: 1002,
  /** 1003: a message type the endpoint cannot accept. */
  InvalidMessageType: 1003,
  /** 1005: no status was present in the peer's Close frame (never sent on the wire). */
  Empty: 1005,
  /** 1006: the connection ended without a Close frame (never sent on the wire). */
  Abnormal: 1006,
  /** 1007: message data inconsistent with its type (e.g. invalid UTF-8 in text). */
  InvalidPayloadData: 1007,
  /** 1008: a message violated the endpoint's policy. */
  PolicyViolation: 1008,
  /** 1009: a message too big to process. */
  MessageTooBig: 1009,
  /** 1010: the client expected an extension the server did not negotiate. */
  MandatoryExtension: 1010,
  /** 1011: an unexpected condition on the server (the handler threw). */
  InternalServerError: 1011,
} as const;

/** The longest close reason, in UTF-8 bytes: a control frame carries at most 125 bytes, 2 of them the code (RFC 6455 §5.5). */
export const MAX_CLOSE_REASON_BYTES = 123;

const encoder = new TextEncoder();

/**
 * Whether uniws lets a server send `code` in a Close frame: 1000–1003, 1007–1013 and
 * the registered/private range 3000–4999 (RFC 6455 §7.4.1–7.4.2). 1004, 1005, 1006
 * and 1015 are reserved and must never be sent. 1014 (Bad Gateway, in IANA's registry)
 * is refused too: Deno's engine cannot read a peer's Close with it, so the close
 * handshake it starts would end `aborted` on Deno and cleanly elsewhere.
 */
export function isSendableCloseStatus(code: number): boolean {
  return code !== BAD_GATEWAY && isValidCloseStatus(code);
}

// 1014 Bad Gateway (IANA's registry, RFC 6455 §7.4.2).
const BAD_GATEWAY = 1014;

/**
 * @internal Whether a peer may send `code` in a Close frame (RFC 6455 §7.4; IANA's registry up to 1014): what an
 * engine that answers the peer's Close itself (workerd) echoes, and refuses with 1002 otherwise, as `ws` and Bun do.
 */
export function isValidCloseStatus(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  if (code >= 3000 && code <= 4999) return true;
  if (code >= 1000 && code <= 1003) return true;
  return code >= 1007 && code <= BAD_GATEWAY;
}

/**
 * Whether `code` is one of the statuses that stand for "no status" and are never
 * sent (RFC 6455 §7.4.1): 1005 (the peer's Close had none), 1006 (no Close at all)
 * and 1015 (TLS failure). Closing with one of them sends a Close frame without a
 * body, as the seed's `WebSocketCloseStatus.Empty` does: the loop that answers the
 * peer's Close with the status it received works when that Close had none.
 */
export function isEmptyCloseStatus(code: number): boolean {
  return code === CloseStatus.Empty || code === CloseStatus.Abnormal || code === 1015;
}

/**
 * Throws a typed error (`INVALID_CLOSE_STATUS`) unless `code` and `reason` may be
 * used to close: a sendable status with a reason of at most 123 UTF-8 bytes, or a
 * "no status" value ({@link isEmptyCloseStatus}) with no reason, since a Close frame
 * without a status has no room for one (RFC 6455 §5.5.1); a `TypeError` for a `code`
 * that is not a number or a `reason` that is not a string.
 */
export function validateCloseStatus(code: number, reason: string): void {
  // For JavaScript callers: engines disagree on anything else (Node's threw on null, Deno and Bun sent "null").
  // A status from a query string or JSON ("4000") is a wrong type, not a status §7.4 refuses.
  if (typeof code !== "number") throw new TypeError(`A close status is a number, got ${code === null ? "null" : typeof code}`);
  if (typeof reason !== "string") throw new TypeError(`A close reason is a string, got ${reason === null ? "null" : typeof reason}`);
  if (isEmptyCloseStatus(code)) {
    if (reason !== "") throw new WebSocketError("INVALID_CLOSE_STATUS", `Close status ${code} sends no status, so it takes no reason (RFC 6455 §5.5.1)`);
    return;
  }
  if (!isSendableCloseStatus(code)) {
    throw new WebSocketError("INVALID_CLOSE_STATUS", `Close status ${code} may not be sent (RFC 6455 §7.4)`);
  }
  if (encoder.encode(reason).byteLength > MAX_CLOSE_REASON_BYTES) {
    throw new WebSocketError(
      "INVALID_CLOSE_STATUS",
      `Close reason is longer than ${MAX_CLOSE_REASON_BYTES} UTF-8 bytes (RFC 6455 §5.5)`,
    );
  }
}
