/**
 * The contract between the core and an adapter. An adapter translates one runtime's
 * upgrade machinery and socket into these few calls; all policy stays in the core.
 *
 * @module
 */

/** What a runtime's WebSocket engine can do; published per adapter in docs/capabilities.md. */
export interface EngineCapabilities {
  /** The engine can send Ping and Pong frames on request (else keep-alive maps onto the engine's own timer). */
  readonly pingControl: boolean;
  /** The engine can send one message as several frames (else the core buffers parts into one message). */
  readonly fragmentedSend: boolean;
  /** The engine negotiates permessage-deflate (RFC 7692). */
  readonly compression: boolean;
  /** The engine can turn compression off for one message. */
  readonly perMessageCompression: boolean;
  /** How far the accept context's compression parameters reach: each connection, presets, or none. */
  readonly compressionParameters: "per-connection" | "presets" | "none";
  /** The engine tells when its send buffer drains (else the core polls `bufferedAmount`). */
  readonly drainEvent: boolean;
  /** The engine itself fails the connection with 1009 over `maxMessageSize` (else the core checks each whole message and fails it the same way). */
  readonly enforcesMaxMessageSize: boolean;
  /** WebSockets over HTTP/2 extended CONNECT (RFC 8441). */
  readonly http2: boolean;
  /**
   * A socket can only be used from its own request's context (Cloudflare Workers): its
   * timers then run on a scheduler of its own instead of the one the server shares.
   * @default false
   */
  readonly requestScopedIo?: boolean;
}

/** Options for one outgoing data frame. */
export interface EngineSendOptions {
  /** Text (opcode 0x1) rather than binary (0x2). */
  readonly text: boolean;
  /** The last frame of the message (FIN bit, RFC 6455 §5.2). Always true unless `fragmentedSend`. */
  readonly fin: boolean;
  /** Compress this message, when compression was negotiated. */
  readonly compress: boolean;
}

/** An open WebSocket as the engine exposes it. */
export interface EngineSocket {
  /**
   * Queues a data frame. Never called after `close` or `terminate`. `data` is a string
   * only when `options.text` is set (binary always comes as bytes). The caller may
   * reuse a `Uint8Array` once its `send()` resolves, so an engine that keeps a
   * reference to it (instead of copying) returns `true`: the core then resolves only
   * once `bufferedAmount` is back to 0 (told through `drained`, or polled).
   */
  send(data: string | Uint8Array, options: EngineSendOptions): boolean | void;
  /**
   * Whether `bytes` are well-formed UTF-8 (RFC 3629). Optional: an engine that takes
   * text as bytes and has a native check (Node's `buffer.isUtf8`) offers it, and the
   * core calls it on a whole text message given as bytes before `send` (RFC 6455
   * §8.1); without it the core decodes the bytes to check them.
   */
  isUtf8?(bytes: Uint8Array): boolean;
  /**
   * The string a text message's bytes hold, for an engine that delivers text as its
   * validated UTF-8 bytes (`message(bytes, false)`). Optional: the core decodes with a
   * `TextDecoder` without it; an engine with a faster native decode offers it (Node's
   * `Buffer#toString` takes about 60 % of a `TextDecoder`'s time on 64 KiB).
   */
  decodeText?(bytes: Uint8Array): string;
  /**
   * The length of `text` in UTF-8, in bytes: what `stats()`, the metrics and the byte
   * rate limits count for a text message given as a string. Optional: an engine whose
   * runtime counts natively without encoding (`Buffer.byteLength` on Node and Bun: 0.7
   * against 1.7 µs per 64 KiB on Bun) offers it; without it the core encodes into
   * scratch space.
   */
  utf8Length?(text: string): number;
  /** Sends a Ping (only called when `pingControl`). */
  ping(payload: Uint8Array): void;
  /** Sends an unsolicited Pong (only called when `pingControl`). */
  pong(payload: Uint8Array): void;
  /**
   * Sends a Close frame; the engine then waits for the peer's and ends the connection.
   * `code` is `undefined` for a Close frame without a body (no status, no reason; RFC 6455 §5.5.1).
   */
  close(code: number | undefined, reason: string): void;
  /** Ends the connection at once, without a Close frame. */
  terminate(): void;
  /** Bytes queued and not yet written to the network. */
  readonly bufferedAmount: number;
  /**
   * A figure `bufferedAmount` is known to be at or below (bytes) without asking the
   * runtime, or -1 when none is known. Optional: an engine whose `bufferedAmount` is a
   * call into the runtime (Deno's) offers it, and the core reads `bufferedAmount` only
   * when the bound is over the mark or limit it checks.
   */
  readonly bufferedAmountBound?: number;
  /**
   * With `drainEvent`: the engine reports `drained` only once its buffer has gone past
   * this many bytes (Node's sockets emit `drain` only past their own high-water mark,
   * 16 KiB). A sender waiting for a lower mark is then polled, as on an engine without a
   * drain event. Optional: without it, every drain is reported.
   */
  readonly drainEventMark?: number;
  /** The extensions in force, as in the handshake's `Sec-WebSocket-Extensions` answer ("" for none). */
  readonly extensions: string;
  /**
   * The engine's own pub/sub (Bun's topics), when it has one: the hub then fans a
   * message out to a group with one native publish instead of a send per member.
   * Optional; engines without it leave it out and the hub sends to each member.
   */
  readonly topics?: EngineTopics | undefined;
}

/**
 * An engine's native publish/subscribe for one socket. Topics are shared by every
 * socket whose `domain` is the same object (a Bun server).
 */
export interface EngineTopics {
  /** Identifies the pub/sub domain: a publish reaches the subscribers of this domain only. */
  readonly domain: object;
  /**
   * Adds this socket to `topic`'s subscribers in the domain. `group` names the hub
   * group the topic mirrors (`undefined` for the hub's everyone topic and for the
   * hub's momentary unsubscribe/subscribe around a publish), for an engine that keeps
   * membership across restarts (a Durable Object's attachments).
   */
  subscribe(topic: string, group?: string): void;
  /** Removes this socket from `topic`'s subscribers (`group` as for `subscribe`). */
  unsubscribe(topic: string, group?: string): void;
  /**
   * Queues one whole message on every subscriber of `topic` in the domain, this
   * socket included, before it returns (the caller may unsubscribe and resubscribe
   * around it to leave some out). Text when `data` is a string, else binary.
   */
  publish(topic: string, data: string | Uint8Array): void;
}

/** What the core decided when the application accepted; the adapter applies it to the upgrade. */
export interface UpgradePlan {
  /** The selected sub-protocol, to be answered in `Sec-WebSocket-Protocol`; `undefined` for none. */
  readonly subProtocol: string | undefined;
  /** Keep-alive for this socket (ms); adapters without `pingControl` map these onto the engine. */
  readonly keepAliveInterval: number;
  /** How long (ms) the peer has to answer a keep-alive Ping; `0` = no deadline. */
  readonly keepAliveTimeout: number;
  /** Compression as the application asked; the engine negotiates it against the client's offer. */
  readonly compression: CompressionRequest | undefined;
}

/** The accept context's compression fields, when compression was asked for. */
export interface CompressionRequest {
  /** The largest LZ77 window (9–15) the server compresses with: `server_max_window_bits` (RFC 7692 §7.1.2.1). */
  readonly serverMaxWindowBits: number;
  /** `false` asks for `server_no_context_takeover` (RFC 7692 §7.1.1.1). */
  readonly serverContextTakeover: boolean;
}

/**
 * Where the adapter reports what happens to a connection. The core's object keeps
 * these as methods on a prototype: call them on the object (an adapter that wraps
 * it delegates each one; a spread or a detached method would lose them).
 * `opened` comes once when the upgrade completes (or `failed` if it cannot); then
 * any number of `message`, `pong` and `drained`; `closed` comes exactly once at the end.
 */
export interface EngineEvents {
  /** The upgrade completed: `socket` is the open connection (once, before any other event). */
  opened(socket: EngineSocket): void;
  /** The upgrade could not complete (instead of `opened`); `accept` rejects with `UPGRADE_FAILED`. */
  failed(error: unknown): void;
  /**
   * A whole message from the peer. Text may come as a string or as its UTF-8 bytes, which
   * the engine has validated (RFC 6455 §8.1): the core decodes them only when it hands the
   * message out whole. Binary comes as bytes.
   */
  message(data: string | Uint8Array, binary: boolean): void;
  /** A Pong (or any control frame that proves the peer alive). */
  pong(): void;
  /** The engine's send buffer drained. */
  drained(): void;
  /**
   * The engine failed the connection itself and sent a Close frame with status `code`
   * (RFC 6455 §7.1.7: 1002 for a protocol error, 1007 for invalid UTF-8, 1009 for a
   * message over its size limit). `closed` follows; the server's figures record the
   * connection as ended with `code`, as when the core closes it.
   */
  closeSent(code: number): void;
  /**
   * The connection ended. `code` is the peer's close status (1005 when its Close had
   * none, 1006 when no Close frame arrived); `error` is the engine's reason for an
   * abnormal end (a protocol error), if any.
   */
  closed(code: number, reason: string, error?: unknown): void;
}

/** The adapter's side of one request: how to upgrade it. */
export interface UpgradeBinding {
  /** What the engine under this request can do; the core emulates or declines the rest. */
  readonly capabilities: EngineCapabilities;
  /**
   * Starts the upgrade. Returns the HTTP response to send when the runtime needs one
   * returned (Deno's 101), otherwise `undefined`. Reports through `events` after.
   */
  upgrade(plan: UpgradePlan, events: EngineEvents): Response | undefined;
}
