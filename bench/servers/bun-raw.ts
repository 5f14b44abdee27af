// Raw Bun.serve websocket: Bun's own keep-alive (sendPings before idleTimeout, in
// seconds) and an idle sweep that closes sockets that sent no message for a period. With BENCH_DELIVERY=await
// (the reference `bun-await`) each message reaches an `async` loop through a promise first.
import { awaitedDelivery, delivery, HOST, IDLE_TIMEOUT_MS, KEEP_ALIVE_INTERVAL_MS, KEEP_ALIVE_TIMEOUT_MS, ready } from "./settings.mjs";

interface SocketData {
  active: boolean;
  deliver?: (message: string | Buffer | undefined) => void;
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
      if (delivery === "await") ws.data.deliver = awaitedDelivery((message: string | Buffer) => ws.send(message));
    },
    // Chosen once: the raw server's own path has no branch per message.
    message: delivery === "await"
      ? (ws, message) => {
        ws.data.active = true;
        ws.data.deliver!(message);
      }
      : (ws, message) => {
        ws.data.active = true;
        ws.send(message);
      },
    close(ws) {
      open.delete(ws);
      ws.data.deliver?.(undefined);
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
