/**
 * Deno's server-side `WebSocket` (from `Deno.upgradeWebSocket`) under a core socket:
 * the core's engine over the web WebSocket API (`bindWebSocket`) with Deno's
 * differences as its options, plus the keep-alive mapping onto Deno's `idleTimeout`.
 *
 * @module
 */
import { type BindWebSocketOptions, bindWebSocket, type EngineCapabilities, type EngineEvents, type WebCloseReport, WebSocketError, type WebSocketLikeCloseEvent } from "@uniws/core";
import { dropConnection } from "./terminate.ts";

/**
 * What Deno 2's WebSocket server can do. It sends no Ping on request (keep-alive is
 * Deno's `idleTimeout`), sends whole messages only, has no permessage-deflate and no
 * drain event (the core polls `bufferedAmount`), and has no size limit of its own (the
 * core fails the connection with 1009). `Deno.serve` does not take WebSockets over HTTP/2.
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

/**
 * Reads Deno's close events: its keep-alive close (a 1001 with its own reason
 * when a Ping went unanswered) is the peer's fault, an unclean end after the
 * server's Close is Deno dropping a peer that kept sending data, and a clean 1005
 * after a Close with a status is the connection ending without the peer's Close.
 */
function closeReport(event: WebSocketLikeCloseEvent, closing: boolean, error: unknown, sentStatus: number | undefined): WebCloseReport | undefined {
  if (event.code === 1001 && !event.wasClean && event.reason === NO_PONG_REASON && !closing) {
    // Deno's idleTimeout expired: the peer did not answer its Ping. The core ends such a peer as aborted.
    return [1006, "", new WebSocketError("CONNECTION_CLOSED", "The peer did not answer a keep-alive ping in time")];
  }
  if ((event.code === 0 || !event.wasClean) && error === undefined && closing) {
    // Deno stops reading once it has sent its Close, and ends the connection at the next data frame.
    return [1006, "", new WebSocketError("CONNECTION_CLOSED", "The peer sent data after the server's Close frame; Deno ended the connection")];
  }
  if (event.code === 1005 && event.wasClean && sentStatus !== undefined && sentStatus !== 1005) {
    // Once its Close is out, Deno reports a read that ends without a frame (the peer vanished) as it reports an empty
    // Close: 1005, clean. A peer answers a Close by echoing its status (RFC 6455 §5.5.1; browsers, `ws`, Deno and Bun
    // do), so a 1005 answer to a Close that had one is read as the end without a Close frame it almost always is
    // (RFC 6455 §7.1.5: 1006). A peer that does answer with an empty Close is misread so (docs/deno.md).
    return [1006, ""];
  }
  return undefined;
}

// The one failure after which Deno sends a Close (1002, RFC 6455 §7.4): a peer's Close with a status no endpoint may
// send. Its other frame errors end the connection without one (docs/reliability.md).
function failureStatus(error: unknown): number | undefined {
  return error instanceof Error && error.message === "Invalid close code" ? 1002 : undefined;
}

/** Deno's differences from the web engine's defaults; one object for every socket. */
const DENO_ENGINE: BindWebSocketOptions = {
  // Without the internal hook, an empty Close frame is the nearest Deno offers.
  terminate: (socket) => dropConnection(socket as WebSocket),
  closeReport,
  failureStatus,
  awaitOpen: true,
};

/**
 * Wires a socket from `Deno.upgradeWebSocket` to the core's events; reports it open
 * when Deno does. Deno drops the 101 of a client that left during the handshake and
 * then reports nothing at all, so a socket not open 2 s after `responded` settles
 * fails its upgrade. `responded` settles once Deno has sent the 101 or could not:
 * `Deno.ServeHandlerInfo.completed` where the answer reaches Deno when its caller
 * decides (read between `Deno.upgradeWebSocket` and the answer: read before, it
 * settles as Deno upgrades, and read after the 101 never; Deno keeps it, ≈ 250 B, with
 * the upgraded request for the socket's life), or a settled promise where the 101 goes
 * to Deno with the answer; without it, no grace.
 */
export function bindDenoSocket(socket: WebSocket, events: EngineEvents, responded?: Promise<void>): void {
  bindWebSocket(socket, events, DENO_ENGINE, responded);
}
