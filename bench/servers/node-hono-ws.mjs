// Hono on @hono/node-server with @hono/node-ws (the peer), as its README shows. It has
// no keep-alive or idle timeout of its own.
import { serve } from "@hono/node-server";
import { createNodeWebSocket } from "@hono/node-ws";
import { Hono } from "hono";
import { HOST, ready } from "./settings.mjs";

const app = new Hono();
const { injectWebSocket, upgradeWebSocket } = createNodeWebSocket({ app });
app.get(
  "/ws",
  upgradeWebSocket(() => ({
    // data is a string for text and an ArrayBuffer for binary.
    onMessage(event, ws) {
      ws.send(event.data);
    },
  })),
);
const server = serve({ fetch: app.fetch, hostname: HOST, port: 0 }, (info) => ready(info.port));
injectWebSocket(server);
