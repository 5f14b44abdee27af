/**
 * What OpenTelemetry metrics cost per message: the 64 B echo on `@uniws/node` and
 * `@uniws/bun` with no meter, with OpenTelemetry's no-op meter (a meter taken before
 * any provider was registered), and with a registered `MeterProvider` recording every
 * instrument. Server CPU time per message, from /proc, in alternating rounds; the
 * ratio pairs each round's "on" (or "noop") with the same round's "off".
 *
 * `node_modules/.bin/bun bench/metrics.ts [--rounds N] [--duration MS] [--only node,bun]`
 * (after `npm run build`). Prints a table; writes nothing.
 *
 * @module
 */
import { CASES } from "./cases.ts";
import type { LoadResult } from "./client.ts";
import { commandLine } from "./args.ts";
import { runClient, startServer } from "./process.ts";
import type { Runtime, ServerSpec } from "./servers.ts";

const { option: value } = commandLine();
const rounds = Number(value("rounds") ?? 3);
const durationMs = Number(value("duration") ?? 2000);
const warmupMs = 500;
const runtimes = (value("only") ?? "node,bun").split(",") as Runtime[];
const MODES = ["off", "noop", "on"] as const;
type Mode = (typeof MODES)[number];

const files: Partial<Record<Runtime, string>> = { node: "node-uniws-metrics.mjs", bun: "bun-uniws-metrics.ts" };
const testCase = CASES.find((c) => c.id === "64B-100")!;

function spec(runtime: Runtime, mode: Mode): ServerSpec {
  const file = files[runtime];
  if (file === undefined) throw new Error(`no metrics bench server for ${runtime}`);
  return { id: `uniws-${runtime}-${mode}`, label: `@uniws/${runtime} metrics ${mode}`, runtime, kind: "uniws", baseline: `uniws-${runtime}-off`, file, env: { BENCH_METRICS: mode } };
}

/** Server CPU µs per message of one run. */
async function measure(runtime: Runtime, mode: Mode): Promise<number> {
  const server = await startServer(spec(runtime, mode));
  try {
    const job = { mode: "load", url: server.url, serverPid: server.pid, connections: testCase.connections, size: testCase.size, text: testCase.text, inflight: testCase.inflight, warmupMs, durationMs };
    const result = await runClient<LoadResult>(job, warmupMs + durationMs + 30_000);
    if (result.wrongEchoes + result.lost > 0) throw new Error(`${runtime} ${mode}: ${result.wrongEchoes} wrong echoes, ${result.lost} lost`);
    return (result.serverCpuSeconds / result.messages) * 1e6;
  } finally {
    await server.stop();
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

console.log(`metrics cost: ${testCase.label}, ${rounds} round(s) of ${warmupMs} + ${durationMs} ms; servers on core 0, client on core 1`);
for (const runtime of runtimes) {
  const samples: Record<Mode, number[]> = { off: [], noop: [], on: [] };
  for (let round = 0; round < rounds; round++) {
    // Alternate the order so no mode always runs first.
    const order = round % 2 === 0 ? MODES : [...MODES].reverse();
    for (const mode of order) {
      const micros = await measure(runtime, mode);
      samples[mode].push(micros);
      console.log(`  round ${round + 1}/${rounds} ${runtime} ${mode.padEnd(4)} ${micros.toFixed(2)} µs/msg`);
    }
  }
  const ratio = (mode: Mode) => median(samples[mode].map((micros, round) => micros / samples.off[round]!));
  console.log(
    `${runtime}: off ${median(samples.off).toFixed(2)} µs/msg, noop ${median(samples.noop).toFixed(2)} (×${ratio("noop").toFixed(3)}), ` +
      `on ${median(samples.on).toFixed(2)} (×${ratio("on").toFixed(3)}) — CPU per message, median of paired ratios`,
  );
}
