/**
 * The core's policy as Hono middleware: `createWebSocket(runtime)` gives a
 * `webSocket(handler, options)` factory whose middleware reads the handshake from
 * the Hono `Context`, runs the handler with a {@link WebSocketContext} typed by the
 * route's `Context`, and upgrades through the runtime binding passed once.
 *
 * @module
 */
import {
  type EngineCapabilities,
  type EngineEvents,
  type HandshakeRequest,
  WebHandshakeRequest,
  type ResolvedWebSocketOptions,
  type ShutdownOptions,
  type UpgradeBinding,
  type UpgradePlan,
  type WebSocketContext,
  type WebSocketHandler,
  WebSocketHost,
  type WebSocketOptions,
  type WebSocketServerStats,
} from "@uniws/core";
import type { Context, Env, Input, MiddlewareHandler } from "hono";

/**
 * How one runtime upgrades a request inside a Hono app. Each runtime module
 * (`@uniws/hono/node`, `/deno`, `/bun`, `/cloudflare-workers`) exports a factory for one.
 */
export interface HonoWebSocketRuntime {
  /** What this runtime's engine can do (see docs/hono.md). */
  readonly capabilities: EngineCapabilities;
  /**
   * The runtime's name, the `uniws.runtime` attribute of every metric: `node`, `deno`,
   * `bun` or `workerd` for the bindings uniws ships. @default "unknown"
   */
  readonly name?: string;
  /**
   * Upgrades the request of `c` as `plan` says and reports through `events`.
   * `handshake` is what {@link handshakeRequest} (or the default reading) gave for `c`.
   * Returns what the Hono handler answers: the runtime's 101, or a placeholder the
   * runtime ignores once the connection is upgraded. Throws if it cannot upgrade.
   */
  upgrade(c: Context, plan: UpgradePlan, events: EngineEvents, options: ResolvedWebSocketOptions, handshake: HandshakeRequest): Response;
  /** The request in the core's terms, when the runtime knows more than the web `Request` tells (its method, the peer's address). */
  handshakeRequest?(c: Context): HandshakeRequest;
}

/**
 * The context a Hono WebSocket handler receives: `native` is the route's Hono `Context`, readable until the request
 * is answered (read what the handler needs of it before `accept()`; docs/semantics.md).
 */
export type HonoWebSocketContext<E extends Env = any, P extends string = any, I extends Input = {}> = WebSocketContext<
  Context<E, P, I>
>;

/** A handler run by the Hono middleware. */
export type HonoWebSocketHandler<E extends Env = any, P extends string = any, I extends Input = {}> = WebSocketHandler<
  Context<E, P, I>
>;

/** The middleware `webSocket()` returns, with the server-side controls of its sockets. */
export interface WebSocketMiddleware<E extends Env = any, P extends string = any, I extends Input = {}>
  extends MiddlewareHandler<E, P, I> {
  /** Sockets this middleware accepted and that have not ended. */
  readonly connections: number;
  /** Deadlines its sockets have on the shared timer (keep-alive, idle, close, drain polls): 0 once all have ended. */
  readonly scheduledTasks: number;
  /** Closes every socket (1001 by default) and resolves when all have ended; new WebSocket requests get 503. */
  close(options?: ShutdownOptions): Promise<void>;
  /** This middleware's figures now (connections, refused handshakes, messages, bytes): docs/operations.md. */
  stats(): WebSocketServerStats;
}

/** Makes Hono route middleware from a handler and the server-wide options. */
export type WebSocketFactory = <E extends Env = any, P extends string = any, I extends Input = {}>(
  handler: HonoWebSocketHandler<E, P, I>,
  options?: WebSocketOptions,
) => WebSocketMiddleware<E, P, I>;

/** The request of `c` as the core reads it (HTTP/1.1: Hono's runtimes take no WebSocket over HTTP/2). */
function handshakeRequest(c: Context): HandshakeRequest {
  return new WebHandshakeRequest(c.req.raw);
}

/**
 * Binds the core to one runtime. Call it once per app with that runtime's binding;
 * the returned `webSocket(handler, options)` makes middleware for any route and
 * method (`app.get`, `app.on(["GET", "CONNECT"], …)`, `app.all`). A handler that
 * neither accepts nor answers passes the request on with `next()`.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { createWebSocket } from "@uniws/hono";
 * import { denoRuntime } from "@uniws/hono/deno";
 *
 * type AppEnv = { Variables: { user: string } };
 * const app = new Hono<AppEnv>();
 * const runtime = denoRuntime();
 * const webSocket = createWebSocket(runtime);
 * app.use("/ws", async (c, next) => { c.set("user", "ada"); await next(); });
 * app.get("/ws", webSocket<AppEnv>(async (context) => {
 *   if (!context.isWebSocketRequest) return context.reject(400);
 *   const user = context.native.get("user"); // typed: string
 *   const socket = await context.accept();
 *   await socket.send(`hello ${user}`);
 *   for await (const message of socket) await socket.send(message.data);
 * }, { keepAliveInterval: 30_000 }));
 * Deno.serve(runtime.fetch(app));
 * ```
 */
export function createWebSocket(runtime: HonoWebSocketRuntime): WebSocketFactory {
  const read = runtime.handshakeRequest ?? handshakeRequest;
  return <E extends Env = any, P extends string = any, I extends Input = {}>(
    handler: HonoWebSocketHandler<E, P, I>,
    options?: WebSocketOptions,
  ): WebSocketMiddleware<E, P, I> => {
    const host = new WebSocketHost<Context<E, P, I>>(handler, options, runtime.name);
    const middleware: MiddlewareHandler<E, P, I> = async (c, next) => {
      const request = read(c);
      const binding: UpgradeBinding = {
        capabilities: runtime.capabilities,
        upgrade: (plan, events) => runtime.upgrade(c, plan, events, host.options, request),
      };
      const outcome = await host.dispatch(request, c, binding);
      if (outcome.kind === "unhandled") {
        await next();
        return;
      }
      // Every runtime binding returns its response from `upgrade`, so an upgraded outcome carries one.
      return outcome.response ?? new Response(null);
    };
    return Object.defineProperties(middleware, {
      connections: { get: () => host.connections },
      scheduledTasks: { get: () => host.scheduledTasks },
      close: { value: (shutdown?: ShutdownOptions) => host.close(shutdown) },
      stats: { value: () => host.stats() },
    }) as WebSocketMiddleware<E, P, I>;
  };
}
