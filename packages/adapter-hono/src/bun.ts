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
 * export default { fetch: app.fetch, websocket: runtime.websocket };
 * ```
 *
 * @module
 */
import { type EngineCapabilities, WebSocketError } from "@uniws/core";
import { BUN_CAPABILITIES, BUN_DEFLATE_PRESET, type BunSocketData, bunWebSocketHandler, planDeflate } from "@uniws/bun";
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
  open?(ws: any): unknown;
  message?(ws: any, message: any): unknown;
  close?(ws: any, code: number, reason: string): unknown;
  drain?(ws: any): unknown;
  ping?(ws: any, data: any): unknown;
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

/** The Bun binding, plus the `websocket` object to give `Bun.serve`. */
export interface BunRuntime extends HonoWebSocketRuntime {
  readonly websocket: BunWebSocketConfig;
}

interface BunServer {
  upgrade(request: Request, options: { data: BunSocketData; headers?: HeadersInit }): boolean;
  requestIP(request: Request): { address: string } | null;
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
  // The `data` of the sockets this binding upgraded; every other socket goes to `fallback`.
  const ours = new WeakSet<object>();
  const isOurs = (ws: { data: unknown }) => typeof ws.data === "object" && ws.data !== null && ours.has(ws.data);
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
      // The upgrade may rewrite the request's extension offer for Bun: the handler sees the client's own headers.
      const request = c.req.raw;
      const headers = request.headers.has(EXTENSIONS) ? new Headers(request.headers) : request.headers;
      // Read where `bunServer` looks, without its error: only an upgrade needs the server.
      const env = c.env as (Partial<BunServer> & { server?: Partial<BunServer> }) | undefined;
      const remoteAddress = (env?.server ?? env)?.requestIP?.(request)?.address;
      return { method: request.method, url: new URL(request.url), headers, httpVersion: "1.1", remoteAddress };
    },
    upgrade: (c, plan, events) => {
      const request = c.req.raw;
      // Bun negotiates permessage-deflate from the request's offer: show it only what this connection agreed.
      const deflate = planDeflate(request.headers.get(EXTENSIONS), plan.compression);
      if (deflate === undefined) request.headers.delete(EXTENSIONS);
      else request.headers.set(EXTENSIONS, deflate.offer);
      const data: BunSocketData = { events, extensions: deflate?.answer ?? "", closing: false };
      ours.add(data);
      // Always answer the sub-protocol: without the header, Bun would echo the client's first offer.
      const headers = { "Sec-WebSocket-Protocol": plan.subProtocol ?? "" };
      if (!bunServer(c).upgrade(request, { data, headers })) {
        throw new WebSocketError("UPGRADE_FAILED", "Bun refused to upgrade the request");
      }
      // Bun answers the upgrade itself and ignores what the handler returns.
      return new Response(null);
    },
  };
}
