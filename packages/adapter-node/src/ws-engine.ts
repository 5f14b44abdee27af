/**
 * The `ws` package as the engine under a core socket: a thin translation of a `ws`
 * WebSocket into the core's {@link EngineSocket} and its events into
 * {@link EngineEvents}.
 *
 * @module
 */
import { isAscii, isUtf8 } from "node:buffer";
import { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { EngineCapabilities, EngineEvents, EngineSendOptions, EngineSocket } from "@uniws/core";

/**
 * The part of a `ws` WebSocket this engine drives. A `ws` `WebSocket` is one; declaring it here keeps `ws`'s
 * types (`@types/ws`) out of the published declarations.
 */
export interface WsWebSocket {
  /** Bytes queued by `ws` and not yet handed to the transport. */
  readonly bufferedAmount: number;
  /** Sends a data frame (`fin: false` starts or continues a fragmented message, RFC 6455 §5.4). */
  send(data: string | Uint8Array, options: { binary: boolean; fin: boolean; compress: boolean }): void;
  /** Sends a Ping (RFC 6455 §5.5.2). */
  ping(data: Uint8Array): void;
  /** Sends a Pong (RFC 6455 §5.5.3). */
  pong(data: Uint8Array): void;
  /** Starts the close handshake (RFC 6455 §7.1.2); without a code the Close frame has no body (§5.5.1). */
  close(code?: number, reason?: string): void;
  /** Destroys the connection at once. */
  terminate(): void;
  /** A data message arrived (binary as a `Buffer`; text too, as UTF-8, with `isBinary` false). */
  on(event: "message", listener: (data: Buffer, isBinary: boolean) => void): unknown;
  /** A Ping or Pong arrived (`ws` answers a Ping itself). */
  on(event: "ping" | "pong", listener: () => void): unknown;
  /** A protocol or transport error; `close` follows. */
  on(event: "error", listener: (error: Error) => void): unknown;
  /** The connection ended, with the close code and reason `ws` reports. */
  on(event: "close", listener: (code: number, reason: Buffer) => void): unknown;
}

/** What `ws` on Node can do. */
export const NODE_CAPABILITIES: EngineCapabilities = {
  pingControl: true,
  fragmentedSend: true,
  compression: true,
  perMessageCompression: true,
  compressionParameters: "per-connection",
  drainEvent: true,
  enforcesMaxMessageSize: true,
  http2: true,
};

// `ws` writes every frame with its own writev, and for small messages that syscall is most of the server's
// time (docs/benchmarks.md). A transport with nothing queued is corked on its first small send of an event-loop
// turn and uncorked once the turn's reads are handled (setImmediate runs after the poll phase), so the echoes of
// one read leave in one writev. Large messages, and transports with data queued (a slow peer: backpressure must
// see each write), are written at once.
const CORK_MAX_BYTES = 16 * 1024;
// Small text is decoded here (Buffer#toString beats a TextDecoder call on Node at these sizes).
const TEXT_AS_STRING_MAX = 1024;
const corked = new Set<Duplex>();

function uncorkAll(): void {
  for (const transport of corked) transport.uncork();
  corked.clear();
}

// Corks `transport` until the turn's reads are handled; whether it is corked now.
function cork(transport: Duplex): boolean {
  // Only TCP and TLS sockets: corking an HTTP/2 stream (RFC 8441) and writing it out from setImmediate
  // corrupts Node 20's heap now and then ("corrupted size vs. prev_size", found by stressing
  // tests/node/http2.test.ts); HTTP/2 frames the writes itself.
  if (!(transport instanceof Socket)) return false;
  if (corked.has(transport)) return true;
  if (transport.writableLength > 0) return false;
  if (corked.size === 0) setImmediate(uncorkAll);
  transport.cork();
  corked.add(transport);
  return true;
}

// One object per connection: the core's engine socket, and what the shared listeners below need (they find it
// on the `ws` socket, as `ws` calls them with `this` set to it), so an idle socket costs no closures. Its helpers are
// module functions: a private method would cost every instance a slot (V8 brands each instance of such a class).
class WsEngineSocket implements EngineSocket {
  readonly #ws: WsWebSocket;
  readonly #transport: Duplex;
  readonly extensions: string;
  readonly events: EngineEvents;
  // The error `ws` reported before its `close` (a protocol error): the cause of the abnormal end.
  lastError: unknown = undefined;
  // Listening to the transport's `drain`: from the first send that left it over its high-water mark, or left bytes
  // queued inside `ws` (compressing). Most sockets never get there, and their transports carry no listener of ours.
  #drainWatched = false;

  constructor(ws: WsWebSocket, transport: Duplex, extensions: string, events: EngineEvents) {
    this.#ws = ws;
    this.#transport = transport;
    this.extensions = extensions;
    this.events = events;
  }

  send(data: string | Uint8Array, options: EngineSendOptions): boolean {
    const transport = this.#transport;
    let payload = data;
    let copied = false;
    if (typeof data !== "string") {
      // `ws` writes a server's payload by reference. Node keeps that reference while a write is corked or queued,
      // and permessage-deflate while zlib works; the caller may reuse its buffer once send() resolves, so copy then.
      const corking = data.byteLength <= CORK_MAX_BYTES && cork(transport);
      if (corking || transport.writableLength > 0 || (options.compress && this.extensions !== "")) {
        payload = Buffer.from(data);
        copied = true;
      }
    } else if (data.length <= CORK_MAX_BYTES) {
      cork(transport);
    }
    this.#ws.send(payload, { binary: !options.text, fin: options.fin, compress: options.compress });
    // Node emits `drain` only after a write past the transport's high-water mark; bytes `ws` still holds (zlib at
    // work) reach the transport later, perhaps past it: listen from then on, so the core hears of the drain.
    if (!this.#drainWatched && (transport.writableNeedDrain || this.#ws.bufferedAmount > transport.writableLength)) {
      this.#drainWatched = true;
      transport.on("drain", () => this.events.drained());
    }
    // A large write the kernel took only in part still points at the caller's bytes.
    return !copied && typeof data !== "string" && transport.writableLength > 0;
  }

  // Counted natively, without encoding the string (the text a handler sends).
  utf8Length(text: string): number {
    return Buffer.byteLength(text, "utf8");
  }

  // Node's native validator (simdutf): far cheaper than a decode for the core's check of text sent as bytes.
  isUtf8(bytes: Uint8Array): boolean {
    return isUtf8(bytes);
  }

  // Buffer#toString: Node's `TextDecoder` takes about 1.6 times as long on large text. ASCII (most JSON) is copied
  // as Latin-1, the same characters without UTF-8 decoding: 12 against 17 µs per 64 KiB, the check included. `ws`
  // delivers text it validated (RFC 6455 §8.1) as a Buffer, so nothing here can be malformed.
  decodeText(bytes: Uint8Array): string {
    const buffer = bytes instanceof Buffer ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return buffer.toString(isAscii(buffer) ? "latin1" : "utf8");
  }

  ping(payload: Uint8Array): void {
    this.#ws.ping(payload);
  }

  pong(payload: Uint8Array): void {
    this.#ws.pong(payload);
  }

  close(code: number | undefined, reason: string): void {
    if (code === undefined) this.#ws.close();
    else this.#ws.close(code, reason);
  }

  terminate(): void {
    this.#ws.terminate();
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  // Node emits `drain` only after a write past the transport's own high-water mark: a buffer that never got there
  // drains unseen, so the core polls for a sender waiting on a lower mark.
  get drainEventMark(): number {
    return this.#transport.writableHighWaterMark;
  }
}

// What the shared listeners below find on the `ws` socket: the connection's engine socket.
const BINDING = Symbol("uniws.binding");

interface Bound {
  [BINDING]: WsEngineSocket;
}

const bindingOf = (ws: WsWebSocket): WsEngineSocket => (ws as unknown as Bound)[BINDING];

function onMessage(this: WsWebSocket, data: Buffer, isBinary: boolean): void {
  // Large text stays the UTF-8 bytes `ws` validated: the core decodes it only if it is handed out whole.
  bindingOf(this).events.message(isBinary || data.byteLength > TEXT_AS_STRING_MAX ? data : data.toString("utf8"), isBinary);
}

// A Ping from the peer proves it alive as much as a Pong; `ws` answers it itself (autoPong).
function onPong(this: WsWebSocket): void {
  bindingOf(this).events.pong();
}

// The Close `ws` sends when it fails the connection, by its documented error code (RFC 6455 §7.4.1): 1007 for
// invalid UTF-8, 1009 for a message over `maxPayload`, 1008 for too many fragments, 1002 for any other frame error.
function failureStatus(error: Error): number | undefined {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string" || !code.startsWith("WS_ERR_")) return undefined;
  if (code === "WS_ERR_INVALID_UTF8") return 1007;
  if (code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH" || code === "WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH") return 1009;
  if (code === "WS_ERR_TOO_MANY_BUFFERED_PARTS") return 1008;
  return 1002;
}

function onError(this: WsWebSocket, error: Error): void {
  const binding = bindingOf(this);
  binding.lastError = error;
  const status = failureStatus(error);
  if (status !== undefined) binding.events.closeSent(status);
}

function onClose(this: WsWebSocket, code: number, reason: Buffer): void {
  const { events, lastError } = bindingOf(this);
  // After a protocol error `ws` reports the code it sent (1002, 1007, 1009); the peer sent no valid Close (RFC 6455 §7.1.5).
  if (lastError !== undefined) events.closed(1006, "", lastError);
  else events.closed(code, reason.toString("utf8"));
}

// `ws`'s own record of the close handshake: not in its typed API, but read by nothing else that `ws` exposes.
interface WsCloseRecord {
  readonly _closeFrameReceived?: boolean;
  readonly _closeFrameSent?: boolean;
  readonly _closeCode?: number;
  readonly _closeMessage?: Uint8Array;
}

// `ws` ends the transport once both Close frames are exchanged (the server closes TCP first, RFC 6455 §7.1.1), then
// emits `close` only when the peer has closed its side too, or after closeTimeout. A peer that keeps its side open
// (waiting for the server's FIN to be acknowledged, or half-open on purpose) left the socket `open` for that long,
// its Close unseen and sends dropped; Deno and Bun report the end at once. The handshake is complete here: report it.
// Found from the transport through `ws`'s own link to its socket (a symbol `ws` sets on it), so that the connection
// pays for one listener and no property of its own.
function onTransportFinish(this: Duplex): void {
  const ws = wsOf(this);
  if (ws === undefined || bindingOf(ws) === undefined) return;
  const record = ws as WsWebSocket & WsCloseRecord;
  // Anything else (a changed `ws`) waits for `close` as before.
  if (record._closeFrameReceived !== true || record._closeFrameSent !== true || typeof record._closeCode !== "number") return;
  onClose.call(ws, record._closeCode, Buffer.from(record._closeMessage ?? new Uint8Array(0)));
}

// The symbol `ws` keys its transport's link to the socket with (`Symbol("websocket")`), found once.
let wsLink: symbol | undefined;

function wsOf(transport: Duplex): WsWebSocket | undefined {
  wsLink ??= Object.getOwnPropertySymbols(transport).find((symbol) => symbol.description === "websocket");
  return wsLink === undefined ? undefined : (transport as unknown as Record<symbol, WsWebSocket | undefined>)[wsLink];
}

/**
 * Wires an upgraded `ws` socket (over `transport`, with the negotiated `extensions` header value) to the core's
 * `events` and reports it open.
 */
export function bindWsSocket(ws: WsWebSocket, transport: Duplex, extensions: string, events: EngineEvents): void {
  const binding = new WsEngineSocket(ws, transport, extensions, events);
  (ws as unknown as Bound)[BINDING] = binding;
  ws.on("message", onMessage);
  ws.on("pong", onPong);
  ws.on("ping", onPong);
  ws.on("error", onError);
  ws.on("close", onClose);
  transport.on("finish", onTransportFinish);
  events.opened(binding);
}
