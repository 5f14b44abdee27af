/**
 * Memory per idle compressed connection on Node (docs/compression.md).
 *
 * For each configuration, a fresh server process (`@uniws/node`, echo handler, the
 * accept context under test) takes N connections on 127.0.0.1 from a `ws` client in
 * this process; each connection exchanges a few messages and then stays idle. The
 * server reports its RSS and heap after a forced GC before the connections and after,
 * and the difference divided by N is the cost of one idle connection.
 *
 * Bounded and self-stopping: N connections (default 2,000), every step under a
 * deadline, every process ended at the end.
 *
 *   npm run build && node bench/compression-memory.mjs [connections]
 */
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";

const CONNECTIONS = Number(process.argv[2] ?? 2000);
const BATCH = 100;
const STEP_TIMEOUT = 120_000;

/** [label, accept context, NodeWebSocketServer `deflate` options, message bytes, messages per connection] */
const CONFIGS = [
  ["compression off (client offers, accept does not enable)", {}, undefined, 2048, 1],
  ["enabled, no message yet", { dangerousEnableCompression: true }, undefined, 0, 0],
  ["enabled (window 15, takeover), memLevel 8 (zlib/ws default)", { dangerousEnableCompression: true }, { memLevel: 8 }, 2048, 1],
  ["enabled (window 15, takeover), memLevel 4 (uniws default)", { dangerousEnableCompression: true }, undefined, 2048, 1],
  ["enabled (window 15, takeover), memLevel 8, 64 KiB messages", { dangerousEnableCompression: true }, { memLevel: 8 }, 65536, 2],
  ["enabled (window 15, takeover), memLevel 4, 64 KiB messages", { dangerousEnableCompression: true }, undefined, 65536, 2],
  ["serverMaxWindowBits 10, memLevel 4", { dangerousEnableCompression: true, serverMaxWindowBits: 10 }, undefined, 2048, 1],
  ["serverMaxWindowBits 10, no server context takeover", { dangerousEnableCompression: true, serverMaxWindowBits: 10, disableServerContextTakeover: true }, undefined, 2048, 1],
  ["no server context takeover, messages under threshold (never compressed)", { dangerousEnableCompression: true, disableServerContextTakeover: true }, undefined, 200, 1],
];

// ---------------------------------------------------------------- server process

async function serve() {
  const { createServer } = await import("node:http");
  const { NodeWebSocketServer } = await import("@uniws/node");
  const [acceptContext, deflate] = JSON.parse(process.argv[3]);
  const sockets = new NodeWebSocketServer(async (context) => {
    const socket = await context.accept(acceptContext);
    for await (const message of socket) await socket.send(message.data);
  }, { keepAliveInterval: 0, deflate });
  const server = createServer((_req, res) => res.writeHead(404).end());
  sockets.attach(server);
  server.listen(0, "127.0.0.1", () => process.send({ port: server.address().port }));
  const measure = async () => {
    for (let i = 0; i < 3; i++) {
      globalThis.gc();
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const { rss, heapUsed, external } = process.memoryUsage();
    return { rss, heapUsed, external, connections: sockets.connections };
  };
  process.on("message", async (command) => {
    if (command === "measure") process.send({ memory: await measure() });
    if (command === "exit") process.exit(0);
  });
}

// ---------------------------------------------------------------- driver

/** JSON rows of seeded words and numbers: compresses about as well as typical application messages. */
function jsonText(size) {
  let seed = 1;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"];
  const pick = () => words[Math.floor(random() * words.length)];
  let text = "";
  for (let id = 0; text.length < size; id++) text += JSON.stringify({ id, name: `${pick()}-${Math.floor(random() * 1e6)}`, tags: [pick(), pick()], score: random() }) + ",";
  return text.slice(0, size);
}

function withDeadline(promise, what) {
  let timer;
  const deadline = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), STEP_TIMEOUT)));
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

function ask(child, command, key) {
  return new Promise((resolve) => {
    const listener = (message) => {
      if (message[key] === undefined) return;
      child.off("message", listener);
      resolve(message[key]);
    };
    child.on("message", listener);
    if (command !== undefined) child.send(command);
  });
}

async function measureConfig([label, acceptContext, deflate, size, messages]) {
  const { WebSocket } = await import("ws");
  const child = fork(fileURLToPath(import.meta.url), ["serve", JSON.stringify([acceptContext, deflate])], { execArgv: ["--expose-gc"] });
  const clients = [];
  try {
    const port = await withDeadline(ask(child, undefined, "port"), "server start");
    const before = await withDeadline(ask(child, "measure", "memory"), "measure before");
    const text = jsonText(size);
    let extensions = "";
    for (let opened = 0; opened < CONNECTIONS; opened += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, CONNECTIONS - opened) }, async () => {
        const client = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: {} });
        clients.push(client);
        client.on("upgrade", (response) => (extensions = response.headers["sec-websocket-extensions"] ?? ""));
        await new Promise((resolve, reject) => {
          client.once("open", resolve);
          client.once("error", reject);
        });
        for (let i = 0; i < messages; i++) {
          const echoed = new Promise((resolve) => client.once("message", resolve));
          client.send(text);
          await echoed;
        }
      });
      await withDeadline(Promise.all(batch), "connections");
    }
    const after = await withDeadline(ask(child, "measure", "memory"), "measure after");
    const perConnection = (key) => ((after[key] - before[key]) / CONNECTIONS / 1024).toFixed(1);
    return { label, extensions: extensions || "(none)", connections: after.connections, rss: perConnection("rss"), heap: perConnection("heapUsed"), external: perConnection("external") };
  } finally {
    for (const client of clients) client.terminate();
    child.send("exit");
    await new Promise((resolve) => child.once("exit", resolve));
  }
}

if (process.argv[2] === "serve") {
  await serve();
} else {
  console.log(`Node ${process.version}, ${CONNECTIONS} connections on 127.0.0.1; server memory per idle connection (KiB)\n`);
  console.log("| configuration | answer | RSS | JS heap | external |");
  console.log("|---|---|---|---|---|");
  for (const config of CONFIGS) {
    const result = await measureConfig(config);
    if (result.connections !== CONNECTIONS) throw new Error(`${result.label}: ${result.connections} of ${CONNECTIONS} connections open`);
    console.log(`| ${result.label} | \`${result.extensions}\` | ${result.rss} | ${result.heap} | ${result.external} |`);
  }
}
