/**
 * `@uniws/deno`: uniws on `Deno.serve`, with `Deno.upgradeWebSocket` as the
 * protocol engine. See `DenoWebSocketServer` and docs/deno.md.
 *
 * @example
 * ```ts
 * import { DenoWebSocketServer } from "@uniws/deno";
 *
 * const sockets = new DenoWebSocketServer(async (context) => {
 *   if (!context.isWebSocketRequest) return context.reject(400);
 *   const socket = await context.accept();
 *   for await (const message of socket) await socket.send(message.data);
 * });
 * Deno.serve({ port: 5000 }, sockets.fetch());
 * ```
 *
 * @module
 */
export { type DenoRequest, DenoWebSocketServer, type FallbackHandler } from "./server.ts";
// bindDenoSocket: the engine on its own, for other bindings of Deno.upgradeWebSocket (`@uniws/hono/deno`).
export { bindDenoSocket, DENO_CAPABILITIES, idleTimeoutSeconds } from "./deno-engine.ts";
// DenoHandshakeRequest: the request as the core reads it, for other bindings of Deno.serve (`@uniws/hono/deno`).
export { DenoHandshakeRequest } from "./handshake.ts";
export * from "@uniws/core";
