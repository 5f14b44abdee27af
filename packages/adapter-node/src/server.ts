/**
 * `@uniws/node`'s server: the core's policy on `node:http`, `node:https` and `node:http2` servers,
 * with `ws` (in `noServer` mode) as the protocol engine.
 *
 * @module
 */
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse, IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
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
  type WebSocketServerStats,
} from "@uniws/core";
import { type NodeDeflateOptions, wsDeflateOptions } from "./compression.ts";
import { asteriskFormRefusal, isAsteriskFormMisuse, toHandshakeRequest, upgradeRequest, writeRawResponse, writeResponse } from "./http1.ts";
import {
  answerHandshakeOnStream,
  type AnyHttp2Server,
  cancelOnAbort,
  type Http2ConnectRequest,
  isCompatRequest,
  isHttp2Server,
  listenForConnect,
  respondOnStream,
  streamRequest,
  toCompatRequest,
  toConnectRequest,
} from "./http2.ts";
import { NODE_CAPABILITIES } from "./ws-engine.ts";
import { guardUpgrade, WsEngines } from "./ws-upgrade.ts";

/**
 * The adapter's own request object, seen as `context.native`: the `IncomingMessage`
 * of an HTTP/1.1 request, the `Http2ServerRequest` of a plain HTTP/2 request given to
 * `handleRequest`, or the stream and headers of an HTTP/2 extended CONNECT. Readable until
 * the request is answered: an open connection keeps none of it (docs/semantics.md).
 */
export type NodeRequest = IncomingMessage | Http2ServerRequest | Http2ConnectRequest;

/** Options of {@link NodeWebSocketServer}: the core's policy, and Node's zlib tuning. */
export interface NodeWebSocketOptions extends WebSocketOptions {
  /** zlib tuning for sockets whose accept context enabled compression and whose client agreed. */
  readonly deflate?: NodeDeflateOptions;
  /**
   * The most frames one message may arrive in (`ws` keeps each until the last); 0 for
   * no limit. A message over it is closed with 1008. The default lets any message
   * within `maxMessageSize` whose frames average 64 bytes or more arrive.
   * @default max(16384, ceil(maxMessageSize / 64))
   */
  readonly maxFragments?: number;
}

/** Which requests {@link NodeWebSocketServer.attach} takes: an exact path, or a test. */
export type PathMatcher = string | ((url: URL) => boolean);

/** Options of {@link NodeWebSocketServer.attach}. */
export interface AttachOptions {
  /** Only upgrades to this path (or passing this test) reach the handler. @default every path */
  readonly path?: PathMatcher;
}

// An HTTP/2 stream has no bytes read ahead of the WebSocket's first frame.
const EMPTY = Buffer.alloc(0);

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
  readonly #engines: WsEngines;

  /** Runs `handler` for every request given to `handleRequest` or taken by `attach`, under `options`. Throws `TypeError` without a handler and `RangeError` for an invalid option. */
  constructor(handler: WebSocketHandler<NodeRequest>, options?: NodeWebSocketOptions) {
    this.#host = new WebSocketHost(handler, options, "node");
    this.#engines = new WsEngines(wsDeflateOptions(options?.deflate), options?.maxFragments);
  }

  /** What this adapter's engine can do. */
  get capabilities(): typeof NODE_CAPABILITIES {
    return NODE_CAPABILITIES;
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
   * Takes WebSocket upgrades on `server` (HTTP/1.1 `upgrade` events) and, on a
   * `node:http2` server, extended CONNECT streams (RFC 8441), advertising
   * `SETTINGS_ENABLE_CONNECT_PROTOCOL` on its new sessions. Other routes are
   * untouched. `server.close()` then also closes every socket with 1001.
   */
  attach(server: Server | AnyHttp2Server, options: AttachOptions = {}): this {
    const matches = pathMatcher(options.path);
    if (isHttp2Server(server)) {
      const wanted = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => matches(toConnectRequest(stream, headers).url);
      listenForConnect(server, wanted, (stream, headers, rawHeaders) => void this.handleStream(stream, headers, rawHeaders));
    }
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      // Without a path every upgrade is ours: no URL to build for it.
      // A misused asterisk form is refused (handleUpgrade) whatever the path: it names none.
      if (options.path !== undefined && !isAsteriskFormMisuse(req) && !matches(toHandshakeRequest(req).url)) {
        // Leave it to another upgrade listener; if there is none, nobody else will answer.
        if (server.listenerCount("upgrade") === 1) void writeRawResponse(socket, new Response(null, { status: 404 }));
        return;
      }
      void this.handleUpgrade(req, socket, head);
    });
    // Upgraded sockets are no longer the HTTP server's connections: close them (1001) and report the server
    // closed only once they have ended too.
    const close = server.close as (callback?: (error?: Error) => void) => unknown;
    server.close = ((callback?: (error?: Error) => void) => {
      const shutdown = this.close();
      close.call(server, (error?: Error) => {
        shutdown.then(() => callback?.(error), (failure: unknown) => callback?.(failure as Error));
      });
      return server;
    }) as Server["close"];
    return this;
  }

  /** Handles one HTTP/1.1 `upgrade` event. */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Until `ws` owns the socket, a reset by the client must not become an uncaught error.
    guardUpgrade(socket);
    if (isAsteriskFormMisuse(req)) return void (await writeRawResponse(socket, asteriskFormRefusal()));
    const binding: UpgradeBinding = {
      capabilities: NODE_CAPABILITIES,
      upgrade: (plan, events) => this.#upgrade(upgradeRequest(req), socket, head, plan, events),
    };
    const outcome = await this.#host.dispatch(toHandshakeRequest(req), req, binding);
    if (outcome.kind === "response") await this.#answer(writeRawResponse(socket, outcome.response), socket);
    else if (outcome.kind === "unhandled") await writeRawResponse(socket, new Response(null, { status: 404 }));
  }

  /**
   * Handles one HTTP/2 extended CONNECT stream (RFC 8441) with the same handler and
   * policy as an HTTP/1.1 upgrade; an accepted socket is answered `:status 200` and
   * runs on the stream. Use it from your own `stream` listener instead of `attach`, passing
   * the listener's `rawHeaders` (its fourth argument): with them `context.headers` joins a
   * repeated field as over HTTP/1.1 (RFC 9110 §5.3; cookie crumbs with "; ", RFC 9113
   * §8.2.3); without, it reads Node's header object, which keeps only the first of a
   * repeated User-Agent, Authorization, Referer….
   */
  async handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders?: readonly string[]): Promise<void> {
    // A stream reset by the client must not become an uncaught error; `ws` adds its own listener.
    stream.on("error", () => stream.destroy());
    const binding: UpgradeBinding = {
      capabilities: NODE_CAPABILITIES,
      upgrade: (plan, events) => {
        answerHandshakeOnStream(stream);
        return this.#upgrade(streamRequest(headers), stream, EMPTY, plan, cancelOnAbort(stream, events));
      },
    };
    const outcome = await this.#host.dispatch(toConnectRequest(stream, headers, rawHeaders), { stream, headers }, binding);
    if (outcome.kind === "response") await this.#answer(respondOnStream(stream, outcome.response), stream);
    else if (outcome.kind === "unhandled") await respondOnStream(stream, new Response(null, { status: 404 }));
  }

  /**
   * Runs the handler for a plain HTTP request (`isWebSocketRequest` false) and
   * writes its answer. Resolves `false`, having written nothing, when the handler
   * neither answered nor returned a `Response`, so the caller can go on routing.
   * Takes HTTP/2 compatibility-layer requests too (`allowHTTP1` servers).
   */
  async handleRequest(req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse): Promise<boolean> {
    if (!isCompatRequest(req) && isAsteriskFormMisuse(req)) {
      await this.#answer(writeResponse(res, asteriskFormRefusal()), res);
      return true;
    }
    const binding: UpgradeBinding = {
      capabilities: NODE_CAPABILITIES,
      upgrade: () => {
        throw new WebSocketError("UNSUPPORTED", "A request without an Upgrade header cannot be upgraded");
      },
    };
    const request = isCompatRequest(req) ? toCompatRequest(req) : toHandshakeRequest(req);
    const outcome: DispatchOutcome = await this.#host.dispatch(request, req, binding);
    if (outcome.kind === "unhandled") return false;
    if (outcome.kind === "response") await this.#answer(writeResponse(res, outcome.response), res);
    return true;
  }

  // A response body that fails as it is read (a stream that errors) ends that connection and goes to onError: left
  // to reject, it went unhandled (handleUpgrade runs detached), and an unhandled rejection ends a Node process.
  async #answer(writing: Promise<void>, connection: { destroy(): unknown }): Promise<void> {
    try {
      await writing;
    } catch (error) {
      connection.destroy();
      this.#host.options.onError(error);
    }
  }

  /** Closes every socket (1001 by default) and resolves when all have ended; new WebSocket requests get 503. */
  close(options?: ShutdownOptions): Promise<void> {
    return this.#host.close(options);
  }

  #upgrade(req: Pick<IncomingMessage, "headers" | "url">, socket: Duplex, head: Buffer, plan: UpgradePlan, events: EngineEvents): undefined {
    this.#engines.upgrade(this.#host.options, req, socket, head, plan, events);
    return undefined;
  }
}

function pathMatcher(path: PathMatcher | undefined): (url: URL) => boolean {
  if (path === undefined) return () => true;
  if (typeof path === "function") return path;
  return (url) => url.pathname === path;
}
