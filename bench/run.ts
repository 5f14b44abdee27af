/**
 * `npm run bench`: runs every server in bench/servers/ against the load client, in
 * alternating rounds, prints a table, and writes docs/benchmarks.md, its chart and
 * bench/results.json.
 *
 * Flags: --quick (one short round, small memory test), --rounds N, --duration MS,
 * --warmup MS (load before each measured window; 500 by default, and JavaScriptCore's
 * optimizing JIT is still compiling the uniws servers' code through the first seconds
 * on Bun: bench/README.md), --only id,id (servers), --cases id,id (load cases), --no-memory, --no-deflate,
 * --no-handshakes, --no-scale, --no-write, --with file.mjs (an
 * extra Node server, path relative to bench/servers/, compared with raw ws: for
 * trying a change before making it), --report (only rewrite docs/benchmarks.md and
 * the chart from bench/results.json, e.g. after editing bench/analysis.md).
 *
 * @module
 */
import { readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import type { HandshakeResult, IdleResult, LoadResult, ScaleResult } from "./client.ts";
import { commandLine } from "./args.ts";
import { machineInfo } from "./machine.ts";
import { missingReason, openFilesLimit, type RunningServer, runClient, startServer } from "./process.ts";
import { printTable, writeReport } from "./report.ts";
import { APP_HEAP_CASES, CASES, DEFLATE_CASE, HANDSHAKE_PARALLEL, SCALE } from "./cases.ts";
import { type Case, type DeflateSample, type HandshakeSample, type MemorySample, type Results, type Sample, type ScaleSample } from "./results.ts";
import { DEFLATE_SERVERS, measuresCase, ROOT, SERVERS, type ServerSpec } from "./servers.ts";

const { flag, option: value } = commandLine();
const quick = flag("quick");
const rounds = Number(value("rounds") ?? (quick ? 1 : 5));
const durationMs = Number(value("duration") ?? (quick ? 1000 : 1500));
const warmupMs = Number(value("warmup") ?? (quick ? 300 : 500));
const only = value("only")?.split(",");
const onlyCases = value("cases")?.split(",");
const idleSteps = quick ? [200, 1000] : [1000, 10_000];

function log(line: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
}

/** Round r visits the servers in a rotated order, reversed every other round, so no server always follows the same one. */
function order<T>(items: T[], round: number): T[] {
  const shift = round % items.length;
  const rotated = [...items.slice(shift), ...items.slice(0, shift)];
  return round % 2 === 1 ? rotated.reverse() : rotated;
}

async function load(server: RunningServer, testCase: Case, warmup: number, deflate = false, pattern?: "json"): Promise<LoadResult> {
  const job = {
    mode: "load",
    url: server.url,
    serverPid: server.pid,
    connections: testCase.connections,
    size: testCase.size,
    text: testCase.text,
    inflight: testCase.inflight,
    warmupMs: warmup,
    durationMs,
    deflate,
    pattern,
  };
  return runClient<LoadResult>(job, warmup + durationMs + 30_000);
}

function sample(server: string, testCase: Case, round: number, result: LoadResult): Sample {
  return {
    server,
    case: testCase.id,
    round,
    messagesPerSecond: result.messages / result.seconds,
    cpuMicrosPerMessage: (result.serverCpuSeconds * 1e6) / result.messages,
    serverBusy: result.serverCpuSeconds / result.seconds,
    clientBusy: result.clientCpuSeconds / result.seconds,
    wrongEchoes: result.wrongEchoes,
    lost: result.lost,
    extensions: result.extensions,
  };
}

const unavailable: Record<string, string> = {};

function selected(specs: ServerSpec[]): ServerSpec[] {
  return specs.filter((spec) => {
    if (only !== undefined && !only.includes(spec.id)) return false;
    const reason = missingReason(spec);
    if (reason !== undefined) {
      unavailable[spec.id] = reason;
      log(`${spec.label}: not measured (${reason})`);
      return false;
    }
    return true;
  });
}

/** Starts a server, or records why it would not start. */
async function start(spec: ServerSpec, env?: Record<string, string>): Promise<RunningServer | undefined> {
  try {
    return await startServer(spec, [], env);
  } catch (error) {
    unavailable[spec.id] = `did not start: ${(error as Error).message}`;
    log(`${spec.label}: ${unavailable[spec.id]}`);
    return undefined;
  }
}

/**
 * A server's first round of a case warms up this long, in ms (every server alike): each case starts its servers
 * fresh, and JavaScriptCore's optimizing JIT compiles uniws's code on its own threads through the first seconds
 * (bench/analysis.md), which raw servers, running almost no JavaScript, never pay.
 */
const FIRST_ROUND_WARMUP_MS = 3000;

/**
 * Starts `specs` fresh (with `env`), runs `measure` on each in every round, and stops them. Each round visits the
 * servers in the order {@link order} gives, so the samples a ratio pairs were taken seconds apart, under the same load
 * from the rest of the machine, by processes with the same history; each server's first round warms up
 * {@link FIRST_ROUND_WARMUP_MS}. A measurement that fails is logged (as `what`) and left out.
 */
async function alternatingRounds(
  specs: ServerSpec[],
  env: Record<string, string> | undefined,
  what: string,
  measure: (server: RunningServer, round: number, warmup: number) => Promise<void>,
): Promise<void> {
  const servers: RunningServer[] = [];
  for (const spec of specs) {
    const server = await start(spec, env);
    if (server !== undefined) servers.push(server);
  }
  try {
    for (let round = 0; round < rounds; round++) {
      for (const server of order(servers, round)) {
        const warmup = round === 0 ? Math.max(warmupMs, FIRST_ROUND_WARMUP_MS) : warmupMs;
        try {
          await measure(server, round, warmup);
        } catch (error) {
          log(`round ${round + 1} ${server.spec.label} ${what}: failed: ${(error as Error).message}`);
        }
      }
    }
  } finally {
    for (const server of servers) await server.stop();
  }
}

/**
 * One runtime and one case at a time, the servers that measure the case started fresh with the case's environment.
 * A server kept across cases carries the heap and the collector's sizing its earlier cases left (V8 sizes its
 * old-generation limit from each mark-compact), which moved a 64 KiB case on Node by up to 40 % with the order the
 * cases ran in.
 */
async function throughputRounds(specs: ServerSpec[], cases: Case[], deflate: boolean): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (const runtime of [...new Set(specs.map((spec) => spec.runtime))]) {
    for (const testCase of cases) {
      const chosen = specs.filter((s) => s.runtime === runtime && measuresCase(s, testCase.id));
      await alternatingRounds(chosen, testCase.env, testCase.label, async (server, round, warmup) => {
        const { spec } = server;
        const result = await load(server, testCase, warmup, deflate, deflate ? "json" : undefined);
        const s = sample(spec.id, testCase, round, result);
        samples.push(s);
        log(`round ${round + 1}/${rounds} ${spec.label.padEnd(24)} ${testCase.label.padEnd(26)} ${Math.round(s.messagesPerSecond).toString().padStart(8)} msg/s ${s.cpuMicrosPerMessage.toFixed(2).padStart(8)} µs/msg  server ${(s.serverBusy * 100).toFixed(0)}% client ${(s.clientBusy * 100).toFixed(0)}%${s.wrongEchoes + s.lost > 0 ? `  WRONG ${s.wrongEchoes} LOST ${s.lost}` : ""}`);
      });
    }
  }
  return samples;
}

/** Handshakes per second and server CPU per handshake, rounds alternating between a runtime's servers as for load. */
async function handshakeRounds(specs: ServerSpec[]): Promise<HandshakeSample[]> {
  const samples: HandshakeSample[] = [];
  const chosen = specs.filter((spec) => spec.handshakes === true);
  for (const runtime of [...new Set(chosen.map((spec) => spec.runtime))]) {
    await alternatingRounds(chosen.filter((s) => s.runtime === runtime), undefined, "handshakes", async (server, round, warmup) => {
      const job = { mode: "handshake", url: server.url, serverPid: server.pid, parallel: HANDSHAKE_PARALLEL, warmupMs: warmup, durationMs };
      const result = await runClient<HandshakeResult>(job, warmup + durationMs + 30_000);
      const s: HandshakeSample = {
        server: server.spec.id,
        round,
        handshakesPerSecond: result.handshakes / result.seconds,
        cpuMicrosPerHandshake: (result.serverCpuSeconds * 1e6) / result.handshakes,
        serverBusy: result.serverCpuSeconds / result.seconds,
        failed: result.failed,
      };
      samples.push(s);
      log(`round ${round + 1}/${rounds} ${server.spec.label.padEnd(24)} handshakes ${Math.round(s.handshakesPerSecond).toString().padStart(6)}/s ${s.cpuMicrosPerHandshake.toFixed(1).padStart(8)} µs CPU each  server ${(s.serverBusy * 100).toFixed(0)}%${s.failed > 0 ? `  FAILED ${s.failed}` : ""}`);
    });
  }
  return samples;
}

/** One Node process holding {@link SCALE}.connections idle sockets with keep-alive on: memory, and CPU per second while idle. */
async function scaleCase(specs: ServerSpec[]): Promise<ScaleSample[]> {
  const samples: ScaleSample[] = [];
  // One process holds one descriptor per socket (and the client as many): stay under the limit it can get.
  const limit = openFilesLimit();
  const connections = Math.min(quick ? 5_000 : SCALE.connections, limit - 1_000);
  if (connections < SCALE.connections) log(`scale: the open-files limit here is ${limit} (it cannot be raised), so ${connections} connections instead of ${SCALE.connections}`);
  for (const spec of specs.filter((s) => s.id === "ws" || s.id === "uniws-node")) {
    const env = { BENCH_SECOND_PORT: "1", BENCH_KEEPALIVE_MS: String(SCALE.keepAliveIntervalMs), BENCH_IDLE_MS: String(SCALE.idleTimeoutMs) };
    let server: RunningServer;
    try {
      server = await startServer(spec, [], env);
    } catch (error) {
      log(`scale ${spec.label}: did not start: ${(error as Error).message}`);
      continue;
    }
    try {
      const job = { mode: "scale", urls: server.urls, serverPid: server.pid, connections, windowMs: SCALE.windowMs, maxSeconds: 280 };
      const result = await runClient<ScaleResult>(job, 290_000);
      const s: ScaleSample = {
        server: spec.id,
        target: connections,
        open: result.open,
        failed: result.failed,
        rssFirst: result.rssFirst,
        rssAll: result.rssAll,
        idleCpuPerSecond: result.idleCpuSeconds / result.windowSeconds,
        windowSeconds: result.windowSeconds,
        keepAliveIntervalMs: SCALE.keepAliveIntervalMs,
        openSeconds: result.openSeconds,
        openFilesLimit: limit,
      };
      samples.push(s);
      log(`scale ${spec.label.padEnd(24)} ${s.open}/${connections} open (${s.failed} failed) in ${s.openSeconds.toFixed(1)} s, RSS ${(s.rssAll / 2 ** 20).toFixed(0)} MiB, idle CPU ${(s.idleCpuPerSecond * 100).toFixed(2)}% of a core`);
    } catch (error) {
      log(`scale ${spec.label}: failed: ${(error as Error).message}`);
    } finally {
      await server.stop();
    }
  }
  return samples;
}

// One pass per round, the servers alternating as in the other cases: RSS moves with each collector's timing, and the
// report gives each server's median.
async function memory(specs: ServerSpec[]): Promise<MemorySample[]> {
  const samples: MemorySample[] = [];
  for (let round = 0; round < rounds; round++) for (const spec of specs) {
    // The seed's-loop servers idle as their `for await` twins do; the references show what awaiting costs per socket.
    if (unavailable[spec.id] !== undefined || (spec.cases !== undefined && spec.kind !== "reference")) continue;
    const server = await start(spec);
    if (server === undefined) continue;
    try {
      const result = await runClient<IdleResult>({ mode: "idle", url: server.url, serverPid: server.pid, steps: idleSteps, settleMs: 2000 }, 110_000);
      const [first, last] = [result.rss[0]!, result.rss.at(-1)!];
      const added = idleSteps.at(-1)! - idleSteps[0]!;
      const s: MemorySample = { server: spec.id, steps: idleSteps, rss: result.rss, open: result.open, failed: result.failed, bytesPerConnection: (last - first) / added };
      samples.push(s);
      log(`memory (round ${round + 1}) ${spec.label.padEnd(24)} ${(s.bytesPerConnection / 1024).toFixed(2)} KiB/conn (RSS ${(first / 2 ** 20).toFixed(1)} → ${(last / 2 ** 20).toFixed(1)} MiB, ${result.open} open, ${result.failed} failed)`);
    } catch (error) {
      log(`memory ${spec.label}: failed: ${(error as Error).message}`);
    } finally {
      await server.stop();
    }
  }
  return samples;
}

if (flag("report")) {
  const saved = JSON.parse(readFileSync(join(ROOT, "bench/results.json"), "utf8")) as Results;
  printTable(saved);
  writeReport(saved);
  process.exit(0);
}
if (cpus().length < 2 || process.platform !== "linux") {
  console.error("bench needs Linux (/proc, taskset) and at least 2 cores: servers run on core 0, the load client on core 1");
  process.exit(2);
}
const startedAt = new Date();
const machineBefore = machineInfo();
log(`uniws bench: ${rounds} round(s), ${warmupMs} ms warm-up + ${durationMs} ms per case; servers on core 0, client on core 1`);
const extra = value("with");
if (extra !== undefined) {
  const id = extra.replace(/^.*\//, "").replace(/\.mjs$/, "");
  SERVERS.push({ id, label: `${id} (experiment)`, runtime: "node", kind: "uniws", baseline: "ws", file: extra });
  only?.push(id);
}
const specs = selected(SERVERS);
const cases = [...CASES, ...APP_HEAP_CASES].filter((c) => onlyCases === undefined || onlyCases.includes(c.id));
const samples = await throughputRounds(specs, cases, false);
const handshakeSamples = flag("no-handshakes") ? [] : await handshakeRounds(specs);
const memorySamples: MemorySample[] = flag("no-memory") ? [] : await memory(specs);
const scaleSamples = flag("no-scale") ? [] : await scaleCase(specs);
let deflateSamples: DeflateSample[] = [];
if (!flag("no-deflate")) deflateSamples = await throughputRounds(selected(DEFLATE_SERVERS), [DEFLATE_CASE], true);

const results: Results = {
  date: startedAt.toISOString(),
  finished: new Date().toISOString(),
  machine: machineBefore,
  loadAverageAfter: machineInfo().loadAverage,
  settings: { rounds, warmupMs, durationMs, idleSteps, quick },
  cases,
  deflateCase: DEFLATE_CASE,
  servers: [...SERVERS, ...DEFLATE_SERVERS].map(({ id, label, runtime, kind, baseline }) => ({ id, label, runtime, kind, baseline })),
  unavailable,
  samples,
  memory: memorySamples,
  deflate: deflateSamples,
  handshakes: handshakeSamples,
  scale: scaleSamples,
};
printTable(results);
if (!flag("no-write")) {
  writeFileSync(join(ROOT, "bench/results.json"), `${JSON.stringify(results, null, 1)}\n`);
  writeReport(results);
  log("wrote docs/benchmarks.md, docs/benchmarks.svg and bench/results.json");
}
process.exit(0);
