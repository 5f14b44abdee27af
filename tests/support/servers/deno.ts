import { DenoWebSocketServer } from "@uniws/deno";
import type { StartServer } from "../runtime.ts";

export const start: StartServer = async (handler, options) => {
  const sockets = new DenoWebSocketServer(handler, options);
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: resolve }, sockets.fetch());
  const { port } = await listening;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: () => sockets.connections,
    scheduledTasks: () => sockets.scheduledTasks,
    close: async () => {
      await sockets.close({ timeout: 2000 });
      await server.shutdown();
    },
  };
};
