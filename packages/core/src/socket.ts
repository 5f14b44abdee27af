/**
 * The accepted socket: an awaitable WebSocket with the seed's vocabulary
 * (receive into a buffer with `endOfMessage`, `close` / `closeOutput` / `abort`,
 * a visible state, a close status) over whatever engine the adapter binds.
 *
 * @module
 */
import { CloseStatus, validateCloseStatus } from "./close-status.ts";
import type { EngineCapabilities, EngineEvents, EngineSocket } from "./engine.ts";
import { WebSocketError } from "./errors.ts";
import { Liveness, type LivenessSettings } from "./liveness.ts";
import type { ScheduledTask, Scheduler } from "./scheduler.ts";

/**
 * Where a socket stands (the seed's `WebSocketState`). Engines answer a peer's Close
 * as soon as it arrives (RFC 6455 §5.5.1), so a peer-initiated close moves straight
 * from `open` to `closed`; `closeReceived` is kept for the seed's vocabulary.
 */
export type WebSocketState = "connecting" | "open" | "closeSent" | "closeReceived" | "closed" | "aborted";

/** The type of a data message. */
export type MessageType = "text" | "binary";

/** A whole message, or the peer's close, from {@link UniWebSocket.receive}. */
export type WebSocketMessage =
  | { readonly type: "text"; readonly data: string }
  | { readonly type: "binary"; readonly data: Uint8Array }
  | { readonly type: "close"; readonly closeStatus: number; readonly closeStatusDescription: string };

/** What one `receive(buffer)` filled in (the seed's `WebSocketReceiveResult`). */
export interface ReceiveResult {
  /** Bytes written into the buffer. */
  readonly count: number;
  readonly type: MessageType | "close";
  /** Whether these were the message's last bytes. */
  readonly endOfMessage: boolean;
  /** The peer's close status, when `type` is `"close"`. */
  readonly closeStatus?: number;
  readonly closeStatusDescription?: string;
}

/** Options of one `send`. */
export interface SendOptions {
  /** Defaults to `"text"` for a string and `"binary"` otherwise. */
  readonly type?: MessageType;
  /** `false` sends a part of a message; the next sends continue it. @default true */
  readonly endOfMessage?: boolean;
  /** Send this message uncompressed even when compression is in force (secrets: CRIME/BREACH). */
  readonly disableCompression?: boolean;
}

/** How a socket ended, from the {@link UniWebSocket.closed} promise. */
export interface CloseResult {
  /** The peer's close status; 1005 when its Close frame had none, 1006 when the connection ended without one. */
  readonly closeStatus: number;
  readonly closeStatusDescription: string;
  /** A Close frame was exchanged. */
  readonly wasClean: boolean;
  /** Why the connection was aborted, when it was. */
  readonly error?: unknown;
}

/** Data a send accepts. */
export type SendData = string | Uint8Array | ArrayBuffer | ArrayBufferView;

type Inbound = { readonly text: boolean; readonly data: string | Uint8Array };

interface Partial {
  readonly type: MessageType;
  readonly bytes: Uint8Array;
  offset: number;
}

/** Settings a socket is created with. */
export interface SocketSettings extends LivenessSettings {
  readonly subProtocol: string | undefined;
  readonly maxMessageSize: number;
  readonly sendHighWaterMark: number;
  /** 0 when off. */
  readonly sendBufferLimit: number;
  /** 0 when off. */
  readonly receiveBufferLimit: number;
  readonly capabilities: EngineCapabilities;
  readonly scheduler: Scheduler;
}

const encoder = new TextEncoder();
// 1013 Try Again Later (IANA registry, RFC 6455 §7.4.2): the server cannot keep up with this peer.
const TRY_AGAIN_LATER = 1013;
const strictDecoder = new TextDecoder("utf-8", { fatal: true });
const EMPTY = new Uint8Array(0);

function toBytes(data: SendData): Uint8Array {
  if (typeof data === "string") return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError("send() takes a string, an ArrayBuffer or an ArrayBufferView");
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let length = 0;
  for (const part of parts) length += part.byteLength;
  const whole = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    whole.set(part, offset);
    offset += part.byteLength;
  }
  return whole;
}

// UTF-8 takes at least one byte per UTF-16 unit and at most three, so most strings need no encoding to size.
function exceeds(data: string | Uint8Array, max: number): boolean {
  if (typeof data !== "string") return data.byteLength > max;
  if (data.length > max) return true;
  if (data.length * 3 <= max) return false;
  return encoder.encode(data).byteLength > max;
}

/**
 * An accepted WebSocket. Receive with `for await (const message of socket)`,
 * `receive()` or `receive(buffer)`; send with `send()`, which resolves once the
 * data is queued under the high-water mark.
 *
 * @example
 * ```ts
 * for await (const message of socket) await socket.send(message.data);
 * ```
 */
export class UniWebSocket implements AsyncIterable<{ type: MessageType; data: string | Uint8Array }> {
  /** The sub-protocol selected at accept, or `undefined`. */
  readonly subProtocol: string | undefined;
  /** Settles (never rejects) when the connection has ended. */
  readonly closed: Promise<CloseResult>;

  #state: WebSocketState = "connecting";
  #engine: EngineSocket | undefined;
  readonly #settings: SocketSettings;
  readonly #liveness: Liveness;
  #resolveClosed!: (result: CloseResult) => void;
  #result: CloseResult | undefined;
  #abortError: unknown;

  // Inbound: whole messages from the engine, consumed by receive().
  readonly #inbox: Inbound[] = [];
  #inboxHead = 0;
  // Bytes in the inbox (text by length), bounded by receiveBufferLimit; past it the peer's data is dropped.
  #unreadBytes = 0;
  #inboxOverflowed = false;
  #partial: Partial | undefined;
  #receiving = false;
  #wakeReceiver: (() => void) | undefined;

  // Outbound: the message being sent in parts, and senders waiting for the buffer to drain.
  #outgoingType: MessageType | undefined;
  #outgoingCompress = true;
  #outgoingParts: Uint8Array[] = [];
  #drainWaiters: Array<{ resolve: () => void; reject: (error: unknown) => void }> = [];
  #drainPoll: ScheduledTask | undefined;

  /** @internal Created by the core when a request is accepted. */
  constructor(settings: SocketSettings) {
    this.#settings = settings;
    this.subProtocol = settings.subProtocol;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
    this.#liveness = new Liveness(settings, {
      ping: () => this.#engine?.ping(EMPTY),
      pong: () => this.#engine?.pong(EMPTY),
      idle: () => this.#startClose(CloseStatus.EndpointUnavailable, "Idle timeout"),
      expired: (what) =>
        this.#abort(
          new WebSocketError(
            "CONNECTION_CLOSED",
            what === "keep-alive" ? "The peer did not answer a keep-alive ping in time" : "The peer did not complete the close handshake in time",
          ),
        ),
    }, settings.scheduler);
  }

  /** The socket's state. */
  get state(): WebSocketState {
    return this.#state;
  }

  /** The peer's close status, once the socket has closed. */
  get closeStatus(): number | undefined {
    return this.#result?.closeStatus;
  }

  /** The peer's close reason, once the socket has closed. */
  get closeStatusDescription(): string | undefined {
    return this.#result?.closeStatusDescription;
  }

  /** The extensions in force (`Sec-WebSocket-Extensions` of the handshake answer; "" for none). */
  get extensions(): string {
    return this.#engine?.extensions ?? "";
  }

  /** Bytes queued for sending and not yet written to the network. */
  get bufferedAmount(): number {
    return this.#engine?.bufferedAmount ?? 0;
  }

  /**
   * Receives the next whole message (text as a string, binary as bytes), or the
   * peer's close. Rejects with `CONNECTION_CLOSED` when the connection ended
   * without a Close frame. One receive at a time.
   */
  async receive(): Promise<WebSocketMessage>;
  /**
   * Receives the next part of a message into `buffer` (the seed's
   * `ReceiveAsync(buffer)`): a message larger than the buffer arrives over several
   * calls, `endOfMessage` true on the last.
   */
  async receive(buffer: Uint8Array): Promise<ReceiveResult>;
  async receive(buffer?: Uint8Array): Promise<WebSocketMessage | ReceiveResult> {
    if (this.#receiving) throw new WebSocketError("INVALID_STATE", "Another receive is already pending on this socket");
    if (buffer !== undefined && (!(buffer instanceof Uint8Array) || buffer.byteLength === 0)) {
      throw new TypeError("receive(buffer) needs a non-empty Uint8Array");
    }
    this.#receiving = true;
    try {
      if (this.#partial === undefined) await this.#nextInbound();
      return buffer === undefined ? this.#takeWhole() : this.#takeInto(buffer);
    } finally {
      this.#receiving = false;
    }
  }

  /** Iterates whole data messages until the peer closes or the connection ends. */
  async *[Symbol.asyncIterator](): AsyncIterator<{ type: MessageType; data: string | Uint8Array }> {
    for (;;) {
      let message: WebSocketMessage;
      try {
        message = await this.receive();
      } catch (error) {
        if (error instanceof WebSocketError && error.code === "CONNECTION_CLOSED") return;
        throw error;
      }
      if (message.type === "close") return;
      yield message;
    }
  }

  /**
   * Sends a message, or a part of one with `endOfMessage: false`. Resolves when the
   * data is queued and the socket's buffer is at or below the high-water mark.
   * Rejects with `SEND_BUFFER_FULL`, aborting the connection, when more than
   * `WebSocketOptions.sendBufferLimit` bytes are still buffered.
   */
  send(data: SendData, options: SendOptions = {}): Promise<void> {
    try {
      this.#send(data, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const engine = this.#engine!;
    if (engine.bufferedAmount <= this.#settings.sendHighWaterMark) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.#drainWaiters.push({ resolve, reject });
      if (!this.#settings.capabilities.drainEvent) this.#pollDrain();
    });
  }

  /**
   * Starts the close handshake (RFC 6455 §7.1.2) and resolves when the connection
   * has ended: the peer answered, or `closeTimeout` passed and the connection was aborted.
   */
  async close(closeStatus: number = CloseStatus.NormalClosure, statusDescription = ""): Promise<CloseResult> {
    validateCloseStatus(closeStatus, statusDescription);
    this.#startClose(closeStatus, statusDescription);
    return await this.closed;
  }

  /**
   * Sends a Close frame and returns without waiting for the peer's (the seed's
   * `CloseOutputAsync`). Messages the peer sends before its Close are still received.
   */
  closeOutput(closeStatus: number = CloseStatus.NormalClosure, statusDescription = ""): Promise<void> {
    try {
      validateCloseStatus(closeStatus, statusDescription);
      this.#startClose(closeStatus, statusDescription);
    } catch (error) {
      return Promise.reject(error);
    }
    return Promise.resolve();
  }

  /** Ends the connection at once without a Close frame. The state becomes `aborted`. */
  abort(): void {
    this.#abort(new WebSocketError("CONNECTION_CLOSED", "The socket was aborted"));
  }

  /** @internal The events the adapter reports into. */
  get engineEvents(): EngineEvents {
    return {
      opened: (engine) => this.#opened(engine),
      failed: (error) => this.#ended(CloseStatus.Abnormal, "", error),
      message: (data, binary) => this.#message(data, binary),
      pong: () => this.#liveness.inbound(false),
      drained: () => this.#drained(),
      closed: (code, reason, error) => this.#ended(code, reason, error),
    };
  }

  // ---- engine events ----

  #opened(engine: EngineSocket): void {
    if (this.#state !== "connecting") return;
    this.#engine = engine;
    this.#state = "open";
    this.#liveness.start();
  }

  #message(data: string | Uint8Array, binary: boolean): void {
    if (this.#state === "closed" || this.#state === "aborted") return;
    this.#liveness.inbound(true);
    if (!this.#settings.capabilities.enforcesMaxMessageSize && exceeds(data, this.#settings.maxMessageSize)) {
      this.#startClose(CloseStatus.MessageTooBig, "Message too big");
      return;
    }
    if (this.#inboxOverflowed) return;
    const limit = this.#settings.receiveBufferLimit;
    if (limit > 0 && this.#unreadBytes > limit) {
      this.#inboxOverflowed = true;
      this.#startClose(TRY_AGAIN_LATER, "Receive buffer full");
      return;
    }
    this.#unreadBytes += data.length;
    this.#inbox.push({ text: !binary, data });
    this.#wake();
  }

  #ended(code: number, reason: string, error?: unknown): void {
    if (this.#result !== undefined) return;
    this.#liveness.stop();
    const wasClean = code !== CloseStatus.Abnormal && this.#abortError === undefined;
    // Engine errors (a protocol violation, a reset) reach the application as one typed error, the original as its cause.
    const failure = this.#abortError ??
      (error !== undefined
        ? new WebSocketError("CONNECTION_CLOSED", `The connection failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
        : wasClean
        ? undefined
        : new WebSocketError("CONNECTION_CLOSED", "The connection ended without a Close frame"));
    this.#abortError = failure;
    this.#state = wasClean ? "closed" : "aborted";
    this.#result = failure === undefined
      ? { closeStatus: code, closeStatusDescription: reason, wasClean }
      : { closeStatus: code, closeStatusDescription: reason, wasClean, error: failure };
    this.#outgoingParts = [];
    this.#settleDrainWaiters();
    this.#wake();
    this.#resolveClosed(this.#result);
  }

  #drained(): void {
    const engine = this.#engine;
    if (engine === undefined || engine.bufferedAmount > this.#settings.sendHighWaterMark) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  // ---- sending ----

  #send(data: SendData, options: SendOptions): void {
    const state = this.#state;
    if (state !== "open" && state !== "closeReceived") {
      throw new WebSocketError("INVALID_STATE", `Cannot send on a socket in state '${state}'`);
    }
    const type = options.type ?? (typeof data === "string" ? "text" : "binary");
    if (type !== "text" && type !== "binary") throw new TypeError(`Message type must be 'text' or 'binary', got '${String(type)}'`);
    const endOfMessage = options.endOfMessage ?? true;
    const compress = options.disableCompression !== true;
    if (this.#outgoingType !== undefined) {
      if (type !== this.#outgoingType) {
        throw new WebSocketError("INVALID_STATE", `A ${this.#outgoingType} message is being sent in parts; finish it first`);
      }
      if (compress !== this.#outgoingCompress) {
        throw new TypeError("disableCompression cannot change in the middle of a message");
      }
    }
    const engine = this.#engine!;
    const limit = this.#settings.sendBufferLimit;
    if (limit > 0 && engine.bufferedAmount > limit) {
      const error = new WebSocketError(
        "SEND_BUFFER_FULL",
        `${engine.bufferedAmount} bytes are still buffered for a peer that is not reading (sendBufferLimit ${limit}); the connection was aborted`,
      );
      this.#abort(error);
      throw error;
    }
    const text = type === "text";
    if (this.#settings.capabilities.fragmentedSend) {
      engine.send(typeof data === "string" ? data : toBytes(data), { text, fin: endOfMessage, compress });
    } else if (!endOfMessage) {
      // The engine sends whole messages only: hold the parts until the last one. A copy,
      // since the caller may reuse its buffer once send() resolves (the seed's echo does).
      this.#outgoingParts.push(typeof data === "string" ? toBytes(data) : toBytes(data).slice());
    } else if (this.#outgoingParts.length > 0) {
      this.#outgoingParts.push(toBytes(data));
      const whole = concat(this.#outgoingParts);
      this.#outgoingParts = [];
      engine.send(text ? strictDecoder.decode(whole) : whole, { text, fin: true, compress });
    } else {
      const payload = typeof data === "string" || !text ? (typeof data === "string" ? data : toBytes(data)) : strictDecoder.decode(toBytes(data));
      engine.send(payload, { text, fin: true, compress });
    }
    this.#outgoingType = endOfMessage ? undefined : type;
    this.#outgoingCompress = compress;
  }

  #pollDrain(): void {
    if (this.#drainPoll !== undefined) return;
    const task: ScheduledTask = {
      onDue: (time) => {
        this.#drained();
        if (this.#drainWaiters.length > 0 && this.#result === undefined) return time + 10;
        this.#drainPoll = undefined;
        return undefined;
      },
    };
    this.#drainPoll = task;
    this.#settings.scheduler.schedule(task, 0);
  }

  #settleDrainWaiters(): void {
    if (this.#drainPoll !== undefined) this.#settings.scheduler.cancel(this.#drainPoll);
    this.#drainPoll = undefined;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    // After a clean close the queued data went out ahead of the Close frame; after an abort it may not have.
    for (const waiter of waiters) {
      if (this.#result?.wasClean) waiter.resolve();
      else waiter.reject(this.#connectionClosed());
    }
  }

  // ---- closing ----

  #startClose(code: number, reason: string): void {
    if (this.#state !== "open" && this.#state !== "closeReceived") return;
    this.#state = "closeSent";
    this.#liveness.closing();
    this.#engine!.close(code, reason);
  }

  #abort(error: unknown): void {
    if (this.#result !== undefined) return;
    this.#abortError = error;
    const engine = this.#engine;
    this.#state = "aborted";
    engine?.terminate();
    // Engines report the end asynchronously; settle now so nobody waits on a dead socket.
    this.#ended(CloseStatus.Abnormal, "", error);
  }

  #connectionClosed(): unknown {
    return this.#abortError ?? new WebSocketError("CONNECTION_CLOSED", "The connection has ended");
  }

  // ---- receiving ----

  async #nextInbound(): Promise<void> {
    while (this.#inboxHead >= this.#inbox.length && this.#result === undefined) {
      await new Promise<void>((resolve) => (this.#wakeReceiver = resolve));
    }
  }

  #wake(): void {
    const wake = this.#wakeReceiver;
    this.#wakeReceiver = undefined;
    wake?.();
  }

  #shift(): Inbound | undefined {
    if (this.#inboxHead >= this.#inbox.length) return undefined;
    const item = this.#inbox[this.#inboxHead]!;
    this.#inbox[this.#inboxHead++] = undefined as unknown as Inbound;
    this.#unreadBytes -= item.data.length;
    if (this.#inboxHead === this.#inbox.length) {
      this.#inbox.length = 0;
      this.#inboxHead = 0;
    } else if (this.#inboxHead > 1024 && this.#inboxHead * 2 > this.#inbox.length) {
      this.#inbox.splice(0, this.#inboxHead);
      this.#inboxHead = 0;
    }
    return item;
  }

  #closeMessage(): WebSocketMessage {
    const result = this.#result!;
    if (!result.wasClean) throw this.#connectionClosed();
    return { type: "close", closeStatus: result.closeStatus, closeStatusDescription: result.closeStatusDescription };
  }

  #takeWhole(): WebSocketMessage {
    const partial = this.#partial;
    if (partial !== undefined) {
      this.#partial = undefined;
      const rest = partial.bytes.subarray(partial.offset);
      return partial.type === "text" ? { type: "text", data: new TextDecoder().decode(rest) } : { type: "binary", data: rest };
    }
    const item = this.#shift();
    if (item === undefined) return this.#closeMessage();
    if (item.text) return { type: "text", data: item.data as string };
    return { type: "binary", data: typeof item.data === "string" ? encoder.encode(item.data) : item.data };
  }

  #takeInto(buffer: Uint8Array): ReceiveResult {
    let partial = this.#partial;
    if (partial === undefined) {
      const item = this.#shift();
      if (item === undefined) {
        const close = this.#closeMessage() as Extract<WebSocketMessage, { type: "close" }>;
        return { count: 0, type: "close", endOfMessage: true, closeStatus: close.closeStatus, closeStatusDescription: close.closeStatusDescription };
      }
      const bytes = typeof item.data === "string" ? encoder.encode(item.data) : item.data;
      partial = { type: item.text ? "text" : "binary", bytes, offset: 0 };
    }
    const count = Math.min(buffer.byteLength, partial.bytes.byteLength - partial.offset);
    buffer.set(partial.bytes.subarray(partial.offset, partial.offset + count));
    partial.offset += count;
    const endOfMessage = partial.offset >= partial.bytes.byteLength;
    this.#partial = endOfMessage ? undefined : partial;
    return { count, type: partial.type, endOfMessage };
  }
}
