// Raw `ws` on Node, as its README runs it: a WebSocketServer on an http.Server, the
// README's heartbeat (ping every interval, terminate sockets that did not pong), and
// an idle sweep (close sockets that sent no message for a whole period). `ws` loads
// `bufferutil` by itself when it is installed; WS_NO_BUFFER_UTIL=1 turns it off.
import { createServer } from "node:http";
import { WebSocketServer } from "ws";
import { DEFLATE, deflate, IDLE_TIMEOUT_MS, KEEP_ALIVE_INTERVAL_MS, listen } from "./settings.mjs";

const server = createServer((_req, res) => res.writeHead(400).end("Expected a WebSocket request\n"));
const wss = new WebSocketServer({
  server,
  perMessageDeflate: deflate
    ? { zlibDeflateOptions: { memLevel: DEFLATE.memLevel, level: DEFLATE.level }, threshold: DEFLATE.threshold, concurrencyLimit: DEFLATE.concurrencyLimit }
    : false,
});

wss.on("connection", (ws) => {
  ws.isAlive = true;
  ws.active = true;
  ws.on("error", () => {});
  ws.on("pong", () => (ws.isAlive = true));
  ws.on("message", (data, isBinary) => {
    ws.active = true;
    ws.send(data, { binary: isBinary });
  });
});

setInterval(() => {
  for (const ws of wss.clients) {
    if (!ws.isAlive) {
      ws.terminate();
      continue;
    }
    ws.isAlive = false;
    ws.ping();
  }
}, KEEP_ALIVE_INTERVAL_MS);

setInterval(() => {
  for (const ws of wss.clients) {
    if (!ws.active) ws.close(1000, "idle");
    ws.active = false;
  }
}, IDLE_TIMEOUT_MS);

await listen(server);
