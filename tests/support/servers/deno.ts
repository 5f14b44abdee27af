import { DenoWebSocketServer } from "@uniws/deno";
import type { StartServer } from "../runtime.ts";

export const start: StartServer = async (handler, options) => {
  const sockets = new DenoWebSocketServer(handler, options);
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  // Stopped through the signal: Deno 2.9's graceful shutdown() never resolves once a client has left during
  // an upgrade (docs/deno.md); by then every WebSocket has been closed by sockets.close().
  const stop = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: resolve, signal: stop.signal }, sockets.fetch());
  const { port } = await listening;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: () => sockets.connections,
    scheduledTasks: () => sockets.scheduledTasks,
    stats: () => sockets.stats(),
    shutdown: (shutdown) => sockets.close(shutdown),
    close: async () => {
      await sockets.close({ timeout: 2000 });
      stop.abort();
      await server.finished;
    },
  };
};
