/**
 * `@uniws/hono/cloudflare-workers`: Hono on Cloudflare Workers (workerd), upgrading
 * with a `WebSocketPair`. `hono/cloudflare-workers`'s `upgradeWebSocket` is not
 * used: it gives out the server end only inside a message or close event (Workers
 * have no open event), so nothing could be sent after `accept()`, and it never
 * answers a sub-protocol.
 *
 * A plain Worker can use a socket only from the request that opened it: a
 * `WebSocketHub` (`add` throws) and the middleware's `close()` (rejects for the
 * other requests' sockets, which stay open) fail at once with `REQUEST_SCOPED_IO`.
 * Keep sockets shared between requests in a Durable Object: `@uniws/cloudflare`,
 * or this runtime with `{ durableObject: true }` inside one (docs/cloudflare.md).
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
import { bindWebSocket, type EngineCapabilities, type WebEngineOptions, WebSocketError, type WebSocketLike } from "@uniws/core";
import type { HonoWebSocketRuntime } from "./middleware.ts";

// workerd's globals (the package builds without @cloudflare/workers-types).
declare const WebSocketPair: new () => { 0: WebSocketLike; 1: WebSocketLike & { accept(): void } };

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

/** Inside a Durable Object every request shares the object's I/O: sockets and timers may be shared. */
const DURABLE_OBJECT_CAPABILITIES: EngineCapabilities = { ...HONO_WORKERD_CAPABILITIES, requestScopedIo: false };

/**
 * workerd's differences from the web engine's defaults: it cannot drop a
 * connection without a Close frame (1011 is the nearest, docs/hono.md) and does not
 * answer a peer's Close itself.
 */
export const WORKERD_ENGINE: WebEngineOptions = { abortClose: 1011, answerPeerClose: true };

/** Options of {@link cloudflareWorkersRuntime}. */
export interface CloudflareWorkersRuntimeOptions {
  /**
   * The app runs inside a Durable Object (its `fetch`): sockets are shared by the
   * object's requests, so a hub and `close()` reach them all. The object stays in
   * memory while sockets are open; for hibernation use `@uniws/cloudflare`.
   * @default false
   */
  readonly durableObject?: boolean;
}

/** The Cloudflare Workers binding. */
export function cloudflareWorkersRuntime(options: CloudflareWorkersRuntimeOptions = {}): HonoWebSocketRuntime {
  const durableObject = options.durableObject === true;
  const engine: WebEngineOptions = { ...WORKERD_ENGINE, requestScopedIo: !durableObject };
  return {
    capabilities: durableObject ? DURABLE_OBJECT_CAPABILITIES : HONO_WORKERD_CAPABILITIES,
    upgrade: (_c, plan, events) => {
      if (plan.keepAliveTimeout > 0) {
        // Waiting for a Pong needs a Ping first. Use idleTimeout to end silent peers here.
        throw new WebSocketError("UNSUPPORTED", "keepAliveTimeout needs Ping frames, which a Worker cannot send; use idleTimeout");
      }
      const pair = new WebSocketPair();
      const server = pair[1];
      server.accept();
      // A Worker's accepted socket is open at once; data sent before the 101 goes out is queued.
      bindWebSocket(server, events, engine);
      const headers = plan.subProtocol === undefined ? undefined : { "Sec-WebSocket-Protocol": plan.subProtocol };
      return new Response(null, { status: 101, webSocket: pair[0], headers } as ResponseInit);
    },
  };
}
