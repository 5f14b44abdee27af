// @uniws/bun on Bun.serve, with the same keep-alive and idle timeout as the raw server.
import { BunWebSocketServer } from "@uniws/bun";
import { HOST, IDLE_TIMEOUT_MS, KEEP_ALIVE_INTERVAL_MS, KEEP_ALIVE_TIMEOUT_MS, loop, ready, seedEcho } from "./settings.mjs";

const sockets = new BunWebSocketServer(
  async (context) => {
    if (!context.isWebSocketRequest) return context.reject(400);
    const socket = await context.accept();
    if (loop === "seed") return await seedEcho(socket);
    for await (const message of socket) await socket.send(message.data);
  },
  { keepAliveInterval: KEEP_ALIVE_INTERVAL_MS, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, idleTimeout: IDLE_TIMEOUT_MS },
);
const server = Bun.serve({ hostname: HOST, port: 0, ...sockets.serveOptions() });
ready(server.port);
