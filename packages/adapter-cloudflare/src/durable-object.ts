/**
 * uniws in a Durable Object without hibernation: the awaitable handler style of
 * every other runtime (`for await (const message of socket)`), with sockets the
 * object's requests share. A suspended handler keeps the object in memory for as
 * long as its socket is open; see `HibernatableWebSocketServer` for rooms that may
 * sleep.
 *
 * @module
 */
import {
  type HandshakeRequest,
  WebHandshakeRequest,
  type ShutdownOptions,
  type UpgradeBinding,
  type WebSocketHandler,
  WebSocketHost,
  type WebSocketOptions,
  type WebSocketServerStats,
} from "@uniws/core";
import { DURABLE_OBJECT_CAPABILITIES, upgradeWorkerd } from "./workerd.ts";

/**
 * A request to workerd in the core's terms: HTTP/1.1 (workerd takes WebSockets over
 * HTTP/1.1 only), and the client's address from `CF-Connecting-IP`, which Cloudflare's
 * edge (and Miniflare) sets (docs/operations.md).
 */
export function workerdHandshakeRequest(request: Request): HandshakeRequest {
  const remoteAddress = request.headers.get("cf-connecting-ip") ?? undefined;
  return new WebHandshakeRequest(request, { remoteAddress });
}

/**
 * The core's policy over the sockets of one Durable Object, handler style: call
 * `fetch(request)` from the object's `fetch`. Sockets are accepted with `accept()`
 * (not the Hibernation API), so every request of the object may write to any of
 * them: a `WebSocketHub` and `close()` reach them all. `keepAliveInterval` has no
 * effect (workerd answers the client's Pings; a Worker sends none) and
 * `keepAliveTimeout` fails the upgrade with `UNSUPPORTED`; use `idleTimeout`.
 *
 * @example
 * ```ts
 * import { DurableObjectWebSocketServer, WebSocketHub } from "@uniws/cloudflare";
 *
 * export class Room {
 *   readonly hub = new WebSocketHub();
 *   readonly sockets = new DurableObjectWebSocketServer(async (context) => {
 *     if (!context.isWebSocketRequest) return context.reject(400);
 *     const socket = await context.accept();
 *     this.hub.add(socket);
 *     for await (const message of socket) this.hub.broadcast(message.data);
 *   }, { idleTimeout: 60_000 });
 *
 *   fetch(request: Request): Promise<Response> {
 *     return this.sockets.fetch(request);
 *   }
 * }
 * ```
 */
export class DurableObjectWebSocketServer {
  readonly #host: WebSocketHost<Request>;
  readonly #binding: UpgradeBinding = {
    capabilities: DURABLE_OBJECT_CAPABILITIES,
    upgrade: (plan, events) => upgradeWorkerd(plan, events, false),
  };

  /**
   * Creates the server, typically as a field of the object.
   * @param handler runs for each request; its promise is the connection's lifetime (as on every runtime)
   * @param options the server-wide options (`idleTimeout`, `maxMessageSize`, `allowedOrigins`…)
   */
  constructor(handler: WebSocketHandler<Request>, options?: WebSocketOptions) {
    this.#host = new WebSocketHost(handler, options, "workerd");
  }

  /** Sockets accepted and not yet ended. */
  get connections(): number {
    return this.#host.connections;
  }

  /**
   * Handles one request: the refusals the core answers itself (400, 403, 426,
   * 503), the handler's answer, or the 101. A request the handler neither upgrades
   * nor answers gets 404.
   */
  async fetch(request: Request): Promise<Response> {
    const outcome = await this.#host.dispatch(workerdHandshakeRequest(request), request, this.#binding);
    if (outcome.kind === "unhandled") return new Response(null, { status: 404 });
    return outcome.response ?? new Response(null, { status: 500 });
  }

  /**
   * The server's figures now (connections, handshakes refused, messages and bytes),
   * as `stats()` on every adapter (docs/operations.md).
   */
  stats(): WebSocketServerStats {
    return this.#host.stats();
  }

  /** Closes every socket (1001 by default) and resolves when all have ended; new WebSocket requests get 503. */
  close(options?: ShutdownOptions): Promise<void> {
    return this.#host.close(options);
  }
}
