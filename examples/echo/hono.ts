/**
 * The echo sample as a Hono app, on Node, Deno, Bun or Cloudflare's workerd:
 * `npm run start:hono -- --runtime node|deno|bun|workerd [flags]` (start-hono.mjs
 * picks the runtime and hands the other flags here). The app is the same on every
 * runtime; only the binding passed to `createWebSocket` and the server differ.
 *
 * On Node, Deno and Bun this module is the program. On workerd `echoWorker` is the
 * Worker (start-hono.mjs bundles it as the default export): the flags arrive in the `ECHO_ARGS` binding (start-hono.mjs checks
 * them first with `readHonoConfig`) and the app is built on the first request.
 *
 * @module
 */
import { createWebSocket, type HonoWebSocketRuntime, type WebSocketMiddleware } from "@uniws/hono";
import { cloudflareWorkersRuntime } from "@uniws/hono/cloudflare-workers";
import { Hono } from "hono";
import { type EchoConfig, echoHandler, listeningLine, pageResponse, parseArgs, readConfig, UsageError } from "./app.ts";

export { listeningLine };

/** Routes the sample on `app`: the echo endpoint at `/ws`, the page at `/`, 404 elsewhere. */
export function mountEcho(app: Hono, runtime: HonoWebSocketRuntime, config: EchoConfig): WebSocketMiddleware {
  const webSocket = createWebSocket(runtime);
  const sockets = webSocket(echoHandler(config.subProtocols, config.accept), config.options);
  app.get("/ws", sockets);
  app.all("*", (c) => pageResponse(new URL(c.req.url).pathname));
  return sockets;
}

/** Reads the flags as every entry does; none of Hono's servers here takes cleartext HTTP/2 WebSockets. */
export function readHonoConfig(args: readonly string[], exit: (code: number) => never): EchoConfig | undefined {
  return readConfig(args, exit, "with Hono");
}

// ---- the runtimes ----

// What this module touches of Deno and Bun (it builds with Node's types only).
interface DenoGlobal {
  args: string[];
  exit(code: number): never;
  readTextFileSync(path: string): string;
  addSignalListener(signal: "SIGINT" | "SIGTERM", handler: () => void): void;
  serve(options: Record<string, unknown>, handler: (request: Request, info: unknown) => Response | Promise<Response>): { shutdown(): Promise<void> };
}
interface BunGlobal {
  file(path: string): unknown;
  serve(options: Record<string, unknown>): { port: number; stop(closeActive: boolean): unknown };
}
const { Deno, Bun } = globalThis as unknown as { Deno?: DenoGlobal; Bun?: BunGlobal };

/** Closes the sockets (1001), then the server, then exits, on SIGINT or SIGTERM. */
function stopOnSignal(sockets: WebSocketMiddleware, stopServer: () => unknown, on: (signal: "SIGINT" | "SIGTERM", stop: () => void) => void, exit: () => void): void {
  const stop = async () => {
    await sockets.close();
    await stopServer();
    exit();
  };
  on("SIGINT", () => void stop());
  on("SIGTERM", () => void stop());
}

async function onNode(args: string[]): Promise<void> {
  const config = readHonoConfig(args, (code) => process.exit(code));
  if (config === undefined) return;
  const { readFileSync } = await import("node:fs");
  const { createServer } = await import("node:https");
  const { serve } = await import("@hono/node-server");
  const { nodeRuntime } = await import("@uniws/hono/node");
  const app = new Hono();
  const runtime = nodeRuntime({ app });
  const sockets = mountEcho(app, runtime, config);
  const secure = config.tlsCert !== undefined && config.tlsKey !== undefined;
  const tls = secure ? { createServer, serverOptions: { cert: readFileSync(config.tlsCert!), key: readFileSync(config.tlsKey!) } } : {};
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host, ...tls }, (info) => {
    console.log(listeningLine(secure, config.host, info.port));
  });
  runtime.injectWebSocket(server);
  stopOnSignal(sockets, () => new Promise((resolve) => server.close(resolve)), (signal, stop) => process.once(signal, stop), () => process.exit(0));
}

async function onDeno(deno: DenoGlobal): Promise<void> {
  const config = readHonoConfig(deno.args, (code) => deno.exit(code));
  if (config === undefined) return;
  const { denoRuntime } = await import("@uniws/hono/deno");
  const runtime = denoRuntime();
  const app = new Hono();
  const sockets = mountEcho(app, runtime, config);
  const secure = config.tlsCert !== undefined && config.tlsKey !== undefined;
  const tls = secure ? { cert: deno.readTextFileSync(config.tlsCert!), key: deno.readTextFileSync(config.tlsKey!) } : {};
  const server = deno.serve({
    hostname: config.host,
    port: config.port,
    ...tls,
    onListen: ({ port }: { port: number }) => console.log(listeningLine(secure, config.host, port)),
    // runtime.fetch: the opening grace runs from the app's answer, without Deno's `completed` kept per socket.
  }, runtime.fetch(app));
  stopOnSignal(sockets, () => server.shutdown(), (signal, stop) => deno.addSignalListener(signal, stop), () => deno.exit(0));
}

async function onBun(bun: BunGlobal): Promise<void> {
  const config = readHonoConfig(process.argv.slice(2), (code) => process.exit(code));
  if (config === undefined) return;
  const { bunRuntime } = await import("@uniws/hono/bun");
  const runtime = bunRuntime();
  const app = new Hono();
  const sockets = mountEcho(app, runtime, config);
  const secure = config.tlsCert !== undefined && config.tlsKey !== undefined;
  const server = bun.serve({
    hostname: config.host,
    port: config.port,
    // runtime.fetch: accepted upgrades complete after the app answered, with its headers on the 101.
    fetch: runtime.fetch(app),
    websocket: runtime.websocket,
    ...(secure ? { tls: { cert: bun.file(config.tlsCert!), key: bun.file(config.tlsKey!) } } : {}),
  });
  console.log(listeningLine(secure, config.host, server.port));
  stopOnSignal(sockets, () => server.stop(true), (signal, stop) => process.once(signal, stop), () => process.exit(0));
}

/** The Worker's bindings: the sample's flags as a JSON array (start-hono.mjs sets them). */
export interface EchoWorkerEnv {
  readonly ECHO_ARGS?: string;
}

let worker: Hono | undefined;

/**
 * The Worker: the same app on workerd, built from `ECHO_ARGS` on the first request.
 * A named export: as a default export, Bun and Deno would serve it themselves.
 */
export const echoWorker = {
  async fetch(request: Request, env: EchoWorkerEnv): Promise<Response> {
    if (worker === undefined) {
      const config = parseArgs(JSON.parse(env.ECHO_ARGS ?? "[]") as string[]);
      if (config === "help") throw new UsageError("--help is answered by start-hono.mjs");
      worker = new Hono();
      mountEcho(worker, cloudflareWorkersRuntime(), config);
    }
    return await worker.fetch(request, env);
  },
};

/** Whether this module is the program (not the Worker, nor imported by start-hono.mjs to check flags). */
function isMain(): boolean {
  const meta = import.meta as ImportMeta & { main?: boolean };
  if (Deno !== undefined || Bun !== undefined) return meta.main === true;
  const argv = (globalThis as { process?: { argv?: string[] } }).process?.argv;
  return argv?.[1] !== undefined && decodeURIComponent(new URL(import.meta.url).pathname) === argv[1];
}

if (isMain()) {
  if (Deno !== undefined) await onDeno(Deno);
  else if (Bun !== undefined) await onBun(Bun);
  else await onNode(process.argv.slice(2));
}
