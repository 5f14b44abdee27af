/**
 * `@uniws/hono/bun`: Hono on `Bun.serve`, upgrading with `server.upgrade`. The
 * binding's `websocket` goes to `Bun.serve`; it serves uniws sockets and hands any
 * other socket to the handlers it wraps (`hono/bun`'s `websocket`, so routes on
 * `hono/bun`'s `upgradeWebSocket` keep working beside uniws ones). `hono/bun`'s
 * `upgradeWebSocket` is not used for uniws routes: it passes Bun no
 * `Sec-WebSocket-Protocol`, and Bun then answers the client's first sub-protocol.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { websocket } from "hono/bun";
 * import { createWebSocket } from "@uniws/hono";
 * import { bunRuntime } from "@uniws/hono/bun";
 *
 * const app = new Hono();
 * const runtime = bunRuntime(websocket);
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
import type { EngineCapabilities, EngineEvents, EngineSocket } from "@uniws/core";
import type { Context } from "hono";
import type { HonoWebSocketRuntime } from "./middleware.ts";

/**
 * What Bun's WebSocket server can do under this binding: Ping and Pong on request,
 * a drain event; whole messages only, no compression (Bun sets it per server), and
 * Bun's own limit is per server (`maxPayloadLength`), so the core checks each message.
 */
export const HONO_BUN_CAPABILITIES: EngineCapabilities = {
  pingControl: true,
  fragmentedSend: false,
  compression: false,
  perMessageCompression: false,
  compressionParameters: "none",
  drainEvent: true,
  enforcesMaxMessageSize: false,
  http2: false,
};

/** The parts of Bun's `ServerWebSocket` this binding uses. */
export interface BunServerWebSocket {
  readonly data: unknown;
  send(data: string | Uint8Array): number;
  ping(data?: Uint8Array): number;
  pong(data?: Uint8Array): number;
  close(code?: number, reason?: string): void;
  terminate(): void;
  getBufferedAmount(): number;
}

/** Bun's `websocket` handlers, as `Bun.serve` takes them. */
export interface BunWebSocketHandlers {
  open?(ws: any): void | Promise<void>;
  message(ws: any, message: string | Uint8Array): void | Promise<void>;
  close?(ws: any, code: number, reason: string): void | Promise<void>;
  drain?(ws: any): void | Promise<void>;
  ping?(ws: any, data: Uint8Array): void | Promise<void>;
  pong?(ws: any, data: Uint8Array): void | Promise<void>;
  [setting: string]: unknown;
}

/** The Bun binding, plus the `websocket` handlers to give `Bun.serve`. */
export interface BunRuntime extends HonoWebSocketRuntime {
  readonly websocket: BunWebSocketHandlers;
}

interface BunServer {
  upgrade(request: Request, options: { data: unknown; headers?: HeadersInit }): boolean;
}

// Marks a uniws socket's `data`, so the shared handlers tell uniws sockets from others.
const UNIWS = Symbol("uniws");

// Sockets whose close this binding started (see BunEngineSocket.close).
const closingSockets = new WeakSet<BunServerWebSocket>();

interface SocketData {
  readonly [UNIWS]: EngineEvents;
}

function eventsOf(ws: BunServerWebSocket): EngineEvents | undefined {
  const data = ws.data as Partial<SocketData> | null | undefined;
  return typeof data === "object" && data !== null ? data[UNIWS] : undefined;
}

class BunEngineSocket implements EngineSocket {
  readonly #ws: BunServerWebSocket;
  readonly extensions = "";

  constructor(ws: BunServerWebSocket) {
    this.#ws = ws;
  }

  send(data: string | Uint8Array): void {
    this.#ws.send(data);
  }

  ping(payload: Uint8Array): void {
    this.#ws.ping(payload);
  }

  pong(payload: Uint8Array): void {
    this.#ws.pong(payload);
  }

  close(code: number, reason: string): void {
    // Bun ends the connection as soon as its Close frame is out and reports that from
    // inside this call; the report waits a turn so the socket is seen in `closeSent` first.
    closingSockets.add(this.#ws);
    this.#ws.close(code, reason);
  }

  terminate(): void {
    this.#ws.terminate();
  }

  get bufferedAmount(): number {
    return this.#ws.getBufferedAmount();
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
 * The Bun binding. `fallback` serves sockets upgraded by anything else (pass
 * `hono/bun`'s `websocket` when the app also uses its `upgradeWebSocket`).
 * Bun's own keep-alive is off in the returned handlers (`sendPings: false`,
 * `idleTimeout: 0`): the core's keep-alive and idle timeout apply.
 */
export function bunRuntime(fallback?: BunWebSocketHandlers): BunRuntime {
  const websocket: BunWebSocketHandlers = {
    ...fallback,
    sendPings: false,
    idleTimeout: 0,
    open: (ws: BunServerWebSocket) => {
      const events = eventsOf(ws);
      if (events !== undefined) events.opened(new BunEngineSocket(ws));
      else return fallback?.open?.(ws);
    },
    message: (ws: BunServerWebSocket, message: string | Uint8Array) => {
      const events = eventsOf(ws);
      if (events !== undefined) events.message(message, typeof message !== "string");
      else return fallback?.message(ws, message);
    },
    close: (ws: BunServerWebSocket, code: number, reason: string) => {
      const events = eventsOf(ws);
      if (events === undefined) return fallback?.close?.(ws, code, reason);
      if (closingSockets.has(ws)) queueMicrotask(() => events.closed(code, reason));
      else events.closed(code, reason);
    },
    drain: (ws: BunServerWebSocket) => {
      const events = eventsOf(ws);
      if (events !== undefined) events.drained();
      else return fallback?.drain?.(ws);
    },
    // Bun answers Pings itself; a Ping proves the peer alive as much as a Pong.
    ping: (ws: BunServerWebSocket, data: Uint8Array) => {
      const events = eventsOf(ws);
      if (events !== undefined) events.pong();
      else return fallback?.ping?.(ws, data);
    },
    pong: (ws: BunServerWebSocket, data: Uint8Array) => {
      const events = eventsOf(ws);
      if (events !== undefined) events.pong();
      else return fallback?.pong?.(ws, data);
    },
  };
  return {
    capabilities: HONO_BUN_CAPABILITIES,
    websocket,
    upgrade: (c, plan, events) => {
      const data: SocketData = { [UNIWS]: events };
      // An empty value keeps Bun from answering the client's first sub-protocol on its own.
      const headers = { "Sec-WebSocket-Protocol": plan.subProtocol ?? "" };
      if (!bunServer(c).upgrade(c.req.raw, { data, headers })) throw new Error("Bun did not upgrade the request");
      // Bun answers the upgrade itself and ignores what the handler returns.
      return new Response(null);
    },
  };
}
