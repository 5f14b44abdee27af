/**
 * `@uniws/deno`'s server: the core's policy as a fetch-style handler for
 * `Deno.serve`, with `Deno.upgradeWebSocket` as the upgrade machinery.
 *
 * @module
 */
import {
  type DispatchOutcome,
  type EngineEvents,
  type HandshakeRequest,
  type ShutdownOptions,
  type UpgradeBinding,
  type UpgradePlan,
  type WebSocketHandler,
  WebSocketHost,
  type WebSocketOptions,
  type WebSocketServerStats,
} from "@uniws/core";
import { bindDenoSocket, DENO_CAPABILITIES, idleTimeoutSeconds } from "./deno-engine.ts";
import { DenoHandshakeRequest } from "./handshake.ts";

/** The adapter's own request object, seen as `context.native` until the request is answered (docs/semantics.md). */
export interface DenoRequest {
  /** The request as `Deno.serve` passed it. */
  readonly request: Request;
  /** The connection's details (`remoteAddr`), when the request came through `Deno.serve`. */
  readonly info: Deno.ServeHandlerInfo | undefined;
}

/** What answers the requests the WebSocket handler leaves unanswered: `Deno.serve`'s handler type. */
export type FallbackHandler = (request: Request, info: Deno.ServeHandlerInfo) => Response | Promise<Response>;

/**
 * WebSocket support for `Deno.serve`. Create one per handler and serve its
 * `fetch(fallback)`: every request reaches the handler first; those it neither
 * upgrades nor answers go to `fallback` (404 without one).
 *
 * @example
 * ```ts
 * import { DenoWebSocketServer } from "@uniws/deno";
 *
 * const sockets = new DenoWebSocketServer(async (context) => {
 *   if (context.url.pathname !== "/ws") return;            // not ours: the fallback answers
 *   if (!context.isWebSocketRequest) return context.reject(400);
 *   const socket = await context.accept();
 *   for await (const message of socket) await socket.send(message.data);
 * }, { keepAliveInterval: 30_000 });
 * const stop = new AbortController();
 * const server = Deno.serve({ port: 5000, signal: stop.signal }, sockets.fetch(() => new Response("hello")));
 * // Later: close every socket with 1001, then stop listening.
 * await sockets.close();
 * stop.abort();
 * await server.finished;
 * ```
 */
export class DenoWebSocketServer {
  readonly #host: WebSocketHost<DenoRequest>;

  /** Runs `handler` for every request `fetch` gets, under `options`. Throws `TypeError` without a handler and `RangeError` for an invalid option. */
  constructor(handler: WebSocketHandler<DenoRequest>, options?: WebSocketOptions) {
    this.#host = new WebSocketHost(handler, options, "deno");
  }

  /** What this adapter's engine can do. */
  get capabilities(): typeof DENO_CAPABILITIES {
    return DENO_CAPABILITIES;
  }

  /** Sockets accepted and not yet ended. */
  get connections(): number {
    return this.#host.connections;
  }

  /** Deadlines of live sockets filed on the shared timer; 0 once every socket has ended. */
  get scheduledTasks(): number {
    return this.#host.scheduledTasks;
  }

  /** This server's figures now (connections, refused handshakes, messages, bytes): docs/operations.md. */
  stats(): WebSocketServerStats {
    return this.#host.stats();
  }

  /**
   * A `Deno.serve` handler: the WebSocket handler first, then `fallback` for the
   * requests it leaves unanswered (404 without a fallback).
   */
  fetch(fallback?: FallbackHandler): (request: Request, info: Deno.ServeHandlerInfo) => Promise<Response> {
    // One reaction to the core's outcome, not two `async` layers: a promise and a microtask fewer per request.
    return (request, info) =>
      this.#dispatch(request, info).then((outcome) => {
        const response = responseOf(outcome);
        if (response !== undefined) return response;
        return fallback === undefined ? new Response(null, { status: 404 }) : fallback(request, info);
      });
  }

  /**
   * Runs the handler for one request. Resolves with the response to return from
   * the `Deno.serve` handler (an upgrade's 101 included), or `undefined` when the
   * handler neither upgraded nor answered, so the caller can go on routing.
   */
  handleRequest(request: Request, info?: Deno.ServeHandlerInfo): Promise<Response | undefined> {
    return this.#dispatch(request, info).then(responseOf);
  }

  #dispatch(request: Request, info: Deno.ServeHandlerInfo | undefined): Promise<DispatchOutcome> {
    try {
      const binding: UpgradeBinding = {
        capabilities: DENO_CAPABILITIES,
        upgrade: (plan, events) => upgrade(request, info, plan, events),
      };
      return this.#host.dispatch(toHandshakeRequest(request, info), { request, info }, binding);
    } catch (error) {
      // As from an `async` function: a rejection, never a throw.
      return Promise.reject(error);
    }
  }

  /** Closes every socket (1001 by default) and resolves when all have ended; new WebSocket requests get 503. */
  close(options?: ShutdownOptions): Promise<void> {
    return this.#host.close(options);
  }
}

/** The response an outcome answers with; `undefined` when the handler left the request to the caller. */
function responseOf(outcome: DispatchOutcome): Response | undefined {
  return outcome.kind === "unhandled" ? undefined : outcome.response;
}

/** A web request in the core's terms. `Deno.serve` takes WebSockets over HTTP/1.1 only. */
function toHandshakeRequest(request: Request, info: Deno.ServeHandlerInfo | undefined): HandshakeRequest {
  const peer = info?.remoteAddr;
  // A TCP peer has a hostname (its IP address); a Unix socket peer has none.
  const remoteAddress = peer !== undefined && "hostname" in peer ? peer.hostname : undefined;
  return new DenoHandshakeRequest(request, remoteAddress);
}

function upgrade(request: Request, info: Deno.ServeHandlerInfo | undefined, plan: UpgradePlan, events: EngineEvents): Response {
  // Not Deno's `protocol` option: it splits the client's list on ", " only and throws for
  // "alpha,bravo". The core already parsed the list and checked the choice (RFC 6455 §4.2.2).
  const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout: idleTimeoutSeconds(plan.keepAliveInterval) });
  if (plan.subProtocol !== undefined) response.headers.set("sec-websocket-protocol", plan.subProtocol);
  bindDenoSocket(socket, events, info?.completed);
  return response;
}
