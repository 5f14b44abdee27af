/**
 * One engine over the web `WebSocket` API (WHATWG), the server-side socket Deno's
 * `Deno.upgradeWebSocket`, workerd's `WebSocketPair` and a Durable Object's
 * hibernatable sockets all hand out: the core's {@link EngineSocket} over such a
 * socket, and the translation of its events into {@link EngineEvents}. What differs
 * between those runtimes comes in as {@link WebEngineOptions}.
 *
 * Runtime-neutral: the socket is typed structurally ({@link WebSocketLike}), so this
 * module needs neither DOM types nor any runtime module.
 *
 * @module
 */
import type { EngineEvents, EngineSendOptions, EngineSocket, EngineTopics } from "./engine.ts";
import { CloseStatus, isValidCloseStatus } from "./close-status.ts";
import { WebSocketError } from "./errors.ts";
import { unrefTimer } from "./scheduler.ts";

/** A `message` event: a string for text, an `ArrayBuffer` for binary (with `binaryType = "arraybuffer"`). */
export interface WebSocketLikeMessageEvent {
  /** The message: a string, or an `ArrayBuffer` (a view on some runtimes). */
  readonly data: unknown;
}

/** A `close` event (WHATWG `CloseEvent`): the peer's status, 1005 without one, 1006 without a Close frame. */
export interface WebSocketLikeCloseEvent {
  /** The peer's close status (1005 when its Close had none, 1006 without a Close frame; 0 on some runtimes). */
  readonly code: number;
  /** The peer's close reason. */
  readonly reason: string;
  /** Whether a Close frame was exchanged. */
  readonly wasClean: boolean;
}

/**
 * The web `WebSocket`, as far as the engine uses it. Deno's, workerd's and the
 * browser's sockets all fit; a runtime without `bufferedAmount` (workerd) reads 0.
 */
export interface WebSocketLike {
  /** Set to `"arraybuffer"` by the engine, where the runtime has it. */
  binaryType?: string;
  /** Bytes queued and not yet sent (absent on workerd). */
  readonly bufferedAmount?: number;
  /** Queues a whole message: text for a string, binary for bytes (a view or an `ArrayBuffer`). */
  send(data: string | Uint8Array | ArrayBuffer): void;
  /** Sends a Close frame (RFC 6455 §5.5.1); without a code, one with no status. */
  close(code?: number, reason?: string): void;
  /** Listens to `open`, `message`, `error` and `close`; takes a listener object (`handleEvent`) as an `EventTarget` does. */
  addEventListener(type: string, listener: ((event: any) => void) | { handleEvent(event: any): void }): void;
  /** Stops listening (the engine drops its `open` listener once the socket is open). */
  removeEventListener?(type: string, listener: ((event: any) => void) | { handleEvent(event: any): void }): void;
}

/** How the connection ended, in the core's terms: `closed(code, reason, error)`. */
export type WebCloseReport = [code: number, reason: string, error?: unknown];

/** What differs between the runtimes that use this engine. */
export interface WebEngineOptions {
  /**
   * Ends the connection without a Close frame; returns `false` when the runtime
   * offers no way to (Deno's internal hook), and the engine then sends `abortClose`.
   * @default none: `abortClose` is always sent
   */
  readonly terminate?: (socket: WebSocketLike) => boolean;
  /**
   * The Close the engine sends for an abort it cannot make without one: a status
   * (workerd: 1011), or `undefined` for a Close frame without status (Deno).
   * @default undefined
   */
  readonly abortClose?: number;
  /**
   * Answer a peer's Close with the same status (RFC 6455 §5.5.1) when the runtime
   * does not do it itself (workerd). @default false
   */
  readonly answerPeerClose?: boolean;
  /**
   * An `error` event ends the connection: the runtime reports no `close` after it
   * (workerd, on a message over its own size limit). @default false
   */
  readonly errorEnds?: boolean;
  /**
   * The status of the Close the runtime sent when it failed the connection, read from
   * the error it reports (workerd's names it: `protocolError.statusCode = 1009`), so
   * the figures record the server's status (RFC 6455 §7.1.7); `undefined` when unknown.
   */
  readonly failureStatus?: (error: unknown) => number | undefined;
  /**
   * The socket may only be touched from the request that opened it (a plain
   * Cloudflare Worker): the runtime's error for a use from elsewhere ("Cannot
   * perform I/O on behalf of a different request") is raised as a
   * `WebSocketError` with code `REQUEST_SCOPED_IO`. @default false
   */
  readonly requestScopedIo?: boolean;
  /**
   * Reads a `close` event the runtime reports in its own way (Deno's keep-alive
   * close, its reading of a connection that ended after the server's Close);
   * `undefined` leaves it to the engine's reading. It is given the event, whether
   * the server started the close, the runtime's last error, and the status of the
   * Close frame the server sent (1005 for one without a status; `undefined` when it
   * sent none).
   */
  readonly closeReport?: (event: WebSocketLikeCloseEvent, closing: boolean, error: unknown, sentStatus: number | undefined) => WebCloseReport | undefined;
  /** The engine's native publish/subscribe for this socket (a Durable Object's hub). */
  readonly topics?: EngineTopics;
}

/**
 * The bytes as their `ArrayBuffer` when they are the whole of one (a message as the runtime delivered it),
 * else the view itself: the same binary frame either way, but Deno sends an `ArrayBuffer` through a fast
 * call and a view through a generic one (0.05–0.1 µs more per send).
 */
function wholeBuffer(bytes: Uint8Array): Uint8Array | ArrayBuffer {
  const { buffer } = bytes;
  // A view of a SharedArrayBuffer, which the WebSocket API refuses (its BufferSource is not [AllowShared]), goes as a
  // copy: the core takes any Uint8Array, and Node's `ws` and Bun send such a view as they send any other.
  if (!(buffer instanceof ArrayBuffer)) return bytes.slice();
  return bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength ? buffer : bytes;
}

/** The runtime's message for a socket used from another request than its own (workerd). */
const OTHER_REQUEST = /different request/i;

// Where a socket stands: its events before OPEN count only for the upgrade's outcome (bindWebSocket with `awaitOpen`).
const OPENING = 0;
const OPEN = 1;
const FAILED = 2;
const ENDED = 3;
type Phase = typeof OPENING | typeof OPEN | typeof FAILED | typeof ENDED;

// Gives an engine socket the events it reads into, from `phase` on (this module only: the constructor stays the engine's).
let attach: (engine: WebEngineSocket, events: EngineEvents, phase: Phase) => void;

/**
 * The core's engine over one web `WebSocket`, and its reading of that socket's
 * events: one object per connection (it is also the socket's event listener when
 * bound by {@link bindWebSocket}), so an idle connection holds no closures and no
 * second or third object of its own.
 */
export class WebEngineSocket implements EngineSocket {
  readonly #socket: WebSocketLike;
  readonly #options: WebEngineOptions;
  // Where the socket's events go; `undefined` for a socket only driven as an engine.
  #events: EngineEvents | undefined = undefined;
  #phase: Phase = OPEN;
  #lastError: unknown = undefined;
  // The last `bufferedAmount` read plus what was sent since: the runtime only lowers it in between. -1 before a read.
  #bound = -1;
  // Whether the server started the close, and how: 0 not, -1 by dropping the connection without a Close frame, else
  // the status of the Close frame it sent (1005: one without a status), which `closeReport` is given. One field for
  // both, so a connection costs no more than it did with a flag.
  #closing = 0;

  /** The server started the close (its Close frame is out, or the connection was dropped). */
  get closing(): boolean {
    return this.#closing !== 0;
  }

  /**
   * Wraps an open web socket.
   * @param socket the open web socket
   * @param options the runtime's differences
   */
  constructor(socket: WebSocketLike, options: WebEngineOptions = {}) {
    this.#socket = socket;
    this.#options = options;
  }

  static {
    attach = (engine, events, phase) => {
      engine.#events = events;
      engine.#phase = phase;
    };
  }

  /** The extensions in force: none (the web API negotiates none the core sees). */
  get extensions(): string {
    return "";
  }

  /** The runtime's native publish/subscribe for this socket, if it has one (a Durable Object's hub). */
  get topics(): EngineTopics | undefined {
    return this.#options.topics;
  }

  send(data: string | Uint8Array, _options?: EngineSendOptions): void {
    try {
      this.#socket.send(typeof data === "string" ? data : wholeBuffer(data));
      // A string's UTF-8 takes at most three bytes per UTF-16 unit.
      if (this.#bound >= 0) this.#bound += typeof data === "string" ? 3 * data.length : data.byteLength;
    } catch (error) {
      throw this.#translate(error);
    }
  }

  ping(): void {
    throw new WebSocketError("UNSUPPORTED", "The web WebSocket API cannot send a Ping on request");
  }

  pong(): void {
    throw new WebSocketError("UNSUPPORTED", "The web WebSocket API cannot send a Pong on request");
  }

  close(code: number | undefined, reason: string): void {
    try {
      // No status: a Close frame without a body (RFC 6455 §5.5.1).
      if (code === undefined) this.#socket.close();
      else this.#socket.close(code, reason);
    } catch (error) {
      throw this.#translate(error);
    }
    this.#closing = code ?? CloseStatus.Empty;
  }

  terminate(): void {
    const sent = this.#closing;
    if (sent === 0) this.#closing = -1;
    if (this.#options.terminate?.(this.#socket) === true) return;
    try {
      // Without a way to drop the connection, a Close frame is the nearest the runtime offers.
      if (this.#options.abortClose === undefined) this.#socket.close();
      else this.#socket.close(this.#options.abortClose, "");
      if (sent === 0) this.#closing = this.#options.abortClose ?? CloseStatus.Empty;
    } catch {
      // Already closing (the close timeout ran out): the runtime ends the connection on its own.
    }
  }

  get bufferedAmount(): number {
    const amount = this.#socket.bufferedAmount ?? 0;
    this.#bound = amount;
    return amount;
  }

  /**
   * What `bufferedAmount` is at most without reading it (on Deno each read is a call into the runtime): the
   * last figure read plus the bytes sent since, or -1 before the first read. So the core reads it once per
   * message sent in 4 KiB parts, not once per part, and a small message under the high-water mark not at all.
   */
  get bufferedAmountBound(): number {
    return this.#bound;
  }

  /** A use from another request's context becomes a typed error; anything else passes as it is. */
  #translate(error: unknown): unknown {
    if (this.#options.requestScopedIo !== true || !(error instanceof Error) || !OTHER_REQUEST.test(error.message)) return error;
    return new WebSocketError(
      "REQUEST_SCOPED_IO",
      "This socket belongs to another request: a Cloudflare Worker can only use a socket from the request that opened it. " +
        "Keep sockets that other requests write to (a hub, a shutdown) in a Durable Object (@uniws/cloudflare).",
      { cause: error },
    );
  }

  // ---- the socket's events (WebEngineLink's calls, or the listener's) ----

  /** A data message: a string is text, anything else binary ({@link WebEngineLink}). */
  message(data: unknown): void {
    const events = this.#events!;
    if (typeof data === "string") events.message(data, false);
    else if (data instanceof ArrayBuffer) events.message(new Uint8Array(data), true);
    else if (ArrayBuffer.isView(data)) events.message(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), true);
  }

  /** An error the runtime reported; it is the cause of the abnormal end that follows ({@link WebEngineLink}). */
  error(error: unknown): void {
    this.#lastError = error;
    const status = this.#options.failureStatus?.(error);
    if (status !== undefined) this.#events!.closeSent(status);
  }

  /** The connection ended (reported once; later calls are ignored) ({@link WebEngineLink}). */
  closed(event: WebSocketLikeCloseEvent): void {
    if (this.#phase === ENDED) return;
    this.#phase = ENDED;
    const events = this.#events!;
    const sent = this.#closing;
    const closing = sent !== 0;
    if (this.#options.answerPeerClose === true && !closing && event.wasClean) {
      // Answer the peer's Close with the same status (RFC 6455 §5.5.1), unless the runtime already did.
      // A status no endpoint may send (999, 1004, 5000, …) is a protocol error (RFC 6455 §7.4): 1002, as `ws` and Bun answer.
      const invalid = event.code !== 1005 && !isValidCloseStatus(event.code);
      this.#closing = invalid ? CloseStatus.ProtocolError : event.code;
      try {
        if (invalid) this.#socket.close(CloseStatus.ProtocolError, "Invalid close status");
        else if (event.code === 1005) this.#socket.close();
        else this.#socket.close(event.code, event.reason);
      } catch {
        // Already answered.
      }
      if (invalid) {
        events.closeSent(CloseStatus.ProtocolError);
        events.closed(CloseStatus.Abnormal, "", new Error(`The peer closed with status ${event.code}, which no endpoint may send (RFC 6455 §7.4)`));
        return;
      }
    }
    const report = this.#options.closeReport?.(event, closing, this.#lastError, sent > 0 ? sent : undefined) ??
      (event.code === 0 || event.code === 1006 || !event.wasClean ? [1006, "", this.#lastError] as WebCloseReport : [event.code, event.reason] as WebCloseReport);
    events.closed(...report);
  }

  /** The listener of a socket bound by {@link bindWebSocket} (`handleEvent`, WHATWG DOM §2.7); before `open`, events count only for the upgrade's outcome. */
  handleEvent(event: WebSocketLikeEvent): void {
    switch (event.type) {
      case "message":
        if (this.#phase === OPEN) this.message(event.data);
        return;
      case "error":
        return this.#errorEvent(event);
      case "close":
        return this.#closeEvent(event as WebSocketLikeCloseEvent);
      case "open":
        return this.#opened();
    }
  }

  /** The 101 is out (or failed): a socket that has not opened within `grace` ms never will ({@link bindWebSocket}). */
  responded(grace: number): void {
    if (this.#phase === OPENING) watchOpening(this, grace);
  }

  /** The client went away before the upgrade completed (Deno reports nothing in that case): fails the upgrade of a socket still opening. */
  giveUp(): void {
    if (this.#phase === OPENING) this.#fail(new Error("The client went away before the upgrade completed"));
  }

  #errorEvent(event: WebSocketLikeEvent): void {
    const error = event.error ?? new Error(event.message || "WebSocket error");
    if (this.#phase === OPEN) {
      this.error(error);
      if (this.#options.errorEnds === true) this.closed({ code: 1006, reason: "", wasClean: false });
    } else if (this.#phase === OPENING) {
      this.#fail(error);
    }
  }

  #closeEvent(event: WebSocketLikeCloseEvent): void {
    if (this.#phase === OPENING) this.#fail(new Error(`The socket closed (${event.code}) before the upgrade completed`));
    else if (this.#phase !== FAILED) this.closed(event);
  }

  #opened(): void {
    opening.delete(this);
    if (this.#phase === FAILED) {
      // Given up on already: nobody holds this socket any more.
      if (this.#options.terminate?.(this.#socket) !== true) this.#socket.close();
      return;
    }
    if (this.#phase !== OPENING) return;
    this.#phase = OPEN;
    // Opens once: the listener's record would otherwise stay on the socket for the connection's life.
    this.#socket.removeEventListener?.("open", this);
    this.#events!.opened(this);
  }

  #fail(error: unknown): void {
    opening.delete(this);
    this.#phase = FAILED;
    this.#events!.failed(error);
  }
}

/**
 * The engine's reading of the events of one open socket, for runtimes that deliver
 * them as calls rather than as listeners (a Durable Object's `webSocketMessage`,
 * `webSocketError`, `webSocketClose`): `message`, `error` and `closed`. It is the
 * engine socket itself ({@link WebEngineLink.engine}).
 */
export class WebEngineLink extends WebEngineSocket {
  /** Reports `socket` open to `events` at once. */
  constructor(socket: WebSocketLike, events: EngineEvents, options: WebEngineOptions = {}) {
    super(socket, options);
    attach(this, events, OPEN);
    events.opened(this);
  }

  /** The engine socket reported to the core as opened: this object. */
  get engine(): WebEngineSocket {
    return this;
  }
}

/** Options of {@link bindWebSocket}. */
export interface BindWebSocketOptions extends WebEngineOptions {
  /**
   * Wait for the socket's `open` event (Deno) instead of reporting it open at once
   * (workerd's accepted socket). @default false
   */
  readonly awaitOpen?: boolean;
  /**
   * How long (ms) after `responded` (see {@link bindWebSocket}) the socket may take to open. One timer of the
   * process watches every socket still opening (not for request-scoped runtimes such as workerd, which report
   * sockets open at once). @default 2000
   */
  readonly openGrace?: number;
}

/**
 * Wires a web `WebSocket` to the core's events through its listeners: `opened` at
 * once or on `open`, then `message`, and `closed` once. With `awaitOpen`, an error
 * before `open` fails the upgrade, and so does not opening within `openGrace` ms after
 * `responded` settles (the runtime sent the 101, or could not: Deno's `completed`).
 * The socket's one listener is the engine socket itself (`handleEvent`, WHATWG DOM
 * §2.7), so `socket.addEventListener` must take listener objects as every
 * `EventTarget` does. `options` is kept for the socket's life: share one object
 * between sockets rather than spreading a new one for each.
 */
export function bindWebSocket(socket: WebSocketLike, events: EngineEvents, options: BindWebSocketOptions = {}, responded?: Promise<void>): void {
  socket.binaryType = "arraybuffer";
  const awaitOpen = options.awaitOpen === true;
  const engine = new WebEngineSocket(socket, options);
  attach(engine, events, awaitOpen ? OPENING : OPEN);
  // One listener object for every event: an idle socket holds no closure of its own.
  socket.addEventListener("message", engine);
  socket.addEventListener("error", engine);
  socket.addEventListener("close", engine);
  if (!awaitOpen) {
    events.opened(engine);
    return;
  }
  socket.addEventListener("open", engine);
  const grace = options.openGrace ?? 2000;
  const watch = () => engine.responded(grace);
  responded?.then(watch, watch);
}

/** What a bound socket's listener reads of the events it gets (WHATWG `MessageEvent`, `ErrorEvent`, `CloseEvent`). */
export interface WebSocketLikeEvent extends Partial<WebSocketLikeCloseEvent> {
  /** `open`, `message`, `error` or `close`. */
  readonly type: string;
  /** A `message` event's data. */
  readonly data?: unknown;
  /** An `error` event's error, where the runtime gives one. */
  readonly error?: unknown;
  /** An `error` event's message. */
  readonly message?: string;
}

// Sockets whose 101 went out and that have not opened yet, with the time (ms) each is given up at. One timer
// of the process watches them all: on Deno the 101 goes out before `open` on every handshake, which would
// otherwise arm and clear a timer per handshake.
const opening = new Map<WebEngineSocket, number>();
let openingTimer: ReturnType<typeof setTimeout> | undefined;

function watchOpening(engine: WebEngineSocket, grace: number): void {
  opening.set(engine, Date.now() + grace);
  if (openingTimer === undefined) armOpening(grace);
}

function armOpening(delay: number): void {
  openingTimer = setTimeout(sweepOpening, delay);
  // It must not keep a process alive: left armed when the sockets it watched open, it finds nothing to do.
  unrefTimer(openingTimer);
}

function sweepOpening(): void {
  openingTimer = undefined;
  const time = Date.now();
  let next = Infinity;
  for (const [engine, deadline] of opening) {
    if (deadline <= time) {
      opening.delete(engine);
      engine.giveUp();
    } else if (deadline < next) {
      next = deadline;
    }
  }
  if (next !== Infinity) armOpening(next - time);
}
