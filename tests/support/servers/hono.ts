/**
 * The shared suite's server through `@uniws/hono`: a Hono app on the runtime the
 * suite runs on, with that runtime's binding, the handler on every path and method.
 * Picked by `tests/support/runtime.ts` when `UNIWS_ADAPTER=hono`.
 */
import type { EngineCapabilities } from "@uniws/core";
import { createWebSocket, type HonoWebSocketRuntime, type WebSocketFactory, type WebSocketMiddleware } from "@uniws/hono";
import { Hono } from "hono";
import type { RuntimeName, StartServer, TestServer } from "../runtime.ts";

/** The Hono binding's capabilities on `runtime`. */
export async function honoCapabilities(runtime: RuntimeName): Promise<EngineCapabilities> {
  if (runtime === "node") return (await import("@uniws/hono/node")).HONO_NODE_CAPABILITIES;
  if (runtime === "deno") return (await import("@uniws/hono/deno")).HONO_DENO_CAPABILITIES;
  return (await import("@uniws/hono/bun")).HONO_BUN_CAPABILITIES;
}

type Listen = (app: Hono, runtime: HonoWebSocketRuntime) => Promise<{ port: number; stop(): Promise<void> }>;

const listeners: Record<RuntimeName, () => Promise<{ runtime: (app: Hono) => HonoWebSocketRuntime; listen: Listen }>> = {
  node: async () => {
    const { serve } = await import("@hono/node-server");
    const { nodeRuntime } = await import("@uniws/hono/node");
    return {
      runtime: (app) => nodeRuntime({ app }),
      listen: async (app, runtime) => {
        const { server, port } = await new Promise<{ server: import("node:http").Server; port: number }>((resolve) => {
          // The same handshake deadline as the Node adapter's test server (tests/faults.test.ts, slow handshakes).
          const serverOptions = { headersTimeout: 5000, connectionsCheckingInterval: 500 };
          const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1", serverOptions }, (info) => resolve({ server, port: info.port })) as import("node:http").Server;
        });
        (runtime as import("@uniws/hono/node").NodeRuntime).injectWebSocket(server);
        return {
          port,
          stop: async () => {
            server.closeAllConnections();
            await new Promise<void>((resolve) => server.close(() => resolve()));
          },
        };
      },
    };
  },
  deno: async () => {
    const { denoRuntime } = await import("@uniws/hono/deno");
    // deno-lint-ignore no-explicit-any
    const Deno = (globalThis as any).Deno;
    return {
      runtime: () => denoRuntime(),
      listen: async (app, runtime) => {
        // Stopped through the signal, as tests/support/servers/deno.ts: Deno 2.9's shutdown() never resolves once a
        // client has left during an upgrade (docs/deno.md, item 8). Served as users are told (tests/deno/hono-deno.test.ts
        // covers a bare app.fetch).
        const stop = new AbortController();
        const { fetch } = runtime as import("@uniws/hono/deno").DenoRuntime;
        const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {}, signal: stop.signal }, fetch(app));
        return {
          port: server.addr.port,
          stop: async () => {
            stop.abort();
            await server.finished;
          },
        };
      },
    };
  },
  bun: async () => {
    const { bunRuntime } = await import("@uniws/hono/bun");
    // Hono's own handlers serve the sockets its `upgradeWebSocket` opens, beside uniws ones.
    const { websocket: honoWebsocket } = await import("hono/bun");
    // deno-lint-ignore no-explicit-any
    const Bun = (globalThis as any).Bun;
    return {
      runtime: () => bunRuntime({ fallback: honoWebsocket }),
      listen: async (app, runtime) => {
        const { websocket, fetch } = runtime as import("@uniws/hono/bun").BunRuntime;
        const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: fetch(app), websocket });
        return { port: server.port, stop: async () => void server.stop(true) };
      },
    };
  },
};

/** A Hono app listening on 127.0.0.1 with the binding of the runtime the suite runs on. */
export interface HonoTestApp {
  readonly port: number;
  readonly url: string;
  /** Closes every socket of every middleware the app made (1001), then stops listening. */
  close(): Promise<void>;
}

/**
 * Builds an app with `build` (given the runtime's `webSocket` factory) and serves it on `runtime`.
 * `fallback` is the Bun binding's handler for sockets it did not upgrade.
 */
export async function serveHonoApp(
  runtime: RuntimeName,
  build: (webSocket: WebSocketFactory, app: Hono) => void,
): Promise<HonoTestApp & { middlewares: WebSocketMiddleware[] }> {
  const { runtime: bind, listen } = await listeners[runtime]();
  const app = new Hono();
  const binding = bind(app);
  const factory = createWebSocket(binding);
  const middlewares: WebSocketMiddleware[] = [];
  const tracked: WebSocketFactory = (handler, options) => {
    const middleware = factory(handler, options);
    middlewares.push(middleware);
    return middleware;
  };
  build(tracked, app);
  const { port, stop } = await listen(app, binding);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    middlewares,
    close: async () => {
      await Promise.all(middlewares.map((middleware) => middleware.close({ timeout: 2000 })));
      await stop();
    },
  };
}

/** Starts the handler behind Hono on `runtime`, on every path and method. */
export function honoStarter(runtime: RuntimeName): StartServer {
  return async (handler, options): Promise<TestServer> => {
    const served = await serveHonoApp(runtime, (webSocket, app) => void app.all("*", webSocket(handler, options)));
    const [middleware] = served.middlewares;
    return {
      port: served.port,
      url: served.url,
      connections: () => middleware!.connections,
      scheduledTasks: () => middleware!.scheduledTasks,
      stats: () => middleware!.stats(),
      shutdown: (shutdown) => middleware!.close(shutdown),
      close: served.close,
    };
  };
}
