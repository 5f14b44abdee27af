/**
 * The shared suite's server through `@uniws/hono`: a Hono app on the runtime the
 * suite runs on, with that runtime's binding, the handler on every path and method.
 * Picked by `tests/support/runtime.ts` when `UNIWS_ADAPTER=hono`.
 */
import type { EngineCapabilities } from "@uniws/core";
import { createWebSocket, type HonoWebSocketRuntime } from "@uniws/hono";
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
          const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => resolve({ server, port: info.port })) as import("node:http").Server;
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
      listen: async (app) => {
        const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, app.fetch);
        return { port: server.addr.port, stop: () => server.shutdown() };
      },
    };
  },
  bun: async () => {
    const { bunRuntime } = await import("@uniws/hono/bun");
    // deno-lint-ignore no-explicit-any
    const Bun = (globalThis as any).Bun;
    return {
      runtime: () => bunRuntime(),
      listen: async (app, runtime) => {
        const websocket = (runtime as import("@uniws/hono/bun").BunRuntime).websocket;
        const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch, websocket });
        return { port: server.port, stop: async () => void server.stop(true) };
      },
    };
  },
};

/** Starts the handler behind Hono on `runtime`. */
export function honoStarter(runtime: RuntimeName): StartServer {
  return async (handler, options): Promise<TestServer> => {
    const { runtime: bind, listen } = await listeners[runtime]();
    const app = new Hono();
    const binding = bind(app);
    const webSocket = createWebSocket(binding)(handler, options);
    app.all("*", webSocket);
    const { port, stop } = await listen(app, binding);
    return {
      port,
      url: `http://127.0.0.1:${port}`,
      connections: () => webSocket.connections,
      close: async () => {
        await webSocket.close({ timeout: 2000 });
        await stop();
      },
    };
  };
}
