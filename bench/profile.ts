/**
 * Where a Node, Bun or Deno server's time goes: `bun bench/profile.ts [ids] [--case 64B-100]
 * [--duration MS] [--warmup MS]` runs each server (default: ws and @uniws/node) under `--cpu-prof` (Deno,
 * which has no such flag: V8's profiler through `--inspect`) with one load case (or
 * `--case handshake`: 32 clients opening and closing sockets), then prints its CPU time by layer (ws, uniws
 * core, the Node adapter, Node's streams and sockets, GC) and the functions with the
 * most self time, and each server thread's CPU in the client's window (on Linux: the JIT
 * compiler threads, which the sampling profile does not see). Profiles stay in bench/profiles/ (git-ignored) for Chrome DevTools.
 *
 * @module
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { HandshakeResult, LoadResult } from "./client.ts";
import { commandLine } from "./args.ts";
import { runClient, startServer } from "./process.ts";
import { CASES, HANDSHAKE_PARALLEL } from "./cases.ts";
import { ROOT, SERVERS, type ServerSpec } from "./servers.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
}

const { option, rest } = commandLine();
const caseId = option("case") ?? "64B-100";
const durationMs = Number(option("duration") ?? 5000);
const warmupMs = Number(option("warmup") ?? 500);
const ids = rest().length > 0 ? rest() : ["ws", "uniws-node"];
const handshakes = caseId === "handshake";
const testCase = handshakes ? { id: "handshake", label: "handshakes", connections: 0, size: 0, text: false, inflight: 0 } : CASES.find((c) => c.id === caseId);
if (testCase === undefined) throw new Error(`no case ${caseId}; cases: ${CASES.map((c) => c.id).join(", ")}, handshake`);
const dir = join(ROOT, "bench/profiles");
mkdirSync(dir, { recursive: true });

/** The layer a frame belongs to, from its script's URL. */
export function layer(node: ProfileNode): string {
  const { url, functionName } = node.callFrame;
  if (url === "") return functionName.startsWith("(") ? functionName : "(native)";
  if (url.includes("/packages/core/")) return "uniws core";
  if (url.includes("/packages/adapter-node/")) return "uniws node adapter";
  if (url.includes("/packages/adapter-hono/")) return "uniws hono adapter";
  if (url.includes("/packages/adapter-bun/")) return "uniws bun adapter";
  if (url.includes("/packages/adapter-deno/")) return "uniws deno adapter";
  if (url.includes("/node_modules/ws/")) return "ws";
  for (const name of ["crossws", "hono", "@hono"]) if (url.includes(`/node_modules/${name}/`)) return name;
  if (url.includes("/bench/servers/")) return "bench server";
  if (url.startsWith("ext:")) return "deno runtime";
  if (url.startsWith("node:internal/streams") || url.startsWith("node:stream")) return "node streams";
  if (url.startsWith("node:net") || url.startsWith("node:internal/stream_base") || url.startsWith("node:internal/net")) return "node net";
  if (url.startsWith("node:")) return "node (other)";
  return url;
}

function summarize(profile: Profile, messages: number): void {
  const interval = (profile.endTime - profile.startTime) / profile.samples.length;
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const total = profile.nodes.reduce((sum, n) => sum + (n.callFrame.functionName === "(idle)" ? 0 : n.hitCount), 0);
  const byLayer = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    if (node.callFrame.functionName === "(idle)" || node.hitCount === 0) continue;
    const key = layer(node);
    byLayer.set(key, (byLayer.get(key) ?? 0) + node.hitCount);
    const where = node.callFrame.url === "" ? "" : ` ${node.callFrame.url.replace(/^.*\/(packages|node_modules)\//, "$1/")}:${node.callFrame.lineNumber + 1}`;
    const name = `${node.callFrame.functionName || "(anonymous)"}${where}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + node.hitCount);
  }
  // Inclusive time of the uniws frames: each sample counted once per distinct uniws frame on its stack.
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const inclusive = new Map<string, number>();
  for (const node of profile.nodes) {
    if (node.hitCount === 0 || node.callFrame.functionName === "(idle)") continue;
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byNode.get(id)!;
      if (!layer(frame).startsWith("uniws")) continue;
      const name = `${frame.callFrame.functionName || "(anonymous)"} ${frame.callFrame.url.replace(/^.*\/packages\//, "")}:${frame.callFrame.lineNumber + 1}`;
      if (!seen.has(name)) inclusive.set(name, (inclusive.get(name) ?? 0) + node.hitCount);
      seen.add(name);
    }
  }
  const us = (hits: number) => ((hits * interval) / messages).toFixed(2);
  console.log(`  busy samples ${total} (${((total * interval) / 1e6).toFixed(2)} s), ${messages} messages; µs per message by layer:`);
  for (const [name, hits] of [...byLayer].sort((a, b) => b[1] - a[1])) console.log(`    ${name.padEnd(22)} ${us(hits).padStart(7)}  ${((hits / total) * 100).toFixed(1).padStart(5)}%`);
  console.log("  top self time:");
  for (const [name, hits] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 22)) console.log(`    ${us(hits).padStart(7)} µs  ${((hits / total) * 100).toFixed(1).padStart(5)}%  ${name}`);
  if (inclusive.size > 0) {
    console.log("  uniws frames, inclusive:");
    for (const [name, hits] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`    ${us(hits).padStart(7)} µs  ${((hits / total) * 100).toFixed(1).padStart(5)}%  ${name}`);
  }
}

/**
 * CPU ticks (1/100 s) of each of a process's threads by name, digits dropped ("JITWorker", "HeapHelper"), the
 * process's first thread as "main"; empty where /proc is not there. The sampling profile sees only the thread
 * that runs JavaScript: JavaScriptCore compiles hot functions (DFG, FTL) on its JIT worker threads and V8 on its
 * own, which the server's CPU in the window includes, most of it in the first seconds of a server's life.
 */
function threadTicks(pid: number): Map<string, number> {
  const ticks = new Map<string, number>();
  const dir = `/proc/${pid}/task`;
  if (!existsSync(dir)) return ticks;
  for (const tid of readdirSync(dir)) {
    let stat: string;
    try {
      stat = readFileSync(`${dir}/${tid}/stat`, "utf8");
    } catch {
      continue; // the thread ended
    }
    const close = stat.lastIndexOf(")");
    const name = Number(tid) === pid ? "main" : stat.slice(stat.indexOf("(") + 1, close).replace(/[\d:#]+/g, "").trim() || "(unnamed)";
    const fields = stat.slice(close + 2).split(" ");
    // utime and stime are the 14th and 15th fields of /proc/[pid]/stat, 12th and 13th after the name.
    ticks.set(name, (ticks.get(name) ?? 0) + Number(fields[11]) + Number(fields[12]));
  }
  return ticks;
}

/** Prints each thread's CPU per message (or handshake) between two readings, busiest first. */
function printThreads(before: Map<string, number>, after: Map<string, number>, units: number): void {
  const rows = [...after].map(([name, ticks]) => [name, ticks - (before.get(name) ?? 0)] as const).filter(([, ticks]) => ticks > 0);
  if (rows.length === 0) return;
  const us = (ticks: number) => ((ticks * 10_000) / units).toFixed(2);
  console.log(`  server threads in the window, µs CPU per unit: ${rows.sort((a, b) => b[1] - a[1]).map(([name, ticks]) => `${name} ${us(ticks)}`).join(", ")}`);
}

const INSPECTOR_PORT = 9339;

/** Starts V8's sampling profiler in a Deno server through its inspector; `stop` writes the profile to `dir/file`. */
async function startInspectorProfile(file: string): Promise<{ stop(): Promise<void> }> {
  const [target] = (await (await fetch(`http://127.0.0.1:${INSPECTOR_PORT}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
  const socket = new WebSocket(target!.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let next = 0;
  const pending = new Map<number, (result: unknown) => void>();
  socket.onmessage = (event) => {
    const reply = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (reply.id !== undefined) pending.get(reply.id)?.(reply.result);
  };
  const call = (method: string, params: object = {}) =>
    new Promise<any>((resolve) => {
      const id = ++next;
      pending.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: 1000 });
  await call("Profiler.start");
  return {
    async stop() {
      const { profile } = await call("Profiler.stop");
      await Bun.write(join(dir, file), JSON.stringify(profile));
      socket.close();
    },
  };
}

for (const id of ids) {
  // A registered Node server, or any bench/servers/<name>.mjs (an experiment).
  const spec = SERVERS.find((s) => s.id === id) ?? ({ id, label: id, runtime: "node", kind: "reference", baseline: "ws", file: `${id}.mjs` } satisfies ServerSpec);
  const started = Date.now();
  const name = id.replace(/^.*\//, "");
  // Bun writes the same .cpuprofile format with the same flags; Deno has no --cpu-prof: its V8 inspector's
  // Profiler records the same profile (started after the server is up, so the count below covers the window only).
  const deno = spec.runtime === "deno";
  const server = await startServer(spec, deno ? [`--inspect=127.0.0.1:${INSPECTOR_PORT}`] : ["--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}-${caseId}-${started}.cpuprofile`]);
  const inspector = deno ? await startInspectorProfile(`${name}-${caseId}-${started}.cpuprofile`) : undefined;
  const job = handshakes
    ? { mode: "handshake", url: server.url, serverPid: server.pid, parallel: HANDSHAKE_PARALLEL, warmupMs, durationMs }
    : { mode: "load", url: server.url, serverPid: server.pid, connections: testCase.connections, size: testCase.size, text: testCase.text, inflight: testCase.inflight, warmupMs, durationMs };
  // The threads' CPU over the client's window (its warm-up is over about when the timer fires: the client starts first).
  let windowStart = new Map<string, number>();
  const reading = setTimeout(() => (windowStart = threadTicks(server.pid)), warmupMs + 100);
  const run = await runClient<LoadResult | HandshakeResult>(job, warmupMs + durationMs + 30_000);
  clearTimeout(reading);
  const windowEnd = threadTicks(server.pid);
  // A handshake counts as one "message" in the per-unit figures.
  const result = "handshakes" in run ? { ...run, messages: run.handshakes } : run;
  await inspector?.stop();
  await server.stop();
  const file = readdirSync(dir).filter((f) => f.startsWith(`${name}-${caseId}-${started}`)).map((f) => join(dir, f)).sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  console.log(`${spec.label}, ${testCase.label}: ${Math.round(result.messages / result.seconds)} ${handshakes ? "handshakes" : "msg"}/s, ${((result.serverCpuSeconds * 1e6) / result.messages).toFixed(2)} µs CPU per ${handshakes ? "handshake" : "message"} in the window`);
  printThreads(windowStart, windowEnd, result.messages);
  if (file === undefined) {
    console.log("  no profile written");
    continue;
  }
  // The whole process's profile, warm-up and handshakes included: count messages over all of it (Deno's
  // inspector profile starts at the client's start, with the same warm-up).
  const messagesInProfile = Math.round((result.messages / result.seconds) * ((durationMs + warmupMs) / 1000));
  summarize(JSON.parse(readFileSync(file, "utf8")) as Profile, messagesInProfile);
}
process.exit(0);
