/**
 * The report of a run: a table on the console, and docs/benchmarks.md with its
 * chart docs/benchmarks.svg (drawn here, no chart library).
 *
 * @module
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { APP_HEAP_MB, HANDSHAKE_PARALLEL, HANDSHAKE_TARGET_CPU, LARGE_TARGET, SCALE, SEED_CASES } from "./cases.ts";
import { cpuPerMessage, type HandshakeSample, median, medianOf, ratio, type Results, throughput } from "./results.ts";
import { ROOT } from "./servers.ts";
import { IDLE_TIMEOUT_MS, KEEP_ALIVE_INTERVAL_MS, KEEP_ALIVE_TIMEOUT_MS } from "./servers/settings.mjs";

/** Default targets (issue 9): within 3% of raw on throughput and CPU per message; within 1 KiB of raw memory per idle connection. Cases carry their own. */
const TARGET = { throughput: 0.97, cpu: 1.03, memoryKiB: 1 };

/** The target of `id` in `caseId`: the seed's loop has its own (cases.ts SEED_CASES). */
function targetOf(results: Results, id: string, caseId: string): { throughput: number; cpu: number } {
  if (id.endsWith("-seed") && SEED_CASES[caseId] !== undefined) return SEED_CASES[caseId]!;
  return results.cases.find((c) => c.id === caseId)?.target ?? TARGET;
}

const label = (results: Results, id: string) => results.servers.find((s) => s.id === id)?.label ?? id;
const baselineOf = (results: Results, id: string) => results.servers.find((s) => s.id === id)!.baseline;
const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : "—");
const thousands = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "—");

/** Servers that ran, in the registry's order. */
function measured(results: Results, samples = results.samples): string[] {
  return results.servers.map((s) => s.id).filter((id) => samples.some((s) => s.server === id));
}

/** The servers whose ratios are the headline: everything that is not a raw baseline. */
function compared(results: Results): string[] {
  return measured(results).filter((id) => results.servers.find((s) => s.id === id)!.kind !== "raw" && results.servers.find((s) => s.id === id)!.kind !== "reference");
}

// The median over the rounds (a run before memory was measured per round has one sample per server).
function memoryPerConnection(results: Results, id: string): number {
  const values = results.memory.filter((m) => m.server === id).map((m) => m.bytesPerConnection);
  return values.length === 0 ? Number.NaN : median(values);
}

/** Prints every server's medians and ratios. */
export function printTable(results: Results): void {
  const rows: string[][] = [["server", "case", "msg/s", "µs CPU/msg", "busy", "×raw msg/s", "×raw CPU"]];
  for (const testCase of results.cases) {
    for (const id of measured(results)) {
      const base = baselineOf(results, id);
      rows.push([
        label(results, id),
        testCase.label,
        thousands(medianOf(results.samples, id, testCase.id, throughput)),
        fixed(medianOf(results.samples, id, testCase.id, cpuPerMessage), 2),
        `${fixed(medianOf(results.samples, id, testCase.id, (s) => s.serverBusy * 100), 0)}%`,
        id === base ? "" : fixed(ratio(results.samples, id, base, testCase.id, throughput), 3),
        id === base ? "" : fixed(ratio(results.samples, id, base, testCase.id, cpuPerMessage), 3),
      ]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) console.log(row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  "));
  if (results.memory.length > 0) {
    console.log("\nidle memory per connection");
    for (const id of new Set(results.memory.map((m) => m.server))) {
      console.log(`${label(results, id).padEnd(26)} ${fixed(memoryPerConnection(results, id) / 1024, 2).padStart(7)} KiB`);
    }
  }
  if (results.deflate.length > 0) {
    console.log(`\n${results.deflateCase.label}`);
    for (const id of measured(results, results.deflate)) {
      const base = baselineOf(results, id);
      console.log(
        `${label(results, id).padEnd(26)} ${thousands(medianOf(results.deflate, id, results.deflateCase.id, throughput)).padStart(8)} msg/s ${fixed(medianOf(results.deflate, id, results.deflateCase.id, cpuPerMessage), 2).padStart(8)} µs/msg` +
          (id === base ? "" : `  ×raw ${fixed(ratio(results.deflate, id, base, results.deflateCase.id, throughput), 3)} / ${fixed(ratio(results.deflate, id, base, results.deflateCase.id, cpuPerMessage), 3)}`),
      );
    }
  }
  for (const [id, reason] of Object.entries(results.unavailable)) console.log(`not measured: ${label(results, id)}: ${reason}`);
}

/** A ratio cell, marked when a uniws adapter misses its target. */
function ratioCell(value: number, good: boolean, isUniws: boolean): string {
  if (!Number.isFinite(value)) return "—";
  return isUniws && !good ? `**${value.toFixed(2)}** ✗` : value.toFixed(2);
}

function headline(results: Results): string {
  const cases = results.cases;
  const head = `| server | vs | ${cases.map((c) => `${c.label}: msg/s | CPU/msg`).join(" | ")} | idle memory Δ |`;
  const rule = `|---|---|${cases.map(() => "---:|---:").join("|")}|---:|`;
  const lines = [head, rule];
  for (const id of compared(results)) {
    const base = baselineOf(results, id);
    const isUniws = results.servers.find((s) => s.id === id)!.kind === "uniws";
    const cells = cases.flatMap((c) => {
      const t = ratio(results.samples, id, base, c.id, throughput);
      const u = ratio(results.samples, id, base, c.id, cpuPerMessage);
      const target = targetOf(results, id, c.id);
      return [ratioCell(t, t >= target.throughput, isUniws), ratioCell(u, u <= target.cpu, isUniws)];
    });
    const delta = (memoryPerConnection(results, id) - memoryPerConnection(results, base)) / 1024;
    const memory = Number.isFinite(delta) ? `${delta >= 0 ? "+" : ""}${delta.toFixed(2)} KiB${isUniws && delta > TARGET.memoryKiB ? " ✗" : ""}` : "—";
    lines.push(`| ${label(results, id)} | ${label(results, base)} | ${cells.join(" | ")} | ${memory} |`);
  }
  return lines.join("\n");
}

function rawAgainstWs(results: Results): string {
  const ids = measured(results).filter((id) => id !== "ws" && ["raw", "reference"].includes(results.servers.find((s) => s.id === id)!.kind));
  if (!measured(results).includes("ws") || ids.length === 0) return "";
  const lines = [`| server | ${results.cases.map((c) => c.label).join(" | ")} |`, `|---|${results.cases.map(() => "---:|").join("")}`];
  for (const id of ids) {
    lines.push(`| ${label(results, id)} | ${results.cases.map((c) => fixed(ratio(results.samples, id, "ws", c.id, cpuPerMessage), 2)).join(" | ")} |`);
  }
  return lines.join("\n");
}

function absolute(results: Results, samples = results.samples, cases = results.cases): string {
  const parts: string[] = [];
  for (const c of cases) {
    parts.push(`**${c.label}** (${c.inflight} in flight per connection)\n`);
    parts.push("| server | msg/s | µs CPU/msg | server busy | client busy | ×raw msg/s | ×raw CPU/msg |", "|---|---:|---:|---:|---:|---:|---:|");
    for (const id of measured(results, samples)) {
      const base = baselineOf(results, id);
      const m = (f: (s: (typeof samples)[number]) => number) => medianOf(samples, id, c.id, f);
      parts.push(
        `| ${label(results, id)} | ${thousands(m(throughput))} | ${fixed(m(cpuPerMessage), 2)} | ${fixed(m((s) => s.serverBusy * 100), 0)}% | ${fixed(m((s) => s.clientBusy * 100), 0)}% | ${id === base ? "1" : fixed(ratio(samples, id, base, c.id, throughput), 3)} | ${id === base ? "1" : fixed(ratio(samples, id, base, c.id, cpuPerMessage), 3)} |`,
      );
    }
    parts.push("");
  }
  return parts.join("\n");
}

function memoryTable(results: Results): string {
  if (results.memory.length === 0) return "Not measured in this run.";
  const [first, last] = [results.settings.idleSteps[0]!, results.settings.idleSteps.at(-1)!];
  const lines = [
    `| server | KiB per idle connection (median) | Δ vs raw | each round | RSS at ${first} | RSS at ${last} | open at the end |`,
    "|---|---:|---:|---|---:|---:|---:|",
  ];
  for (const id of results.servers.map((s) => s.id)) {
    const mine = results.memory.filter((s) => s.server === id);
    const m = mine[0];
    if (m === undefined) continue;
    const base = baselineOf(results, id);
    const delta = (memoryPerConnection(results, id) - memoryPerConnection(results, base)) / 1024;
    const rounds = mine.map((s) => fixed(s.bytesPerConnection / 1024, 2)).join(", ");
    lines.push(`| ${label(results, id)} | ${fixed(memoryPerConnection(results, id) / 1024, 2)} | ${id === base ? "" : `${delta >= 0 ? "+" : ""}${fixed(delta, 2)}`} | ${rounds} | ${fixed(m.rss[0]! / 2 ** 20, 1)} MiB | ${fixed(m.rss.at(-1)! / 2 ** 20, 1)} MiB | ${m.open} |`);
  }
  return lines.join("\n");
}

const COLORS = ["#4269d0", "#efb118", "#ff725c", "#6cc5b0"];

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Two panels of horizontal bars: throughput ÷ raw and CPU per message ÷ raw, one bar per case. */
export function chart(results: Results): string {
  const ids = compared(results);
  const barHeight = 9;
  const rowHeight = results.cases.length * barHeight + 14;
  const labelWidth = 190;
  const panelWidth = 330;
  const gap = 40;
  const top = 56;
  const height = top + ids.length * rowHeight + 44;
  const width = labelWidth + 2 * panelWidth + gap + 50;
  const panels = [
    { title: "messages/s ÷ raw (higher is better)", max: 1.4, measure: throughput, band: [TARGET.throughput, 1] as const },
    { title: "server CPU per message ÷ raw (lower is better)", max: 2.2, measure: cpuPerMessage, band: [1, TARGET.cpu] as const },
  ];
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="18" font-size="14" font-weight="bold">uniws and peers against each runtime's raw WebSocket server (medians of ${results.settings.rounds} round${results.settings.rounds === 1 ? "" : "s"})</text>`,
  ];
  panels.forEach((panel, p) => {
    const x0 = labelWidth + p * (panelWidth + gap);
    const scale = (v: number) => x0 + (Math.min(v, panel.max) / panel.max) * panelWidth;
    out.push(`<text x="${x0}" y="${top - 16}" font-weight="bold">${escapeXml(panel.title)}</text>`);
    out.push(`<rect x="${scale(panel.band[0])}" y="${top - 6}" width="${scale(panel.band[1]) - scale(panel.band[0])}" height="${ids.length * rowHeight}" fill="#d9f2d9"/>`);
    for (const tick of [0, 0.5, 1, 1.5, 2].filter((t) => t <= panel.max)) {
      out.push(`<line x1="${scale(tick)}" x2="${scale(tick)}" y1="${top - 6}" y2="${top - 6 + ids.length * rowHeight}" stroke="${tick === 1 ? "#333" : "#ddd"}" stroke-width="${tick === 1 ? 1.5 : 1}"/>`);
      out.push(`<text x="${scale(tick)}" y="${top - 6 + ids.length * rowHeight + 14}" text-anchor="middle" fill="#555">${tick}</text>`);
    }
    ids.forEach((id, row) => {
      const base = baselineOf(results, id);
      results.cases.forEach((c, i) => {
        const value = ratio(results.samples, id, base, c.id, panel.measure);
        if (!Number.isFinite(value)) return;
        const y = top + row * rowHeight + i * barHeight;
        out.push(`<rect x="${x0}" y="${y}" width="${scale(value) - x0}" height="${barHeight - 1}" fill="${COLORS[i % COLORS.length]}"/>`);
        out.push(`<text x="${scale(value) + 3}" y="${y + barHeight - 1}" font-size="9" fill="#333">${value.toFixed(2)}${value > panel.max ? " →" : ""}</text>`);
      });
    });
  });
  ids.forEach((id, row) => {
    const y = top + row * rowHeight + (results.cases.length * barHeight) / 2 + 4;
    out.push(`<text x="${labelWidth - 8}" y="${y}" text-anchor="end">${escapeXml(label(results, id))}</text>`);
    out.push(`<text x="${labelWidth - 8}" y="${y + 12}" text-anchor="end" fill="#777" font-size="9">vs ${escapeXml(label(results, baselineOf(results, id)))}</text>`);
  });
  const legendY = height - 12;
  results.cases.forEach((c, i) => {
    const x = labelWidth + i * 160;
    out.push(`<rect x="${x}" y="${legendY - 9}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/>`);
    out.push(`<text x="${x + 14}" y="${legendY}">${escapeXml(c.label)}</text>`);
  });
  out.push(`<text x="10" y="${legendY}" fill="#555">green: target band</text>`);
  out.push("</svg>");
  return out.join("\n");
}

/** Median over rounds of the per-round ratio of `server` to `baseline` for handshakes. */
function handshakeRatio(samples: HandshakeSample[], server: string, baseline: string, measure: (s: HandshakeSample) => number): number {
  const ratios: number[] = [];
  for (const s of samples) {
    if (s.server !== server || s.failed > 0) continue;
    const base = samples.find((b) => b.server === baseline && b.round === s.round && b.failed === 0);
    if (base !== undefined) ratios.push(measure(s) / measure(base));
  }
  return median(ratios);
}

function handshakeSection(results: Results): string {
  const samples = results.handshakes ?? [];
  if (samples.length === 0) return "Not measured in this run.";
  const lines = [
    `${HANDSHAKE_PARALLEL} clients in parallel, each opening a socket, waiting for it to open, closing it with 1000 and waiting for the end, over and over; the server's CPU time over the window ÷ handshakes completed. Target (issue 15) for uniws: CPU per handshake ≤ ${HANDSHAKE_TARGET_CPU}× raw.`,
    "",
    "| server | handshakes/s | µs CPU/handshake | server busy | ×raw handshakes/s | ×raw CPU/handshake |",
    "|---|---:|---:|---:|---:|---:|",
  ];
  for (const id of measured(results, samples as never)) {
    const base = baselineOf(results, id);
    const mine = samples.filter((s) => s.server === id && s.failed === 0);
    const isUniws = results.servers.find((s) => s.id === id)!.kind === "uniws";
    const cpu = handshakeRatio(samples, id, base, (s) => s.cpuMicrosPerHandshake);
    lines.push(
      `| ${label(results, id)} | ${thousands(median(mine.map((s) => s.handshakesPerSecond)))} | ${fixed(median(mine.map((s) => s.cpuMicrosPerHandshake)), 1)} | ${fixed(median(mine.map((s) => s.serverBusy * 100)), 0)}% | ${id === base ? "1" : fixed(handshakeRatio(samples, id, base, (s) => s.handshakesPerSecond), 2)} | ${id === base ? "1" : ratioCell(cpu, cpu <= HANDSHAKE_TARGET_CPU, isUniws)} |`,
    );
  }
  return lines.join("\n");
}

function scaleSection(results: Results): string {
  const samples = results.scale ?? [];
  if (samples.length === 0) return "Not measured in this run.";
  const s0 = samples[0]!;
  const limited = s0.target < SCALE.connections
    ? ` (not ${SCALE.connections.toLocaleString("en-US")}: the open-files limit here is ${s0.openFilesLimit?.toLocaleString("en-US")} and cannot be raised — the container lacks CAP_SYS_RESOURCE — so the case stays under it; where \`ulimit -n\` can be raised the bench opens ${SCALE.connections.toLocaleString("en-US")})`
    : "";
  const lines = [
    `One Node process (its open-files limit raised) holds ${s0.target.toLocaleString("en-US")} sockets${limited} from one client, spread over two listening ports of the same server; each socket sent one 64 B message. Keep-alive every ${s0.keepAliveIntervalMs / 1000} s (timeout ${KEEP_ALIVE_TIMEOUT_MS / 1000} s on uniws; \`ws\` runs its README's heartbeat) and an idle timeout longer than the case. After every socket is open and 3 s have passed, the server's CPU is read over a ${fixed(s0.windowSeconds, 0)} s window in which every socket is pinged and answers.`,
    "",
    "| server | open | opened in | RSS | KiB per connection (1,000 → all) | idle CPU (keep-alive), % of a core | µs CPU per socket per keep-alive period |",
    "|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const s of samples) {
    const perConnection = (s.rssAll - s.rssFirst) / (s.open - 1000) / 1024;
    const perPing = (s.idleCpuPerSecond * (s.keepAliveIntervalMs / 1000) * 1e6) / s.open;
    lines.push(`| ${label(results, s.server)} | ${s.open.toLocaleString("en-US")}${s.failed > 0 ? ` (${s.failed} failed)` : ""} | ${fixed(s.openSeconds, 1)} s | ${fixed(s.rssAll / 2 ** 20, 0)} MiB | ${fixed(perConnection, 2)} | ${fixed(s.idleCpuPerSecond * 100, 2)}% | ${fixed(perPing, 1)} |`);
  }
  return lines.join("\n");
}

function deflateSection(results: Results): string {
  if (results.deflate.length === 0) {
    const reason = results.unavailable["uniws-node-deflate"] ?? results.unavailable["ws-deflate"];
    return `Not measured${reason === undefined ? "" : `: ${reason}`}.`;
  }
  const negotiated = measured(results, results.deflate)
    .map((id) => `${label(results, id)}: \`${results.deflate.find((s) => s.server === id)?.extensions || "none"}\``)
    .join("; ");
  return `Both servers use the settings in bench/servers/settings.mjs (memLevel 4, level 6, threshold 1 KiB, 10 zlib jobs at once; window and context takeover as negotiated); the client (Bun's) offers \`permessage-deflate\` and compresses its own messages. Negotiated: ${negotiated}.\n\n${absolute(results, results.deflate, [results.deflateCase])}`;
}

/** Writes docs/benchmarks.md and docs/benchmarks.svg. */
export function writeReport(results: Results): void {
  writeFileSync(join(ROOT, "docs/benchmarks.svg"), `${chart(results)}\n`);
  const m = results.machine;
  const analysisFile = join(ROOT, "bench/analysis.md");
  const analysis = existsSync(analysisFile) ? readFileSync(analysisFile, "utf8").trim() : "";
  const unavailable = Object.entries(results.unavailable);
  const minutes = (Date.parse(results.finished) - Date.parse(results.date)) / 60_000;
  const md = `# Benchmarks

<!-- Generated by \`npm run bench\` (bench/run.ts) from bench/results.json. The analysis at the end comes from bench/analysis.md. -->

uniws is a thin layer over each runtime's own WebSocket server; this measures what the
layer costs. Each server below is the same echo (text stays text, binary stays binary),
measured in the same run as its runtime's raw server. **Ratios to the raw server of the
same runtime are the result**; absolute numbers depend on a shared, noisy 2-core machine.

Run of ${results.date.slice(0, 16).replace("T", " ")} UTC (${minutes.toFixed(0)} min), uniws \`${m.commit}\`${(m.uncommitted ?? []).length > 0 ? ` (measured with uncommitted changes in ${m.uncommitted.map((f) => `\`${f}\``).join(", ")})` : ""}, ${results.settings.rounds} alternating round(s)${results.settings.quick ? " (**quick run**: short windows, small memory test)" : ""}.
Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}; load average ${m.loadAverage.join(" / ")} at the start and ${results.loadAverageAfter.join(" / ")} at the end (the machine is shared with other work).

## Headline: each adapter against its runtime's raw server

Ratios are medians over rounds of (server ÷ raw server of the same runtime, same round).
msg/s: higher is better; CPU/msg (server CPU time per echoed message): lower is better.
Targets for uniws: 64 B, msg/s ≥ ${TARGET.throughput} and CPU/msg ≤ ${TARGET.cpu} (issue 9); 64 KiB, msg/s ≥ ${LARGE_TARGET.throughput} and CPU/msg ≤ ${LARGE_TARGET.cpu} (issue 15);
the seed's loop (\`receive(buffer)\` into 4 KiB, \`send(part, { type, endOfMessage })\`, rows "seed's loop"), CPU/msg ≤ ${SEED_CASES["64B-100"]!.cpu} at 64 B and ≤ ${SEED_CASES["64K-100"]!.cpu} at 64 KiB;
idle memory within ${TARGET.memoryKiB} KiB per connection of raw; ✗ marks a miss, — a case a server is not measured in.
Peers (crossws, @hono/node-ws, @hono/node-server 2.x) are shown against raw \`ws\`, which they all run on.
Cases marked "app heap" run every server, raw ones included, with a ${APP_HEAP_MB} MiB application heap beside its sockets
(bench/cases.ts): a bench server alone keeps V8's old generation under the 8 MB past which V8 schedules
incremental marking by its allocation limit, an application does not, and 64 KiB messages cost more GC there.

![Ratios of each adapter and peer to its runtime's raw server](benchmarks.svg)

${headline(results)}

CPU per message is the steadier measure: it comes from the server process's own CPU
time, while msg/s also moves with whatever else the machine runs.

## The raw runtimes against raw \`ws\` (CPU per message)

${rawAgainstWs(results)}

## Every server (medians)

${absolute(results)}
"server busy" is server CPU seconds per second of the window (1 core = 100%); below
~90% the server was not the bottleneck for that case (client or scheduling latency was).
The ×raw columns are medians of per-round ratios, so they need not equal the ratio of
the medians beside them.

## Memory per idle connection

${results.settings.idleSteps.join(" then ")} connections opened, each sending one 64 B
message and receiving its echo, then left idle with keep-alive and idle timeout on.
KiB per connection = (server RSS at ${results.settings.idleSteps.at(-1)} − RSS at ${results.settings.idleSteps[0]}) ÷ ${results.settings.idleSteps.at(-1)! - results.settings.idleSteps[0]!}, so one-time
costs (code, JIT, first buffers) are not counted; one pass per round, the servers alternating, and the median of the
rounds shown (RSS moves with each collector's timing by a few tenths of a KiB per connection from pass to pass).
RSS columns are the first round's.

${memoryTable(results)}

## Handshakes

${handshakeSection(results)}

## Idle connections at scale on Node (50,000 where the open-files limit allows)

${scaleSection(results)}

## Compressed echo on Node

${deflateSection(results)}

## Not measured

${unavailable.length === 0 ? "Everything listed ran." : unavailable.map(([id, reason]) => `- ${label(results, id)}: ${reason}`).join("\n")}

## Method

- \`npm run bench\` builds the packages, then \`bun bench/run.ts\` runs everything and
  writes this page, the chart and bench/results.json. Flags: \`--quick\`, \`--rounds N\`,
  \`--duration MS\`, \`--warmup MS\`, \`--only id,id\`, \`--cases id,id\`, \`--no-memory\`, \`--no-deflate\`,
  \`--no-handshakes\`, \`--no-scale\`, \`--no-write\`.
- Every server runs in its own process pinned to core 0 (\`taskset -c 0\`); the load
  client (bench/client.ts) runs on Bun, pinned to core 1, with Bun's native WebSocket
  client. Everything listens on and connects to 127.0.0.1 only.
- Servers (bench/servers/): raw \`ws\` on Node (an \`http.Server\` + \`WebSocketServer\`, the
  README's heartbeat), raw \`Bun.serve\` (its \`idleTimeout\` + \`sendPings\`), raw
  \`Deno.serve\` + \`Deno.upgradeWebSocket\` (its \`idleTimeout\` pings), each with an idle sweep
  closing sockets silent for ${IDLE_TIMEOUT_MS / 1000} s; uniws adapters with \`keepAliveInterval\` ${KEEP_ALIVE_INTERVAL_MS / 1000} s,
  \`keepAliveTimeout\` ${KEEP_ALIVE_TIMEOUT_MS / 1000} s, \`idleTimeout\` ${IDLE_TIMEOUT_MS / 1000} s, written as \`for await (const m of socket) await socket.send(m.data)\`
  (rows "seed's loop": the seed's sample loop, \`echo\` in bench/servers/settings.mjs);
  crossws with its built-in 30 s heartbeat; @hono/node-ws and @hono/node-server 2.x's WebSocket as shipped (no keep-alive);
  the references "each message awaited" (\`ws-await\`, \`bun-await\`, \`deno-await\`): the raw server again, each
  message handed through a promise to one \`async\` loop per socket that echoes it (text as a string), and nothing
  else: what awaiting each message costs on that runtime, without uniws.
- Load: each connection keeps a fixed number of messages in flight (shown per case) and
  sends the next one when an echo arrives. ${results.settings.warmupMs} ms warm-up, then a
  ${results.settings.durationMs} ms window; the client reads the server's CPU time
  (utime + stime of all its threads, /proc/<pid>/stat) at the window's edges.
  Every echo is checked for type and length; a round with a wrong echo or a lost socket is discarded.
- Rounds: one runtime and one case at a time, the servers of that case started fresh
  together (an idle server costs nothing; a server kept from case to case would carry
  its earlier cases' heap and collector sizing), each server's first round warmed up
  3 s; each round visits every server in an order rotated and reversed from round to
  round, so the two sides of a ratio were measured seconds apart. Ratios are the median
  of the per-round ratios. Memory: one fresh server per measurement.

## Versions

| | |
|---|---|
${Object.entries(m.versions)
  .map(([name, version]) => `| ${name} | ${version} |`)
  .join("\n")}
| uniws | ${m.commit} |

${analysis}
`;
  writeFileSync(join(ROOT, "docs/benchmarks.md"), md);
}
