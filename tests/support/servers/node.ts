import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { NodeWebSocketServer } from "@uniws/node";
import type { StartServer } from "../runtime.ts";

export const start: StartServer = async (handler, options) => {
  const sockets = new NodeWebSocketServer(handler, options);
  // A handshake that has not sent all its headers within 5 s gets 408 (docs/reliability.md: the HTTP server owns that phase).
  const server = createServer({ headersTimeout: 5000, connectionsCheckingInterval: 500 }, async (req, res) => {
    if (!(await sockets.handleRequest(req, res))) res.writeHead(404).end();
  });
  sockets.attach(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: () => sockets.connections,
    scheduledTasks: () => sockets.scheduledTasks,
    stats: () => sockets.stats(),
    shutdown: (shutdown) => sockets.close(shutdown),
    close: async () => {
      await sockets.close({ timeout: 2000 });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
