// @uniws/hono (built dist) on Node: a Hono app on @hono/node-server, with the same
// keep-alive and idle timeout as the raw server, written as its docs show.
import { serve } from "@hono/node-server";
import { createWebSocket } from "@uniws/hono";
import { nodeRuntime } from "@uniws/hono/node";
import { Hono } from "hono";
import { HOST, IDLE_TIMEOUT_MS, KEEP_ALIVE_INTERVAL_MS, KEEP_ALIVE_TIMEOUT_MS, loop, ready, seedEcho } from "./settings.mjs";

const app = new Hono();
const runtime = nodeRuntime({ app });
const webSocket = createWebSocket(runtime);
app.get(
  "/ws",
  webSocket(
    async (context) => {
      if (!context.isWebSocketRequest) return context.reject(400);
      const socket = await context.accept();
      if (loop === "seed") return await seedEcho(socket);
      for await (const message of socket) await socket.send(message.data);
    },
    { keepAliveInterval: KEEP_ALIVE_INTERVAL_MS, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, idleTimeout: IDLE_TIMEOUT_MS },
  ),
);
runtime.injectWebSocket(serve({ fetch: app.fetch, hostname: HOST, port: 0 }, (info) => ready(info.port)));
