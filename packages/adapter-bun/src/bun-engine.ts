/**
 * Bun's built-in WebSocket server (uWebSockets underneath) as the engine under a
 * core socket: a `ServerWebSocket` translated into the core's {@link EngineSocket},
 * and one `websocket` handler object that routes Bun's events to the core through
 * the per-connection state kept in `ws.data`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { ServerWebSocket, WebSocketHandler as BunWebSocketHandler } from "bun";
import { type AnsweredHandshake, type EngineCapabilities, type EngineEvents, type EngineSendOptions, type EngineSocket, type EngineTopics, webRequestUrl } from "@uniws/core";

/** What Bun's engine can do. */
export const BUN_CAPABILITIES: EngineCapabilities = {
  pingControl: true,
  // `send` writes whole messages only: the core joins the parts of a message sent in pieces.
  fragmentedSend: false,
  compression: true,
  perMessageCompression: true,
  // permessage-deflate is a server-wide preset in Bun, not a per-connection negotiation.
  compressionParameters: "presets",
  drainEvent: true,
  // Bun closes with 1009 on its own past `maxPayloadLength`, which the adapter sets to `maxMessageSize`.
  enforcesMaxMessageSize: true,
  // Bun 1.4 does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3).
  http2: false,
};

/** The part of a Bun `Server` the native pub/sub needs. */
export interface BunTopicServer {
  /** Bun's `server.publish`: sends `data` to `topic`'s subscribers; returns bytes sent (0 when none). */
  publish(topic: string, data: string | Uint8Array, compress?: boolean): number;
}

// Bun's `send` status: -1 queued under backpressure, 0 dropped, otherwise bytes written.
const DROPPED = 0;
const ABNORMAL = 1006;

// The Close Bun (uWebSockets) sends when it fails the connection, by the reason it reports with 1006: 1009 for a
// message over `maxPayloadLength` ("Received too big message"), 1007 for invalid UTF-8, 1002 for any other frame
// error ("Received …", a control frame over 125 bytes among them).
function failureStatus(reason: string): number | undefined {
  if (!reason.startsWith("Received")) return undefined;
  if (reason.includes("too big message")) return 1009;
  if (reason.includes("UTF-8")) return 1007;
  return 1002;
}
const decoder = new TextDecoder();

/**
 * One Bun connection as the adapter keeps it: the socket's `ws.data`, where Bun's
 * events find the core's, the core's engine socket (with its pub/sub) for it, and,
 * once the request is answered, what stands for that request (its URL, the peer's
 * address). One object serves all three, as every idle connection keeps it for its
 * whole life. Made by the adapter before `server.upgrade`, which it is given to as `data`.
 */
export class BunConnection implements EngineSocket, EngineTopics, AnsweredHandshake {
  /** The core's events for this connection. */
  readonly events: EngineEvents;
  /** The `Sec-WebSocket-Extensions` answer of the handshake ("" for none). */
  readonly extensions: string;
  /** The Bun server that upgraded the socket, whose topics become the engine's native pub/sub (the hub uses them); `undefined` for none. */
  readonly server: BunTopicServer | undefined;
  /** The core started the close: Bun reports the end from inside `close()` (see {@link close}). */
  closing = false;
  /**
   * The socket, set when it opens. After the upgrade Bun's `requestIP` no longer knows
   * the request, and the peer's address is read from here instead (only when asked for).
   */
  ws: ServerWebSocket<BunConnection> | undefined = undefined;
  // The request's URL, its text until first read.
  #url: URL | string;

  /**
   * A connection about to be upgraded, before Bun opens its socket.
   * @param events the core's events for the connection
   * @param extensions the handshake's `Sec-WebSocket-Extensions` answer ("" for none)
   * @param server where the native pub/sub publishes; `undefined` leaves the socket without one
   * @param url the request's absolute URL, or its text (parsed when {@link url} is first read)
   */
  constructor(events: EngineEvents, extensions: string, server: BunTopicServer | undefined, url: URL | string) {
    this.events = events;
    this.extensions = extensions;
    this.server = server;
    this.#url = url;
  }

  /** The request's method: Bun upgrades a `GET` only. */
  get method(): string {
    return "GET";
  }

  /** Bun serves WebSockets over HTTP/1.1 only. */
  get httpVersion(): "1.1" {
    return "1.1";
  }

  /** The request's absolute URL. */
  get url(): URL {
    const url = this.#url;
    return typeof url === "string" ? (this.#url = webRequestUrl(url)) : url;
  }

  /** The peer's IP address, from the socket (Bun keeps it after the close too); `undefined` before it opens. */
  get remoteAddress(): string | undefined {
    return this.ws?.remoteAddress;
  }

  /** This connection's native pub/sub, when it has a server to publish on. */
  get topics(): EngineTopics | undefined {
    return this.server === undefined ? undefined : this;
  }

  /** The pub/sub domain: Bun's topics belong to one server. */
  get domain(): BunTopicServer {
    return this.server!;
  }

  /** Adds the socket to `topic`'s subscribers. */
  subscribe(topic: string): void {
    this.ws!.subscribe(topic);
  }

  /** Removes the socket from `topic`'s subscribers. */
  unsubscribe(topic: string): void {
    this.ws!.unsubscribe(topic);
  }

  /** Queues `data` on every subscriber of `topic`, each framed once and queued in native code (never dropped: no backpressure limit is set). */
  publish(topic: string, data: string | Uint8Array): void {
    // Compressed where the subscriber negotiated permessage-deflate, as the core's send does by default.
    this.server!.publish(topic, data, true);
  }

  /**
   * Counts natively, without encoding the string (0.7 against 1.7 µs per 64 KiB). An echoed string is counted once:
   * the core reuses its received count when the very string it handed out is sent back.
   */
  utf8Length(text: string): number {
    return Buffer.byteLength(text, "utf8");
  }

  /** Sends one whole message; a text message given as bytes is decoded first (Bun's `sendText` takes a string only). */
  send(data: string | Uint8Array, options: EngineSendOptions): void {
    const ws = this.ws!;
    // Asking Bun to compress costs CPU even where permessage-deflate was not negotiated (about 10-20% of a
    // 64 KiB echo, docs/benchmarks.md): ask only where it was.
    const compress = options.compress && this.extensions !== "";
    const status = options.text
      ? ws.sendText(typeof data === "string" ? data : decoder.decode(data), compress)
      : ws.sendBinary(data as Uint8Array, compress);
    // The adapter sets no backpressure limit, so Bun drops only when the connection is already gone
    // (an empty payload also reports 0). Anything else would be data lost silently: fail the connection.
    const size = typeof data === "string" ? data.length : data.byteLength;
    if (status === DROPPED && size > 0 && ws.readyState === 1) ws.terminate();
  }

  /** Sends a Ping. */
  ping(payload: Uint8Array): void {
    this.ws!.ping(payload);
  }

  /** Sends an unsolicited Pong. */
  pong(payload: Uint8Array): void {
    this.ws!.pong(payload);
  }

  /** Sends a Close frame (none with a body when `code` is `undefined`). */
  close(code: number | undefined, reason: string): void {
    // Bun sends its Close frame and ends the connection at once, without reading the peer's,
    // and reports the end (with the status it sent) from inside this call: that report waits
    // for the next task, as other engines' reports do, so the socket is seen in `closeSent` first.
    this.closing = true;
    // Bun's close() without a code sends 1000; 1005 is its way to send a Close without a body.
    if (code === undefined) this.ws!.close(1005);
    else this.ws!.close(code, reason);
  }

  /** Ends the connection at once. */
  terminate(): void {
    this.ws!.terminate();
  }

  /** Bytes Bun holds unsent (0 once the socket is closed). */
  get bufferedAmount(): number {
    const ws = this.ws!;
    return ws.readyState === 1 ? ws.getBufferedAmount() : 0;
  }
}

/** Bun's engine settings derived from the core's options. */
export interface BunEngineSettings {
  /** The core's `maxMessageSize`: Bun closes with 1009 past it. */
  readonly maxMessageSize: number;
  /** Bun's server-wide permessage-deflate preset (`false` for none). */
  readonly perMessageDeflate: BunWebSocketHandler<BunConnection>["perMessageDeflate"];
  /** Where errors thrown inside Bun's callbacks go. */
  readonly onError: (error: unknown) => void;
}

// Bun takes 0 to 2^32 - 1 for its byte limits.
const MAX_LIMIT = 2 ** 32 - 1;

/** The `websocket` object `Bun.serve` needs: every event goes to the connection's core socket. */
export function bunWebSocketHandler(settings: BunEngineSettings): BunWebSocketHandler<BunConnection> {
  return {
    open(ws) {
      ws.binaryType = "uint8array";
      ws.data.ws = ws;
      ws.data.events.opened(ws.data);
    },
    message(ws, message) {
      const binary = typeof message !== "string";
      ws.data.events.message(message as string | Uint8Array, binary);
    },
    // A Ping from the peer proves it alive as much as a Pong; Bun answers it itself.
    ping(ws) {
      ws.data.events.pong();
    },
    pong(ws) {
      ws.data.events.pong();
    },
    drain(ws) {
      ws.data.events.drained();
    },
    close(ws, code, reason) {
      const { events, closing } = ws.data;
      if (closing) setTimeout(() => events.closed(code, reason), 0);
      // 1006 with a reason: Bun failed the connection itself (a Close such as 1009 went out, none came back).
      else if (code === ABNORMAL && reason !== "") {
        const status = failureStatus(reason);
        if (status !== undefined) events.closeSent(status);
        events.closed(code, "", new Error(reason));
      } else events.closed(code, reason);
    },
    error(error) {
      settings.onError(error);
    },
    maxPayloadLength: Math.min(settings.maxMessageSize, MAX_LIMIT),
    // No limit: past one, Bun drops a message (send returns 0) that the core already counts as
    // sent. The core bounds the buffer instead: `await send()` waits at `sendHighWaterMark`, and
    // past `sendBufferLimit` a send rejects and the connection is aborted.
    backpressureLimit: 0,
    closeOnBackpressureLimit: false,
    // Bun's own idle timer ends the TCP connection without a Close frame, and its pings are
    // tied to that timer: the core does keep-alive and idle timeouts with ping() and `pong`.
    idleTimeout: 0,
    sendPings: false,
    publishToSelf: false,
    perMessageDeflate: settings.perMessageDeflate,
  };
}
