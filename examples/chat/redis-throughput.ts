/**
 * Throughput across two instances through Redis, on Bun: instance one's hub publishes
 * `--messages` group messages as fast as it can; a client connected to instance two
 * receives them. Prints messages per second end to end (publish on one, last delivery
 * on the other) and checks they arrived complete and in order.
 *
 *   redis-server --port 6390 --save "" --appendonly no &
 *   bun examples/chat/redis-throughput.ts --redis redis://127.0.0.1:6390 [--messages 20000] [--size 64]
 *
 * Both instances share this process (each with its own server, hub and Redis
 * connections); the client is Bun's native WebSocket client.
 *
 * @module
 */
import { BunWebSocketServer } from "@uniws/bun";
import { WebSocketHub } from "@uniws/core";
import { RedisBackplane } from "@uniws/redis";

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : process.argv[index + 1]!;
}

const redis = option("--redis", "redis://127.0.0.1:6379");
const messages = Number(option("--messages", "20000"));
const size = Number(option("--size", "64"));
const name = `throughput-${Date.now()}`;

function instance() {
  const backplane = new RedisBackplane({ url: redis });
  const hub = new WebSocketHub({ backplane, name, maxBufferedAmount: 64 * 1024 * 1024 });
  const sockets = new BunWebSocketServer(async (context) => {
    const socket = await context.accept();
    hub.add(socket);
    await hub.join(socket, "room");
    await socket.send("joined");
    await socket.closed;
  }, { keepAliveInterval: 0, sendBufferLimit: 0 });
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, ...sockets.serveOptions() });
  return {
    hub,
    url: `ws://127.0.0.1:${server.port}/`,
    stop: async () => {
      await sockets.close();
      await hub.close();
      await backplane.close();
      await server.stop(true);
    },
  };
}

const one = instance();
const two = instance();
await Promise.all([one.hub.ready(), two.hub.ready()]);

let received = 0;
let inOrder = true;
let finished!: () => void;
const done = new Promise<void>((resolve) => (finished = resolve));
const client = new WebSocket(two.url);
await new Promise<void>((resolve) => {
  client.onmessage = (event) => {
    if (event.data === "joined") return resolve();
    if (!String(event.data).startsWith(`${received}:`)) inOrder = false;
    if (++received === messages) finished();
  };
});

const padding = "x".repeat(Math.max(0, size - 8));
const start = performance.now();
for (let i = 0; i < messages; i++) one.hub.sendToGroup("room", `${i}:${padding}`);
const published = performance.now();
await Promise.race([done, Bun.sleep(120_000)]);
const end = performance.now();

console.log(`${received}/${messages} messages of ${size} bytes through Redis from one instance to a client of another, ${inOrder ? "in order" : "OUT OF ORDER"}`);
console.log(`publish loop ${(published - start).toFixed(0)} ms; last delivery after ${(end - start).toFixed(0)} ms: ${Math.round(received / ((end - start) / 1000))} messages/s`);
client.close();
await one.stop();
await two.stop();
process.exit(received === messages && inOrder ? 0 : 1);
