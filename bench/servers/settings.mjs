/**
 * What every benchmark server shares: the production settings (keep-alive and idle
 * timeout on, the same on every server that has them), the ready line the
 * orchestrator waits for, and a lifetime cap so no server outlives a run.
 */

/** Ping period: a socket is pinged after this long. */
export const KEEP_ALIVE_INTERVAL_MS = 30_000;
/** A pinged socket that has not answered within this is dropped. */
export const KEEP_ALIVE_TIMEOUT_MS = 10_000;
/** A socket that sent no message within this is closed. */
export const IDLE_TIMEOUT_MS = 60_000;
export const HOST = "127.0.0.1";

/**
 * zlib settings of the compressed echo, for `ws` and `@uniws/node` alike: window 15
 * with context takeover (what the client offers and `ws` accepts), memLevel 4, level
 * 6, messages under 1 KiB sent plain, 10 zlib jobs at once.
 */
export const DEFLATE = { memLevel: 4, level: 6, threshold: 1024, concurrencyLimit: 10 };

const env = (name) => (globalThis.Deno ? globalThis.Deno.env.get(name) : globalThis.process.env[name]);

/** Whether this server should offer permessage-deflate (the compressed echo). */
export const deflate = env("BENCH_DEFLATE") === "1";

const exit = () => (globalThis.Deno ? globalThis.Deno.exit(0) : globalThis.process.exit(0));

/**
 * Prints the line the orchestrator waits for, and bounds the server's life. SIGTERM
 * exits normally, so `node --cpu-prof` writes its profile (bench/profile.ts).
 */
export function ready(port) {
  console.log(`READY ${port}`);
  setTimeout(exit, 20 * 60_000);
  if (globalThis.Deno) globalThis.Deno.addSignalListener("SIGTERM", exit);
  else globalThis.process.on("SIGTERM", exit);
}
