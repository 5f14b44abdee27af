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
      this.#dispatch(request, info, false).then((outcome) => {
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
    return this.#dispatch(request, info, true).then(responseOf);
  }

  // When Deno has sent the 101 (or could not), from which the opening grace runs: at once from `fetch`, which hands
  // Deno the answer as soon as there is one; Deno's `info.completed` from `handleRequest`, whose caller returns the
  // answer when it likes. Not read where it is not needed: Deno keeps it with the upgraded request (≈ 250 B per open
  // connection).
  #dispatch(request: Request, info: Deno.ServeHandlerInfo | undefined, callerAnswers: boolean): Promise<DispatchOutcome> {
    try {
      const binding: UpgradeBinding = {
        capabilities: DENO_CAPABILITIES,
        upgrade: (plan, events) => upgrade(request, plan, events, callerAnswers ? () => info?.completed : sentWithTheAnswer),
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

// What `fetch` waits on before the opening grace runs: nothing, as it gives Deno the 101 with the answer.
const SENT_WITH_THE_ANSWER: Promise<void> = Promise.resolve();
const sentWithTheAnswer = () => SENT_WITH_THE_ANSWER;

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

// `responded`: when the 101 went out (see #dispatch); `undefined` for no opening grace.
function upgrade(request: Request, plan: UpgradePlan, events: EngineEvents, responded: () => Promise<void> | undefined): Response {
  // Not Deno's `protocol` option: it splits the client's list on ", " only and throws for
  // "alpha,bravo". The core already parsed the list and checked the choice (RFC 6455 §4.2.2).
  const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout: idleTimeoutSeconds(plan.keepAliveInterval) });
  if (plan.subProtocol !== undefined) response.headers.set("sec-websocket-protocol", plan.subProtocol);
  // Read after the upgrade: read before, `completed` settles as Deno upgrades, not once it has sent the 101.
  bindDenoSocket(socket, events, responded());
  return response;
}
