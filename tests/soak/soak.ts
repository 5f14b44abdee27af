/**
 * The soak run (not part of `npm test`): for each runtime, uniws's adapter and the runtime's own raw
 * WebSocket server, each in its own process, take
 *   1. 10,000 concurrent connections that open, echo, sit idle (memory per idle connection measured
 *      against the server's empty baseline after a GC), echo again, and close cleanly;
 *   2. 20,000 connect/disconnect cycles, two in three closed cleanly and the rest dropped;
 *   3. 35 s of quiet (one keep-alive interval), after which the heap must be back near its baseline;
 * and must end with zero live sockets, zero timer tasks, no extra TCP handle and (Node) no extra listener.
 *
 *   npx tsc -b packages/core packages/adapter-node     # the Node server runs the built dist
 *   bun tests/soak/soak.ts [--connections 10000] [--cycles 20000] [--runtimes node,deno,bun]
 *
 * Prints one JSON line per target and a Markdown table for docs/reliability.md.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Opcode, RawClient } from "../support/raw-client.ts";

type Runtime = "node" | "deno" | "bun";
type Kind = "uniws" | "raw";

interface Stats {
  connections: number;
  scheduledTasks: number | null;
  rss: number;
  heapUsed: number;
  tcpHandles: number | null;
  listeners: number | null;
}

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const index = args.indexOf(`--${name}`);
  return index === -1 ? fallback : args[index + 1]!;
};
const CONNECTIONS = Number(flag("connections", "10000"));
const CYCLES = Number(flag("cycles", "20000"));
const RUNTIMES = flag("runtimes", "node,deno,bun").split(",") as Runtime[];
// The soak servers' keepAliveInterval (servers/settings.mjs) and a margin.
const QUIET_MS = Number(flag("quiet-ms", "35000"));

const root = fileURLToPath(new URL("../..", import.meta.url));
const bin = (name: string) => `${root}node_modules/.bin/${name}`;
const commands: Record<Runtime, string[]> = {
  node: ["node", "--expose-gc", "tests/soak/servers/node.mjs"],
  deno: [bin("deno"), "run", "-A", "--v8-flags=--expose-gc", "tests/soak/servers/deno.ts"],
  bun: [bin("bun"), "tests/soak/servers/bun.ts"],
};

async function startServer(runtime: Runtime, kind: Kind): Promise<{ port: number; child: ChildProcess }> {
  const [command, ...rest] = commands[runtime];
  const child = spawn(command!, [...rest, kind], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    let output = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = /READY (\d+)/.exec(output);
      if (match) resolve(Number(match[1]));
    });
    child.once("exit", (code) => reject(new Error(`${runtime} ${kind} server exited with ${code}`)));
    setTimeout(() => reject(new Error(`${runtime} ${kind} server did not start`)), 30_000);
  });
  return { port, child };
}

async function stats(port: number): Promise<Stats> {
  const response = await fetch(`http://127.0.0.1:${port}/stats`, { headers: { connection: "close" } });
  return await response.json() as Stats;
}

async function inWaves(count: number, width: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await task(next++);
  }));
}

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function closeCleanly(client: RawClient): Promise<void> {
  client.sendClose(1000, "bye");
  const message = await client.readMessage(30_000);
  if (message.opcode !== Opcode.close) throw new Error(`expected Close, got opcode ${message.opcode}`);
  await client.waitForEnd(30_000);
  client.destroy();
}

const settled = (after: Stats, before: Stats) =>
  after.connections === 0 && (after.scheduledTasks ?? 0) === 0 && (after.tcpHandles === null || after.tcpHandles <= before.tcpHandles!) &&
  (after.listeners === null || after.listeners <= before.listeners!);

async function soak(runtime: Runtime, kind: Kind) {
  const { port, child } = await startServer(runtime, kind);
  try {
    const empty = await stats(port);
    // 1. Concurrent connections.
    let started = Date.now();
    const clients: RawClient[] = [];
    await inWaves(CONNECTIONS, 100, async (i) => {
      const { client } = await RawClient.open(port, "/ws");
      client.sendText(`hello ${i}`);
      if ((await client.readText(30_000)) !== `hello ${i}`) throw new Error("bad echo");
      clients.push(client);
    });
    const openMs = Date.now() - started;
    const idle = await stats(port);
    started = Date.now();
    for (const [i, client] of clients.entries()) client.sendText(`again ${i}`);
    const echoes = await Promise.all(clients.map((client) => client.readText(60_000)));
    if (!echoes.every((text, i) => text === `again ${i}`)) throw new Error("bad echo round");
    const echoMs = Date.now() - started;
    started = Date.now();
    await inWaves(clients.length, 200, (i) => closeCleanly(clients[i]!));
    const closeMs = Date.now() - started;
    const afterConcurrent = await eventually(() => stats(port), (value) => settled(value, empty));
    // 2. Connect/disconnect cycles, in two halves: growth in the second half would be a leak, not warm-up.
    const cycle = async (i: number) => {
      const { client } = await RawClient.open(port, "/ws");
      client.sendText(`cycle ${i}`);
      if ((await client.readText(30_000)) !== `cycle ${i}`) throw new Error("bad cycle echo");
      if (i % 3 === 2) client.destroy();
      else await closeCleanly(client);
    };
    started = Date.now();
    await inWaves(CYCLES / 2, 100, cycle);
    const halfway = await eventually(() => stats(port), (value) => settled(value, empty));
    await inWaves(CYCLES / 2, 100, cycle);
    const cyclesMs = Date.now() - started;
    const afterCycles = await eventually(() => stats(port), (value) => settled(value, empty));
    // 3. Quiet for one keep-alive interval: what an engine's own timers still held must be gone too.
    await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
    const quiet = await stats(port);
    return {
      runtime,
      kind,
      connections: CONNECTIONS,
      peakConnections: idle.connections,
      rssPerConnectionKB: +((idle.rss - empty.rss) / CONNECTIONS / 1024).toFixed(1),
      heapPerConnectionKB: +((idle.heapUsed - empty.heapUsed) / CONNECTIONS / 1024).toFixed(2),
      baseRssMB: +(empty.rss / 2 ** 20).toFixed(1),
      openMs,
      echoMs,
      closeMs,
      cycles: CYCLES,
      cyclesMs,
      cyclesPerSecond: Math.round(CYCLES / (cyclesMs / 1000)),
      leftAfterConcurrent: { connections: afterConcurrent.connections, scheduledTasks: afterConcurrent.scheduledTasks, tcpHandles: afterConcurrent.tcpHandles },
      leftAfterCycles: { connections: afterCycles.connections, scheduledTasks: afterCycles.scheduledTasks, tcpHandles: afterCycles.tcpHandles, listeners: afterCycles.listeners },
      baselineTcpHandles: empty.tcpHandles,
      baselineListeners: empty.listeners,
      peakListeners: idle.listeners,
      clean: settled(afterConcurrent, empty) && settled(afterCycles, empty),
      rssGrowthAfterCyclesMB: +((afterCycles.rss - empty.rss) / 2 ** 20).toFixed(1),
      rssGrowthSecondHalfMB: +((afterCycles.rss - halfway.rss) / 2 ** 20).toFixed(1),
      heapGrowthAfterCyclesKB: Math.round((afterCycles.heapUsed - empty.heapUsed) / 1024),
      heapGrowthSecondHalfKB: Math.round((afterCycles.heapUsed - halfway.heapUsed) / 1024),
      heapGrowthAfterQuietKB: Math.round((quiet.heapUsed - empty.heapUsed) / 1024),
    };
  } finally {
    child.kill("SIGTERM");
  }
}

const results = [];
for (const runtime of RUNTIMES) {
  for (const kind of ["raw", "uniws"] as const) {
    const result = await soak(runtime, kind);
    console.log(JSON.stringify(result));
    results.push(result);
  }
}
console.log(`\n${new Date().toISOString()} — ${CONNECTIONS} concurrent connections, ${CYCLES} cycles\n`);
console.log(
  "| runtime | server | RSS / idle conn | heap / idle conn | open ms | echo ms | close ms | cycles/s | left after (conns, tasks, TCP handles) | RSS growth: all cycles, 2nd half | heap growth: all cycles, 2nd half, after 35 s quiet |",
);
console.log("|---|---|---|---|---|---|---|---|---|---|---|");
for (const r of results) {
  const left = `${r.leftAfterCycles.connections}, ${r.leftAfterCycles.scheduledTasks ?? "n/a"}, ${r.leftAfterCycles.tcpHandles === null ? "n/a" : `${r.leftAfterCycles.tcpHandles} (base ${r.baselineTcpHandles})`}`;
  console.log(
    `| ${r.runtime} | ${r.kind} | ${r.rssPerConnectionKB} KB | ${r.heapPerConnectionKB} KB | ${r.openMs} | ${r.echoMs} | ${r.closeMs} | ${r.cyclesPerSecond} | ${left} | ${r.rssGrowthAfterCyclesMB} MB, ${r.rssGrowthSecondHalfMB} MB | ${r.heapGrowthAfterCyclesKB} KB, ${r.heapGrowthSecondHalfKB} KB, ${r.heapGrowthAfterQuietKB} KB |`,
  );
}
process.exit(results.every((r) => r.clean) ? 0 : 1);
