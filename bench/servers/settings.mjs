/**
 * What every benchmark server shares: the production settings (keep-alive and idle
 * timeout on, the same on every server that has them), the ready line the
 * orchestrator waits for, and a lifetime cap so no server outlives a run.
 */

const env = (name) => (globalThis.Deno ? globalThis.Deno.env.get(name) : globalThis.process.env[name]);

/** Ping period: a socket is pinged after this long (BENCH_KEEPALIVE_MS overrides it for the scale case). */
export const KEEP_ALIVE_INTERVAL_MS = Number(env("BENCH_KEEPALIVE_MS") ?? 30_000);
/** A pinged socket that has not answered within this is dropped. */
export const KEEP_ALIVE_TIMEOUT_MS = 10_000;
/** A socket that sent no message within this is closed (BENCH_IDLE_MS overrides it for the scale case). */
export const IDLE_TIMEOUT_MS = Number(env("BENCH_IDLE_MS") ?? 60_000);
export const HOST = "127.0.0.1";

/**
 * zlib settings of the compressed echo, for `ws` and `@uniws/node` alike: window 15
 * with context takeover (what the client offers and `ws` accepts), memLevel 4, level
 * 6, messages under 1 KiB sent plain, 10 zlib jobs at once.
 */
export const DEFLATE = { memLevel: 4, level: 6, threshold: 1024, concurrencyLimit: 10 };


/**
 * An application's own heap (BENCH_APP_HEAP_MB, the application-heap cases; 0 by default): records of the
 * kind an application keeps (an id, a name, a small nested object), built once and kept for the server's life,
 * the same on every server. See bench/cases.ts APP_HEAP_MB for why the bench measures with one.
 */
const appHeapMiB = Number(env("BENCH_APP_HEAP_MB") ?? 0);
export const appHeap = Array.from({ length: Math.round((appHeapMiB * 1024 * 1024) / 128) }, (_, i) => ({ id: i, name: `record ${i}`, tags: { group: i % 64 } }));

/**
 * How a raw server hands over each message: "callback" (the default, each runtime's own way: the echo is sent from
 * the message callback) or "await" (BENCH_DELIVERY=await, the reference servers `*-await`): through a promise that
 * an `async` loop per socket awaits, see {@link awaitedDelivery}.
 */
export const delivery = env("BENCH_DELIVERY") === "await" ? "await" : "callback";

/**
 * The least any awaitable API does with a message, and nothing else: the message goes through a promise that one
 * `async` loop per socket awaits, then to `handle`. Returns what the engine's message callback calls with each
 * message, and with `undefined` when the socket closes (the loop then ends). Messages that arrive while the loop is
 * busy wait in a queue, and are awaited too (one microtask each), as an awaitable socket's queued messages are.
 */
export function awaitedDelivery(handle) {
  const queue = [];
  let wake;
  (async () => {
    for (;;) {
      const message = await (queue.length > 0 ? queue.shift() : new Promise((resolve) => (wake = resolve)));
      if (message === undefined) return;
      handle(message);
    }
  })();
  return (message) => {
    if (wake === undefined) return void queue.push(message);
    const resolve = wake;
    wake = undefined;
    resolve(message);
  };
}

/** Whether this server should offer permessage-deflate (the compressed echo). */
export const deflate = env("BENCH_DEFLATE") === "1";

/**
 * How the uniws servers echo: "iterate" (the default) is the idiomatic
 * `for await (const m of socket) await socket.send(m.data)`, written in each server's
 * handler; "seed" (BENCH_LOOP=seed) is the seed's sample loop, {@link seedEcho}.
 */
export const loop = env("BENCH_LOOP") === "seed" ? "seed" : "iterate";

/**
 * The seed's sample loop: `receive(buffer)` into one 4 KiB buffer per socket and
 * `send(buffer.subarray(0, count), { type, endOfMessage })` of each part, until the peer closes.
 */
export async function seedEcho(socket) {
  const buffer = new Uint8Array(4096);
  let result = await socket.receive(buffer);
  while (result.type !== "close") {
    await socket.send(buffer.subarray(0, result.count), { type: result.type, endOfMessage: result.endOfMessage });
    result = await socket.receive(buffer);
  }
}

const exit = () => (globalThis.Deno ? globalThis.Deno.exit(0) : globalThis.process.exit(0));

/**
 * Listens with a Node `http.Server` on 127.0.0.1 and prints the ready line. With
 * BENCH_SECOND_PORT=1 (the scale case) a second server on another port hands its
 * upgrades to the first, so one client address can open more sockets than it has
 * ephemeral ports for one destination.
 */
export async function listen(server) {
  await new Promise((resolve) => server.listen(0, HOST, resolve));
  const ports = [server.address().port];
  if (env("BENCH_SECOND_PORT") === "1") {
    const { createServer } = await import("node:http");
    const second = createServer((req, res) => server.emit("request", req, res));
    second.on("upgrade", (req, socket, head) => server.emit("upgrade", req, socket, head));
    await new Promise((resolve) => second.listen(0, HOST, resolve));
    ports.push(second.address().port);
  }
  ready(ports.join(" "));
}

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
