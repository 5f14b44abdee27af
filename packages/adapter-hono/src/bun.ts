/**
 * `@uniws/hono/bun`: Hono on `Bun.serve`, upgrading with `server.upgrade` as
 * `@uniws/bun` does. The binding's `websocket` goes to `Bun.serve`; it serves uniws
 * sockets and hands any other socket to the handlers given as `fallback`
 * (`hono/bun`'s `websocket`, so routes on `hono/bun`'s `upgradeWebSocket` keep
 * working beside uniws ones). `hono/bun`'s `upgradeWebSocket` is not used for uniws
 * routes: it passes Bun no `Sec-WebSocket-Protocol`, and Bun then answers the
 * client's first sub-protocol; nor can it show Bun the compression the core agreed.
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
import {
  type EngineCapabilities,
  type EngineEvents,
  type EngineSendOptions,
  type EngineSocket,
  negotiatePerMessageDeflate,
  PERMESSAGE_DEFLATE,
  type UpgradePlan,
  WebSocketError,
} from "@uniws/core";
import type { Context } from "hono";
import type { HonoWebSocketRuntime } from "./middleware.ts";

/**
 * What Bun's WebSocket server can do under this binding: Ping and Pong on request,
 * a drain event, permessage-deflate from Bun's server-wide preset (decided per
 * connection by the core); whole messages only. Bun's own size limit is per server
 * (`maxPayloadLength`) while each route has its own `maxMessageSize`, so the core
 * checks each message.
 */
export const HONO_BUN_CAPABILITIES: EngineCapabilities = {
  pingControl: true,
  fragmentedSend: false,
  compression: true,
  perMessageCompression: true,
  compressionParameters: "presets",
  drainEvent: true,
  enforcesMaxMessageSize: false,
  http2: false,
};

/** The parts of Bun's `ServerWebSocket` this binding uses. */
export interface BunServerWebSocket {
  readonly data: unknown;
  readonly readyState: number;
  binaryType?: string;
  sendText(data: string, compress?: boolean): number;
  sendBinary(data: Uint8Array, compress?: boolean): number;
  ping(data?: Uint8Array): number;
  pong(data?: Uint8Array): number;
  close(code?: number, reason?: string): void;
  terminate(): void;
  getBufferedAmount(): number;
}

/** Bun `websocket` handlers (such as `hono/bun`'s `websocket`), for sockets this binding did not upgrade. */
export interface BunWebSocketHandlers {
  open?(ws: any): unknown;
  message?(ws: any, message: any): unknown;
  close?(ws: any, code: number, reason: string): unknown;
  drain?(ws: any): unknown;
  ping?(ws: any, data: any): unknown;
  pong?(ws: any, data: any): unknown;
}

/** The `websocket` object for `Bun.serve`: handlers for every socket, and the settings uniws needs. */
export interface BunWebSocketConfig {
  open(ws: any): void;
  message(ws: any, message: string | Uint8Array): void;
  close(ws: any, code: number, reason: string): void;
  drain(ws: any): void;
  ping(ws: any, data: Uint8Array): void;
  pong(ws: any, data: Uint8Array): void;
  readonly maxPayloadLength: number;
  readonly backpressureLimit: number;
  readonly closeOnBackpressureLimit: boolean;
  readonly idleTimeout: number;
  readonly sendPings: boolean;
  readonly perMessageDeflate: { readonly compress: "dedicated"; readonly decompress: "dedicated" };
}

/** Options of {@link bunRuntime}. */
export interface BunRuntimeOptions {
  /** Serves sockets this binding did not upgrade (pass `hono/bun`'s `websocket`). */
  readonly fallback?: BunWebSocketHandlers;
  /**
   * Bun's own message limit for the whole server, checked before the core's
   * `maxMessageSize` of each route. Raise it for routes that allow more.
   * @default 16_777_216 (16 MiB, the core's default `maxMessageSize`)
   */
  readonly maxPayloadLength?: number;
}

/** The Bun binding, plus the `websocket` object to give `Bun.serve`. */
export interface BunRuntime extends HonoWebSocketRuntime {
  readonly websocket: BunWebSocketConfig;
}

interface BunServer {
  upgrade(request: Request, options: { data: unknown; headers?: HeadersInit }): boolean;
}

// Marks a uniws socket's `data`, so the shared handlers tell uniws sockets from others.
const UNIWS = Symbol("uniws");

interface SocketData {
  readonly [UNIWS]: { readonly events: EngineEvents; readonly extensions: string; closing: boolean };
}

function stateOf(ws: BunServerWebSocket): SocketData[typeof UNIWS] | undefined {
  const data = ws.data as Partial<SocketData> | null | undefined;
  return typeof data === "object" && data !== null ? data[UNIWS] : undefined;
}

const EXTENSIONS = "sec-websocket-extensions";
// Bun's `send` status: 0 when the message was dropped.
const DROPPED = 0;
const ABNORMAL = 1006;

/** Bun's server-wide compression: a compressor and a decompressor per connection that negotiated it. */
const DEFLATE_PRESET = { compress: "dedicated", decompress: "dedicated" } as const;

class BunEngineSocket implements EngineSocket {
  readonly #ws: BunServerWebSocket;
  readonly #state: SocketData[typeof UNIWS];

  constructor(ws: BunServerWebSocket, state: SocketData[typeof UNIWS]) {
    this.#ws = ws;
    this.#state = state;
  }

  get extensions(): string {
    return this.#state.extensions;
  }

  send(data: string | Uint8Array, options: EngineSendOptions): void {
    const ws = this.#ws;
    const status = options.text
      ? ws.sendText(typeof data === "string" ? data : new TextDecoder().decode(data), options.compress)
      : ws.sendBinary(data as Uint8Array, options.compress);
    // With no backpressure limit Bun drops only on a connection already gone; anything else would lose data silently.
    const size = typeof data === "string" ? data.length : data.byteLength;
    if (status === DROPPED && size > 0 && ws.readyState === 1) ws.terminate();
  }

  ping(payload: Uint8Array): void {
    this.#ws.ping(payload);
  }

  pong(payload: Uint8Array): void {
    this.#ws.pong(payload);
  }

  close(code: number, reason: string): void {
    // Bun sends its Close frame and ends the connection at once, without reading the peer's,
    // and reports the end from inside this call: the report waits a task (see `close` below).
    this.#state.closing = true;
    this.#ws.close(code, reason);
  }

  terminate(): void {
    this.#ws.terminate();
  }

  get bufferedAmount(): number {
    return this.#ws.readyState === 1 ? this.#ws.getBufferedAmount() : 0;
  }
}

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
 * The offer to show Bun for one connection (Bun negotiates from the request's own
 * header against its preset), or `undefined` when the core declined compression.
 * Bun answers exactly these parameters, client's first, a 15-bit window unsaid.
 */
function deflateOffer(offers: string | null, compression: UpgradePlan["compression"]): string | undefined {
  const negotiation = negotiatePerMessageDeflate(offers, compression);
  if (!negotiation.accepted) return undefined;
  const { parameters } = negotiation;
  const params: string[] = [];
  if (parameters.clientNoContextTakeover) params.push("client_no_context_takeover");
  else if (parameters.clientMaxWindowBits < 15) params.push(`client_max_window_bits=${parameters.clientMaxWindowBits}`);
  if (parameters.serverNoContextTakeover) params.push("server_no_context_takeover");
  else if (parameters.serverMaxWindowBits < 15) params.push(`server_max_window_bits=${parameters.serverMaxWindowBits}`);
  return [PERMESSAGE_DEFLATE, ...params].join("; ");
}

/**
 * The Bun binding. Bun's own keep-alive is off in the returned handlers
 * (`sendPings: false`, `idleTimeout: 0`): the core's keep-alive and idle timeout apply.
 */
export function bunRuntime(options: BunRuntimeOptions = {}): BunRuntime {
  const { fallback } = options;
  const websocket: BunWebSocketConfig = {
    open: (ws: BunServerWebSocket) => {
      const state = stateOf(ws);
      if (state === undefined) return void fallback?.open?.(ws);
      ws.binaryType = "uint8array";
      state.events.opened(new BunEngineSocket(ws, state));
    },
    message: (ws: BunServerWebSocket, message: string | Uint8Array) => {
      const state = stateOf(ws);
      if (state === undefined) return void fallback?.message?.(ws, message);
      state.events.message(message, typeof message !== "string");
    },
    close: (ws: BunServerWebSocket, code: number, reason: string) => {
      const state = stateOf(ws);
      if (state === undefined) return void fallback?.close?.(ws, code, reason);
      const { events } = state;
      // Reported from inside our close(): a task later, as other engines report, so the socket is seen in `closeSent` first.
      if (state.closing) setTimeout(() => events.closed(code, reason), 0);
      // 1006 with a reason: Bun failed the connection itself.
      else if (code === ABNORMAL && reason !== "") events.closed(code, "", new Error(reason));
      else events.closed(code, reason);
    },
    drain: (ws: BunServerWebSocket) => {
      const state = stateOf(ws);
      if (state === undefined) return void fallback?.drain?.(ws);
      state.events.drained();
    },
    // Bun answers Pings itself; a Ping proves the peer alive as much as a Pong.
    ping: (ws: BunServerWebSocket, data: Uint8Array) => {
      const state = stateOf(ws);
      if (state === undefined) return void fallback?.ping?.(ws, data);
      state.events.pong();
    },
    pong: (ws: BunServerWebSocket, data: Uint8Array) => {
      const state = stateOf(ws);
      if (state === undefined) return void fallback?.pong?.(ws, data);
      state.events.pong();
    },
    maxPayloadLength: options.maxPayloadLength ?? 16 * 1024 * 1024,
    // Bun queues every message rather than drop it; `await send()` (the high-water mark) is the bound.
    backpressureLimit: 0,
    closeOnBackpressureLimit: false,
    // Bun's idle timer ends connections without a Close frame: the core owns keep-alive and idle timeouts.
    idleTimeout: 0,
    sendPings: false,
    perMessageDeflate: DEFLATE_PRESET,
  };
  return {
    capabilities: HONO_BUN_CAPABILITIES,
    websocket,
    handshakeRequest: (c) => {
      // The upgrade may rewrite the request's extension offer for Bun: the handler sees the client's own headers.
      const request = c.req.raw;
      const headers = request.headers.has(EXTENSIONS) ? new Headers(request.headers) : request.headers;
      return { method: request.method, url: new URL(request.url), headers, httpVersion: "1.1" };
    },
    upgrade: (c, plan, events) => {
      const request = c.req.raw;
      const offer = deflateOffer(request.headers.get(EXTENSIONS), plan.compression);
      if (offer === undefined) request.headers.delete(EXTENSIONS);
      else request.headers.set(EXTENSIONS, offer);
      const data: SocketData = { [UNIWS]: { events, extensions: offer ?? "", closing: false } };
      // An empty value keeps Bun from answering the client's first sub-protocol on its own.
      const headers = { "Sec-WebSocket-Protocol": plan.subProtocol ?? "" };
      if (!bunServer(c).upgrade(request, { data, headers })) {
        throw new WebSocketError("UPGRADE_FAILED", "Bun refused to upgrade the request");
      }
      // Bun answers the upgrade itself and ignores what the handler returns.
      return new Response(null);
    },
  };
}
