/**
 * `@uniws/hono/bun`: Hono on `Bun.serve`, upgrading with `server.upgrade` and
 * `@uniws/bun`'s engine, so a socket behaves as under `@uniws/bun`. The binding's
 * `websocket` goes to `Bun.serve`; it serves uniws sockets and hands any other
 * socket to the handlers given as `fallback` (`hono/bun`'s `websocket`, so routes on
 * `hono/bun`'s `upgradeWebSocket` keep working beside uniws ones). `hono/bun`'s
 * `upgradeWebSocket` is not used for uniws routes: it passes Bun no
 * `Sec-WebSocket-Protocol`, and Bun then answers the client's first sub-protocol;
 * nor can it show Bun the compression the core agreed.
 *
 * Serve `runtime.fetch(app)` rather than `app.fetch`: an accepted request is then
 * upgraded once the app has answered, with the headers middleware set on that answer
 * (after `next()` too, such as `Set-Cookie`) on the 101, as on the other runtimes.
 * Under a bare `app.fetch` the upgrade happens inside the handler's `accept()`, and
 * only headers set before it reach the 101.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { websocket } from "hono/bun";
 * import { createWebSocket } from "@uniws/hono";
 * import { bunRuntime } from "@uniws/hono/bun";
 *
 * const app = new Hono();
 * const runtime = bunRuntime({ fallback: websocket });
 * const webSocket = createWebSocket(runtime);
 * app.get("/ws", webSocket(async (context) => {
 *   if (!context.isWebSocketRequest) return context.reject(400);
 *   const socket = await context.accept();
 *   for await (const message of socket) await socket.send(message.data);
 * }));
 * export default { fetch: runtime.fetch(app), websocket: runtime.websocket };
 * ```
 *
 * @module
 */
import { type EngineCapabilities, headersOnThe101, WebSocketError } from "@uniws/core";
import { BUN_CAPABILITIES, BUN_DEFLATE_PRESET, BunConnection, BunHandshakeRequest, bunWebSocketHandler, planDeflate } from "@uniws/bun";
import type { Context } from "hono";
import type { HonoWebSocketRuntime } from "./middleware.ts";

/**
 * What Bun's engine can do under Hono: `@uniws/bun`'s capabilities, but Bun's size
 * limit (`maxPayloadLength`) is one per server while each route has its own
 * `maxMessageSize`, so the core checks each message.
 */
export const HONO_BUN_CAPABILITIES: EngineCapabilities = { ...BUN_CAPABILITIES, enforcesMaxMessageSize: false };

/** Bun `websocket` handlers (such as `hono/bun`'s `websocket`), for sockets this binding did not upgrade. */
export interface BunWebSocketHandlers {
  /** A socket opened. */
  open?(ws: any): unknown;
  /** A message arrived. */
  message?(ws: any, message: any): unknown;
  /** The socket closed. */
  close?(ws: any, code: number, reason: string): unknown;
  /** The socket's send buffer drained. */
  drain?(ws: any): unknown;
  /** A Ping arrived. */
  ping?(ws: any, data: any): unknown;
  /** A Pong arrived. */
  pong?(ws: any, data: any): unknown;
}

/** The `websocket` object for `Bun.serve`: `@uniws/bun`'s settings, with handlers that route each socket. */
export type BunWebSocketConfig = ReturnType<typeof bunWebSocketHandler>;

/** Options of {@link bunRuntime}. */
export interface BunRuntimeOptions {
  /** Serves sockets this binding did not upgrade (pass `hono/bun`'s `websocket`). */
  readonly fallback?: BunWebSocketHandlers;
  /**
   * Bun's own message limit for the whole server, checked before each route's
   * `maxMessageSize`. Raise it for routes that allow more.
   * @default 16_777_216 (16 MiB, the core's default `maxMessageSize`)
   */
  readonly maxPayloadLength?: number;
  /** Where errors Bun reports from its callbacks go. Defaults to `console.error`. */
  readonly onError?: (error: unknown) => void;
}

/** The part of a Hono app {@link BunRuntime.fetch} needs. */
export interface BunFetchApp {
  /** Answers `request`; `server` (Bun's) becomes the app's `c.env`. */
  fetch(request: Request, server: any): Response | Promise<Response>;
}

/** The Bun binding, plus the `websocket` object and the `fetch` to give `Bun.serve`. */
export interface BunRuntime extends HonoWebSocketRuntime {
  /** The `websocket` object to give `Bun.serve`. */
  readonly websocket: BunWebSocketConfig;
  /**
   * `app.fetch` for `Bun.serve`, completing the upgrades the app's uniws routes
   * accepted once the app has answered, with that answer's headers on the 101 (but for
   * the handshake's own and hop-by-hop ones). Resolves `undefined` for an upgraded request.
   */
  fetch(app: BunFetchApp): (request: Request, server: any) => Promise<Response | undefined>;
}

interface BunServer {
  upgrade(request: Request, options: { data: BunConnection; headers?: HeadersInit }): boolean;
  requestIP(request: Request): { address: string } | null;
}

/** A request running through `fetch(app)`; `accepted` completes its upgrade once the app has answered. */
interface DeferredUpgrade {
  accepted?: (answered: Headers | undefined) => void;
}

const EXTENSIONS = "sec-websocket-extensions";

/** `server` as Hono sees it under `Bun.serve`: `c.env` is the server (or holds it as `server`). */
function bunServer(c: Context): BunServer {
  const env = c.env as (BunServer & { server?: BunServer }) | undefined;
  const server = env?.server ?? env;
  if (typeof server?.upgrade !== "function") {
    throw new TypeError("Bun's server is not in c.env: serve the app as Bun.serve({ fetch: app.fetch, websocket })");
  }
  return server;
}

/**
 * The Bun binding. Its `websocket` has `@uniws/bun`'s settings: Bun's keep-alive off
 * (`sendPings: false`, `idleTimeout: 0`; the core's keep-alive and idle timeout
 * apply), no backpressure limit, the dedicated permessage-deflate preset.
 */
export function bunRuntime(options: BunRuntimeOptions = {}): BunRuntime {
  const { fallback } = options;
  const engine = bunWebSocketHandler({
    maxMessageSize: options.maxPayloadLength ?? 16 * 1024 * 1024,
    perMessageDeflate: BUN_DEFLATE_PRESET,
    onError: options.onError ?? ((error) => console.error("uniws:", error)),
  });
  // The sockets this binding upgraded carry a connection as their `data`; every other socket goes to `fallback`.
  const isOurs = (ws: { data: unknown }) => ws.data instanceof BunConnection;
  // Requests running through `fetch(app)`: their accepted upgrade waits for the app's answer.
  const waiting = new WeakMap<Request, DeferredUpgrade>();
  const websocket: BunWebSocketConfig = {
    ...engine,
    open: (ws) => void (isOurs(ws) ? engine.open?.(ws) : fallback?.open?.(ws)),
    message: (ws, message) => void (isOurs(ws) ? engine.message?.(ws, message) : fallback?.message?.(ws, message)),
    close: (ws, code, reason) => void (isOurs(ws) ? engine.close?.(ws, code, reason) : fallback?.close?.(ws, code, reason)),
    drain: (ws) => void (isOurs(ws) ? engine.drain?.(ws) : fallback?.drain?.(ws)),
    ping: (ws, data) => void (isOurs(ws) ? engine.ping?.(ws, data) : fallback?.ping?.(ws, data)),
    pong: (ws, data) => void (isOurs(ws) ? engine.pong?.(ws, data) : fallback?.pong?.(ws, data)),
  };
  return {
    capabilities: HONO_BUN_CAPABILITIES,
    name: "bun",
    websocket,
    handshakeRequest: (c) => {
      // Read where `bunServer` looks, without its error: only an upgrade needs the server.
      const env = c.env as (Partial<BunServer> & { server?: Partial<BunServer> }) | undefined;
      const lookup = env?.server ?? env;
      return new BunHandshakeRequest(c.req.raw, typeof lookup?.requestIP === "function" ? (lookup as BunServer) : undefined);
    },
    upgrade: (c, plan, events, _options, read) => {
      const request = c.req.raw;
      const server = bunServer(c);
      const handshake = read instanceof BunHandshakeRequest ? read : undefined;
      const upgrade = (answered?: Headers) => {
        // Bun negotiates permessage-deflate from the request's offer: show it only what this connection agreed.
        const offer = handshake === undefined ? request.headers.get(EXTENSIONS) : handshake.get(EXTENSIONS);
        const deflate = planDeflate(offer, plan.compression);
        // The handler goes on seeing the client's address.
        const data = handshake?.upgradeConnection(events, deflate?.answer ?? "", undefined) ?? new BunConnection(events, deflate?.answer ?? "", undefined, request.url);
        if (deflate !== undefined) request.headers.set(EXTENSIONS, deflate.offer);
        else if (offer !== null) request.headers.delete(EXTENSIONS);
        const extra = headersOnThe101(answered);
        // Answer the sub-protocol whenever the client offered some: without the header, Bun would echo its first offer.
        const offered = plan.subProtocol !== undefined || request.headers.has("sec-websocket-protocol");
        if (offered) extra.push(["Sec-WebSocket-Protocol", plan.subProtocol ?? ""]);
        if (!server.upgrade(request, { data, headers: extra.length > 0 ? extra : undefined })) {
          throw new WebSocketError("UPGRADE_FAILED", "Bun refused to upgrade the request");
        }
      };
      const deferred = waiting.get(request);
      if (deferred === undefined) {
        upgrade();
      } else {
        deferred.accepted = (answered) => {
          try {
            upgrade(answered);
          } catch (error) {
            // Past the handler's accept(): its pending socket learns of the failure here.
            events.failed(error);
            throw error;
          }
        };
      }
      // Bun answers the upgrade itself and ignores what the handler returns.
      return new Response(null);
    },
    fetch: (app) => async (request, server) => {
      const deferred: DeferredUpgrade = {};
      waiting.set(request, deferred);
      let response: Response | undefined;
      try {
        response = await app.fetch(request, server);
      } catch (error) {
        if (deferred.accepted === undefined) throw error;
      } finally {
        waiting.delete(request);
      }
      if (deferred.accepted === undefined) return response;
      // The handler accepted: upgrade whatever the app's later middleware did, with the headers it set.
      try {
        deferred.accepted(response?.headers);
      } catch {
        return new Response("Upgrade failed", { status: 500 });
      }
      return undefined;
    },
  };
}
