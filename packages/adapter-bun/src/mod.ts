/**
 * `@uniws/bun`: uniws on `Bun.serve`, with Bun's own WebSocket server
 * (`server.upgrade` and the `websocket` handlers) as the protocol engine.
 *
 * @example
 * ```ts
 * import { BunWebSocketServer } from "@uniws/bun";
 *
 * const sockets = new BunWebSocketServer(async (context) => {
 *   if (!context.isWebSocketRequest) return context.reject(400);
 *   const socket = await context.accept();
 *   for await (const message of socket) await socket.send(message.data);
 * });
 * Bun.serve({ port: 5000, ...sockets.serveOptions() });
 * ```
 *
 * @module
 */
export { type BunRequest, type BunServeOptions, type BunServer, BunWebSocketServer, type Fallback } from "./server.ts";
export { BUN_CAPABILITIES, type BunSocketData } from "./bun-engine.ts";
export * from "@uniws/core";
