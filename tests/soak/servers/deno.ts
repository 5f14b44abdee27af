// The Deno soak server: `deno run -A --v8-flags=--expose-gc deno.ts uniws|raw`. uniws is @uniws/deno on
// Deno.serve; raw is Deno.upgradeWebSocket with its own keep-alive off.
import { DenoWebSocketServer } from "@uniws/deno";
import { HOST, OPTIONS, ready, stats } from "./settings.mjs";

const kind = Deno.args[0];
let handler: Deno.ServeHandler;
let connections = () => 0;
let scheduledTasks: () => number | null = () => null;
if (kind === "uniws") {
  const sockets = new DenoWebSocketServer(async (context) => {
    if (!context.isWebSocketRequest) return; // the stats fallback answers
    const socket = await context.accept();
    for await (const message of socket) await socket.send(message.data);
  }, OPTIONS);
  connections = () => sockets.connections;
  scheduledTasks = () => sockets.scheduledTasks;
  handler = sockets.fetch(() => stats(connections, scheduledTasks));
} else {
  let open = 0;
  connections = () => open;
  handler = (request) => {
    if (!request.headers.get("upgrade")) return stats(connections, scheduledTasks);
    const { socket, response } = Deno.upgradeWebSocket(request, { idleTimeout: 0 });
    socket.onopen = () => open++;
    socket.onclose = () => open--;
    socket.onmessage = (event) => socket.send(event.data);
    return response;
  };
}
Deno.serve({ hostname: HOST, port: 0, onListen: ({ port }) => ready(port) }, handler);
