// Raw Bun.serve websocket: Bun's own keep-alive (sendPings before idleTimeout, in
// seconds) and an idle sweep that closes sockets that sent no message for a period.
import { HOST, IDLE_TIMEOUT_MS, KEEP_ALIVE_INTERVAL_MS, KEEP_ALIVE_TIMEOUT_MS, ready } from "./settings.mjs";

interface SocketData {
  active: boolean;
}

const open = new Set<Bun.ServerWebSocket<SocketData>>();
const server = Bun.serve<SocketData>({
  hostname: HOST,
  port: 0,
  fetch(req, server) {
    if (server.upgrade(req, { data: { active: true } })) return undefined;
    return new Response("Expected a WebSocket request\n", { status: 400 });
  },
  websocket: {
    idleTimeout: (KEEP_ALIVE_INTERVAL_MS + KEEP_ALIVE_TIMEOUT_MS) / 1000,
    sendPings: true,
    open(ws) {
      open.add(ws);
    },
    message(ws, message) {
      ws.data.active = true;
      ws.send(message);
    },
    close(ws) {
      open.delete(ws);
    },
  },
});

setInterval(() => {
  for (const ws of open) {
    if (!ws.data.active) ws.close(1000, "idle");
    ws.data.active = false;
  }
}, IDLE_TIMEOUT_MS);

ready(server.port);
