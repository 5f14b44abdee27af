/**
 * The server-wide options (the seed's `WebSocketOptions`) and the per-accept
 * overrides (the seed's `WebSocketAcceptContext`), with their defaults and checks.
 *
 * @module
 */
import type { MetricsMeter } from "./metrics.ts";

/**
 * Server-wide WebSocket policy. Every duration is in milliseconds, from 0 to 2^31 - 1 (about 24.8 days, the longest
 * delay a timer holds on every runtime); the server's constructor throws a `RangeError` for any other.
 */
export interface WebSocketOptions {
  /**
   * How often the server sends a keep-alive frame when the peer has been silent.
   * With `keepAliveTimeout` on, the frame is a Ping the peer must answer; otherwise an
   * unsolicited Pong (RFC 6455 §5.5.3) that needs no answer. `0` turns keep-alive off.
   * @default 120_000 (2 minutes)
   */
  keepAliveInterval?: number;
  /**
   * How long to wait for any frame from the peer after a keep-alive Ping before the
   * connection is aborted. `0` turns the timeout off.
   * @default 0
   */
  keepAliveTimeout?: number;
  /**
   * Close the socket (1001) when no data message arrives from the peer within this
   * time. Pongs do not count. The seed suggests twice the client's own ping period.
   * `0` turns it off.
   * @default 0
   */
  idleTimeout?: number;
  /**
   * Origins allowed to open a WebSocket (`scheme://host[:port]`), matched
   * case-insensitively. Empty, or containing `"*"`, allows every origin. A WebSocket
   * request whose `Origin` is not listed gets 403 before any upgrade; one without an
   * `Origin` header (a non-browser client) is allowed. Origin is not authentication.
   * The server's constructor throws a `RangeError` for an entry no browser sends (a path,
   * a trailing slash: `https://a.test/`, a default port), and a `TypeError` when this is not an array.
   * @default [] (all origins)
   */
  allowedOrigins?: readonly string[];
  /**
   * The largest message accepted from a peer, in bytes. A larger one fails the
   * connection on every runtime (RFC 6455 §7.1.7, as `ws` and Bun do): the peer gets
   * Close 1009, nothing it sends after is received, and the socket ends `aborted`
   * (`closeStatus` 1006) with a `CONNECTION_CLOSED` error whose `closeStatus` is 1009.
   * @default 16_777_216 (16 MiB)
   */
  maxMessageSize?: number;
  /**
   * How long `close()` (and a server's shutdown) waits for the peer's Close frame before the connection is
   * aborted, in ms; `0` = no limit (waits for the peer's Close).
   * @default 30_000
   */
  closeTimeout?: number;
  /**
   * `send()` resolves at once while the socket's buffered bytes stay at or below this
   * mark, and otherwise waits until they drain below it.
   * @default 1_048_576 (1 MiB)
   */
  sendHighWaterMark?: number;
  /**
   * The hard bound on a socket's buffered bytes. A `send` that finds more than this
   * still buffered (a peer that stopped reading while the application sent without
   * awaiting) rejects with `SEND_BUFFER_FULL` and aborts the connection: a Close frame
   * would only queue behind the bytes the peer is not reading. So a socket holds at most
   * this plus one message. `0` turns the bound off. At least `sendHighWaterMark`.
   * @default 16_777_216 (16 MiB), or `4 × sendHighWaterMark` if that is larger
   */
  sendBufferLimit?: number;
  /**
   * The bound on received bytes the handler has not read yet. A message that arrives
   * while more than this waits unread (the handler stopped reading while the peer kept
   * sending) closes the socket with 1013 (Try Again Later); what was already received
   * can still be read, and later data from the peer is dropped. A socket thus holds at
   * most this plus one message. Text counts by its length. `0` turns the bound off.
   * @default 16_777_216 (16 MiB)
   */
  receiveBufferLimit?: number;
  /**
   * The most sockets the server keeps at once (Kestrel's
   * `MaxConcurrentUpgradedConnections`). A WebSocket request that finds this many
   * sockets open or being accepted, counting requests whose handler has not answered
   * yet, gets 503 with `Retry-After` before the handler runs. A socket counts from its
   * request until it ends; a request the handler refuses, or whose upgrade fails, stops
   * counting then. `0` turns the limit off.
   * @default 0
   */
  maxConnections?: number;
  /**
   * The delay a `maxConnections` 503 asks the client to wait, sent in `Retry-After`
   * rounded up to whole seconds (RFC 9110 §10.2.3).
   * @default 5_000
   */
  maxConnectionsRetryAfter?: number;
  /**
   * The most data messages a peer may send per second, as a token bucket holding
   * `messageBurst` messages. A peer over it is closed with 1008 (Policy Violation,
   * RFC 6455 §7.4.1), reason `"maxMessagesPerSecond exceeded"`. `0` turns it off.
   * @default 0
   */
  maxMessagesPerSecond?: number;
  /**
   * How many messages a quiet peer may send at once under `maxMessagesPerSecond`.
   * At least 1.
   * @default `maxMessagesPerSecond` (one second's worth), at least 1
   */
  messageBurst?: number;
  /**
   * The most payload bytes a peer may send per second (text counts as UTF-8), as a
   * token bucket holding `byteBurst` bytes. A peer over it is closed with 1008, reason
   * `"maxBytesPerSecond exceeded"`. `0` turns it off.
   * @default 0
   */
  maxBytesPerSecond?: number;
  /**
   * How many bytes a quiet peer may send at once under `maxBytesPerSecond`. A message
   * larger than this is always over the limit: make it at least the largest message
   * the application expects. At least 1.
   * @default `maxBytesPerSecond` (one second's worth)
   */
  byteBurst?: number;
  /**
   * An OpenTelemetry `Meter` (`metrics.getMeter("uniws")` from `@opentelemetry/api`,
   * after a `MeterProvider` is registered) to record the `uniws.server.*` instruments
   * on (docs/operations.md). Without one nothing is recorded; `stats()` works either way.
   * The server's constructor throws a `TypeError` when this lacks one of the `Meter`
   * methods uniws calls (`createCounter`, `createUpDownCounter`, `createHistogram`,
   * `createObservableCounter`).
   */
  meter?: MetricsMeter;
  /**
   * Called with errors the application did not catch (a handler that threw). Defaults to `console.error`.
   * The server's constructor throws a `TypeError` when this is not a function; what it throws itself goes to
   * `console.error`, with the error it was given.
   */
  onError?: (error: unknown) => void;
}

/** Per-connection choices made when accepting (the seed's `WebSocketAcceptContext`). */
export interface WebSocketAcceptContext {
  /** The sub-protocol to select; it must be one the client offered. Omit (or `undefined`) for none. */
  subProtocol?: string | undefined;
  /** Overrides `WebSocketOptions.keepAliveInterval` for this socket (0 to 2^31 - 1 ms, as there). */
  keepAliveInterval?: number;
  /** Overrides `WebSocketOptions.keepAliveTimeout` for this socket (0 to 2^31 - 1 ms, as there). */
  keepAliveTimeout?: number;
  /**
   * Negotiate permessage-deflate (RFC 7692) if the client offers it. Compressing
   * secrets next to attacker-controlled data over TLS exposes them (CRIME/BREACH):
   * send such messages with `disableCompression`.
   * @default false
   */
  dangerousEnableCompression?: boolean;
  /** The largest LZ77 window the server compresses with, 9–15. @default 15 */
  serverMaxWindowBits?: number;
  /** Reset the server's compression context after every message. @default false */
  disableServerContextTakeover?: boolean;
}

/** Options with every default filled in. */
export interface ResolvedWebSocketOptions {
  /** ms; `0` = off. See {@link WebSocketOptions.keepAliveInterval}. */
  readonly keepAliveInterval: number;
  /** ms; `0` = off. See {@link WebSocketOptions.keepAliveTimeout}. */
  readonly keepAliveTimeout: number;
  /** ms; `0` = off. See {@link WebSocketOptions.idleTimeout}. */
  readonly idleTimeout: number;
  /** Lower-cased allowed origins; `undefined` when every origin is allowed. */
  readonly allowedOrigins: ReadonlySet<string> | undefined;
  /** Bytes. See {@link WebSocketOptions.maxMessageSize}. */
  readonly maxMessageSize: number;
  /** ms. See {@link WebSocketOptions.closeTimeout}. */
  readonly closeTimeout: number;
  /** Bytes. See {@link WebSocketOptions.sendHighWaterMark}. */
  readonly sendHighWaterMark: number;
  /** 0 when off. */
  readonly sendBufferLimit: number;
  /** 0 when off. */
  readonly receiveBufferLimit: number;
  /** 0 when off. */
  readonly maxConnections: number;
  /** In ms. */
  readonly maxConnectionsRetryAfter: number;
  /** 0 when off. */
  readonly maxMessagesPerSecond: number;
  /** At least 1. */
  readonly messageBurst: number;
  /** 0 when off. */
  readonly maxBytesPerSecond: number;
  /** At least 1. */
  readonly byteBurst: number;
  /** `undefined`: no metrics. */
  readonly meter: MetricsMeter | undefined;
  /** Receives errors the handler did not catch. See {@link WebSocketOptions.onError}. */
  readonly onError: (error: unknown) => void;
}

/** The default values, as documented on {@link WebSocketOptions}. */
export const DEFAULT_OPTIONS = {
  keepAliveInterval: 120_000,
  keepAliveTimeout: 0,
  idleTimeout: 0,
  maxMessageSize: 16 * 1024 * 1024,
  closeTimeout: 30_000,
  sendHighWaterMark: 1024 * 1024,
  sendBufferLimit: 16 * 1024 * 1024,
  receiveBufferLimit: 16 * 1024 * 1024,
  maxConnections: 0,
  maxConnectionsRetryAfter: 5_000,
  maxMessagesPerSecond: 0,
  maxBytesPerSecond: 0,
} as const;

/** Throws a RangeError unless `value` is a finite, non-negative number. */
export function checkDuration(name: string, value: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a finite number >= 0, got ${String(value)}`);
  }
  return value;
}

/**
 * The longest delay a timer holds on every runtime, in ms (2^31 - 1, about 24.8 days): `setTimeout` stores it as a
 * 32-bit signed integer, and a longer one fires at once (Node and Bun warn and wait 1 ms; Deno's WebSocket idle
 * timer then pings and gives up on the peer at once).
 */
export const MAX_TIMER_DELAY = 2_147_483_647;

/** Throws a RangeError unless `value` is a duration a timer can hold: finite, >= 0, at most {@link MAX_TIMER_DELAY}. */
export function checkTimerDelay(name: string, value: number): number {
  checkDuration(name, value);
  if (value > MAX_TIMER_DELAY) {
    throw new RangeError(`${name} must be at most ${MAX_TIMER_DELAY} ms (about 24.8 days, the longest timer every runtime holds), got ${value}`);
  }
  return value;
}

// A burst defaults to one second's worth of the rate; either way it holds at least one unit (one message, one byte).
function checkBurst(name: string, value: number | undefined, rate: number): number {
  if (value === undefined) return Math.max(rate, 1);
  checkDuration(name, value);
  if (value < 1) throw new RangeError(`${name} must be at least 1, got ${value}`);
  return value;
}

// An origin as a browser serializes it into `Origin` (RFC 6454 §6.2): scheme "://" host [":" port], nothing after.
const SERIALIZED_ORIGIN = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#\s]+$/;

// An http(s) origin as the URL Standard serializes it: no default port (`:443`), the host in ASCII (punycode).
function asBrowsersSendIt(origin: string): boolean {
  if (!/^https?:/i.test(origin)) return true;
  try {
    return new URL(origin).origin === origin.toLowerCase();
  } catch {
    return false;
  }
}

// An entry no browser's `Origin` can equal would refuse every browser with 403 and no word why: refused up front.
function checkOrigins(origins: readonly string[]): readonly string[] {
  if (!Array.isArray(origins)) throw new TypeError(`allowedOrigins must be an array of origins, got ${typeof origins}`);
  for (const origin of origins) {
    if (origin === "*" || origin === "null" || (typeof origin === "string" && SERIALIZED_ORIGIN.test(origin) && asBrowsersSendIt(origin))) continue;
    throw new RangeError(`allowedOrigins entry '${String(origin)}' is not an origin as browsers send it: scheme://host[:port], without a path, a trailing slash or a default port (RFC 6454 §6.2)`);
  }
  return origins;
}

function reportToConsole(error: unknown): void {
  console.error("uniws:", error);
}

/**
 * @internal An application's `onError` (the server's, the hub's) whose own throw goes to the console with the error
 * it was given, under `label`: thrown from where the core reports (a promise reaction, a timer), it would be an
 * unhandled rejection, which ends a Node process.
 */
export function guardOnError(onError: (error: unknown) => void, label = "uniws"): (error: unknown) => void {
  return (error) => {
    try {
      onError(error);
    } catch (thrown) {
      console.error(`${label}: onError threw`, thrown, "while reporting", error);
    }
  };
}

/** Fills in defaults and validates every option. */
export function resolveOptions(options: WebSocketOptions = {}): ResolvedWebSocketOptions {
  const origins = checkOrigins(options.allowedOrigins ?? []);
  if (options.onError !== undefined && typeof options.onError !== "function") throw new TypeError(`onError must be a function, got ${typeof options.onError}`);
  const anyOrigin = origins.length === 0 || origins.includes("*");
  const maxMessageSize = checkDuration("maxMessageSize", options.maxMessageSize ?? DEFAULT_OPTIONS.maxMessageSize);
  if (maxMessageSize < 1) throw new RangeError("maxMessageSize must be at least 1 byte");
  const sendHighWaterMark = checkDuration("sendHighWaterMark", options.sendHighWaterMark ?? DEFAULT_OPTIONS.sendHighWaterMark);
  const sendBufferLimit = checkDuration(
    "sendBufferLimit",
    options.sendBufferLimit ?? Math.max(DEFAULT_OPTIONS.sendBufferLimit, 4 * sendHighWaterMark),
  );
  if (sendBufferLimit !== 0 && sendBufferLimit < sendHighWaterMark) {
    throw new RangeError(`sendBufferLimit (${sendBufferLimit}) must be 0 or at least sendHighWaterMark (${sendHighWaterMark})`);
  }
  const maxMessagesPerSecond = checkDuration("maxMessagesPerSecond", options.maxMessagesPerSecond ?? DEFAULT_OPTIONS.maxMessagesPerSecond);
  const maxBytesPerSecond = checkDuration("maxBytesPerSecond", options.maxBytesPerSecond ?? DEFAULT_OPTIONS.maxBytesPerSecond);
  const maxConnections = checkDuration("maxConnections", options.maxConnections ?? DEFAULT_OPTIONS.maxConnections);
  if (!Number.isInteger(maxConnections)) throw new RangeError(`maxConnections must be a whole number, got ${maxConnections}`);
  return {
    keepAliveInterval: checkTimerDelay("keepAliveInterval", options.keepAliveInterval ?? DEFAULT_OPTIONS.keepAliveInterval),
    keepAliveTimeout: checkTimerDelay("keepAliveTimeout", options.keepAliveTimeout ?? DEFAULT_OPTIONS.keepAliveTimeout),
    idleTimeout: checkTimerDelay("idleTimeout", options.idleTimeout ?? DEFAULT_OPTIONS.idleTimeout),
    allowedOrigins: anyOrigin ? undefined : new Set(origins.map((origin) => origin.toLowerCase())),
    maxMessageSize,
    closeTimeout: checkTimerDelay("closeTimeout", options.closeTimeout ?? DEFAULT_OPTIONS.closeTimeout),
    sendHighWaterMark,
    sendBufferLimit,
    receiveBufferLimit: checkDuration("receiveBufferLimit", options.receiveBufferLimit ?? DEFAULT_OPTIONS.receiveBufferLimit),
    maxConnections,
    maxConnectionsRetryAfter: checkTimerDelay("maxConnectionsRetryAfter", options.maxConnectionsRetryAfter ?? DEFAULT_OPTIONS.maxConnectionsRetryAfter),
    maxMessagesPerSecond,
    messageBurst: checkBurst("messageBurst", options.messageBurst, maxMessagesPerSecond),
    maxBytesPerSecond,
    byteBurst: checkBurst("byteBurst", options.byteBurst, maxBytesPerSecond),
    meter: options.meter,
    onError: options.onError === undefined ? reportToConsole : guardOnError(options.onError),
  };
}

/**
 * Checks an accept context's own values (not those that depend on the request). Anything but an object (`null`, a
 * string: `accept("chat")` for `accept({ subProtocol: "chat" })`) throws a `TypeError` naming `accept()`: `null` failed
 * with the engine's own message, and a string upgraded with no choice made.
 */
export function validateAcceptContext(accept: WebSocketAcceptContext): void {
  if (typeof accept !== "object" || accept === null) {
    throw new TypeError(`accept() takes an accept context object or nothing, got ${accept === null ? "null" : typeof accept}`);
  }
  if (accept.keepAliveInterval !== undefined) checkTimerDelay("keepAliveInterval", accept.keepAliveInterval);
  if (accept.keepAliveTimeout !== undefined) checkTimerDelay("keepAliveTimeout", accept.keepAliveTimeout);
  const bits = accept.serverMaxWindowBits;
  // zlib cannot produce a raw deflate stream with an 8-bit window, so 9 is the floor (RFC 7692 §7.1.2.1 allows 8–15).
  if (bits !== undefined && (!Number.isInteger(bits) || bits < 9 || bits > 15)) {
    throw new RangeError(`serverMaxWindowBits must be an integer from 9 to 15, got ${String(bits)}`);
  }
}
