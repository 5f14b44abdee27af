/**
 * Fan-out on Bun, three ways, in one run: the uniws hub (core fan-out over @uniws/bun),
 * a plain loop of `ws.send` on a raw `Bun.serve`, and Bun's native `server.publish`.
 * Each server runs as a child process; this process holds the client sockets (Bun's
 * native WebSocket client) and measures the time from a trigger to the last delivery.
 *
 *   bun examples/chat/fanout-bench.ts [--sockets 2000] [--rounds 30] [--size 64]
 *
 * Ratios between the modes are what matter: machines here are shared and noisy.
 *
 * @module
 */
import { BunWebSocketServer } from "@uniws/bun";
import { WebSocketHub } from "@uniws/core";
import { fanOutHandler, fanOutPayload, parseTrigger } from "./fanout.ts";

type Mode = "hub" | "loop" | "publish";
const MODES: Mode[] = ["hub", "loop", "publish"];

function flag(name: string, fallback: number): number {
  const index = process.argv.indexOf(name);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

/** Runs one fan-out and prints how long the server spent in it (the queueing to every socket). */
function report(fanOut: () => void): void {
  const start = performance.now();
  fanOut();
  console.log(`took ${(performance.now() - start).toFixed(3)}`);
}

function serve(mode: Mode): void {
  let port: number;
  if (mode === "hub") {
    const hub = new WebSocketHub({ maxBufferedAmount: 16 * 1024 * 1024 });
    const broadcast = hub.broadcast.bind(hub);
    hub.broadcast = (message, options) => report(() => broadcast(message, options));
    const sockets = new BunWebSocketServer(fanOutHandler(hub), { keepAliveInterval: 0 });
    port = Bun.serve({ hostname: "127.0.0.1", port: 0, ...sockets.serveOptions() }).port!;
  } else {
    const open = new Set<Bun.ServerWebSocket<undefined>>();
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (request, server) => (server.upgrade(request) ? undefined : new Response("Expected a WebSocket request\n", { status: 400 })),
      websocket: {
        idleTimeout: 0,
        open(ws) {
          open.add(ws);
          if (mode === "publish") ws.subscribe("all");
        },
        message(ws, message) {
          const size = typeof message === "string" ? parseTrigger(message) : undefined;
          if (size === undefined) return;
          const payload = fanOutPayload(message as string, size);
          if (mode === "publish") report(() => server.publish("all", payload));
          else report(() => { for (const member of open) member.send(payload); });
        },
        close(ws) {
          open.delete(ws);
        },
      },
    });
    port = server.port!;
  }
  console.log(`Listening on http://127.0.0.1:${port}`);
}

async function startServer(mode: Mode): Promise<{ url: string; child: Bun.Subprocess; took: number[] }> {
  const child = Bun.spawn([process.execPath, import.meta.path, "--serve", mode], { stdout: "pipe", stderr: "inherit" });
  const reader = child.stdout.getReader();
  let output = "";
  const deadline = Date.now() + 30_000;
  while (!/Listening on (\S+)/.test(output)) {
    if (Date.now() > deadline) throw new Error(`server ${mode} did not start:\n${output}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`server ${mode} exited:\n${output}`);
    output += new TextDecoder().decode(value);
  }
  // Then the server's own time in each fan-out, one line per round.
  const took: number[] = [];
  let rest = "";
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      rest += new TextDecoder().decode(value);
      const lines = rest.split("\n");
      rest = lines.pop()!;
      for (const line of lines) if (line.startsWith("took ")) took.push(Number(line.slice(5)));
    }
  })();
  return { url: /Listening on (\S+)/.exec(output)![1]!.replace("http", "ws"), child, took };
}

async function measure(mode: Mode, sockets: number, rounds: number, size: number): Promise<{ delivery: number[]; server: number[] }> {
  const { url, child, took } = await startServer(mode);
  const clients: WebSocket[] = [];
  let expected = "";
  let received = 0;
  let roundDone: (() => void) | undefined;
  try {
    for (let i = 0; i < sockets; i += 250) {
      await Promise.all(Array.from({ length: Math.min(250, sockets - i) }, () =>
        new Promise<void>((resolve, reject) => {
          const client = new WebSocket(url);
          client.onopen = () => resolve();
          client.onerror = () => reject(new Error(`could not connect to ${mode}`));
          client.onmessage = (event) => {
            if (event.data !== expected) return;
            if (++received === sockets) roundDone?.();
          };
          clients.push(client);
        })));
    }
    await Bun.sleep(300);
    const times: number[] = [];
    for (let round = 0; round < rounds + 3; round++) {
      const trigger = `fanout ${size} ${round}`;
      expected = fanOutPayload(trigger, size);
      received = 0;
      const done = new Promise<void>((resolve) => (roundDone = resolve));
      const start = performance.now();
      clients[round % clients.length]!.send(trigger);
      await Promise.race([done, Bun.sleep(30_000).then(() => Promise.reject(new Error(`round ${round} of ${mode} timed out at ${received}`)))]);
      // The first rounds warm up the JIT on both sides.
      if (round >= 3) times.push(performance.now() - start);
      await Bun.sleep(20);
    }
    await Bun.sleep(100);
    return { delivery: times, server: took.slice(3) };
  } finally {
    for (const client of clients) client.close();
    child.kill();
    await child.exited;
  }
}

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]!;

async function main(): Promise<void> {
  const serveIndex = process.argv.indexOf("--serve");
  if (serveIndex !== -1) return serve(process.argv[serveIndex + 1] as Mode);
  const sockets = flag("--sockets", 2000);
  const rounds = flag("--rounds", 30);
  const size = flag("--size", 64);
  console.log(`Fan-out of one ${size}-byte text message to ${sockets} sockets on Bun ${Bun.version}, ${rounds} rounds`);
  const server = new Map<Mode, number>();
  for (const mode of MODES) {
    const { delivery, server: took } = await measure(mode, sockets, rounds, size);
    server.set(mode, quantile(took, 0.5));
    console.log(
      `${mode.padEnd(8)} to last delivery: median ${quantile(delivery, 0.5).toFixed(2)} ms, p90 ${quantile(delivery, 0.9).toFixed(2)} ms;` +
        ` server time in the fan-out: median ${quantile(took, 0.5).toFixed(3)} ms`,
    );
  }
  const ratio = (a: Mode, b: Mode) => (server.get(a)! / server.get(b)!).toFixed(2);
  console.log(`server time ratios: hub/loop ${ratio("hub", "loop")}, hub/publish ${ratio("hub", "publish")}, loop/publish ${ratio("loop", "publish")}`);
}

await main();
