/**
 * `@uniws/hono/node`: Hono on Node (`@hono/node-server`) with `ws` as the protocol
 * engine. `injectWebSocket(server)` takes the server's HTTP/1.1 upgrades, runs them
 * through the Hono app with their real method, version and headers, and completes
 * the ones the middleware accepted once the app has answered, with the headers that
 * middleware set on that answer (after `next()` too, such as `Set-Cookie`) on the
 * 101; every other answer (400, 403, 426 with its `Sec-WebSocket-Version`, the app's
 * own) is written whole. Works with `@hono/node-server` 1.x and 2.x `serve()`; do not
 * also give 2.x's `serve` its `websocket` option for the same server, since both would
 * answer the same upgrades. Neither `@hono/node-ws` nor 2.x's built-in WebSocket is used:
 * they give `ws` no sub-protocol choice, size limit or compression settings.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { serve } from "@hono/node-server";
 * import { createWebSocket } from "@uniws/hono";
 * import { nodeRuntime } from "@uniws/hono/node";
 *
 * const app = new Hono();
 * const runtime = nodeRuntime({ app });
 * const webSocket = createWebSocket(runtime);
 * app.get("/ws", webSocket(async (context) => {
 *   if (!context.isWebSocketRequest) return context.reject(400);
 *   const socket = await context.accept();
 *   for await (const message of socket) await socket.send(message.data);
 * }));
 * runtime.injectWebSocket(serve({ fetch: app.fetch, port: 5000 }));
 * ```
 *
 * @module
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { type EngineCapabilities, type EngineEvents, type ResolvedWebSocketOptions, type UpgradePlan, WebHandshakeRequest, type WebHandshakeRequestInit, WebSocketError } from "@uniws/core";
import { nodeHttpVersion, type NodeDeflateOptions, writeRawResponse, WsEngines, wsDeflateOptions } from "@uniws/node";
import type { Context } from "hono";
import type { HonoWebSocketRuntime } from "./middleware.ts";

/**
 * What `ws` under Hono on Node can do: what the `@uniws/node` engine does, but
 * HTTP/2 (`@hono/node-server` takes no extended CONNECT).
 */
export const HONO_NODE_CAPABILITIES: EngineCapabilities = {
  pingControl: true,
  fragmentedSend: true,
  compression: true,
  perMessageCompression: true,
  compressionParameters: "per-connection",
  drainEvent: true,
  enforcesMaxMessageSize: true,
  http2: false,
};

/** The Hono `Env` bindings on Node: those `@hono/node-server` gives, so `getConnInfo` works on upgrades too. */
export interface NodeBindings {
  /** The request as Node's `http` module gave it. */
  incoming: IncomingMessage;
  /** No response object: an upgrade answers on the socket. */
  outgoing: undefined;
}

/** The part of a Hono app `injectWebSocket` needs. */
export interface FetchApp {
  /** The app's `fetch`: answers `request` with `env` as its `c.env`. */
  fetch(request: Request, env: NodeBindings): Response | Promise<Response>;
}

/** A server that emits HTTP/1.1 `upgrade` events (`http.Server`, `https.Server`, what `serve()` returns). */
export interface UpgradeEmitter {
  /** Node's `upgrade` event: an HTTP/1.1 request asking to switch protocols (RFC 9110 §7.8). */
  on(event: "upgrade", listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): unknown;
}

/** The Node binding, plus the hook that feeds a server's upgrades to the app. */
export interface NodeRuntime extends HonoWebSocketRuntime {
  /** Takes `server`'s HTTP/1.1 upgrade requests and runs them through the app. Call once per server. */
  injectWebSocket(server: UpgradeEmitter): void;
}

// The upgrade in progress, found by the middleware in `c.env`.
const PENDING = Symbol("uniws.upgrade");

/**
 * An upgrade request running through the app; `accepted` once the middleware's handler
 * accepted. It stays in `c.env` (the handler's `context.native`) for the connection's
 * life, so it holds neither the transport nor the `head` bytes.
 */
interface PendingUpgrade {
  accepted: { readonly plan: UpgradePlan; readonly events: EngineEvents; readonly options: ResolvedWebSocketOptions } | undefined;
}

// A shared listener: a closure per upgrade would stay on the transport for the connection's life.
function destroyOnError(this: Duplex): void {
  this.destroy();
}

/** Options of {@link nodeRuntime}. */
export interface NodeRuntimeInit {
  /** The Hono app (anything with its `fetch`). */
  readonly app: FetchApp;
  /** zlib tuning for sockets that negotiated permessage-deflate, as in `@uniws/node`. */
  readonly deflate?: NodeDeflateOptions;
  /**
   * The most frames one message may arrive in, as in `@uniws/node`; 0 for no limit.
   * @default max(16384, ceil(maxMessageSize / 64)) for each route's `maxMessageSize`
   */
  readonly maxFragments?: number;
}

/**
 * The Node binding for an app served by `@hono/node-server` (or any `http`/`https`
 * server calling `app.fetch`). Sockets behave as under `@uniws/node`: the same `ws`
 * engines, shown the handshake as the core read it, compression negotiated per
 * connection by the core. Throws a `RangeError` for an invalid `deflate` or `maxFragments`.
 */
export function nodeRuntime(init: NodeRuntimeInit): NodeRuntime {
  const engines = new WsEngines(wsDeflateOptions(init.deflate), init.maxFragments);

  const runUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    // Until `ws` owns the socket, a reset by the client must not become an uncaught error.
    socket.on("error", destroyOnError);
    const pending: PendingUpgrade = { accepted: undefined };
    const env = { incoming: req, outgoing: undefined, [PENDING]: pending };
    let response: Response | undefined;
    try {
      response = await init.app.fetch(toRequest(req), env);
    } catch {
      response = undefined;
    }
    const accepted = pending.accepted;
    if (accepted === undefined) {
      await writeRawResponse(socket, response ?? new Response(null, { status: 500 }));
      return;
    }
    // The handler accepted: upgrade whatever the app's later middleware did, with the headers it set.
    const { plan, events, options } = accepted;
    pending.accepted = undefined;
    engines.upgrade(options, req, socket, head, plan, events, response?.headers);
  };

  return {
    capabilities: HONO_NODE_CAPABILITIES,
    name: "node",
    handshakeRequest: (c: Context) => {
      const incoming = (c.env as Partial<NodeBindings> | undefined)?.incoming;
      // The upgrade's own request line: `app.fetch` saw a web Request, which cannot carry every method.
      const method = incoming?.method ?? c.req.method;
      const httpVersion = incoming === undefined ? "1.1" : nodeHttpVersion(incoming);
      return new NodeUpgradeRequest(c.req.raw, incoming, { method, httpVersion });
    },
    upgrade: (c, plan, events, options) => {
      const pending = (c.env as { [PENDING]?: PendingUpgrade } | undefined)?.[PENDING];
      if (pending === undefined) {
        throw new WebSocketError("UNSUPPORTED", "This request did not come through injectWebSocket(server); call it on the Node server");
      }
      // Completed once the app has answered (runUpgrade), so that later middleware's headers reach the 101.
      pending.accepted = { plan, events, options };
      return new Response(null);
    },
    injectWebSocket: (server) => {
      server.on("upgrade", (req, socket, head) => void runUpgrade(req, socket, head));
    },
  };
}

/** The upgrade request as a web `Request`. Methods `fetch` forbids (CONNECT, TRACE) travel as GET; the binding reads the real one. */
// The upgrade as the core reads it: the peer's address is a system call (getpeername), made only if asked for.
class NodeUpgradeRequest extends WebHandshakeRequest {
  readonly #incoming: IncomingMessage | undefined;

  constructor(request: Request, incoming: IncomingMessage | undefined, init: WebHandshakeRequestInit) {
    super(request, init);
    this.#incoming = incoming;
  }

  override get remoteAddress(): string | undefined {
    return this.#incoming?.socket.remoteAddress;
  }
}

function toRequest(req: IncomingMessage): Request {
  const method = req.method ?? "GET";
  const init = { method: /^(CONNECT|TRACE|TRACK)$/i.test(method) ? "GET" : method, headers: toHeaderPairs(req.headers) };
  const path = req.url ?? "/";
  const origin = `${(req.socket as TLSSocket).encrypted === true ? "https" : "http"}://${req.headers.host ?? "localhost"}`;
  // The usual origin-form path ("/ws?x") is appended as it is: `Request` parses the URL once, not a `URL` first.
  if (path.startsWith("/") && !path.startsWith("//")) {
    try {
      return new Request(origin + path, init);
    } catch {
      // A malformed Host: as below.
    }
  }
  let url: URL;
  try {
    url = new URL(path, origin);
  } catch {
    url = new URL("http://localhost/");
  }
  return new Request(url, init);
}

// Node's header object as `[name, value]` pairs for `Request` (which copies them): no intermediate `Headers`.
function toHeaderPairs(raw: IncomingMessage["headers"]): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const name in raw) {
    const value = raw[name];
    if (value === undefined || name.startsWith(":")) continue;
    if (Array.isArray(value)) for (const item of value) pairs.push([name, item]);
    else pairs.push([name, value]);
  }
  return pairs;
}
