/** Which runtime the suite runs on, and how to start the uniws adapter for it. */
import type { EngineCapabilities, ShutdownOptions, WebSocketHandler, WebSocketOptions, WebSocketServerStats } from "@uniws/core";

export type RuntimeName = "node" | "deno" | "bun";

const global = globalThis as { Deno?: unknown; Bun?: unknown };
export const runtime: RuntimeName = global.Deno !== undefined ? "deno" : global.Bun !== undefined ? "bun" : "node";

/**
 * Which adapter the suite drives: the runtime's own (`"native"`), or `@uniws/hono` on that runtime
 * when the environment says `UNIWS_ADAPTER=hono` (the `test:hono:*` scripts).
 */
export const adapter: "native" | "hono" =
  (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.UNIWS_ADAPTER === "hono" ? "hono" : "native";

/** A uniws server started by a test, on 127.0.0.1 and a free port. */
export interface TestServer {
  readonly port: number;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** Sockets the adapter counts as live. */
  connections(): number;
  /** Deadlines the adapter's shared timer holds for live sockets (its `scheduledTasks`). */
  scheduledTasks?(): number;
  /** The adapter's `stats()`. */
  stats(): WebSocketServerStats;
  /** The adapter's own shutdown with `options` (the server keeps listening). */
  shutdown(options?: ShutdownOptions): Promise<void>;
  /** Shuts the WebSocket side down (1001) and stops listening. */
  close(): Promise<void>;
}

/** Starts `handler` on this runtime's adapter; every path and method reaches it. */
export type StartServer = (handler: WebSocketHandler<any>, options?: WebSocketOptions) => Promise<TestServer>;

const started = new Set<TestServer>();

/** What this runtime's adapter declares it can do (its exported `<RUNTIME>_CAPABILITIES`). */
export async function adapterCapabilities(): Promise<EngineCapabilities> {
  if (adapter === "hono") return (await import("./servers/hono.ts")).honoCapabilities(runtime);
  const adapters = {
    node: async () => (await import("@uniws/node")).NODE_CAPABILITIES,
    // deno-lint-ignore no-explicit-any
    deno: async () => ((await import("@uniws/deno")) as any).DENO_CAPABILITIES,
    // deno-lint-ignore no-explicit-any
    bun: async () => ((await import("@uniws/bun")) as any).BUN_CAPABILITIES,
  };
  const capabilities = await adapters[runtime]();
  if (capabilities === undefined) throw new Error(`the ${runtime} adapter exports no capabilities`);
  return capabilities;
}

/** Starts a server on the adapter of the runtime the suite runs on. */
export async function startServer(handler: WebSocketHandler<any>, options?: WebSocketOptions): Promise<TestServer> {
  const start = adapter === "hono"
    ? (await import("./servers/hono.ts")).honoStarter(runtime)
    : (await import(`./servers/${runtime}.ts`) as { start: StartServer }).start;
  const server = await start(handler, options);
  started.add(server);
  return server;
}

/** Closes every server the current file started (call in afterEach). */
export async function closeServers(): Promise<void> {
  const servers = [...started];
  started.clear();
  await Promise.all(servers.map((server) => server.close()));
}
