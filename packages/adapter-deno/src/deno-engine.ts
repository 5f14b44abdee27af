/**
 * Deno's server-side `WebSocket` (from `Deno.upgradeWebSocket`) as the engine under
 * a core socket: a thin translation into the core's {@link EngineSocket} and of its
 * events into {@link EngineEvents}, plus the keep-alive mapping onto Deno's
 * `idleTimeout`.
 *
 * @module
 */
import { type EngineCapabilities, type EngineEvents, type EngineSendOptions, type EngineSocket, WebSocketError } from "@uniws/core";
import { dropConnection } from "./terminate.ts";

/**
 * What Deno 2's WebSocket server can do. It sends no Ping on request (keep-alive is
 * Deno's `idleTimeout`), sends whole messages only, has no permessage-deflate and no
 * drain event (the core polls `bufferedAmount`), and has no size limit of its own (the
 * core closes with 1009). `Deno.serve` does not take WebSockets over HTTP/2.
 */
export const DENO_CAPABILITIES: EngineCapabilities = {
  pingControl: false,
  fragmentedSend: false,
  compression: false,
  perMessageCompression: false,
  compressionParameters: "none",
  drainEvent: false,
  enforcesMaxMessageSize: false,
  http2: false,
};

/** The reason Deno gives in the Close 1001 it sends when a Ping goes unanswered. */
const NO_PONG_REASON = "No response from ping frame.";

/**
 * Deno's `idleTimeout` (seconds) for a keep-alive plan. Deno pings after `idle / 2`
 * of silence from the peer and closes (1001) when nothing arrives in the next
 * `idle / 2`: the Ping comes exactly every `keepAliveInterval`, and an unanswered one
 * ends the connection after another `keepAliveInterval` — whatever `keepAliveTimeout`
 * is, even 0 (Deno cannot ping without expecting an answer).
 */
export function idleTimeoutSeconds(keepAliveInterval: number): number {
  return keepAliveInterval > 0 ? (2 * keepAliveInterval) / 1000 : 0;
}

class DenoEngineSocket implements EngineSocket {
  readonly #socket: WebSocket;
  readonly #closing: () => void;
  readonly extensions = "";

  constructor(socket: WebSocket, closing: () => void) {
    this.#socket = socket;
    this.#closing = closing;
  }

  send(data: string | Uint8Array, _options: EngineSendOptions): void {
    this.#socket.send(data as string | Uint8Array<ArrayBuffer>);
  }

  ping(): void {
    throw new WebSocketError("UNSUPPORTED", "Deno's WebSocket server cannot send a Ping on request");
  }

  pong(): void {
    throw new WebSocketError("UNSUPPORTED", "Deno's WebSocket server cannot send a Pong on request");
  }

  close(code: number | undefined, reason: string): void {
    this.#closing();
    if (code === undefined) this.#socket.close();
    else this.#socket.close(code, reason);
  }

  terminate(): void {
    this.#closing();
    // Without the internal hook, an empty Close frame is the nearest Deno offers.
    if (!dropConnection(this.#socket)) this.#socket.close();
  }

  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }
}

/**
 * How long after Deno has finished the 101 response a socket may take to open. Deno
 * drops the 101 of a client that left during the handshake and then reports nothing
 * at all; the socket normally opens within milliseconds.
 */
const OPEN_GRACE_MS = 2000;

/**
 * Wires a socket from `Deno.upgradeWebSocket` to the core's events; reports it open
 * when Deno does. `responded` is `Deno.ServeHandlerInfo.completed`, when known.
 */
export function bindDenoSocket(socket: WebSocket, events: EngineEvents, responded?: Promise<void>): void {
  socket.binaryType = "arraybuffer";
  let opened = false;
  let ended = false;
  let closing = false;
  let lastError: unknown;
  let grace: ReturnType<typeof setTimeout> | undefined;
  const giveUp = () => {
    if (opened || ended) return;
    ended = true;
    events.failed(new Error("The client went away before the upgrade completed"));
  };
  const wait = () => {
    if (!opened && !ended) grace = setTimeout(giveUp, OPEN_GRACE_MS);
  };
  responded?.then(wait, wait);
  socket.addEventListener("open", () => {
    clearTimeout(grace);
    // Given up on already: nobody holds this socket any more.
    if (ended) {
      if (!dropConnection(socket)) socket.close();
      return;
    }
    opened = true;
    events.opened(new DenoEngineSocket(socket, () => (closing = true)));
  });
  socket.addEventListener("message", (event: MessageEvent<string | ArrayBuffer>) => {
    const { data } = event;
    if (typeof data === "string") events.message(data, false);
    else events.message(new Uint8Array(data), true);
  });
  socket.addEventListener("error", (event) => {
    const error = (event as ErrorEvent).error ?? new Error((event as ErrorEvent).message || "WebSocket error");
    // Before "open" an error means the upgrade itself failed (the client went away).
    if (!opened && !ended) {
      ended = true;
      events.failed(error);
      return;
    }
    lastError = error;
  });
  socket.addEventListener("close", (event: CloseEvent) => {
    // Deno may dispatch "close" twice (after its keep-alive close); the first one counts.
    if (ended) return;
    ended = true;
    events.closed(...closeReport(event, closing, lastError));
  });
}

/** Translates Deno's CloseEvent into the core's `closed(code, reason, error)`. */
function closeReport(event: CloseEvent, closing: boolean, error: unknown): [number, string, unknown?] {
  if (event.code === 1001 && !event.wasClean && event.reason === NO_PONG_REASON && !closing) {
    // Deno's idleTimeout expired: the peer did not answer its Ping. The core ends such a peer as aborted.
    return [1006, "", new WebSocketError("CONNECTION_CLOSED", "The peer did not answer a keep-alive ping in time")];
  }
  if (event.code === 0 || !event.wasClean) {
    // No Close frame from the peer: it vanished, or broke the protocol (Deno's error says how).
    if (error !== undefined || !closing) return [1006, "", error];
    // Deno stops reading once it has sent its Close, and ends the connection at the next data frame.
    return [1006, "", new WebSocketError("CONNECTION_CLOSED", "The peer sent data after the server's Close frame; Deno ended the connection")];
  }
  return [event.code, event.reason];
}
