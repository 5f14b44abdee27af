/**
 * `@uniws/hono/deno`: Hono on `Deno.serve`, upgrading with `Deno.upgradeWebSocket`
 * and `@uniws/deno`'s engine, so a socket behaves exactly as under `@uniws/deno`.
 * `hono/deno`'s `upgradeWebSocket` is not used: it compares the `Upgrade` header
 * case-sensitively, answers the client's first sub-protocol unless told otherwise
 * (and Deno's own `protocol` option rejects valid lists such as `a,b`), and hands out
 * the socket only once it is open.
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
import type { EngineCapabilities } from "@uniws/core";
import { bindDenoSocket, DENO_CAPABILITIES, DenoHandshakeRequest, idleTimeoutSeconds } from "@uniws/deno";
import type { HonoWebSocketRuntime } from "./middleware.ts";

// The one Deno API this module calls (the package builds without Deno's types).
declare const Deno: {
  upgradeWebSocket(request: Request, options?: { idleTimeout?: number }): { socket: WebSocket; response: Response };
};

/** What Deno's engine can do: `@uniws/deno`'s capabilities (docs/deno.md). */
export const HONO_DENO_CAPABILITIES: EngineCapabilities = DENO_CAPABILITIES;

/** The Deno binding. Serve the app with `Deno.serve(app.fetch)`, so `c.env` is Deno's handler info. */
export function denoRuntime(): HonoWebSocketRuntime {
  return {
    capabilities: HONO_DENO_CAPABILITIES,
    name: "deno",
    handshakeRequest: (c) => {
      // `c.env` is Deno's ServeHandlerInfo: a TCP peer's `remoteAddr` has its IP address as `hostname`.
      const peer = (c.env as { remoteAddr?: { hostname?: string } } | undefined)?.remoteAddr;
      return new DenoHandshakeRequest(c.req.raw, peer?.hostname);
    },
    upgrade: (c, plan, events) => {
      // Keep-alive is Deno's idleTimeout. Not Deno's `protocol` option: the core already parsed the
      // client's list and checked the choice (RFC 6455 §4.2.2); the answer goes in the 101.
      const { socket, response } = Deno.upgradeWebSocket(c.req.raw, { idleTimeout: idleTimeoutSeconds(plan.keepAliveInterval) });
      if (plan.subProtocol !== undefined) response.headers.set("sec-websocket-protocol", plan.subProtocol);
      // `completed` tells when the 101 went out (or could not): a client gone by then fails the upgrade. The app
      // decides when its answer reaches Deno, so the grace runs from there (Deno keeps the promise with the
      // request for the socket's life: ≈ 250 B per connection that @uniws/deno's own `fetch` does not spend).
      const info = c.env as { completed?: Promise<void> } | undefined;
      bindDenoSocket(socket, events, info?.completed);
      return response;
    },
  };
}
