/**
 * The collector's work in Node and Bun servers under one load case: `bun bench/gc.ts
 * [ids] [--case 64K-100] [--warmup MS] [--duration MS] [--app-heap MB]` runs each server
 * (default: bun, uniws-bun, hono-bun) with its collector's log on — V8's `--trace-gc-nvp
 * --trace-incremental-marking` on Node, `BUN_JSC_logGC=1` on Bun — and prints, per kind of
 * collection (Node: Scavenge, Mark-Compact; Bun: Eden, Full), how many ran, their mean
 * time and the heap before and after (on Node, what each scavenge kept young and promoted:
 * a message handed over through a promise that has grown old outlives scavenges; the
 * `*-await` references show it without uniws), then the pause time per message and the full
 * collections per 1,000 messages; on Node also why V8 started each incremental marking
 * (bench/analysis.md: past an 8 MB old generation, "allocation limit" counts ArrayBuffer
 * bytes since the last mark-compact). Bun's CPU profile cannot show this: it charges a
 * collection to the JavaScript frame on top ("Bun: what its CPU profile does not show").
 * Counts cover the server's whole life (warm-up included); per-message figures divide by
 * the messages of that whole time. Run it under the bench lock, as every measurement.
 *
 * @module
 */
import { CASES } from "./cases.ts";
import { commandLine } from "./args.ts";
import { runClient, startServer } from "./process.ts";
import { SERVERS } from "./servers.ts";
import type { LoadResult } from "./client.ts";

const { option, rest } = commandLine();
const caseId = option("case") ?? "64K-100";
const warmupMs = Number(option("warmup") ?? 1500);
const durationMs = Number(option("duration") ?? 2000);
const appHeapMiB = option("app-heap");
const ids = rest().length > 0 ? rest() : ["bun", "uniws-bun", "hono-bun"];
const testCase = CASES.find((c) => c.id === caseId);
if (testCase === undefined) throw new Error(`no case ${caseId}; cases: ${CASES.map((c) => c.id).join(", ")}`);

interface Kind {
  count: number;
  ms: number;
  beforeKb: number;
  afterKb: number;
  /** V8's scavenges: what stayed in the young generation, and what went to the old. */
  survivedKb?: number;
  promotedKb?: number;
}

/** Sums a `BUN_JSC_logGC=1` log: each collection's kind, cycle time and heap sizes, and every pause. */
function readLog(log: string): { kinds: Map<string, Kind>; pauseMs: number; collections: number } {
  const starts = [...log.matchAll(/START M (\d+)kb => (\w+)Collection/g)];
  const ends = [...log.matchAll(/=> (\d+)kb, p=[\d.]+ms \(max [\d.]+\), cycle ([\d.]+)ms END/g)];
  const kinds = new Map<string, Kind>();
  for (let i = 0; i < Math.min(starts.length, ends.length); i++) {
    const name = starts[i]![2]!;
    const kind = kinds.get(name) ?? { count: 0, ms: 0, beforeKb: 0, afterKb: 0 };
    kind.count++;
    kind.ms += Number(ends[i]![2]);
    kind.beforeKb += Number(starts[i]![1]);
    kind.afterKb += Number(ends[i]![1]);
    kinds.set(name, kind);
  }
  const pauseMs = [...log.matchAll(/ p=([\d.]+)ms \(max/g)].reduce((sum, match) => sum + Number(match[1]), 0);
  return { kinds, pauseMs, collections: starts.length };
}

/**
 * Sums a `node --trace-gc-nvp --trace-incremental-marking` log: each collection's kind, time and heap sizes, what
 * each scavenge kept (survived in the young generation, promoted to the old), and why marking started.
 */
function readNodeLog(log: string): { kinds: Map<string, Kind>; pauseMs: number; collections: number; starts: Map<string, number> } {
  const kinds = new Map<string, Kind>();
  const names: Record<string, string> = { s: "Scavenge", mc: "Mark-Compact" };
  let pauseMs = 0;
  let collections = 0;
  for (const line of log.split("\n")) {
    const kindOf = / gc=(\w+) /.exec(line)?.[1];
    if (kindOf === undefined) continue;
    const field = (name: string) => Number(new RegExp(` ${name}=([\\d.]+)`).exec(line)?.[1] ?? 0);
    const name = names[kindOf] ?? kindOf;
    const kind = kinds.get(name) ?? { count: 0, ms: 0, beforeKb: 0, afterKb: 0, survivedKb: 0, promotedKb: 0 };
    kind.count++;
    kind.ms += field("pause");
    kind.beforeKb += field("total_size_before") / 1024;
    kind.afterKb += field("total_size_after") / 1024;
    kind.survivedKb! += field("new_space_survived") / 1024;
    kind.promotedKb! += field("promoted") / 1024;
    kinds.set(name, kind);
    pauseMs += field("pause");
    collections++;
  }
  const starts = new Map<string, number>();
  for (const match of log.matchAll(/\[IncrementalMarking\] Start \(([^)]+)\)/g)) starts.set(match[1]!, (starts.get(match[1]!) ?? 0) + 1);
  return { kinds, pauseMs, collections, starts };
}

const LOG_FLAGS: Record<string, string[]> = { node: ["--trace-gc-nvp", "--trace-incremental-marking"], bun: [] };

for (const id of ids) {
  const spec = SERVERS.find((s) => s.id === id);
  if (spec === undefined || LOG_FLAGS[spec.runtime] === undefined) {
    throw new Error(`${id} is not a Node or Bun server; they are: ${SERVERS.filter((s) => LOG_FLAGS[s.runtime] !== undefined).map((s) => s.id).join(", ")}`);
  }
  const node = spec.runtime === "node";
  const server = await startServer(spec, LOG_FLAGS[spec.runtime], {
    ...(node ? {} : { BUN_JSC_logGC: "1" }),
    ...(appHeapMiB === undefined ? {} : { BENCH_APP_HEAP_MB: appHeapMiB }),
  });
  const job = { mode: "load", url: server.url, serverPid: server.pid, connections: testCase.connections, size: testCase.size, text: testCase.text, inflight: testCase.inflight, warmupMs, durationMs };
  let result: LoadResult;
  try {
    result = await runClient<LoadResult>(job, warmupMs + durationMs + 30_000);
  } finally {
    await server.stop();
  }
  // V8 writes its trace to stdout, JavaScriptCore to stderr.
  const { stdout, stderr } = server.output();
  const messages = (result.messages / result.seconds) * ((warmupMs + durationMs) / 1000);
  const { kinds, pauseMs, collections, starts } = node ? readNodeLog(stdout) : { ...readLog(stderr), starts: new Map<string, number>() };
  console.log(`${spec.label}, ${testCase.label}${appHeapMiB === undefined ? "" : `, ${appHeapMiB} MiB app heap`}: ${Math.round(result.messages / result.seconds)} msg/s, ${((result.serverCpuSeconds * 1e6) / result.messages).toFixed(2)} µs CPU per message in the window`);
  for (const [name, kind] of kinds) {
    const kept = name === "Scavenge" && kind.survivedKb !== undefined
      ? `, kept ${Math.round(kind.survivedKb / kind.count)} KB young and promoted ${Math.round(kind.promotedKb! / kind.count)} KB each`
      : "";
    console.log(`  ${name.padEnd(12)} ${String(kind.count).padStart(5)} collections, ${(kind.ms / kind.count).toFixed(2)} ms each, heap ${Math.round(kind.beforeKb / kind.count)} → ${Math.round(kind.afterKb / kind.count)} KB${kept}`);
  }
  const full = kinds.get(node ? "Mark-Compact" : "Full")?.count ?? 0;
  if (starts.size > 0) console.log(`  incremental marking started by: ${[...starts].map(([reason, count]) => `${reason} ${count}`).join(", ")}`);
  console.log(`  pauses ${((pauseMs * 1000) / messages).toFixed(2)} µs per message; ${((collections * 1000) / messages).toFixed(2)} collections and ${((full * 1000) / messages).toFixed(2)} full ones per 1,000 messages`);
}
process.exit(0);
