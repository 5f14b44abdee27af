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
import { type EngineCapabilities, type EngineEvents, type ResolvedWebSocketOptions, type UpgradePlan, WebHandshakeRequest, WebSocketError } from "@uniws/core";
import { asteriskFormRefusal, guardUpgrade, isAsteriskFormMisuse, type NodeDeflateOptions, rawHeader, requestUrl, toHandshakeRequest, upgradeRequest, writeRawResponse, WsEngines, wsDeflateOptions } from "@uniws/node";
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

// The upgrade in progress, in `c.env`: `null` until the middleware's handler accepts, then what it accepted until
// the upgrade is made. `c.env` stays (the handler's `context.native.env`) for the connection's life, so this holds
// neither the transport nor the `head` bytes, and nothing once used.
const PENDING = Symbol("uniws.upgrade");

interface Accepted {
  readonly plan: UpgradePlan;
  readonly events: EngineEvents;
  readonly options: ResolvedWebSocketOptions;
}

interface UpgradeEnv extends NodeBindings {
  [PENDING]?: Accepted | null;
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
    guardUpgrade(socket);
    // Refused before the app runs, as @uniws/node, Deno.serve and Bun.serve refuse it (RFC 9112 §3.2.4).
    if (isAsteriskFormMisuse(req)) return void (await writeRawResponse(socket, asteriskFormRefusal()).catch(() => socket.destroy()));
    const env: UpgradeEnv = { incoming: req, outgoing: undefined, [PENDING]: null };
    let response: Response | undefined;
    try {
      response = await init.app.fetch(toRequest(req), env);
    } catch {
      response = undefined;
    }
    const accepted = env[PENDING];
    env[PENDING] = null;
    if (accepted == null) {
      // A body that fails as it is read ends the connection; left to reject, it would end the process (detached).
      await writeRawResponse(socket, response ?? new Response(null, { status: 500 })).catch((error: unknown) => {
        socket.destroy();
        console.error(error);
      });
      return;
    }
    // The handler accepted: upgrade whatever the app's later middleware did, with the headers it set.
    const { plan, events, options } = accepted;
    engines.upgrade(options, upgradeRequest(req), socket, head, plan, events, response?.headers);
  };

  return {
    capabilities: HONO_NODE_CAPABILITIES,
    name: "node",
    handshakeRequest: (c: Context) => {
      const incoming = (c.env as Partial<NodeBindings> | undefined)?.incoming;
      // The upgrade's own request, read in place as @uniws/node reads it: its real method (a web Request cannot carry
      // every one), version and headers, the URL and peer address when asked for. The web Request `app.fetch` saw is
      // then never built for the core (nor a second copy of the headers).
      return incoming === undefined ? new WebHandshakeRequest(c.req.raw) : toHandshakeRequest(incoming);
    },
    upgrade: (c, plan, events, options) => {
      const env = c.env as UpgradeEnv | undefined;
      if (env?.[PENDING] === undefined) {
        throw new WebSocketError("UNSUPPORTED", "This request did not come through injectWebSocket(server); call it on the Node server");
      }
      // Completed once the app has answered (runUpgrade), so that later middleware's headers reach the 101.
      env[PENDING] = { plan, events, options };
      return new Response(null);
    },
    injectWebSocket: (server) => {
      server.on("upgrade", (req, socket, head) => void runUpgrade(req, socket, head));
    },
  };
}

/**
 * The upgrade request as `app.fetch` sees it: a web `Request` whose `url` and `method` are read from Node's
 * request, and whose other members (headers, signal, body, clone…) are those of a real `Request` built on first
 * use. Routing reads only the URL and method, and the app's Hono `Context` keeps this request for the
 * connection's life (it is `context.native.req.raw`): built at once, a `Request` with its `AbortSignal`, URL and
 * header list would cost each idle connection about 1.5 KB. Methods `fetch` forbids (CONNECT, TRACE) travel as
 * GET; the binding reads the real one.
 */
class UpgradeRequest {
  readonly method: string;
  readonly #incoming: IncomingMessage;
  #request: Request | undefined = undefined;

  constructor(incoming: IncomingMessage) {
    const method = incoming.method ?? "GET";
    this.method = /^(CONNECT|TRACE|TRACK)$/i.test(method) ? "GET" : method;
    this.#incoming = incoming;
  }

  /** The absolute URL, from Node's request each time it is read (routing reads it once; no copy is kept). */
  get url(): string {
    const incoming = this.#incoming;
    // Host from the raw header lines: Node then never builds its header object for a request kept this long. Read as
    // @uniws/node reads it (a target "//other/ws" is a path, not another host), so Hono routes what the core sees.
    return requestUrl(incoming.url ?? "/", rawHeader(incoming, "host"), (incoming.socket as TLSSocket).encrypted === true).href;
  }

  /** The real `Request`, built once. */
  request(): Request {
    return (this.#request ??= new Request(this.url, { method: this.method, headers: toHeaderPairs(this.#incoming.headers) }));
  }
}

// Every other member of Request.prototype, on the real request: an `UpgradeRequest` is a `Request` to its readers. So
// are the runtime's own per-request slots (undici keeps them as symbol-keyed properties), which `new Request(raw)` and
// `fetch(raw)` read from a `Request` they are given.
Object.setPrototypeOf(UpgradeRequest.prototype, Request.prototype);
const slots = Object.getOwnPropertySymbols(new Request("http://localhost/"));
for (const name of [...Reflect.ownKeys(Request.prototype), ...slots]) {
  if (name === "constructor" || name === "url" || name === "method" || name === Symbol.toStringTag) continue;
  const member = Object.getOwnPropertyDescriptor(Request.prototype, name) ?? {};
  const real = (self: unknown): Request => (self as UpgradeRequest).request();
  Object.defineProperty(UpgradeRequest.prototype, name, typeof member.value === "function"
    ? { configurable: true, writable: true, value: function (this: unknown, ...args: unknown[]) {
      return (member.value as (...args: unknown[]) => unknown).apply(real(this), args);
    } }
    : { configurable: true, get(this: unknown) {
      return Reflect.get(real(this), name);
    } });
}

// Whether this runtime's own code takes an `UpgradeRequest` where it needs a `Request` (`new Request(raw)`, `fetch(raw)`),
// tried once: undici 6 (Node 20 and 22) keeps a request's state in the symbol-keyed slots delegated above; undici 7
// (Node 24) keeps it in private fields, which only an object its constructor built has: there the real `Request` is
// built at once (what a lazy one saves, ~1.5 KB per connection and undici's constructor per handshake, is not had).
const LAZY_REQUESTS = (() => {
  const probe = { method: "GET", url: "/", socket: {}, headers: { host: "localhost" }, rawHeaders: ["Host", "localhost"] };
  try {
    return new Request(new UpgradeRequest(probe as unknown as IncomingMessage) as unknown as Request).url === "http://localhost/";
  } catch {
    return false;
  }
})();

function toRequest(req: IncomingMessage): Request {
  const request = new UpgradeRequest(req);
  return (LAZY_REQUESTS ? request : request.request()) as unknown as Request;
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
