/**
 * `@uniws/hono/deno`: Hono on `Deno.serve`, upgrading with `Deno.upgradeWebSocket`
 * and `@uniws/deno`'s engine, so a socket behaves exactly as under `@uniws/deno`.
 * `hono/deno`'s `upgradeWebSocket` is not used: it compares the `Upgrade` header
 * case-sensitively, answers the client's first sub-protocol unless told otherwise
 * (and Deno's own `protocol` option rejects valid lists such as `a,b`), and hands out
 * the socket only once it is open.
 *
 * Serve `runtime.fetch(app)` rather than `app.fetch`: the binding then knows when the
 * app hands Deno its answer, and a socket's opening grace (a client that left during
 * the handshake fails the upgrade 2 s later) runs from there. Under a bare `app.fetch`
 * it runs from Deno's `ServeHandlerInfo.completed` instead, which Deno keeps with the
 * upgraded request for the socket's life (about 250 B per open connection).
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { createWebSocket } from "@uniws/hono";
 * import { denoRuntime } from "@uniws/hono/deno";
 *
 * const app = new Hono();
 * const runtime = denoRuntime();
 * const webSocket = createWebSocket(runtime);
 * app.get("/ws", webSocket(async (context) => {
 *   if (!context.isWebSocketRequest) return context.reject(400);
 *   const socket = await context.accept();
 *   for await (const message of socket) await socket.send(message.data);
 * }));
 * Deno.serve({ port: 5000 }, runtime.fetch(app));
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

/** The part of a Hono app {@link DenoRuntime.fetch} needs. */
export interface DenoFetchApp {
  /** Answers `request`; `info` (Deno's `ServeHandlerInfo`) becomes the app's `c.env`. */
  fetch(request: Request, info: any): Response | Promise<Response>;
}

/** The Deno binding, plus the `fetch` to give `Deno.serve`. */
export interface DenoRuntime extends HonoWebSocketRuntime {
  /**
   * `app.fetch` for `Deno.serve`: `(request, info) => app.fetch(request, info)`, so
   * `c.env` is Deno's `ServeHandlerInfo` as under a bare `app.fetch`. It resolves
   * with what the app answers and rejects as the app does; once the app has answered
   * (or failed), the upgrades it accepted start their opening grace: a socket not open
   * 2 s later (its client left before the 101) fails its upgrade with
   * `UPGRADE_FAILED`. `ServeHandlerInfo.completed` is not read, but for a uniws route
   * that sees another `Request` than Deno's (an app mounted with a rebuilt one): there
   * the grace runs from `completed`, as under a bare `app.fetch`.
   */
  fetch(app: DenoFetchApp): (request: Request, info: any) => Promise<Response>;
}

/** A request running through `fetch(app)`; `answered` starts its socket's opening grace once the app has answered. */
interface PendingAnswer {
  answered?: () => void;
}

/**
 * The Deno binding. Serve the app with `Deno.serve(runtime.fetch(app))` (or
 * `Deno.serve(app.fetch)`, which costs about 250 B more per open connection), so
 * `c.env` is Deno's handler info.
 */
export function denoRuntime(): DenoRuntime {
  // Requests running through `fetch(app)`: their sockets' opening grace waits for the app's answer.
  const pending = new WeakMap<Request, PendingAnswer>();
  return {
    capabilities: HONO_DENO_CAPABILITIES,
    name: "deno",
    handshakeRequest: (c) => {
      // `c.env` is Deno's ServeHandlerInfo: a TCP peer's `remoteAddr` has its IP address as `hostname`.
      const peer = (c.env as { remoteAddr?: { hostname?: string } } | undefined)?.remoteAddr;
      return new DenoHandshakeRequest(c.req.raw, peer?.hostname);
    },
    upgrade: (c, plan, events) => {
      const request = c.req.raw;
      // Keep-alive is Deno's idleTimeout. Not Deno's `protocol` option: the core already parsed the
      // client's list and checked the choice (RFC 6455 §4.2.2); the answer goes in the 101.
      const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout: idleTimeoutSeconds(plan.keepAliveInterval) });
      if (plan.subProtocol !== undefined) response.headers.set("sec-websocket-protocol", plan.subProtocol);
      // The opening grace runs from when the 101 reaches Deno: the app's answer under `fetch(app)`; else Deno's
      // `completed` (when the 101 went out, or could not), read only here, as Deno then keeps it with the request.
      const answer = pending.get(request);
      const responded = answer !== undefined ? new Promise<void>((resolve) => (answer.answered = resolve)) : (c.env as { completed?: Promise<void> } | undefined)?.completed;
      bindDenoSocket(socket, events, responded);
      return response;
    },
    fetch: (app) => async (request, info) => {
      const answer: PendingAnswer = {};
      pending.set(request, answer);
      try {
        return await app.fetch(request, info);
      } finally {
        pending.delete(request);
        answer.answered?.();
      }
    },
  };
}
