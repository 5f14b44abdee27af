// Raw `ws` on Node, as its README runs it: a WebSocketServer on an http.Server, the
// README's heartbeat (ping every interval, terminate sockets that did not pong), and
// an idle sweep (close sockets that sent no message for a whole period). `ws` loads
// `bufferutil` by itself when it is installed; WS_NO_BUFFER_UTIL=1 turns it off. With BENCH_DELIVERY=await
// (the reference `ws-await`) each message, text as a string, reaches an `async` loop through a promise first.
import { createServer } from "node:http";
import { WebSocketServer } from "ws";
import { awaitedDelivery, DEFLATE, deflate, delivery, IDLE_TIMEOUT_MS, KEEP_ALIVE_INTERVAL_MS, listen } from "./settings.mjs";

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
  if (delivery === "await") {
    // What the loop gets is what an API hands out (text decoded); what it echoes is the bytes received, as below.
    const deliver = awaitedDelivery((message) => ws.send(message.bytes, { binary: message.text === undefined }));
    ws.on("message", (data, isBinary) => {
      ws.active = true;
      deliver({ text: isBinary ? undefined : data.toString(), bytes: data });
    });
    ws.on("close", () => deliver(undefined));
    return;
  }
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
