/**
 * `@uniws/hono/cloudflare-workers`: Hono on Cloudflare Workers (workerd), upgrading
 * with a `WebSocketPair`. `hono/cloudflare-workers`'s `upgradeWebSocket` is not
 * used: it gives out the server end only inside a message or close event (Workers
 * have no open event), so nothing could be sent after `accept()`, and it never
 * answers a sub-protocol.
 *
 * Keep-alive follows what workerd allows: a Worker cannot send Ping or Pong
 * frames, and workerd answers the client's Pings itself, so `keepAliveInterval` has
 * no effect here and a `keepAliveTimeout` fails the upgrade with `UNSUPPORTED`
 * (docs/hono.md); `idleTimeout`, the size limit and the close timeout are the
 * core's and apply.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { createWebSocket } from "@uniws/hono";
 * import { cloudflareWorkersRuntime } from "@uniws/hono/cloudflare-workers";
 *
 * const app = new Hono();
 * const webSocket = createWebSocket(cloudflareWorkersRuntime());
 * app.get("/ws", webSocket(async (context) => {
 *   if (!context.isWebSocketRequest) return context.reject(400);
 *   const socket = await context.accept();
 *   for await (const message of socket) await socket.send(message.data);
 * }));
 * export default app;
 * ```
 *
 * @module
 */
import { type EngineCapabilities, type EngineEvents, type EngineSocket, WebSocketError } from "@uniws/core";
import type { HonoWebSocketRuntime } from "./middleware.ts";

/** workerd's server-side WebSocket, as far as this binding uses it. */
interface WorkerWebSocket extends WebSocket {
  accept(): void;
}

// workerd's globals (the package builds without @cloudflare/workers-types).
declare const WebSocketPair: new () => { 0: WorkerWebSocket; 1: WorkerWebSocket };

/**
 * What workerd can do: no Ping or Pong on request and no keep-alive timer of its own,
 * whole messages only, no compression, no drain event or `bufferedAmount` (sends
 * are queued by workerd), and its own message limit is fixed by the platform, so
 * the core checks each message against `maxMessageSize`. A socket belongs to the
 * request that opened it, so its timers cannot be shared with other requests'.
 */
export const HONO_WORKERD_CAPABILITIES: EngineCapabilities = {
  pingControl: false,
  fragmentedSend: false,
  compression: false,
  perMessageCompression: false,
  compressionParameters: "none",
  drainEvent: false,
  enforcesMaxMessageSize: false,
  http2: false,
  // A Worker may touch a socket only from the request that opened it: each socket gets its own timers.
  requestScopedIo: true,
};

class WorkerEngineSocket implements EngineSocket {
  readonly #socket: WorkerWebSocket;
  readonly #closing: () => void;
  readonly extensions = "";

  constructor(socket: WorkerWebSocket, closing: () => void) {
    this.#socket = socket;
    this.#closing = closing;
  }

  send(data: string | Uint8Array): void {
    this.#socket.send(data as string | Uint8Array<ArrayBuffer>);
  }

  ping(): void {
    throw new WebSocketError("UNSUPPORTED", "A Worker cannot send a Ping");
  }

  pong(): void {
    throw new WebSocketError("UNSUPPORTED", "A Worker cannot send a Pong");
  }

  close(code: number | undefined, reason: string): void {
    this.#closing();
    if (code === undefined) this.#socket.close();
    else this.#socket.close(code, reason);
  }

  terminate(): void {
    // A Worker cannot drop the connection without a Close frame; 1011 is the nearest (docs/hono.md).
    this.#closing();
    try {
      this.#socket.close(1011, "");
    } catch {
      // Already closing (the close timeout ran out): workerd ends the connection on its own.
    }
  }

  get bufferedAmount(): number {
    return 0;
  }
}

/** The Cloudflare Workers binding. */
export function cloudflareWorkersRuntime(): HonoWebSocketRuntime {
  return {
    capabilities: HONO_WORKERD_CAPABILITIES,
    name: "workerd",
    handshakeRequest: (c) => {
      const request = c.req.raw;
      // Cloudflare's edge sets CF-Connecting-IP to the client's address (docs/operations.md).
      const remoteAddress = request.headers.get("cf-connecting-ip") ?? undefined;
      return { method: request.method, url: new URL(request.url), headers: request.headers, httpVersion: "1.1", remoteAddress };
    },
    upgrade: (_c, plan, events) => {
      if (plan.keepAliveTimeout > 0) {
        // Waiting for a Pong needs a Ping first. Use idleTimeout to end silent peers here.
        throw new WebSocketError("UNSUPPORTED", "keepAliveTimeout needs Ping frames, which a Worker cannot send; use idleTimeout");
      }
      const pair = new WebSocketPair();
      const client = pair[0];
      const server = pair[1];
      server.accept();
      bindWorkerSocket(server, events);
      const headers = plan.subProtocol === undefined ? undefined : { "Sec-WebSocket-Protocol": plan.subProtocol };
      return new Response(null, { status: 101, webSocket: client, headers } as ResponseInit);
    },
  };
}

function bindWorkerSocket(socket: WorkerWebSocket, events: EngineEvents): void {
  socket.binaryType = "arraybuffer";
  let closing = false;
  let lastError: unknown;
  socket.addEventListener("message", (event: MessageEvent<string | ArrayBuffer>) => {
    if (typeof event.data === "string") events.message(event.data, false);
    else events.message(new Uint8Array(event.data), true);
  });
  socket.addEventListener("error", (event) => (lastError = (event as ErrorEvent).error ?? new Error("WebSocket error")));
  socket.addEventListener("close", (event: CloseEvent) => {
    if (!closing && event.wasClean) {
      // Answer the peer's Close with the same status (RFC 6455 §5.5.1), unless workerd already did.
      closing = true;
      try {
        if (event.code === 1005) socket.close();
        else socket.close(event.code, event.reason);
      } catch {
        // Already answered.
      }
    }
    if (!event.wasClean || event.code === 1006) events.closed(1006, "", lastError);
    else events.closed(event.code, event.reason);
  });
  // A Worker's accepted socket is open at once; data sent before the 101 goes out is queued.
  events.opened(new WorkerEngineSocket(socket, () => (closing = true)));
}
