/**
 * What a server keeps per idle connection, by object type:
 * `bun bench/heap.ts [ids] [--connections N]` (default: ws and @uniws/node, 2,000)
 * opens N idle connections to each server (one 64 B echo each), takes a heap
 * snapshot, and prints the per-connection difference of each later server from the
 * first, by node type and constructor: compare servers of one runtime (`ws
 * uniws-node hono-node`, `deno uniws-deno hono-deno`, `bun uniws-bun hono-bun`).
 * Node writes it on `--heapsnapshot-signal`; Deno and Bun on the same signal through
 * a preloaded hook (bench/heap-signal.ts, `node:v8`'s `writeHeapSnapshot`; Bun's
 * snapshot is JavaScriptCore's heap in V8's format, so its sizes are JSC's cells and
 * its native memory, such as uWebSockets' sockets, is not in it). Snapshots stay in
 * bench/profiles/ (git-ignored) for Chrome DevTools.
 *
 * @module
 */
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { commandLine } from "./args.ts";
import { CLIENT_CORE, startServer } from "./process.ts";
import { BUN, ROOT, SERVERS } from "./servers.ts";

const line = commandLine();
const connections = Number(line.option("connections") ?? 2000);
const ids = line.rest().length > 0 ? line.rest() : ["ws", "uniws-node"];
const dir = join(ROOT, "bench/profiles");
mkdirSync(dir, { recursive: true });

/** Self size and count per "type: constructor" of a heap snapshot. */
function tally(file: string): Map<string, [number, number]> {
  const snapshot = JSON.parse(readFileSync(file, "utf8")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const width = snapshot.snapshot.meta.node_fields.length;
  const types = snapshot.snapshot.meta.node_types[0];
  const totals = new Map<string, [number, number]>();
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const type = types[snapshot.nodes[i]!]!;
    const name = snapshot.strings[snapshot.nodes[i + 1]!]!;
    const key = type.includes("string") ? "strings" : type === "object" || type === "closure" ? `${type} ${name || "(anonymous)"}` : type;
    const entry = totals.get(key) ?? [0, 0];
    entry[0] += snapshot.nodes[i + 3]!;
    entry[1]++;
    totals.set(key, entry);
  }
  return totals;
}

async function snapshot(id: string): Promise<string> {
  const spec = SERVERS.find((s) => s.id === id);
  if (spec === undefined) throw new Error(`${id} is not a server id (bench/servers.ts)`);
  const before = new Set(readdirSync(dir));
  const flags = spec.runtime === "node" ? [`--diagnostic-dir=${dir}`, "--heapsnapshot-signal=SIGUSR2"] : ["--preload", join(ROOT, "bench/heap-signal.ts")];
  const server = await startServer(spec, flags, { BENCH_HEAP_DIR: dir });
  const job = { mode: "idle", url: server.url, serverPid: server.pid, steps: [connections], settleMs: 60_000 };
  const client = Bun.spawn(["taskset", "-c", CLIENT_CORE, BUN, join(ROOT, "bench/client.ts"), JSON.stringify(job)], { stdout: "ignore", stderr: "pipe" });
  const decoder = new TextDecoder();
  for await (const chunk of client.stderr) if (decoder.decode(chunk).includes("OPEN")) break;
  process.kill(server.pid, "SIGUSR2");
  // The snapshot is written when its size stops changing.
  let file: string | undefined;
  let size = -1;
  for (let waited = 0; waited < 60_000; waited += 500) {
    await Bun.sleep(500);
    file ??= readdirSync(dir).find((f) => f.endsWith(".heapsnapshot") && !before.has(f));
    if (file === undefined) continue;
    const now = statSync(join(dir, file)).size;
    if (now === size && now > 0) break;
    size = now;
  }
  client.kill();
  await server.stop();
  if (file === undefined) throw new Error(`no heap snapshot from ${id}`);
  return join(dir, file);
}

const tallies = [];
for (const id of ids) {
  const file = await snapshot(id);
  tallies.push({ id, totals: tally(file) });
  console.log(`${id}: ${file}`);
}
const [base, ...rest] = tallies;
for (const other of rest) {
  const keys = new Set([...base!.totals.keys(), ...other.totals.keys()]);
  const rows = [...keys].map((key) => {
    const [size, count] = other.totals.get(key) ?? [0, 0];
    const [baseSize, baseCount] = base!.totals.get(key) ?? [0, 0];
    return { key, bytes: (size - baseSize) / connections, count: (count - baseCount) / connections };
  });
  const total = rows.reduce((sum, row) => sum + row.bytes, 0);
  console.log(`\n${other.id} − ${base!.id}: ${total.toFixed(0)} B of heap per connection`);
  for (const row of rows.sort((a, b) => b.bytes - a.bytes).slice(0, 30)) {
    console.log(`${row.bytes.toFixed(0).padStart(7)} B ${row.count.toFixed(2).padStart(6)}  ${row.key}`);
  }
}
process.exit(0);
