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
export { BUN_CAPABILITIES, BunConnection, type BunTopicServer } from "./bun-engine.ts";
// Bun's engine on its own, for other bindings of Bun.serve (`@uniws/hono/bun`).
export { type BunEngineSettings, bunWebSocketHandler } from "./bun-engine.ts";
export { BUN_DEFLATE_PRESET, type BunDeflatePlan, planDeflate } from "./deflate.ts";
export { type BunAddressLookup, BunHandshakeRequest } from "./handshake.ts";
export * from "@uniws/core";
