/**
 * `@uniws/hono/node`: Hono on Node (`@hono/node-server`) with `ws` as the protocol
 * engine. `injectWebSocket(server)` takes the server's HTTP/1.1 upgrades, runs them
 * through the Hono app with their real method and headers, and completes the ones
 * the middleware accepted; every other answer (400, 403, 426 with its
 * `Sec-WebSocket-Version`, the app's own) is written whole. `@hono/node-ws` is not
 * used: it re-runs the app as a bare `GET`, answers refusals with a status line
 * only, and gives `ws` no sub-protocol choice, size limit or compression settings.
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
import { type EngineCapabilities, type ResolvedWebSocketOptions, WebSocketError } from "@uniws/core";
import {
  bindWsSocket,
  negotiateForRequest,
  type NodeDeflateOptions,
  toHeaders,
  withAcceptedOffer,
  writeRawResponse,
  wsDeflateOptions,
} from "@uniws/node";
import type { Context } from "hono";
import { WebSocketServer } from "ws";
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
  incoming: IncomingMessage;
  outgoing: undefined;
}

/** The part of a Hono app `injectWebSocket` needs. */
export interface FetchApp {
  fetch(request: Request, env: NodeBindings): Response | Promise<Response>;
}

/** A server that emits HTTP/1.1 `upgrade` events (`http.Server`, `https.Server`, what `serve()` returns). */
export interface UpgradeEmitter {
  on(event: "upgrade", listener: (req: IncomingMessage, socket: Duplex, head: Buffer) => void): unknown;
}

/** The Node binding, plus the hook that feeds a server's upgrades to the app. */
export interface NodeRuntime extends HonoWebSocketRuntime {
  /** Takes `server`'s HTTP/1.1 upgrade requests and runs them through the app. Call once per server. */
  injectWebSocket(server: UpgradeEmitter): void;
}

// The upgrade in progress, found by the middleware in `c.env`.
const PENDING = Symbol("uniws.upgrade");

interface PendingUpgrade {
  readonly socket: Duplex;
  readonly head: Buffer;
  upgraded: boolean;
}

// A closeTimeout of 0 means "wait forever"; `ws` needs a number of ms.
const FOREVER = 2 ** 31 - 1;

/** Options of {@link nodeRuntime}. */
export interface NodeRuntimeInit {
  /** The Hono app (anything with its `fetch`). */
  readonly app: FetchApp;
  /** zlib tuning for sockets that negotiated permessage-deflate, as in `@uniws/node`. */
  readonly deflate?: NodeDeflateOptions;
}

/**
 * The Node binding for an app served by `@hono/node-server` (or any `http`/`https`
 * server calling `app.fetch`). Compression is negotiated per connection as in
 * `@uniws/node`: the core decides, and a second `ws` engine with permessage-deflate
 * on applies its answer, shown to `ws` as the request's only offer.
 */
export function nodeRuntime(init: NodeRuntimeInit): NodeRuntime {
  const subProtocols = new WeakMap<IncomingMessage, string>();
  const extensions = new WeakMap<IncomingMessage, string>();
  const captureExtensions = (lines: string[], req: IncomingMessage) => {
    const line = lines.find((header) => header.toLowerCase().startsWith("sec-websocket-extensions:"));
    if (line !== undefined) extensions.set(req, line.slice(line.indexOf(":") + 1).trim());
  };
  const deflate = wsDeflateOptions(init.deflate);
  // `ws` takes the size limit, close timeout and compression per server, not per connection.
  const engines = new Map<string, WebSocketServer>();
  const engineFor = (options: ResolvedWebSocketOptions, compress: boolean): WebSocketServer => {
    const key = `${options.maxMessageSize}/${options.closeTimeout}/${compress}`;
    let engine = engines.get(key);
    if (engine === undefined) {
      // `closeTimeout` (ws 8.19+) is not in @types/ws yet.
      const settings: ConstructorParameters<typeof WebSocketServer>[0] & { closeTimeout: number } = {
        noServer: true,
        clientTracking: false,
        perMessageDeflate: compress ? deflate : false,
        maxPayload: options.maxMessageSize,
        closeTimeout: options.closeTimeout === 0 ? FOREVER : options.closeTimeout,
        // The core chose the sub-protocol (one the client offered) before the upgrade.
        handleProtocols: (_offered, req) => subProtocols.get(req) ?? false,
      };
      engine = new WebSocketServer(settings).on("headers", captureExtensions);
      engines.set(key, engine);
    }
    return engine;
  };

  return {
    capabilities: HONO_NODE_CAPABILITIES,
    name: "node",
    handshakeRequest: (c: Context) => {
      const incoming = (c.env as Partial<NodeBindings> | undefined)?.incoming;
      // The upgrade's own request line: `app.fetch` saw a web Request, which cannot carry every method.
      const method = incoming?.method ?? c.req.method;
      return { method, url: new URL(c.req.url), headers: c.req.raw.headers, httpVersion: "1.1", remoteAddress: incoming?.socket.remoteAddress };
    },
    upgrade: (c, plan, events, options) => {
      const env = c.env as (NodeBindings & { [PENDING]?: PendingUpgrade }) | undefined;
      const pending = env?.[PENDING];
      if (env === undefined || pending === undefined) {
        throw new WebSocketError("UNSUPPORTED", "This request did not come through injectWebSocket(server); call it on the Node server");
      }
      pending.upgraded = true;
      // The core negotiates permessage-deflate; the compressing engine applies its answer, shown as the only offer.
      const negotiation = negotiateForRequest(env.incoming, plan.compression);
      const req = negotiation.accepted ? withAcceptedOffer(env.incoming, negotiation.header) : env.incoming;
      if (plan.subProtocol !== undefined) subProtocols.set(req, plan.subProtocol);
      // `ws` drops a socket the client already closed without calling back: report that as a failed upgrade.
      const gone = () => events.failed(new Error("The client closed the connection during the handshake"));
      pending.socket.once("close", gone);
      engineFor(options, negotiation.accepted).handleUpgrade(req, pending.socket, pending.head, (ws) => {
        pending.socket.off("close", gone);
        bindWsSocket(ws, pending.socket, extensions.get(req) ?? "", events);
      });
      // `injectWebSocket` sends nothing for an upgraded request; this only ends the Hono handler.
      return new Response(null);
    },
    injectWebSocket: (server) => {
      server.on("upgrade", (req, socket, head) => void runUpgrade(init.app, req, socket, head));
    },
  };
}

async function runUpgrade(app: FetchApp, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  // Until `ws` owns the socket, a reset by the client must not become an uncaught error.
  socket.on("error", () => socket.destroy());
  const pending: PendingUpgrade = { socket, head, upgraded: false };
  const env = { incoming: req, outgoing: undefined, [PENDING]: pending };
  let response: Response;
  try {
    response = await app.fetch(toRequest(req), env);
  } catch {
    response = new Response(null, { status: 500 });
  }
  if (!pending.upgraded) await writeRawResponse(socket, response);
}

/** The upgrade request as a web `Request`. Methods `fetch` forbids (CONNECT, TRACE) travel as GET; the binding reads the real one. */
function toRequest(req: IncomingMessage): Request {
  const secure = (req.socket as TLSSocket).encrypted === true;
  let url: URL;
  try {
    url = new URL(req.url ?? "/", `${secure ? "https" : "http"}://${req.headers.host ?? "localhost"}`);
  } catch {
    url = new URL("http://localhost/");
  }
  const headers = toHeaders(req.headers);
  const method = req.method ?? "GET";
  return new Request(url, { method: /^(CONNECT|TRACE|TRACK)$/i.test(method) ? "GET" : method, headers });
}
