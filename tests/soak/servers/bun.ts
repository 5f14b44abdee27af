// The Bun soak server: `bun bun.ts uniws|raw`. uniws is @uniws/bun on Bun.serve; raw is Bun.serve's own
// websocket handlers with its idle timeout off.
import { BunWebSocketServer } from "@uniws/bun";
import { HOST, OPTIONS, ready, stats } from "./settings.mjs";

const kind = Bun.argv[2];
let connections = () => 0;
let scheduledTasks: () => number | null = () => null;
let server: ReturnType<typeof Bun.serve>;
if (kind === "uniws") {
  const sockets = new BunWebSocketServer(async (context) => {
    if (!context.isWebSocketRequest) return; // the stats fallback answers
    const socket = await context.accept();
    for await (const message of socket) await socket.send(message.data);
  }, OPTIONS);
  connections = () => sockets.connections;
  scheduledTasks = () => (sockets as unknown as { scheduledTasks?: number }).scheduledTasks ?? null;
  server = Bun.serve({ hostname: HOST, port: 0, ...sockets.serveOptions(() => stats(connections, scheduledTasks)) });
} else {
  let open = 0;
  connections = () => open;
  server = Bun.serve({
    hostname: HOST,
    port: 0,
    fetch: (request, bunServer) => (bunServer.upgrade(request, { data: {} }) ? undefined : stats(connections, scheduledTasks)),
    websocket: {
      idleTimeout: 0,
      open: () => void open++,
      close: () => void open--,
      message: (ws, message) => void ws.send(message),
    },
  });
}
ready(server.port!);
