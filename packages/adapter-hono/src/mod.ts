/**
 * `@uniws/hono`: the uniws policy as Hono middleware. Bind the core to the
 * runtime once with `createWebSocket(runtime)`, where `runtime` comes from
 * `@uniws/hono/node`, `/deno`, `/bun` or `/cloudflare-workers`; then
 * `app.get("/ws", webSocket(handler, options))` on any route. The handler is the
 * same as on every uniws adapter; `context.native` is the route's Hono `Context`.
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
export {
  createWebSocket,
  type HonoWebSocketContext,
  type HonoWebSocketHandler,
  type HonoWebSocketRuntime,
  type WebSocketFactory,
  type WebSocketMiddleware,
} from "./middleware.ts";
export * from "@uniws/core";
