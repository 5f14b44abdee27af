/**
 * `@uniws/node`'s server: the core's policy on `node:http` / `node:https` servers,
 * with `ws` (in `noServer` mode) as the protocol engine.
 *
 * @module
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import {
  type DispatchOutcome,
  type EngineEvents,
  type ShutdownOptions,
  type UpgradeBinding,
  type UpgradePlan,
  type WebSocketHandler,
  WebSocketError,
  WebSocketHost,
  type WebSocketOptions,
} from "@uniws/core";
import { WebSocketServer as WsServer } from "ws";
import { toHandshakeRequest, writeRawResponse, writeResponse } from "./http1.ts";
import { bindWsSocket, NODE_CAPABILITIES } from "./ws-engine.ts";

/** The adapter's own request object, seen as `context.native`. */
export type NodeRequest = IncomingMessage;

/** Which requests {@link NodeWebSocketServer.attach} takes: an exact path, or a test. */
export type PathMatcher = string | ((url: URL) => boolean);

/** Options of {@link NodeWebSocketServer.attach}. */
export interface AttachOptions {
  /** Only upgrades to this path (or passing this test) reach the handler. @default every path */
  readonly path?: PathMatcher;
}

// A closeTimeout of 0 means "wait forever"; `ws` needs a number of ms.
const FOREVER = 2 ** 31 - 1;

/**
 * WebSocket support for Node servers. Create one per handler, `attach` it to an
 * HTTP or HTTPS server, and route plain requests to it with `handleRequest` when
 * the application wants them (the seed's sample answers them 400).
 *
 * @example
 * ```ts
 * import { createServer } from "node:http";
 * import { NodeWebSocketServer } from "@uniws/node";
 *
 * const sockets = new NodeWebSocketServer(async (context) => {
 *   if (!context.isWebSocketRequest) return context.reject(400);
 *   const socket = await context.accept();
 *   for await (const message of socket) await socket.send(message.data);
 * }, { keepAliveInterval: 30_000 });
 * const server = createServer((req, res) => res.end("hello"));
 * sockets.attach(server, { path: "/ws" });
 * server.listen(5000);
 * ```
 */
export class NodeWebSocketServer {
  readonly #host: WebSocketHost<NodeRequest>;
  readonly #engine: WsServer;
  readonly #subProtocols = new WeakMap<IncomingMessage, string>();
  readonly #extensions = new WeakMap<IncomingMessage, string>();

  constructor(handler: WebSocketHandler<NodeRequest>, options?: WebSocketOptions) {
    this.#host = new WebSocketHost(handler, options);
    const { maxMessageSize, closeTimeout } = this.#host.options;
    const engineOptions: ConstructorParameters<typeof WsServer>[0] & { closeTimeout: number } = {
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: maxMessageSize,
      closeTimeout: closeTimeout === 0 ? FOREVER : closeTimeout,
      // The core chose the sub-protocol (and checked the client offered it) before the upgrade.
      handleProtocols: (_offered, req) => this.#subProtocols.get(req) ?? false,
    };
    // `closeTimeout` (ws 8.19+) is not in @types/ws yet.
    this.#engine = new WsServer(engineOptions);
    this.#engine.on("headers", (lines: string[], req: IncomingMessage) => {
      const line = lines.find((header) => header.toLowerCase().startsWith("sec-websocket-extensions:"));
      if (line !== undefined) this.#extensions.set(req, line.slice(line.indexOf(":") + 1).trim());
    });
  }

  /** What this adapter's engine can do. */
  get capabilities(): typeof NODE_CAPABILITIES {
    return NODE_CAPABILITIES;
  }

  /** Sockets accepted and not yet ended. */
  get connections(): number {
    return this.#host.connections;
  }

  /**
   * Takes WebSocket upgrades on `server` (HTTP/1.1 `upgrade` events). Other routes
   * are untouched. `server.close()` then also closes every socket with 1001.
   */
  attach(server: Server, options: AttachOptions = {}): this {
    const matches = pathMatcher(options.path);
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!matches(toHandshakeRequest(req).url)) {
        // Leave it to another upgrade listener; if there is none, nobody else will answer.
        if (server.listenerCount("upgrade") === 1) void writeRawResponse(socket, new Response(null, { status: 404 }));
        return;
      }
      void this.handleUpgrade(req, socket, head);
    });
    const close = server.close;
    server.close = ((callback?: (error?: Error) => void) => {
      close.call(server, callback);
      this.close().catch(this.#host.options.onError);
      return server;
    }) as Server["close"];
    return this;
  }

  /** Handles one HTTP/1.1 `upgrade` event. */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Until `ws` owns the socket, a reset by the client must not become an uncaught error.
    socket.on("error", () => socket.destroy());
    const binding: UpgradeBinding = {
      capabilities: NODE_CAPABILITIES,
      upgrade: (plan, events) => this.#upgrade(req, socket, head, plan, events),
    };
    const outcome = await this.#host.dispatch(toHandshakeRequest(req), req, binding);
    if (outcome.kind === "response") await writeRawResponse(socket, outcome.response);
    else if (outcome.kind === "unhandled") await writeRawResponse(socket, new Response(null, { status: 404 }));
  }

  /**
   * Runs the handler for a plain HTTP request (`isWebSocketRequest` false) and
   * writes its answer. Resolves `false`, having written nothing, when the handler
   * neither answered nor returned a `Response`, so the caller can go on routing.
   */
  async handleRequest(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const binding: UpgradeBinding = {
      capabilities: NODE_CAPABILITIES,
      upgrade: () => {
        throw new WebSocketError("UNSUPPORTED", "A request without an Upgrade header cannot be upgraded");
      },
    };
    const outcome: DispatchOutcome = await this.#host.dispatch(toHandshakeRequest(req), req, binding);
    if (outcome.kind === "unhandled") return false;
    if (outcome.kind === "response") await writeResponse(res, outcome.response);
    return true;
  }

  /** Closes every socket (1001 by default) and resolves when all have ended; new WebSocket requests get 503. */
  close(options?: ShutdownOptions): Promise<void> {
    return this.#host.close(options);
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, plan: UpgradePlan, events: EngineEvents): undefined {
    if (plan.subProtocol !== undefined) this.#subProtocols.set(req, plan.subProtocol);
    // `ws` drops a socket the client already closed without calling back: report that as a failed upgrade.
    const gone = () => events.failed(new Error("The client closed the connection during the handshake"));
    socket.once("close", gone);
    this.#engine.handleUpgrade(req, socket, head, (ws) => {
      socket.off("close", gone);
      bindWsSocket(ws, socket, this.#extensions.get(req) ?? "", events);
    });
    return undefined;
  }
}

function pathMatcher(path: PathMatcher | undefined): (url: URL) => boolean {
  if (path === undefined) return () => true;
  if (typeof path === "function") return path;
  return (url) => url.pathname === path;
}
