// @uniws/node (built dist) on an http.Server, with the same keep-alive and idle
// timeout as the raw server, written as its docs show.
import { createServer } from "node:http";
import { NodeWebSocketServer } from "@uniws/node";
import { DEFLATE, deflate, IDLE_TIMEOUT_MS, KEEP_ALIVE_INTERVAL_MS, KEEP_ALIVE_TIMEOUT_MS, listen, loop, seedEcho } from "./settings.mjs";

const sockets = new NodeWebSocketServer(
  async (context) => {
    if (!context.isWebSocketRequest) return context.reject(400);
    const socket = await context.accept({ dangerousEnableCompression: deflate });
    if (loop === "seed") return await seedEcho(socket);
    for await (const message of socket) await socket.send(message.data);
  },
  {
    keepAliveInterval: KEEP_ALIVE_INTERVAL_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    idleTimeout: IDLE_TIMEOUT_MS,
    deflate: { memLevel: DEFLATE.memLevel, level: DEFLATE.level, threshold: DEFLATE.threshold, concurrencyLimit: DEFLATE.concurrencyLimit },
  },
);
const server = createServer((_req, res) => res.writeHead(400).end("Expected a WebSocket request\n"));
sockets.attach(server);
await listen(server);
