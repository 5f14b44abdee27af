import { BunWebSocketServer } from "@uniws/bun";
import type { StartServer } from "../runtime.ts";

export const start: StartServer = async (handler, options) => {
  const sockets = new BunWebSocketServer(handler, options);
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", ...sockets.serveOptions() });
  const port = server.port!;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: () => sockets.connections,
    scheduledTasks: () => sockets.scheduledTasks,
    stats: () => sockets.stats(),
    shutdown: (shutdown) => sockets.close(shutdown),
    close: async () => {
      await sockets.close({ timeout: 2000 });
      await server.stop(true);
    },
  };
};
