/**
 * `@uniws/hono/deno`: Hono on `Deno.serve`, upgrading with `Deno.upgradeWebSocket`.
 * `hono/deno`'s `upgradeWebSocket` is not used: it compares the `Upgrade` header
 * case-sensitively, answers the client's first sub-protocol unless told otherwise,
 * and hands out the socket only once it is open.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { createWebSocket } from "@uniws/hono";
 * import { denoRuntime } from "@uniws/hono/deno";
 *
 * const app = new Hono();
 * const webSocket = createWebSocket(denoRuntime());
 * app.get("/ws", webSocket(async (context) => {
 *   if (!context.isWebSocketRequest) return context.reject(400);
 *   const socket = await context.accept();
 *   for await (const message of socket) await socket.send(message.data);
 * }));
 * Deno.serve({ port: 5000 }, app.fetch);
 * ```
 *
 * @module
 */
import { type EngineCapabilities, type EngineEvents, type EngineSocket, WebSocketError } from "@uniws/core";
import type { HonoWebSocketRuntime } from "./middleware.ts";

// The one Deno API this module calls (the package builds without Deno's types).
declare const Deno: {
  upgradeWebSocket(request: Request, options?: { protocol?: string; idleTimeout?: number }): { socket: WebSocket; response: Response };
};

/**
 * What Deno's WebSocket server can do: no Ping on request (keep-alive is Deno's
 * `idleTimeout`), whole messages only, no compression, no drain event (the core
 * polls `bufferedAmount`), no size limit of its own (the core closes with 1009).
 */
export const HONO_DENO_CAPABILITIES: EngineCapabilities = {
  pingControl: false,
  fragmentedSend: false,
  compression: false,
  perMessageCompression: false,
  compressionParameters: "none",
  drainEvent: false,
  enforcesMaxMessageSize: false,
  http2: false,
};

/** The reason Deno gives in the Close 1001 it sends when its Ping goes unanswered. */
const NO_PONG_REASON = "No response from ping frame.";

/**
 * Deno's `idleTimeout` (seconds) for a keep-alive interval: Deno pings after half of
 * it without traffic and closes when the next half passes without an answer, so the
 * Ping comes every `keepAliveInterval` and an unanswered one ends the connection one
 * interval later, whatever `keepAliveTimeout` says.
 */
function idleTimeoutSeconds(keepAliveInterval: number): number {
  return keepAliveInterval > 0 ? (2 * keepAliveInterval) / 1000 : 0;
}

/** The Deno binding. */
export function denoRuntime(): HonoWebSocketRuntime {
  return {
    capabilities: HONO_DENO_CAPABILITIES,
    upgrade: (c, plan, events) => {
      // Not Deno's `protocol` option: it splits the client's list on ", " only and throws for
      // "alpha,bravo". The core already parsed the list and checked the choice (RFC 6455 §4.2.2).
      const { socket, response } = Deno.upgradeWebSocket(c.req.raw, { idleTimeout: idleTimeoutSeconds(plan.keepAliveInterval) });
      if (plan.subProtocol !== undefined) response.headers.set("sec-websocket-protocol", plan.subProtocol);
      bindDenoSocket(socket, events);
      return response;
    },
  };
}

class DenoEngineSocket implements EngineSocket {
  readonly #socket: WebSocket;
  readonly #closing: () => void;
  readonly extensions = "";

  constructor(socket: WebSocket, closing: () => void) {
    this.#socket = socket;
    this.#closing = closing;
  }

  send(data: string | Uint8Array): void {
    this.#socket.send(data as string | Uint8Array<ArrayBuffer>);
  }

  ping(): void {
    throw new WebSocketError("UNSUPPORTED", "Deno's WebSocket server cannot send a Ping on request");
  }

  pong(): void {
    throw new WebSocketError("UNSUPPORTED", "Deno's WebSocket server cannot send a Pong on request");
  }

  close(code: number, reason: string): void {
    this.#closing();
    this.#socket.close(code, reason);
  }

  terminate(): void {
    // Deno has no public way to drop the connection: an empty Close frame is the nearest (docs/hono.md).
    this.#closing();
    this.#socket.close();
  }

  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }
}

function bindDenoSocket(socket: WebSocket, events: EngineEvents): void {
  socket.binaryType = "arraybuffer";
  let opened = false;
  let ended = false;
  let closing = false;
  let lastError: unknown;
  socket.addEventListener("open", () => {
    opened = true;
    events.opened(new DenoEngineSocket(socket, () => (closing = true)));
  });
  socket.addEventListener("message", (event: MessageEvent<string | ArrayBuffer>) => {
    if (typeof event.data === "string") events.message(event.data, false);
    else events.message(new Uint8Array(event.data), true);
  });
  socket.addEventListener("error", (event) => {
    const error = (event as ErrorEvent).error ?? new Error((event as ErrorEvent).message || "WebSocket error");
    if (!opened && !ended) {
      // Before "open", an error means the upgrade itself failed (the client went away).
      ended = true;
      events.failed(error);
    } else {
      lastError = error;
    }
  });
  socket.addEventListener("close", (event: CloseEvent) => {
    if (ended) return;
    ended = true;
    if (event.code === 1001 && event.reason === NO_PONG_REASON && !closing) {
      // Deno's idleTimeout expired: the peer did not answer its Ping, which the core treats as an abort.
      events.closed(1006, "", new WebSocketError("CONNECTION_CLOSED", "The peer did not answer a keep-alive ping in time"));
    } else if (event.code === 0 || !event.wasClean) {
      events.closed(1006, "", lastError ?? new WebSocketError("CONNECTION_CLOSED", "The connection ended without a Close frame"));
    } else {
      events.closed(event.code, event.reason);
    }
  });
}
