// Raw Deno.serve + Deno.upgradeWebSocket: Deno's own keep-alive (idleTimeout: ping,
// and close if no pong, in seconds) and an idle sweep that closes sockets that sent
// no message for a period. With BENCH_DELIVERY=await (the reference `deno-await`) each message reaches an `async`
// loop through a promise first.
import { awaitedDelivery, delivery, HOST, IDLE_TIMEOUT_MS, KEEP_ALIVE_INTERVAL_MS, ready } from "./settings.mjs";

const active = new Map<WebSocket, boolean>();

Deno.serve({ hostname: HOST, port: 0, onListen: ({ port }) => ready(port) }, (req) => {
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response("Expected a WebSocket request\n", { status: 400 });
  }
  const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: KEEP_ALIVE_INTERVAL_MS / 1000 });
  socket.binaryType = "arraybuffer";
  socket.onopen = () => active.set(socket, true);
  if (delivery === "await") {
    const deliver = awaitedDelivery((data: string | ArrayBuffer) => socket.send(data));
    socket.onmessage = (event) => {
      active.set(socket, true);
      deliver(event.data);
    };
    socket.onclose = () => {
      active.delete(socket);
      deliver(undefined);
    };
    return response;
  }
  socket.onmessage = (event) => {
    active.set(socket, true);
    socket.send(event.data);
  };
  socket.onclose = () => active.delete(socket);
  return response;
});

setInterval(() => {
  for (const [socket, seen] of active) {
    if (!seen) socket.close(1000, "idle");
    active.set(socket, false);
  }
}, IDLE_TIMEOUT_MS);
