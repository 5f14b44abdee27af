/**
 * `@uniws/bun`'s server: the core's policy on `Bun.serve`, with `server.upgrade`
 * and Bun's `websocket` handlers as the engine.
 *
 * @module
 */
import type { Server, WebSocketHandler as BunWebSocketHandler } from "bun";
import {
  type EngineCapabilities,
  type EngineEvents,
  type ShutdownOptions,
  type UpgradeBinding,
  type UpgradePlan,
  type WebSocketHandler,
  WebSocketError,
  WebSocketHost,
  type WebSocketOptions,
  type WebSocketServerStats,
} from "@uniws/core";
import { BUN_CAPABILITIES, BunConnection, bunWebSocketHandler } from "./bun-engine.ts";
import { BUN_DEFLATE_PRESET, planDeflate } from "./deflate.ts";
import { BunHandshakeRequest } from "./handshake.ts";

/** The Bun server this adapter's sockets live on. */
export type BunServer = Server<BunConnection>;

/** The adapter's own request object, seen as `context.native` until the request is answered (docs/semantics.md). */
export interface BunRequest {
  /** The web request Bun received. */
  readonly request: Request;
  /** The Bun server that received it (`server.requestIP(request)` gives the peer's address). */
  readonly server: BunServer;
}

/** Answers the requests the WebSocket handler leaves unanswered. */
export type Fallback = (request: Request, server: BunServer) => Response | Promise<Response>;

/** What `Bun.serve` needs from this adapter: spread it into the serve options. */
export interface BunServeOptions {
  /**
   * Answers a request: upgrades it, or gives the response (`undefined` once upgraded, as Bun expects), at once
   * when the handler accepted before its first `await`, else through a promise.
   */
  fetch(request: Request, server: BunServer): Response | undefined | Promise<Response | undefined>;
  /** Bun's `websocket` handlers, reporting into the core. */
  readonly websocket: BunWebSocketHandler<BunConnection>;
}

const EXTENSIONS = "sec-websocket-extensions";
const PROTOCOL = "sec-websocket-protocol";

const notFound: Fallback = () => new Response("Not Found", { status: 404 });

/**
 * WebSocket support for `Bun.serve`. Create one per handler and spread
 * {@link serveOptions} into `Bun.serve`: its `fetch` runs the handler for every
 * request (WebSocket or not), and what the handler leaves unanswered goes to
 * `fallback`; its `websocket` object carries Bun's socket events to the core.
 * Per-connection state lives in each socket's `ws.data`, kept by the adapter.
 *
 * @example
 * ```ts
 * import { BunWebSocketServer } from "@uniws/bun";
 *
 * const sockets = new BunWebSocketServer(async (context) => {
 *   if (context.url.pathname !== "/ws") return; // falls through to the fallback
 *   if (!context.isWebSocketRequest) return context.reject(400);
 *   const socket = await context.accept();
 *   for await (const message of socket) await socket.send(message.data);
 * }, { keepAliveInterval: 30_000 });
 * Bun.serve({ port: 5000, ...sockets.serveOptions(() => new Response("hello")) });
 * ```
 */
export class BunWebSocketServer {
  readonly #host: WebSocketHost<BunRequest>;
  /** The `websocket` object for `Bun.serve` (also in {@link serveOptions}). */
  readonly websocket: BunWebSocketHandler<BunConnection>;

  /** Runs `handler` for every request `fetch` gets, under `options`. Throws `TypeError` without a handler and `RangeError` for an invalid option. */
  constructor(handler: WebSocketHandler<BunRequest>, options?: WebSocketOptions) {
    this.#host = new WebSocketHost(handler, options, "bun");
    const { maxMessageSize, onError } = this.#host.options;
    this.websocket = bunWebSocketHandler({ maxMessageSize, onError, perMessageDeflate: BUN_DEFLATE_PRESET });
  }

  /** What this adapter's engine can do. */
  get capabilities(): typeof BUN_CAPABILITIES {
    return BUN_CAPABILITIES;
  }

  /** Sockets accepted and not yet ended. */
  get connections(): number {
    return this.#host.connections;
  }

  /** Deadlines (keep-alive, idle, close) the shared timer holds for live sockets: 0 once every socket has ended. */
  get scheduledTasks(): number {
    return this.#host.scheduledTasks;
  }

  /** This server's figures now (connections, refused handshakes, messages, bytes): docs/operations.md. */
  stats(): WebSocketServerStats {
    return this.#host.stats();
  }

  /** `fetch` and `websocket` for `Bun.serve`; requests the handler does not answer go to `fallback` (404 by default). */
  serveOptions(fallback: Fallback = notFound): BunServeOptions {
    return {
      fetch: (request, server) => this.#serve(request, server, fallback),
      websocket: this.websocket,
    };
  }

  /**
   * Runs the handler for one request, for use inside your own `fetch` or route.
   * Resolves `undefined` once the request was upgraded (return that to Bun as is),
   * else the response: the handler's, or `fallback`'s when it answered nothing.
   */
  async fetch(request: Request, server: BunServer, fallback: Fallback = notFound): Promise<Response | undefined> {
    return await this.#serve(request, server, fallback);
  }

  // `undefined` at once when the handler accepted before its first `await` (the usual handler): Bun then completes
  // the upgrade without waiting on a promise, and the request's own promise and `await` are spared.
  #serve(request: Request, server: BunServer, fallback: Fallback): Response | undefined | Promise<Response | undefined> {
    const handshake = new BunHandshakeRequest(request, server);
    const binding = new BunUpgradeBinding(handshake, request, server);
    const outcome = this.#host.dispatch(handshake, { request, server }, binding);
    if (binding.upgraded) return undefined;
    return outcome.then((outcome) => outcome.kind === "response" ? outcome.response : outcome.kind === "upgraded" ? undefined : fallback(request, server));
  }

  /** Closes every socket (1001 by default) and resolves when all have ended; new WebSocket requests get 503. */
  close(options?: ShutdownOptions): Promise<void> {
    return this.#host.close(options);
  }
}

// One request's upgrade: the core calls it when the handler accepts, and the server reads `upgraded` after the
// handler's synchronous part. Made per request, in place of a closure over the same four values.
class BunUpgradeBinding implements UpgradeBinding {
  readonly #handshake: BunHandshakeRequest;
  readonly #request: Request;
  readonly #server: BunServer;
  /** Bun has upgraded the request. */
  upgraded = false;

  constructor(handshake: BunHandshakeRequest, request: Request, server: BunServer) {
    this.#handshake = handshake;
    this.#request = request;
    this.#server = server;
  }

  get capabilities(): EngineCapabilities {
    return BUN_CAPABILITIES;
  }

  upgrade(plan: UpgradePlan, events: EngineEvents): undefined {
    const handshake = this.#handshake;
    const request = this.#request;
    const server = this.#server;
    // Answer the sub-protocol whenever the client offered some: without the header, Bun would echo its first offer.
    const headers = plan.subProtocol !== undefined || handshake.has(PROTOCOL) ? { "Sec-WebSocket-Protocol": plan.subProtocol ?? "" } : undefined;
    // Bun negotiates permessage-deflate from the request's offer: show it only what this connection agreed.
    const offer = handshake.get(EXTENSIONS);
    const deflate = planDeflate(offer, plan.compression);
    // The handler goes on seeing the client's address (see BunHandshakeRequest).
    const data = handshake.upgradeConnection(events, deflate?.answer ?? "", server);
    if (deflate !== undefined) request.headers.set(EXTENSIONS, deflate.offer);
    else if (offer !== null) request.headers.delete(EXTENSIONS);
    // Bun runs the `open` handler inside upgrade(), which reports the socket open.
    if (!server.upgrade(request, { headers, data })) {
      throw new WebSocketError("UPGRADE_FAILED", "Bun refused to upgrade the request");
    }
    this.upgraded = true;
    return undefined;
  }
}
