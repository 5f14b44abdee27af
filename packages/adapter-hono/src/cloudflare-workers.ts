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
import { DURABLE_OBJECT_CAPABILITIES, upgradeWorkerd, WORKERD_CAPABILITIES, workerdHandshakeRequest } from "@uniws/cloudflare";
import type { EngineCapabilities } from "@uniws/core";
import type { HonoWebSocketRuntime } from "./middleware.ts";

/** What workerd can do: `@uniws/cloudflare`'s `WORKERD_CAPABILITIES` (docs/hono.md, docs/capabilities.md). */
export const HONO_WORKERD_CAPABILITIES: EngineCapabilities = WORKERD_CAPABILITIES;

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

/** The Cloudflare Workers binding: upgrades through a `WebSocketPair` with the core's web engine. */
export function cloudflareWorkersRuntime(options: CloudflareWorkersRuntimeOptions = {}): HonoWebSocketRuntime {
  const durableObject = options.durableObject === true;
  return {
    capabilities: durableObject ? DURABLE_OBJECT_CAPABILITIES : HONO_WORKERD_CAPABILITIES,
    name: "workerd",
    // Cloudflare's edge sets CF-Connecting-IP to the client's address (docs/operations.md).
    handshakeRequest: (c) => workerdHandshakeRequest(c.req.raw),
    upgrade: (_c, plan, events) => upgradeWorkerd(plan, events, !durableObject),
  };
}
