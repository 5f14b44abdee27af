// The Node soak server: `node --expose-gc node.mjs uniws|raw`. uniws is @uniws/node's built dist on
// node:http; raw is `ws` on the same server, as its README shows, with no keep-alive of its own.
import { createServer } from "node:http";
import { NodeWebSocketServer } from "@uniws/node";
import { WebSocketServer } from "ws";
import { HOST, OPTIONS, ready, stats } from "./settings.mjs";

const kind = process.argv[2];
let connections = () => 0;
let scheduledTasks = () => null;
let onUpgrade;
if (kind === "uniws") {
  const sockets = new NodeWebSocketServer(async (context) => {
    const socket = await context.accept();
    for await (const message of socket) await socket.send(message.data);
  }, OPTIONS);
  connections = () => sockets.connections;
  scheduledTasks = () => sockets.scheduledTasks;
  onUpgrade = (req, socket, head) => void sockets.handleUpgrade(req, socket, head);
} else {
  const wss = new WebSocketServer({ noServer: true });
  wss.on("connection", (ws) => ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary })));
  connections = () => wss.clients.size;
  onUpgrade = (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
}
// Every listener on the HTTP server and the process: a per-connection one left behind would show here.
const listeners = () =>
  [server, process].reduce((sum, emitter) => sum + emitter.eventNames().reduce((n, name) => n + emitter.listenerCount(name), 0), 0);
const server = createServer(async (_req, res) => {
  const answer = await stats(connections, scheduledTasks, listeners);
  res.writeHead(200, { "content-type": "application/json" }).end(await answer.text());
});
server.on("upgrade", onUpgrade);
server.listen(0, HOST, 4096, () => ready(server.address().port));
