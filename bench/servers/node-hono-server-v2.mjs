// Hono on @hono/node-server 2.x with its built-in WebSocket (the peer that replaced
// @hono/node-ws), as its README shows: `upgradeWebSocket` from the server package and
// a `ws` WebSocketServer handed to `serve`. Installed in the workspace under the alias
// @hono/node-server-v2 so it can sit beside the 1.x the Hono adapter builds against.
// It has no keep-alive or idle timeout of its own.
import { serve, upgradeWebSocket } from "@hono/node-server-v2";
import { Hono } from "hono";
import { WebSocketServer } from "ws";
import { HOST, ready } from "./settings.mjs";

const app = new Hono();
app.get(
  "/ws",
  upgradeWebSocket(() => ({
    // data is a string for text and binary data otherwise.
    onMessage(event, ws) {
      ws.send(event.data);
    },
  })),
);
const wss = new WebSocketServer({ noServer: true });
serve({ fetch: app.fetch, hostname: HOST, port: 0, websocket: { server: wss } }, (info) => ready(info.port));
