// crossws's Node adapter (the peer), as its docs show: hooks and the adapter's
// handleUpgrade on an http.Server. Its built-in heartbeat (idleTimeout, seconds)
// pings and drops dead peers; it has no application idle timeout.
import { createServer } from "node:http";
import crossws from "crossws/adapters/node";
import { HOST, KEEP_ALIVE_INTERVAL_MS, ready } from "./settings.mjs";

const ws = crossws({
  idleTimeout: KEEP_ALIVE_INTERVAL_MS / 1000,
  hooks: {
    // rawData is a string for text and a Buffer for binary, so the type survives.
    message(peer, message) {
      peer.send(message.rawData);
    },
  },
});
const server = createServer((_req, res) => res.writeHead(400).end("Expected a WebSocket request\n"));
server.on("upgrade", (req, socket, head) => ws.handleUpgrade(req, socket, head));
server.listen(0, HOST, () => ready(server.address().port));
