import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { NodeWebSocketServer } from "@uniws/node";
import type { StartServer } from "../runtime.ts";

export const start: StartServer = async (handler, options) => {
  const sockets = new NodeWebSocketServer(handler, options);
  const server = createServer(async (req, res) => {
    if (!(await sockets.handleRequest(req, res))) res.writeHead(404).end();
  });
  sockets.attach(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    connections: () => sockets.connections,
    close: async () => {
      await sockets.close({ timeout: 2000 });
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
