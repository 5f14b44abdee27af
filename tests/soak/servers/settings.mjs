/**
 * What every soak server shares: keep-alive and idle timeout on (long enough not to
 * fire during a run), the ready line the driver waits for, a lifetime cap, and the
 * `/stats` figures the driver reads.
 */
export const OPTIONS = { keepAliveInterval: 30_000, keepAliveTimeout: 10_000, idleTimeout: 600_000 };
export const HOST = "127.0.0.1";

const deno = globalThis.Deno;
const bun = globalThis.Bun;

/** Collects garbage when the runtime lets us (node/deno `--expose-gc`, Bun.gc), so memory figures are live data. */
function collect() {
  if (bun) bun.gc(true);
  else globalThis.gc?.();
}

function tcpHandles() {
  const process = globalThis.process;
  // Bun's list is always empty: no handle count there.
  if (bun || typeof process?.getActiveResourcesInfo !== "function") return null;
  return process.getActiveResourcesInfo().filter((name) => name.startsWith("TCP") && name !== "TCPServerWrap").length;
}

function memory() {
  if (deno) {
    const { rss, heapUsed } = deno.memoryUsage();
    return { rss, heapUsed };
  }
  const { rss, heapUsed } = globalThis.process.memoryUsage();
  return { rss, heapUsed };
}

/**
 * The `/stats` answer: live sockets and timer tasks as the server counts them, memory, TCP handles, and
 * event listeners where the server has emitters to count (`listeners`, Node only).
 */
export async function stats(connections, scheduledTasks, listeners = () => null) {
  for (let i = 0; i < 3; i++) {
    collect();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return Response.json({ connections: connections(), scheduledTasks: scheduledTasks(), ...memory(), tcpHandles: tcpHandles(), listeners: listeners() });
}

const exit = () => (deno ? deno.exit(0) : globalThis.process.exit(0));

/** Prints the line the driver waits for, and bounds the server's life to 30 minutes. */
export function ready(port) {
  console.log(`READY ${port}`);
  setTimeout(exit, 30 * 60_000);
}
