/**
 * Fan-out: one message to N sockets on one node, time from the trigger to the last
 * delivery, five ways in one run; then throughput across two instances through Redis.
 *
 * - `hub-bun-native`: the uniws hub on @uniws/bun, fanning out with one native publish
 * - `hub-bun-loop`:   the same hub with `nativeFanOut: false` (the core's loop of sends)
 * - `bun-publish`:    a raw `Bun.serve` and `server.publish` (Bun's own floor)
 * - `hub-node`:       the uniws hub on @uniws/node (built dist), the core's loop over ws
 * - `crossws-node`:   crossws's Node adapter, `peer.subscribe` / `peer.publish`
 *
 * Each server runs in its own child process on 127.0.0.1; this process (Bun) holds the
 * client sockets (Bun's WebSocket client). A client sends `fanout <size> <round>`; the
 * server sends one text message of `size` bytes to every socket, the sender included,
 * and prints how long its fan-out call took. Bounded: every wait has a deadline, and
 * the children are killed at the end.
 *
 *   node_modules/.bin/bun bench/fanout.ts [--sockets 10000] [--rounds 10] [--size 64]
 *     [--only hub-bun-native,bun-publish] [--no-redis] [--messages 20000]
 *
 * Needs `ulimit -n` above the socket count (each side holds one descriptor a socket).
 *
 * @module
 */
import { createServer } from "node:net";
import { commandLine } from "./args.ts";
import { BunWebSocketServer } from "@uniws/bun";
import { WebSocketHub } from "@uniws/core";
import { fanOutHandler, fanOutPayload, parseTrigger } from "../examples/chat/fanout.ts";

type Mode = "hub-bun-native" | "hub-bun-loop" | "bun-publish" | "hub-node" | "crossws-node";
const MODES: Mode[] = ["hub-bun-native", "hub-bun-loop", "bun-publish", "hub-node", "crossws-node"];
const ROOT = new URL("..", import.meta.url).pathname;


/** Runs one fan-out and prints how long the server spent in it (queueing the message on every socket). */
function timed(fanOut: () => void): void {
  const start = performance.now();
  fanOut();
  console.log(`took ${(performance.now() - start).toFixed(3)}`);
}

/** A Bun server child (`--serve <mode>`). */
function serveOnBun(mode: Mode): void {
  let port: number;
  if (mode === "hub-bun-native" || mode === "hub-bun-loop") {
    const hub = new WebSocketHub({ maxBufferedAmount: 16 * 1024 * 1024, nativeFanOut: mode === "hub-bun-native" });
    const broadcast = hub.broadcast.bind(hub);
    hub.broadcast = (message, options) => timed(() => broadcast(message, options));
    const sockets = new BunWebSocketServer(fanOutHandler(hub), { keepAliveInterval: 0 });
    port = Bun.serve({ hostname: "127.0.0.1", port: 0, ...sockets.serveOptions() }).port!;
  } else {
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (request, server) => (server.upgrade(request) ? undefined : new Response("Expected a WebSocket request\n", { status: 400 })),
      websocket: {
        idleTimeout: 0,
        open(ws) {
          ws.subscribe("all");
        },
        message(_ws, message) {
          const size = typeof message === "string" ? parseTrigger(message) : undefined;
          if (size !== undefined) timed(() => server.publish("all", fanOutPayload(message as string, size)));
        },
      },
    });
    port = server.port!;
  }
  console.log(`Listening on http://127.0.0.1:${port}`);
}

// The Node servers, run by `node --input-type=module -e` from the repository root (Node 20 runs no TypeScript).
const NODE_SERVERS: Record<"hub-node" | "crossws-node", string> = {
  "hub-node": `
    import { createServer } from "node:http";
    import { NodeWebSocketServer } from "@uniws/node";
    import { WebSocketHub } from "@uniws/core";
    const hub = new WebSocketHub({ maxBufferedAmount: 16 * 1024 * 1024 });
    const sockets = new NodeWebSocketServer(async (context) => {
      const socket = await context.accept();
      hub.add(socket);
      for await (const message of socket) {
        const size = message.type === "text" ? PARSE(message.data) : undefined;
        if (size === undefined) continue;
        const payload = PAYLOAD(message.data, size);
        const start = performance.now();
        hub.broadcast(payload);
        console.log("took " + (performance.now() - start).toFixed(3));
      }
    }, { keepAliveInterval: 0 });
    const server = createServer((_req, res) => res.writeHead(400).end());
    sockets.attach(server);
    server.listen(0, "127.0.0.1", () => console.log("Listening on http://127.0.0.1:" + server.address().port));`,
  "crossws-node": `
    import { createServer } from "node:http";
    import crossws from "crossws/adapters/node";
    const ws = crossws({
      hooks: {
        open(peer) { peer.subscribe("all"); },
        message(peer, message) {
          const text = message.text();
          const size = PARSE(text);
          if (size === undefined) return;
          const payload = PAYLOAD(text, size);
          const start = performance.now();
          // peer.publish leaves the publisher out: it gets its copy by send, as in the other servers.
          peer.send(payload);
          peer.publish("all", payload);
          console.log("took " + (performance.now() - start).toFixed(3));
        },
      },
    });
    const server = createServer((_req, res) => res.writeHead(400).end());
    server.on("upgrade", (req, socket, head) => ws.handleUpgrade(req, socket, head));
    server.listen(0, "127.0.0.1", () => console.log("Listening on http://127.0.0.1:" + server.address().port));`,
};

function nodeSource(mode: "hub-node" | "crossws-node"): string {
  return `const PARSE = ${parseTrigger.toString()};\nconst PAYLOAD = ${fanOutPayload.toString()};\n${NODE_SERVERS[mode]}`;
}

/** Starts a server child and follows its `took` lines. */
async function startServer(mode: Mode): Promise<{ url: string; child: Bun.Subprocess<"ignore", "pipe", "inherit">; took: number[] }> {
  const command = mode === "hub-node" || mode === "crossws-node"
    ? ["node", "--input-type=module", "-e", nodeSource(mode)]
    : [process.execPath, import.meta.path, "--serve", mode];
  const child = Bun.spawn(command, { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "inherit" });
  const reader = child.stdout.getReader();
  const decoder = new TextDecoder();
  let output = "";
  const deadline = setTimeout(() => child.kill(), 30_000);
  while (!/Listening on (\S+)\n/.test(output)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server ${mode} exited before listening:\n${output}`);
    output += decoder.decode(value);
  }
  clearTimeout(deadline);
  const took: number[] = [];
  let rest = output.slice(output.indexOf("\n", output.indexOf("Listening on")) + 1);
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      rest += decoder.decode(value);
      const lines = rest.split("\n");
      rest = lines.pop()!;
      for (const line of lines) if (line.startsWith("took ")) took.push(Number(line.slice(5)));
    }
  })();
  return { url: /Listening on (\S+)/.exec(output)![1]!.replace("http", "ws"), child, took };
}

interface Result {
  mode: Mode;
  delivery: number[];
  server: number[];
}

async function measure(mode: Mode, sockets: number, rounds: number, size: number): Promise<Result> {
  const { url, child, took } = await startServer(mode);
  const clients: WebSocket[] = [];
  let expected = "";
  let received = 0;
  let roundDone: (() => void) | undefined;
  const within = <T>(promise: Promise<T>, ms: number, what: string) =>
    Promise.race([promise, Bun.sleep(ms).then(() => Promise.reject(new Error(`${mode}: ${what} timed out`)))]);
  try {
    for (let i = 0; i < sockets; i += 250) {
      await within(Promise.all(Array.from({ length: Math.min(250, sockets - i) }, () =>
        new Promise<void>((resolve, reject) => {
          const client = new WebSocket(url);
          client.onopen = () => resolve();
          client.onerror = () => reject(new Error(`could not connect to ${mode}`));
          client.onmessage = (event) => {
            if (event.data === expected && ++received === sockets) roundDone?.();
          };
          clients.push(client);
        }))), 30_000, "connecting");
    }
    await Bun.sleep(500);
    const delivery: number[] = [];
    const warmUp = 3;
    for (let round = 0; round < rounds + warmUp; round++) {
      const trigger = `fanout ${size} ${round}`;
      expected = fanOutPayload(trigger, size);
      received = 0;
      const done = new Promise<void>((resolve) => (roundDone = resolve));
      const start = performance.now();
      clients[(round * 7919) % clients.length]!.send(trigger);
      await within(done, 30_000, `round ${round} (${received}/${sockets} delivered)`);
      // The first rounds warm up the JIT on both sides.
      if (round >= warmUp) delivery.push(performance.now() - start);
      await Bun.sleep(50);
    }
    await Bun.sleep(100);
    return { mode, delivery, server: took.slice(warmUp) };
  } finally {
    for (const client of clients) client.close();
    child.kill();
    await child.exited;
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.floor((sorted.length - 1) / 2)]!;
};
const p90 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(0.9 * values.length))]!;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    }).on("error", reject);
  });
}

/** Two instances' hubs through a private redis-server: examples/chat/redis-throughput.ts. */
async function redisThroughput(messages: number, size: number): Promise<string> {
  const port = await freePort();
  const redis = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdout: "ignore",
    stderr: "inherit",
  });
  try {
    await Bun.sleep(300);
    const run = Bun.spawn([process.execPath, "examples/chat/redis-throughput.ts", "--redis", `redis://127.0.0.1:${port}`, "--messages", String(messages), "--size", String(size)], {
      cwd: ROOT,
      stdout: "pipe",
      stderr: "inherit",
    });
    const timer = setTimeout(() => run.kill(), 60_000);
    const output = await new Response(run.stdout).text();
    clearTimeout(timer);
    await run.exited;
    return output.trim();
  } finally {
    redis.kill();
    await redis.exited;
  }
}

async function main(): Promise<void> {
  const { option, flag } = commandLine();
  const serve = option("serve");
  if (serve !== undefined) return serveOnBun(serve as Mode);
  const sockets = Number(option("sockets") ?? 10_000);
  const rounds = Number(option("rounds") ?? 10);
  const size = Number(option("size") ?? 64);
  const only = (option("only") ?? MODES.join(",")).split(",") as Mode[];
  const messages = Number(option("messages") ?? 20_000);
  const node = Bun.spawnSync(["node", "--version"]).stdout.toString().trim();
  console.log(`Fan-out of one ${size}-byte text message to ${sockets} sockets, ${rounds} rounds (after 3 warm-up); Bun ${Bun.version}, Node ${node}\n`);
  console.log("| server | to last delivery: median | p90 | server time in the fan-out call: median |");
  console.log("| --- | --- | --- | --- |");
  for (const mode of MODES.filter((mode) => only.includes(mode))) {
    const { delivery, server } = await measure(mode, sockets, rounds, size);
    console.log(`| ${mode} | ${median(delivery).toFixed(1)} ms | ${p90(delivery).toFixed(1)} ms | ${median(server).toFixed(2)} ms |`);
  }
  if (!flag("no-redis")) {
    console.log(`\nThroughput through Redis (examples/chat/redis-throughput.ts):\n${await redisThroughput(messages, size)}`);
  }
}

await main();
