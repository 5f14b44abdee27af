/**
 * The accepted socket: an awaitable WebSocket with the seed's vocabulary
 * (receive into a buffer with `endOfMessage`, `close` / `closeOutput` / `abort`,
 * a visible state, a close status) over whatever engine the adapter binds.
 *
 * @module
 */
import { CloseStatus, isEmptyCloseStatus, validateCloseStatus } from "./close-status.ts";
import type { EngineCapabilities, EngineEvents, EngineSocket, EngineTopics } from "./engine.ts";
import { refuseDetached } from "./detached.ts";
import { WebSocketError } from "./errors.ts";
import { Liveness, type LivenessSettings } from "./liveness.ts";
import { type ServerMetrics, utf8Length } from "./metrics.ts";
import { hasInboundLimit, InboundRateLimit, type InboundRateSettings } from "./rate-limit.ts";
import { now, type ScheduledTask, unrefTimer } from "./scheduler.ts";

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
  /** The message's type (`"text"` or `"binary"`), or `"close"` when the peer's Close arrived instead. */
  readonly type: MessageType | "close";
  /** Whether these were the message's last bytes. */
  readonly endOfMessage: boolean;
  /** The peer's close status, when `type` is `"close"`. */
  readonly closeStatus?: number;
  /** The peer's close reason, when `type` is `"close"`. */
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
  /**
   * The peer's close status; 1005 when its Close frame had none, 1006 when the connection ended without one
   * or was failed (a protocol error, a message over `maxMessageSize`: RFC 6455 §7.1.5, §7.1.7).
   */
  readonly closeStatus: number;
  /** The peer's close reason (`""` when it gave none). */
  readonly closeStatusDescription: string;
  /** A Close frame was exchanged. */
  readonly wasClean: boolean;
  /**
   * Why the connection was aborted, when it was: a `WebSocketError` (`CONNECTION_CLOSED`, `SEND_BUFFER_FULL`),
   * whose `closeStatus` is the Close the server sent when it failed the connection (1002, 1007, 1009) and whose
   * `cause` is the engine's own error, if any.
   */
  readonly error?: unknown;
}

/** Data a send accepts. */
export type SendData = string | Uint8Array | ArrayBuffer | ArrayBufferView;

/** A data message as `receive()` and iteration hand it out. */
export type DataMessage = Extract<WebSocketMessage, { type: MessageType }>;

// A pending receive: what shape of result it wants, and where to deliver it.
type ReceiveMode = "whole" | "buffer" | "iterate";

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });
// What `#send` did with the data, when the core did not only gather it: the engine keeps a reference to the caller's
// bytes (the send waits until it lets go), or it took them.
const RETAINED = -2;
const HANDED = -1;
// What a send that need not wait returns: one settled promise for all (a settled promise cannot change).
const SENT: Promise<void> = Promise.resolve();

// The engine's buffered bytes as far as a check against `max` needs them: its bound when that is already at or
// below `max` (no call into the runtime), else the exact figure.
function bufferedFor(engine: EngineSocket, max: number): number {
  const bound = engine.bufferedAmountBound ?? -1;
  return bound >= 0 && bound <= max ? bound : engine.bufferedAmount;
}

// An inbox entry: a data message, its text possibly still as the engine's UTF-8 bytes (decoded when handed out whole).
interface Inbound {
  readonly type: MessageType;
  data: string | Uint8Array;
}

// A message being received into buffers, part by part: as bytes (`offset` bytes handed out), or, while it is ASCII,
// as the string the engine gave (`offset` UTF-16 units encoded, each part straight into the caller's buffer).
interface Partial {
  readonly type: MessageType;
  readonly bytes: Uint8Array | undefined;
  readonly text: string | undefined;
  offset: number;
}

/** Settings a socket is created with. */
export interface SocketSettings extends LivenessSettings, InboundRateSettings {
  readonly maxMessageSize: number;
  readonly sendHighWaterMark: number;
  /** 0 when off. */
  readonly sendBufferLimit: number;
  /** 0 when off. */
  readonly receiveBufferLimit: number;
  readonly capabilities: EngineCapabilities;
  /** The server's counting (stats and metrics). */
  readonly metrics: ServerMetrics;
  /** Told once when the socket has ended (the host forgets it). */
  readonly onEnded?: (socket: UniWebSocket) => void;
}

const encoder = new TextEncoder();
// 1013 Try Again Later (IANA registry, RFC 6455 §7.4.2): the server cannot keep up with this peer.
const TRY_AGAIN_LATER = 1013;
// A message's text is what its bytes hold, a leading U+FEFF included: a payload has no byte order mark to strip.
// The decoder that keeps it is the slow one on Bun, so it decodes only payloads that start with one (see `decodeUtf8`).
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const EMPTY = new Uint8Array(0);
const utf8 = new TextDecoder();
const utf8KeepingBom = new TextDecoder("utf-8", { ignoreBOM: true });
// Parts of a message sent with `endOfMessage: false` are gathered (copied) and go out as one frame when
// the message ends, once this many bytes are gathered, or at the next task: a part sent and left alone still
// leaves at once (RFC 6455 §5.4 lets fragment boundaries move), but parts sent back to back cost one frame.
const PART_FLUSH_BYTES = 64 * 1024;
// Gathering buffers of PART_FLUSH_BYTES kept for the sockets that gather next, once an engine has let go of them: a
// message sent in parts then allocates nothing. A fresh one costs ~8.5 µs on Deno (64 KiB zeroed, tracked as external
// memory, collected later) against ~1 µs for the 16 copies of 4 KiB parts into a reused one. Sockets sending in parts
// at once each need their own (their parts interleave), so the spares are as many as were ever in use together, none
// per socket; a process where no message was sent in parts for SPARE_GATHERING_KEPT ms lets them all go.
const spareGathering: Uint8Array[] = [];
const SPARE_GATHERING_KEPT = 1000;
let spareGatheringTaken = false;
let spareGatheringTimer: ReturnType<typeof setTimeout> | undefined;
// A text message received into a buffer and sent straight back (the seed's echo) is sent from the string it
// arrived as, when its bytes are checked unchanged: up to this many, so the check stays cheaper than a decode.
const ECHO_CHECK_MAX = 4096;

// Results of receive(buffer) repeat: every part of a message but the last fills the buffer, and messages often have
// one size. A result seen twice in a row (by type, end and count) becomes one object with its settled promise,
// shared by every socket, so a receive of data already queued then allocates nothing. Every result is frozen, shared
// or not, so code that tries to change one fails the same way every time.
interface SharedResult {
  readonly result: ReceiveResult;
  readonly settled: Promise<ReceiveResult>;
}
// By slot: text, text ending its message, binary, binary ending its message.
const sharedResults: Array<SharedResult | undefined> = [undefined, undefined, undefined, undefined];
const lastCounts = [-1, -1, -1, -1];

const slotOf = (type: MessageType, endOfMessage: boolean): number => (type === "text" ? 0 : 2) + (endOfMessage ? 1 : 0);

function receiveResult(count: number, type: MessageType, endOfMessage: boolean): ReceiveResult {
  const slot = slotOf(type, endOfMessage);
  const shared = sharedResults[slot];
  if (shared !== undefined && shared.result.count === count) return shared.result;
  if (lastCounts[slot] !== count) {
    lastCounts[slot] = count;
    return Object.freeze({ count, type, endOfMessage });
  }
  const result: ReceiveResult = Object.freeze({ count, type, endOfMessage });
  sharedResults[slot] = { result, settled: Promise.resolve(result) };
  return result;
}

// A settled promise of `result`: the shared one when the result is shared.
function settledResult(result: ReceiveResult): Promise<ReceiveResult> {
  const shared = result.type === "close" ? undefined : sharedResults[slotOf(result.type, result.endOfMessage)];
  return shared !== undefined && shared.result === result ? shared.settled : Promise.resolve(result);
}

// A payload's size in bytes: a string's UTF-8 length, counted natively where the engine can.
function byteLength(engine: EngineSocket, data: SendData): number {
  if (typeof data !== "string") return data.byteLength;
  return engine.utf8Length !== undefined ? engine.utf8Length(data) : utf8Length(data);
}

// A thenable that rejects with `error`: resolving a promise with it rejects that promise (one job later), so a pending
// receive needs only its resolve function.
class Rejection {
  readonly #error: unknown;
  constructor(error: unknown) {
    this.#error = error;
  }
  then(_resolve: unknown, reject: (error: unknown) => void): void {
    reject(this.#error);
  }
}

// Keeps a gathering buffer the engine has let go of (`send` did not return true) for the next message in parts.
function reuseGathering(sent: Uint8Array): void {
  if (sent.buffer.byteLength !== PART_FLUSH_BYTES) return;
  spareGathering.push(new Uint8Array(sent.buffer, 0, PART_FLUSH_BYTES));
  if (spareGatheringTimer === undefined) armSpareGathering();
}

// A spare gathering buffer, if one is kept.
function takeSpareGathering(): Uint8Array | undefined {
  spareGatheringTaken = true;
  return spareGathering.pop();
}

function armSpareGathering(): void {
  spareGatheringTimer = setTimeout(() => {
    spareGatheringTimer = undefined;
    // Unused for a whole period: let them go. Else look again a period later.
    if (!spareGatheringTaken) spareGathering.length = 0;
    else armSpareGathering();
    spareGatheringTaken = false;
  }, SPARE_GATHERING_KEPT);
  // The spares must not keep a process alive.
  unrefTimer(spareGatheringTimer);
}

// Whether `bytes` still hold exactly the ASCII string `text`.
function holdsAscii(bytes: Uint8Array, text: string): boolean {
  if (bytes.byteLength !== text.length) return false;
  for (let i = 0; i < bytes.byteLength; i++) if (bytes[i] !== text.charCodeAt(i)) return false;
  return true;
}

// RFC 6455 §5.6, §8.1: a text message is UTF-8. A send is checked before anything goes out or changes, so the
// rejected send has no effect and the socket stays open: bad bytes are the caller's mistake, like a bad argument.
function invalidText(cause?: unknown, more = ""): TypeError {
  const message = `A text message must be valid UTF-8 (RFC 6455 §5.6, §8.1): these bytes are not, and nothing was sent${more}`;
  return cause === undefined ? new TypeError(message) : new TypeError(message, { cause });
}

// The rest of a text message whose parts received into buffers stopped inside a character: no string holds the rest of
// a character, and one without it would lose bytes the message has. The message stays where it is, for receive(buffer).
function splitCharacter(): WebSocketError {
  return new WebSocketError(
    "INVALID_STATE",
    "receive(buffer) stopped inside a character of this text message, so its rest cannot be handed out as a string; " +
      "finish the message with receive(buffer) (it is kept as it was)",
  );
}

// Whether `bytes` can begin UTF-8 text: valid, or valid but for a character cut short at the end. Asked only once a
// message's last part was refused, so no decoder is kept for it.
function beginsUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes, { stream: true });
    return true;
  } catch {
    return false;
  }
}

// The text of UTF-8 bytes the engine validated, U+FEFF at the start kept.
function decodeUtf8(bytes: Uint8Array): string {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? utf8KeepingBom.decode(bytes) : utf8.decode(bytes);
}

// The string a whole text message's bytes hold, for engines that take text as strings. Decoded once with the
// replacing decoder, which has the runtimes' fast path (Deno's fatal decoder takes a generic one, 7x slower at
// 64 KiB): a result without U+FFFD had nothing to replace, so the bytes were UTF-8. Only text that holds U+FFFD
// is decoded again, strictly, to tell a real U+FFFD from bytes that are not UTF-8.
function decodeText(bytes: Uint8Array): string {
  const text = decodeUtf8(bytes);
  if (!text.includes("\uFFFD")) return text;
  try {
    return strictDecoder.decode(bytes);
  } catch (error) {
    throw invalidText(error);
  }
}

function toBytes(data: SendData): Uint8Array {
  if (typeof data === "string") return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError("send() takes a string, an ArrayBuffer or an ArrayBufferView");
}

// UTF-8 takes at least one byte per UTF-16 unit and at most three, so most strings need no encoding to size.
function exceeds(data: string | Uint8Array, max: number): boolean {
  if (typeof data !== "string") return data.byteLength > max;
  if (data.length > max) return true;
  if (data.length * 3 <= max) return false;
  return encoder.encode(data).byteLength > max;
}

// A socket's state that most idle sockets never have, made on first use: one field per socket instead of ten.
class SocketExtras {
  // Made when first asked for: most sockets' end is never awaited.
  closed: Promise<CloseResult> | undefined = undefined;
  resolveClosed: ((result: CloseResult) => void) | undefined = undefined;
  // A close asked for before the upgrade completed (a shutdown).
  pendingClose: { code: number; reason: string } | undefined = undefined;
  // The status of the Close the server side sent when it started the close (the core or the engine), for the figures.
  serverCloseStatus: number | undefined = undefined;
  abortError: unknown = undefined;
  // Whether the application itself ended the connection (close, closeOutput, abort): a send after that is its mistake.
  closedByApplication = false;
  // The core closed for a policy (size, rate, receive buffer): the peer's later data is dropped, not received.
  refusing = false;
  // The status of the Close sent when the connection was failed (RFC 6455 §7.1.7), by the engine or by the core.
  failedWith: number | undefined = undefined;
  partial: Partial | undefined = undefined;
  // The engine's bytes of the socket's echo text (`#echoText`), when it was decoded from them.
  echoBytes: Uint8Array | undefined = undefined;
}

// Messages waiting behind a socket's first unread one, made when a second first waits: read from `head` on, the
// array's storage let go of whenever it empties, and kept compact when a long backlog is read slowly.
class InboundQueue {
  items: Inbound[] = [];
  head = 0;

  shift(): Inbound | undefined {
    const items = this.items;
    if (this.head >= items.length) return undefined;
    const item = items[this.head]!;
    items[this.head++] = undefined as unknown as Inbound;
    if (this.head === items.length) {
      items.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > items.length) {
      items.splice(0, this.head);
      this.head = 0;
    }
    return item;
  }
}

// A sender waiting until bufferedAmount is at or below its mark (0 while the engine still holds the caller's bytes).
interface DrainWaiter {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly mark: number;
}

// Outbound state beyond whole messages, made when a socket first sends a part of a message or a sender first waits.
class Outbound {
  // The message being sent in parts (`undefined`: none), and whether it is compressed.
  type: MessageType | undefined = undefined;
  compress = true;
  // A frame of that message has gone out: its text can no longer be checked whole by the core.
  sent = false;
  // Parts of the message being sent, gathered (a copy) and not yet given to the engine; allocated when needed.
  gathered: Uint8Array | undefined = undefined;
  gatheredLength = 0;
  drainWaiters: DrainWaiter[] | undefined = undefined;
  drainPoll: ScheduledTask | undefined = undefined;
  // Whole messages of the server's own (the hub's) that came while the message above was being sent: each goes out
  // after its last part (`sendApart`), never as a part of it. Their bytes count in `bufferedAmount`.
  held: Array<string | Uint8Array> | undefined = undefined;
  heldBytes = 0;
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
export class UniWebSocket implements AsyncIterable<DataMessage> {
  /** The sub-protocol selected at accept, or `undefined`. */
  readonly subProtocol: string | undefined;

  #state: WebSocketState = "connecting";
  #engine: EngineSocket | undefined;
  readonly #settings: SocketSettings;
  // The engine's events and the socket's deadlines: one object.
  readonly #events: Liveness & EngineEvents;
  #openWaiter: { resolve: (socket: UniWebSocket) => void; reject: (error: unknown) => void } | undefined;
  #result: CloseResult | undefined;
  // What most idle sockets never need (a close under way, a message read in parts, an echo), and the outbound state
  // of a message sent in parts or a sender waiting: each made on first use, so an idle socket costs two fields.
  #extras: SocketExtras | undefined;
  #outbound: Outbound | undefined;
  // Operations (docs/operations.md): when the socket opened (ms, -1 before), its inbound rate limits if any.
  #openedAt = -1;
  readonly #inboundLimit: InboundRateLimit | undefined;

  // Inbound: whole messages from the engine, consumed by receive(). The first waiting is in a field of its own: most
  // sockets hold at most one at a time, and then keep no queue (nor a queue's storage, made anew per message once
  // emptied). Later ones queue behind it in a queue made when first needed; `#first` is empty only when it is.
  #first: Inbound | undefined;
  #later: InboundQueue | undefined;
  // Bytes in the inbox (text by length), bounded by receiveBufferLimit.
  #unreadBytes = 0;
  // The pending receive, in fields rather than a record per receive (an idle socket always has one): the caller's
  // buffer (`receive(buffer)`) or the mode, and its promise's resolve function. Only that one is kept: the reject
  // function (and a field for it) would cost every idle socket 64 B in V8, and a failure is delivered as a
  // {@link Rejection} instead.
  #receiving: Uint8Array | "whole" | "iterate" | undefined;
  #resolveReceive: ((value: never) => void) | undefined;
  // The last text message handed out, while sending it straight back can skip a conversion and a count: the string it
  // was decoded to from the engine's bytes (`SocketExtras.echoBytes`), the string the engine gave, or the ASCII string
  // copied into a caller's buffer; `#echoLength` is its UTF-8 length. In the socket itself, not in its extras: every
  // socket that receives text has one for a moment, and extras made for it would stay with each idle socket.
  #echoText: string | undefined;
  #echoLength = 0;

  // Sockets that started gathering parts, flushed together by one timer at the next task (engines with
  // `fragmentedSend` only, none of which has `requestScopedIo`: one timer may serve every socket). A socket whose
  // message ended meanwhile has nothing left to flush (a list, not a set: nothing to remove per message).
  static readonly #unflushed: UniWebSocket[] = [];
  static #flushTimer: ReturnType<typeof setTimeout> | undefined;

  /** @internal Made by the core when a request is accepted; `settings` may be shared by many sockets. */
  static create(settings: SocketSettings, subProtocol: string | undefined): UniWebSocket {
    return new UniWebSocket(settings, subProtocol);
  }

  // Private, so the published types refuse `new UniWebSocket()`: a socket comes from `context.accept()` only.
  private constructor(settings: SocketSettings, subProtocol: string | undefined) {
    this.#settings = settings;
    this.subProtocol = subProtocol;
    this.#events = new UniWebSocket.#Events(this);
    this.#inboundLimit = hasInboundLimit(settings) ? new InboundRateLimit(settings, now()) : undefined;
  }

  #more(): SocketExtras {
    return (this.#extras ??= new SocketExtras());
  }

  #out(): Outbound {
    return (this.#outbound ??= new Outbound());
  }

  /** Settles (never rejects) when the connection has ended. */
  get closed(): Promise<CloseResult> {
    const extras = this.#more();
    if (extras.closed === undefined) {
      const result = this.#result;
      extras.closed = result !== undefined ? Promise.resolve(result) : new Promise((resolve) => (extras.resolveClosed = resolve));
    }
    return extras.closed;
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

  /**
   * Bytes queued for sending and not yet written to the network: the engine's, and
   * those of the hub's messages held until a message being sent in parts ends.
   */
  get bufferedAmount(): number {
    return (this.#engine?.bufferedAmount ?? 0) + (this.#outbound?.heldBytes ?? 0);
  }

  /**
   * Receives the next whole message (text as a string, binary as bytes), or the
   * peer's close. After `receive(buffer)` handed out part of a message, it gives the
   * rest of that message: the bytes not handed out yet, or for text the string they
   * hold. Rejects with `CONNECTION_CLOSED` when the connection ended without a Close
   * frame, and with `INVALID_STATE` when `receive(buffer)` stopped inside a character
   * of a text message (no string holds the rest of a character): the message stays as
   * it was, for `receive(buffer)` to finish. One receive at a time.
   */
  receive(): Promise<WebSocketMessage>;
  /**
   * Receives the next part of a message into `buffer` (the seed's
   * `ReceiveAsync(buffer)`): a message larger than the buffer arrives over several
   * calls, `endOfMessage` true on the last. The result is frozen, and equal results
   * may be one shared object. Rejects with a `TypeError` for a buffer of no bytes, also
   * one detached (transferred away) while the receive waited: the message is kept.
   */
  receive(buffer: Uint8Array): Promise<ReceiveResult>;
  receive(buffer?: Uint8Array): Promise<WebSocketMessage | ReceiveResult> {
    if (buffer !== undefined && (!(buffer instanceof Uint8Array) || buffer.byteLength === 0)) {
      return Promise.reject(new TypeError("receive(buffer) needs a non-empty Uint8Array"));
    }
    return this.#receive(buffer === undefined ? "whole" : "buffer", buffer);
  }

  /**
   * The next whole data message already received, without waiting: `undefined`
   * when none is queued (or while a `receive()` is pending: it gets them first).
   * For bindings that deliver each message as an event (a Durable Object's
   * `webSocketMessage`) once the core has applied its checks to it. Throws
   * `INVALID_STATE` where `receive()` rejects with it.
   */
  takeReceived(): DataMessage | undefined {
    if (this.#receiving !== undefined || (this.#extras?.partial === undefined && this.#first === undefined)) return undefined;
    return this.#takeWhole() as DataMessage;
  }

  /**
   * Iterates whole data messages until the peer closes or the connection ends. The
   * first may be the rest of a message partly received with `receive(buffer)`, as
   * `receive()` gives it (and rejects with `INVALID_STATE` when no string holds it).
   * Leaving the iteration (`break`, or the iterator's `return()`) ends it only: the
   * socket stays open, a `next()` still waiting resolves done, and later messages are
   * the next receive's. One receive at a time: a `next()` while another receive waits
   * rejects with `INVALID_STATE`.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<DataMessage> {
    return new UniWebSocket.#Iterator(this);
  }

  /**
   * Sends a message, or a part of one with `endOfMessage: false`. Resolves when the
   * data is queued and the socket's buffer is at or below the high-water mark; the
   * caller may then reuse the bytes it passed.
   * Rejects with `SEND_BUFFER_FULL`, aborting the connection, when more than
   * `WebSocketOptions.sendBufferLimit` bytes are still buffered. Rejects with a
   * `TypeError`, before anything is sent or changes, for a bad argument: bytes on a
   * detached `ArrayBuffer` (one transferred away), text bytes that are not UTF-8
   * (RFC 6455 §8.1), a `type` other than `"text"` or `"binary"`.
   */
  send(data: SendData, options: SendOptions = {}): Promise<void> {
    let outcome: number;
    try {
      outcome = this.#send(data, options);
    } catch (error) {
      return Promise.reject(error);
    }
    const mark = this.#settings.sendHighWaterMark;
    // A gathered part's outcome may be a bound over the mark: the exact figure then decides.
    if (outcome !== RETAINED && ((outcome >= 0 && outcome <= mark) || bufferedFor(this.#engine!, mark) <= mark)) return SENT;
    const retained = outcome === RETAINED;
    const waitFor = retained ? 0 : mark;
    return new Promise((resolve, reject) => {
      (this.#out().drainWaiters ??= []).push({ resolve, reject, mark: waitFor });
      // Drain events come only past the engine's own high-water mark: a retained write, or a mark below the engine's,
      // needs the poll too (Node's buffer drained under its mark, and no event ever told the waiting send).
      if (retained || !this.#settings.capabilities.drainEvent || waitFor < (this.#engine!.drainEventMark ?? 0)) this.#pollDrain();
    });
  }

  /**
   * @internal Sends `message` as a whole message of its own, for the server rather than the handler (the hub's
   * delivery). While the handler is sending a message in parts (`endOfMessage: false`), a `send` would continue that
   * message; this one is held instead (its bytes copied) and sent right after the message's last part, so neither
   * is joined to the other nor lost. Resolves at once when held; it is dropped if the connection ends first.
   */
  sendApart(message: SendData): Promise<void> {
    const outbound = this.#outbound;
    const state = this.#state;
    if (outbound?.type === undefined || (state !== "open" && state !== "closeReceived")) return this.send(message);
    try {
      refuseDetached(message, "send()");
      const data = typeof message === "string" ? message : toBytes(message).slice();
      outbound.heldBytes += byteLength(this.#engine!, data);
      (outbound.held ??= []).push(data);
    } catch (error) {
      return Promise.reject(error);
    }
    return SENT;
  }

  /** @internal Whether a message is being sent in parts: a whole message sent now would continue it. */
  get sendingInParts(): boolean {
    return this.#outbound?.type !== undefined;
  }

  /**
   * Starts the close handshake (RFC 6455 §7.1.2) and resolves when the connection
   * has ended: the peer answered, or `closeTimeout` passed and the connection was aborted.
   */
  async close(closeStatus: number = CloseStatus.NormalClosure, statusDescription = ""): Promise<CloseResult> {
    this.#validateClose(closeStatus, statusDescription);
    this.#more().closedByApplication = true;
    this.#startClose(closeStatus, statusDescription);
    return await this.closed;
  }

  /**
   * Sends a Close frame and returns without waiting for the peer's (the seed's
   * `CloseOutputAsync`). Messages the peer sends before its Close are still received.
   */
  closeOutput(closeStatus: number = CloseStatus.NormalClosure, statusDescription = ""): Promise<void> {
    // Checked first: a refused status is not the application's close (a later peer close stays the peer's).
    try {
      this.#validateClose(closeStatus, statusDescription);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#more().closedByApplication = true;
    return this.shutdown(closeStatus, statusDescription);
  }

  /**
   * Sends a Close frame on behalf of the server rather than the handler (a shutdown,
   * the hub's slow-consumer policy, a binding's idle timeout), like `closeOutput`:
   * to the handler the connection then ends through no fault of its own, so its later
   * sends reject with `CONNECTION_CLOSED` (not `INVALID_STATE`) and are not reported
   * to `onError`. Rejects with `INVALID_CLOSE_STATUS` for a status or a description
   * (at most 123 UTF-8 bytes) no Close frame may carry (RFC 6455 §5.5, §7.4).
   */
  shutdown(closeStatus: number = CloseStatus.EndpointUnavailable, statusDescription = ""): Promise<void> {
    try {
      this.#validateClose(closeStatus, statusDescription);
      this.#startClose(closeStatus, statusDescription);
    } catch (error) {
      return Promise.reject(error);
    }
    return Promise.resolve();
  }

  // The application's close status and reason. The peer's own status, once its Close ended the connection, is the
  // seed loop's answer and sends nothing (the engine echoed it): taken even where the core would not send it (1014).
  #validateClose(closeStatus: number, statusDescription: string): void {
    const result = this.#result;
    const echo = result !== undefined && result.wasClean && closeStatus === result.closeStatus;
    validateCloseStatus(echo ? CloseStatus.NormalClosure : closeStatus, statusDescription);
  }

  /** Ends the connection at once without a Close frame. The state becomes `aborted`. */
  abort(): void {
    this.#more().closedByApplication = true;
    this.#abort(new WebSocketError("CONNECTION_CLOSED", "The socket was aborted"));
  }

  /** @internal The events the adapter reports into. */
  get engineEvents(): EngineEvents {
    return this.#events;
  }

  /** @internal What the socket's engine can do (the hub reads `requestScopedIo`). */
  get capabilities(): EngineCapabilities {
    return this.#settings.capabilities;
  }

  /** @internal Counts a whole message the hub queued on this socket through the engine's own publish. */
  countPublished(binary: boolean, bytes: number): void {
    this.#settings.metrics.sent(binary, bytes, true);
  }

  /** @internal The engine's native pub/sub for this socket, if it has one (used by the hub). */
  get engineTopics(): EngineTopics | undefined {
    return this.#engine?.topics;
  }

  // One small object per socket (not a closure per event) serves the engine and keeps the deadlines.
  static #Events = class SocketEvents extends Liveness implements EngineEvents {
    readonly #socket: UniWebSocket;
    constructor(socket: UniWebSocket) {
      super();
      this.#socket = socket;
    }
    protected get settings(): LivenessSettings {
      return this.#socket.#settings;
    }
    opened(engine: EngineSocket): void {
      this.#socket.#opened(engine);
    }
    failed(error: unknown): void {
      this.#socket.#ended(CloseStatus.Abnormal, "", error);
    }
    message(data: string | Uint8Array, binary: boolean): void {
      this.#socket.#message(data, binary);
    }
    pong(): void {
      this.inbound(false);
    }
    drained(): void {
      this.#socket.#drained();
    }
    closeSent(code: number): void {
      this.#socket.#closeSent(code);
    }
    closed(code: number, reason: string, error?: unknown): void {
      this.#socket.#ended(code, reason, error);
    }
    ping(): void {
      this.#socket.#engine?.ping(EMPTY);
    }
    heartbeat(): void {
      this.#socket.#engine?.pong(EMPTY);
    }
    idle(): void {
      this.#socket.#startClose(CloseStatus.EndpointUnavailable, "Idle timeout");
    }
    expired(what: "keep-alive" | "close"): void {
      const message = what === "keep-alive"
        ? "The peer did not answer a keep-alive ping in time"
        : "The peer did not complete the close handshake in time";
      this.#socket.#abort(new WebSocketError("CONNECTION_CLOSED", message));
    }
  };

  // One small object per iteration, its methods on the prototype (no closures kept for the socket's life). Not the
  // events object, though that would save it: the iterator is the application's, and must not carry the engine's
  // callbacks (calling one would act as the engine).
  static #Iterator = class SocketIterator implements AsyncIterableIterator<DataMessage> {
    // `undefined` once returned: that iteration is over, as a generator's is after `return()`.
    #socket: UniWebSocket | undefined;
    constructor(socket: UniWebSocket) {
      this.#socket = socket;
    }
    next(): Promise<IteratorResult<DataMessage>> {
      const socket = this.#socket;
      return socket === undefined ? Promise.resolve(DONE) : socket.#receive("iterate", undefined);
    }
    // Leaving a `for await` early ends the iteration only: the socket stays as it is. A `next()` still waiting (an
    // iterator driven by hand, raced against a timer) resolves done and takes nothing: the message it waited for is
    // the socket's next receive's.
    return(): Promise<IteratorResult<DataMessage>> {
      const socket = this.#socket;
      this.#socket = undefined;
      if (socket !== undefined) socket.#stopIterating();
      return Promise.resolve(DONE);
    }
    [Symbol.asyncIterator](): AsyncIterableIterator<DataMessage> {
      return this;
    }
  };

  // ---- engine events ----

  /**
   * @internal Resolves when the upgrade completes (at once if it has); rejects with `UPGRADE_FAILED` when it does
   * not. Each call waits on its own.
   */
  whenOpen(): Promise<UniWebSocket> {
    if (this.#state !== "connecting") {
      return this.#openedAt >= 0 ? Promise.resolve(this) : Promise.reject(new WebSocketError("UPGRADE_FAILED", "The WebSocket upgrade did not complete"));
    }
    return new Promise((resolve, reject) => {
      const earlier = this.#openWaiter;
      this.#openWaiter = earlier === undefined ? { resolve, reject } : {
        resolve: (socket) => (earlier.resolve(socket), resolve(socket)),
        reject: (error) => (earlier.reject(error), reject(error)),
      };
    });
  }

  #opened(engine: EngineSocket): void {
    if (this.#state !== "connecting") return;
    this.#engine = engine;
    this.#state = "open";
    // One clock read for both (on Deno each is a call into the runtime).
    const time = now();
    this.#events.start(time);
    this.#openedAt = time;
    this.#settings.metrics.opened();
    const waiter = this.#openWaiter;
    this.#openWaiter = undefined;
    waiter?.resolve(this);
    const pending = this.#extras?.pendingClose;
    if (pending !== undefined) this.#startClose(pending.code, pending.reason);
  }

  #message(data: string | Uint8Array, binary: boolean): void {
    if (this.#state === "closed" || this.#state === "aborted") return;
    this.#events.inbound(true);
    if (this.#extras?.refusing === true) return;
    if (!this.#settings.capabilities.enforcesMaxMessageSize && exceeds(data, this.#settings.maxMessageSize)) {
      this.#failTooBig();
      return;
    }
    // The inbound rate limits (one branch when they are off), then the receive buffer. A message dropped by either
    // is not received: only what the handler can read is counted, the same on every runtime.
    const bytes = byteLength(this.#engine!, data);
    if (this.#inboundLimit !== undefined && !this.#withinRate(this.#inboundLimit, bytes)) return;
    const limit = this.#settings.receiveBufferLimit;
    if (limit > 0 && this.#unreadBytes > limit) {
      this.#refuse(TRY_AGAIN_LATER, "Receive buffer full");
      return;
    }
    this.#settings.metrics.received(binary, bytes);
    this.#unreadBytes += data.length;
    // Text may come as the engine's (validated) UTF-8 bytes: decoded only if handed out whole.
    const item: Inbound = binary ? { type: "binary", data: typeof data === "string" ? encoder.encode(data) : data } : { type: "text", data };
    if (this.#first === undefined) this.#first = item;
    else (this.#later ??= new InboundQueue()).items.push(item);
    const receiving = this.#receiving;
    this.#wake();
    if (typeof data === "string" && !binary && this.#first === undefined && (receiving === "iterate" || receiving === "whole")) {
      // Handed out whole at once, as the engine's string: sent straight back (an echo, a relay), its count is this one.
      this.#echoText = data;
      this.#echoLength = bytes;
    }
  }

  // Over a limit, this message and every later one are dropped and the peer is closed with 1008 (RFC 6455 §7.4.1).
  #withinRate(limit: InboundRateLimit, bytes: number): boolean {
    const exceeded = limit.admit(bytes, now());
    if (exceeded === undefined) return true;
    this.#refuse(CloseStatus.PolicyViolation, `${exceeded} exceeded`);
    return false;
  }

  // Closes for a policy: this message and everything the peer sends after it are dropped (engines that read on after
  // sending their Close, as `ws` does, would otherwise deliver them).
  #refuse(code: number, reason: string): void {
    this.#more().refusing = true;
    this.#startClose(code, reason);
  }

  // A message over `maxMessageSize` where the engine has no limit of its own. `ws` and Bun stop reading mid-message
  // and fail the connection after their 1009 (RFC 6455 §7.1.7); the core does as they do, so the socket ends the
  // same everywhere: the peer gets Close 1009, nothing it sends after is received, and the socket ends `aborted`
  // (1006) with a CONNECTION_CLOSED error whose `closeStatus` is 1009, whether or not the peer answers the Close.
  #failTooBig(): void {
    const extras = this.#more();
    extras.failedWith = CloseStatus.MessageTooBig;
    extras.abortError = new WebSocketError(
      "CONNECTION_CLOSED",
      `The connection failed: a message over maxMessageSize (${this.#settings.maxMessageSize} bytes)`,
      { closeStatus: CloseStatus.MessageTooBig },
    );
    this.#refuse(CloseStatus.MessageTooBig, "Message too big");
  }

  // The engine failed the connection itself and sent a Close with `code` (RFC 6455 §7.1.7): the server closed it.
  #closeSent(code: number): void {
    const extras = this.#more();
    extras.serverCloseStatus ??= code;
    extras.failedWith ??= code;
    if (this.#state === "open" || this.#state === "closeReceived") this.#state = "closeSent";
  }

  #ended(code: number, reason: string, error?: unknown): void {
    if (this.#result !== undefined) return;
    this.#events.stop();
    const extras = this.#more();
    const failedWith = extras.failedWith;
    if (failedWith !== undefined) {
      // A failed connection reads no Close from the peer (`ws` and Bun stop reading): 1006 (RFC 6455 §7.1.5).
      code = CloseStatus.Abnormal;
      reason = "";
    }
    // The figures record the Close that ended the connection: the server's when it started the close, else the peer's.
    if (this.#openedAt >= 0) this.#settings.metrics.ended(extras.serverCloseStatus ?? code, (now() - this.#openedAt) / 1000);
    const waiter = this.#openWaiter;
    this.#openWaiter = undefined;
    waiter?.reject(new WebSocketError("UPGRADE_FAILED", "The WebSocket upgrade did not complete", { cause: error ?? `closed with ${code} before opening` }));
    const wasClean = code !== CloseStatus.Abnormal && extras.abortError === undefined;
    // Engine errors (a protocol violation, a reset) reach the application as one typed error, the original as its cause.
    const failure = extras.abortError ??
      (error !== undefined
        ? new WebSocketError("CONNECTION_CLOSED", `The connection failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error, closeStatus: failedWith })
        : wasClean
        ? undefined
        : new WebSocketError("CONNECTION_CLOSED", "The connection ended without a Close frame"));
    extras.abortError = failure;
    this.#state = wasClean ? "closed" : "aborted";
    this.#result = failure === undefined
      ? { closeStatus: code, closeStatusDescription: reason, wasClean }
      : { closeStatus: code, closeStatusDescription: reason, wasClean, error: failure };
    this.#dropGathered();
    if (this.#outbound !== undefined) {
      this.#outbound.held = undefined;
      this.#outbound.heldBytes = 0;
    }
    this.#forgetEcho();
    this.#settleDrainWaiters();
    this.#wake();
    this.#settings.onEnded?.(this);
    extras.resolveClosed?.(this.#result);
    extras.resolveClosed = undefined;
  }

  #drained(): void {
    const engine = this.#engine;
    const outbound = this.#outbound;
    const waiters = outbound?.drainWaiters;
    if (engine === undefined || waiters === undefined || waiters.length === 0) return;
    const buffered = engine.bufferedAmount;
    outbound!.drainWaiters = waiters.filter((waiter) => buffered > waiter.mark);
    for (const waiter of waiters) if (buffered <= waiter.mark) waiter.resolve();
  }

  // ---- sending ----

  // Returns what became of the data: RETAINED, HANDED, or (only gathered) the engine's bufferedAmount or a bound on it.
  #send(data: SendData, options: SendOptions): number {
    const state = this.#state;
    if (state !== "open" && state !== "closeReceived") {
      // After a close the application asked for, a send is its own mistake; after one the peer, the policy
      // (idle timeout, limits) or the server started, the connection is simply over.
      if (state === "connecting" || this.#extras?.closedByApplication === true) {
        throw new WebSocketError("INVALID_STATE", `Cannot send on a socket in state '${state}'`);
      }
      throw new WebSocketError("CONNECTION_CLOSED", `Cannot send: the connection is ${state === "closeSent" ? "closing" : "over"} (state '${state}')`);
    }
    const type = options.type ?? (typeof data === "string" ? "text" : "binary");
    if (type !== "text" && type !== "binary") throw new TypeError(`Message type must be 'text' or 'binary', got '${String(type)}'`);
    refuseDetached(data, "send()");
    const endOfMessage = options.endOfMessage ?? true;
    const compress = options.disableCompression !== true;
    let outbound = this.#outbound;
    if (outbound?.type !== undefined) {
      if (type !== outbound.type) {
        throw new WebSocketError("INVALID_STATE", `A ${outbound.type} message is being sent in parts; finish it first`);
      }
      if (compress !== outbound.compress) {
        throw new TypeError("disableCompression cannot change in the middle of a message");
      }
    }
    const engine = this.#engine!;
    const limit = this.#settings.sendBufferLimit;
    const buffered = limit > 0 ? bufferedFor(engine, limit) : HANDED;
    if (buffered > limit) {
      const error = new WebSocketError(
        "SEND_BUFFER_FULL",
        `${buffered} bytes are still buffered for a peer that is not reading (sendBufferLimit ${limit}); the connection was aborted`,
      );
      this.#abort(error);
      throw error;
    }
    const text = type === "text";
    const fragmented = this.#settings.capabilities.fragmentedSend;
    let retained: boolean | void = false;
    let outcome = HANDED;
    let sentBytes: number | undefined;
    if (!endOfMessage || (outbound !== undefined && outbound.gatheredLength > 0)) {
      outbound ??= this.#out();
      const bytes = toBytes(data);
      if (!endOfMessage && fragmented && outbound.gatheredLength === 0 && bytes.byteLength >= PART_FLUSH_BYTES) {
        // A large part goes out as it is: nothing to gain from gathering it. As text it is not checked (it may end
        // in the middle of a character): the message is no longer whole anywhere, and the peer checks it (§8.1).
        retained = engine.send(bytes, { text, fin: false, compress });
        outbound.sent = true;
      } else {
        const before = outbound.gatheredLength;
        this.#gather(outbound, bytes);
        if (endOfMessage) {
          const whole = outbound.gathered!.subarray(0, outbound.gatheredLength);
          let message: string | Uint8Array = whole;
          try {
            if (text && !fragmented) message = decodeText(whole);
            else if (text && !outbound.sent) this.#checkText(whole);
          } catch (error) {
            // The rejected part leaves the message as it was: the parts before it stay gathered, for a last part
            // that completes them. Unless they cannot begin UTF-8 text themselves: no last part could, and the
            // socket could send nothing else, so that message is dropped (none of it was sent).
            outbound.gatheredLength = before;
            if (before > 0 && !beginsUtf8(outbound.gathered!.subarray(0, before))) {
              this.#dropGathered();
              outbound.type = undefined;
              if (outbound.held !== undefined) this.#sendHeld(outbound);
              throw invalidText(error, "; the parts sent before it cannot begin UTF-8 text either, so the whole message was dropped");
            }
            throw error;
          }
          this.#dropGathered();
          // The whole is the core's own copy: whether the engine keeps it does not matter. Reused for the next message
          // when the engine has let go of it, or never had it (the text decoded from it went instead).
          if (engine.send(message, { text, fin: true, compress }) !== true || message !== whole) reuseGathering(whole);
        } else if (fragmented && outbound.gatheredLength >= PART_FLUSH_BYTES) {
          this.#flushPart(text, compress);
        } else {
          if (fragmented && before === 0) this.#flushLater();
          // Only gathered: the engine's buffer is as it was read above (nothing drains within this call).
          outcome = buffered;
        }
      }
    } else if (typeof data === "string" && text) {
      // Sent straight back as it arrived: the engine's bytes of it, when it takes text as bytes.
      const echoed = data === this.#echoText;
      const echo = fragmented && echoed ? this.#extras?.echoBytes : undefined;
      // Its size is known: no UTF-8 count of the string (2.5 µs on 64 KiB on Deno, 4 µs on Node).
      if (echoed) sentBytes = this.#echoLength;
      this.#forgetEcho();
      engine.send(echo ?? data, { text, fin: true, compress });
    } else if (!text || fragmented) {
      // A string sent as binary goes as its UTF-8 bytes: engines take a string as text only (a web socket sends
      // every string as a text frame, Bun's sendBinary refuses one).
      const bytes = toBytes(data);
      // Text as bytes: checked whole, unless earlier parts of the message have gone out already.
      if (text && outbound?.sent !== true) this.#checkText(bytes);
      retained = engine.send(bytes, { text, fin: true, compress });
    } else {
      // Text as bytes for an engine that takes text as strings only: the string it arrived as, if unchanged.
      const bytes = toBytes(data);
      const echo = this.#echoText;
      // Checked byte by byte only while that stays cheaper than a decode.
      const message = echo !== undefined && echo.length <= ECHO_CHECK_MAX && holdsAscii(bytes, echo) ? echo : decodeText(bytes);
      this.#forgetEcho();
      retained = engine.send(message, { text, fin: true, compress });
    }
    // Operations: count what was queued (a message once, at its last part).
    sentBytes ??= byteLength(engine, data);
    this.#settings.metrics.sent(!text, sentBytes, endOfMessage);
    if (outbound !== undefined) {
      if (endOfMessage) outbound.sent = false;
      outbound.type = endOfMessage ? undefined : type;
      outbound.compress = compress;
      if (endOfMessage && outbound.held !== undefined) this.#sendHeld(outbound);
    }
    return retained === true ? RETAINED : outcome;
  }

  // The message in parts has ended: the messages held meanwhile (`sendApart`) go out now, in the order they came.
  #sendHeld(outbound: Outbound): void {
    const held = outbound.held!;
    outbound.held = undefined;
    outbound.heldBytes = 0;
    // As the hub's own sends: not awaited, a failure is the connection's (it ends, or the policy closes it).
    for (const message of held) this.send(message).catch(() => {});
  }

  // Throws before anything is sent when text bytes are not UTF-8: the engine's native check where it has one, else a
  // decode (the core itself imports no runtime module).
  #checkText(bytes: Uint8Array): void {
    const engine = this.#engine!;
    if (engine.isUtf8 === undefined) decodeText(bytes);
    else if (!engine.isUtf8(bytes)) throw invalidText();
  }

  // Copies `bytes` to the end of the parts gathered for the message being sent.
  #gather(outbound: Outbound, bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    const length = outbound.gatheredLength + bytes.byteLength;
    let gathered = outbound.gathered;
    if (gathered === undefined && length <= PART_FLUSH_BYTES) gathered = outbound.gathered = takeSpareGathering();
    if (gathered === undefined || gathered.byteLength < length) {
      const grown = new Uint8Array(Math.max(length, 2 * (gathered?.byteLength ?? 0), PART_FLUSH_BYTES));
      if (gathered !== undefined) grown.set(gathered.subarray(0, outbound.gatheredLength));
      outbound.gathered = gathered = grown;
    }
    gathered.set(bytes, outbound.gatheredLength);
    outbound.gatheredLength = length;
  }

  // The gathered bytes, handed over: the next part gathers into a new buffer (the engine may keep this one).
  #takeGathered(outbound: Outbound): Uint8Array {
    const whole = outbound.gathered!.subarray(0, outbound.gatheredLength);
    this.#dropGathered();
    return whole;
  }

  #dropGathered(): void {
    const outbound = this.#outbound;
    if (outbound === undefined) return;
    outbound.gathered = undefined;
    outbound.gatheredLength = 0;
  }

  // Called by the part that starts a gathering.
  #flushLater(): void {
    const unflushed = UniWebSocket.#unflushed;
    unflushed.push(this);
    UniWebSocket.#flushTimer ??= setTimeout(() => {
      UniWebSocket.#flushTimer = undefined;
      for (const socket of unflushed) socket.#flushPart(socket.#outbound!.type === "text", socket.#outbound!.compress);
      unflushed.length = 0;
    }, 0);
  }

  // Sends the parts gathered so far as one non-final frame (engines with `fragmentedSend`).
  #flushPart(text: boolean, compress: boolean): void {
    const state = this.#state;
    const outbound = this.#outbound!;
    if (outbound.gatheredLength === 0 || (state !== "open" && state !== "closeReceived")) return;
    const part = this.#takeGathered(outbound);
    outbound.sent = true;
    if (this.#engine!.send(part, { text, fin: false, compress }) !== true) reuseGathering(part);
  }

  #pollDrain(): void {
    const outbound = this.#out();
    if (outbound.drainPoll !== undefined) return;
    const task: ScheduledTask = {
      onDue: (time) => {
        this.#drained();
        if (outbound.drainWaiters !== undefined && outbound.drainWaiters.length > 0 && this.#result === undefined) return time + 10;
        outbound.drainPoll = undefined;
        return undefined;
      },
    };
    outbound.drainPoll = task;
    this.#settings.scheduler.schedule(task, 0);
  }

  #settleDrainWaiters(): void {
    const outbound = this.#outbound;
    if (outbound === undefined) return;
    if (outbound.drainPoll !== undefined) this.#settings.scheduler.cancel(outbound.drainPoll);
    outbound.drainPoll = undefined;
    const waiters = outbound.drainWaiters;
    if (waiters === undefined) return;
    outbound.drainWaiters = undefined;
    // After a clean close the queued data went out ahead of the Close frame; after an abort it may not have.
    for (const waiter of waiters) {
      if (this.#result?.wasClean) waiter.resolve();
      else waiter.reject(this.#connectionClosed());
    }
  }

  // ---- closing ----

  #startClose(code: number, reason: string): void {
    // Asked before the upgrade completed (a shutdown): close as soon as it opens.
    if (this.#state === "connecting") {
      this.#more().pendingClose ??= { code, reason };
      return;
    }
    const state = this.#state;
    if (state !== "open" && state !== "closeReceived") return;
    this.#state = "closeSent";
    const extras = this.#more();
    const recorded = extras.serverCloseStatus;
    // Set first, in case the engine reports the end from inside close(). A "no status" Close counts as 1005.
    extras.serverCloseStatus ??= isEmptyCloseStatus(code) ? CloseStatus.Empty : code;
    try {
      // A "no status" value closes with an empty Close frame (RFC 6455 §5.5.1).
      this.#engine!.close(isEmptyCloseStatus(code) ? undefined : code, reason);
    } catch (error) {
      // The engine could not send the Close (a Worker's socket used from another request): nothing changed.
      if (this.#state === "closeSent") this.#state = state;
      extras.serverCloseStatus = recorded;
      throw error;
    }
    this.#events.closing();
  }

  #abort(error: unknown): void {
    if (this.#result !== undefined) return;
    this.#more().abortError = error;
    const engine = this.#engine;
    this.#state = "aborted";
    engine?.terminate();
    // Engines report the end asynchronously; settle now so nobody waits on a dead socket.
    this.#ended(CloseStatus.Abnormal, "", error);
  }

  #connectionClosed(): unknown {
    return this.#extras?.abortError ?? new WebSocketError("CONNECTION_CLOSED", "The connection has ended");
  }

  // ---- receiving ----

  #receive(mode: ReceiveMode, buffer: Uint8Array | undefined): Promise<never> {
    if (this.#receiving !== undefined) {
      return Promise.reject(new WebSocketError("INVALID_STATE", "Another receive is already pending on this socket"));
    }
    // Something to hand out now: no waiting, no extra promise hops.
    if (this.#hasInbound()) {
      try {
        const value = this.#take(mode, buffer);
        return (mode === "buffer" ? settledResult(value as ReceiveResult) : Promise.resolve(value)) as Promise<never>;
      } catch (error) {
        return Promise.reject(error);
      }
    }
    // The last message is no longer sent straight back from here on: the socket lets go of it while it waits.
    this.#forgetEcho();
    return new Promise((resolve) => {
      this.#receiving = mode === "buffer" ? buffer : mode;
      this.#resolveReceive = resolve;
    });
  }

  // An iteration ended while its `next()` waited: that receive resolves done (one iteration at a time per socket,
  // as one receive at a time: the one waiting is the ending iteration's).
  #stopIterating(): void {
    if (this.#receiving !== "iterate") return;
    const resolve = this.#resolveReceive!;
    this.#receiving = this.#resolveReceive = undefined;
    resolve(DONE as never);
  }

  // The last message handed out is no longer the one a send would send straight back.
  #forgetEcho(): void {
    this.#echoText = undefined;
    const extras = this.#extras;
    if (extras !== undefined) extras.echoBytes = undefined;
  }

  #hasInbound(): boolean {
    return this.#extras?.partial !== undefined || this.#first !== undefined || this.#result !== undefined;
  }

  #take(mode: ReceiveMode, buffer: Uint8Array | undefined): WebSocketMessage | ReceiveResult | IteratorResult<DataMessage> {
    this.#forgetEcho();
    const extras = this.#extras;
    if (mode === "buffer") return this.#takeInto(buffer!);
    if (mode === "whole") return this.#takeWhole();
    // Iteration ends at the peer's close and, quietly, at an abnormal end.
    if (extras?.partial === undefined && this.#first === undefined) return DONE;
    return { done: false, value: this.#takeWhole() as DataMessage };
  }

  #wake(): void {
    const receiving = this.#receiving;
    if (receiving === undefined || !this.#hasInbound()) return;
    const resolve = this.#resolveReceive!;
    this.#receiving = this.#resolveReceive = undefined;
    let value;
    try {
      value = typeof receiving === "string" ? this.#take(receiving, undefined) : this.#take("buffer", receiving);
    } catch (error) {
      resolve(new Rejection(error) as never);
      return;
    }
    resolve(value as never);
  }

  #shift(): Inbound | undefined {
    const item = this.#first;
    if (item === undefined) return undefined;
    this.#unreadBytes -= item.data.length;
    this.#first = this.#later?.shift();
    return item;
  }

  #closeMessage(): WebSocketMessage {
    const result = this.#result!;
    if (!result.wasClean) throw this.#connectionClosed();
    return { type: "close", closeStatus: result.closeStatus, closeStatusDescription: result.closeStatusDescription };
  }

  #takeWhole(): WebSocketMessage {
    const extras = this.#extras;
    const partial = extras?.partial;
    if (partial !== undefined) {
      // The ASCII string's parts end between characters.
      if (partial.text !== undefined) {
        extras!.partial = undefined;
        return { type: "text", data: partial.text.slice(partial.offset) };
      }
      const rest = partial.bytes!.subarray(partial.offset);
      // A UTF-8 continuation byte (10xxxxxx, RFC 3629 §3): the parts stopped inside a character.
      if (partial.type === "text" && (rest[0]! & 0xc0) === 0x80) throw splitCharacter();
      extras!.partial = undefined;
      return partial.type === "text" ? { type: "text", data: decodeUtf8(rest) } : { type: "binary", data: rest };
    }
    const item = this.#shift();
    if (item === undefined) return this.#closeMessage();
    if (typeof item.data !== "string" && item.type === "text") {
      const bytes = item.data;
      this.#more().echoBytes = bytes;
      this.#echoLength = bytes.byteLength;
      this.#echoText = item.data = this.#engine!.decodeText?.(bytes) ?? decodeUtf8(bytes);
    }
    return item as DataMessage;
  }

  #takeInto(buffer: Uint8Array): ReceiveResult {
    // Checked at the call too; a buffer transferred away while the receive waited reads as empty. Refused before
    // anything is taken, so the message stays whole for the next receive.
    if (buffer.byteLength === 0) throw new TypeError("receive(buffer)'s buffer was detached (transferred away) while it waited; the message is kept");
    let partial = this.#extras?.partial;
    if (partial === undefined) {
      const item = this.#shift();
      if (item === undefined) {
        const close = this.#closeMessage() as Extract<WebSocketMessage, { type: "close" }>;
        return Object.freeze({ count: 0, type: "close", endOfMessage: true, closeStatus: close.closeStatus, closeStatusDescription: close.closeStatusDescription });
      }
      const data = item.data;
      if (typeof data === "string") {
        // Encoded straight into the caller's buffer, from a slice no longer than it, as every later part (#textPart).
        const head = data.length > buffer.byteLength ? data.slice(0, buffer.byteLength) : data;
        const { read, written } = encoder.encodeInto(head, buffer);
        if (read === data.length) {
          // ASCII (one byte per unit): sent back unchanged, it goes out as this string (see #send).
          if (written === read && read <= ECHO_CHECK_MAX) {
            this.#echoText = data;
            this.#echoLength = written;
          }
          return receiveResult(written, item.type, true);
        }
        this.#more().partial = partial = { type: item.type, bytes: undefined, text: data, offset: read };
        return receiveResult(this.#textPartEnd(partial, buffer, read, written), item.type, false);
      }
      if (data.byteLength <= buffer.byteLength) {
        buffer.set(data);
        return receiveResult(data.byteLength, item.type, true);
      }
      // Parts follow: a plain view, whose subarray is the fast one (a Node Buffer's goes through its own).
      partial = { type: item.type, bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), text: undefined, offset: 0 };
      this.#more().partial = partial;
    }
    const count = partial.text !== undefined ? this.#textPart(partial, buffer) : this.#bytesPart(partial.bytes!, buffer);
    return receiveResult(count, partial.type, this.#extras!.partial === undefined);
  }

  // Copies the next part of the message's bytes into `buffer`; the message ends with the last.
  #bytesPart(bytes: Uint8Array, buffer: Uint8Array): number {
    const extras = this.#extras!;
    const partial = extras.partial!;
    const count = Math.min(buffer.byteLength, bytes.byteLength - partial.offset);
    buffer.set(bytes.subarray(partial.offset, partial.offset + count));
    partial.offset += count;
    if (partial.offset >= bytes.byteLength) extras.partial = undefined;
    return count;
  }

  // Encodes the next part of the text straight into `buffer` while it is ASCII. At the first character of more than
  // one byte the rest of the message is encoded once and goes on as bytes, so every part but the last fills the buffer
  // (a character may be split between parts, as with bytes) and a runtime that encodes two-byte strings into a short
  // buffer slowly (Bun) does it for one part at most.
  #textPart(partial: Partial, buffer: Uint8Array): number {
    // No more units than the buffer has bytes: a longer slice costs some runtimes (Deno) a copy of it.
    const { read, written } = encoder.encodeInto(partial.text!.slice(partial.offset, partial.offset + buffer.byteLength), buffer);
    partial.offset += read;
    return this.#textPartEnd(partial, buffer, read, written);
  }

  // After `read` units of the text were encoded into `buffer` as `written` bytes (`offset` already moved past them).
  #textPartEnd(partial: Partial, buffer: Uint8Array, read: number, written: number): number {
    const text = partial.text!;
    if (partial.offset >= text.length) {
      this.#extras!.partial = undefined;
      return written;
    }
    if (written === read && written === buffer.byteLength) return written;
    const rest = encoder.encode(text.slice(partial.offset));
    this.#extras!.partial = { type: partial.type, bytes: rest, text: undefined, offset: 0 };
    return written + this.#bytesPart(rest, written === 0 ? buffer : buffer.subarray(written));
  }
}
