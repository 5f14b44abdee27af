/**
 * The servers under test: each runtime's raw WebSocket server, the same echo through
 * each uniws adapter, and the peers a Node user would pick instead. Every one is the
 * same echo (text stays text, binary stays binary) written the idiomatic way for it.
 *
 * @module
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { SEED_CASES } from "./cases.ts";

export type Runtime = "node" | "bun" | "deno";

/** raw: the runtime's own server, the baseline. uniws: ours. peer: what users pick instead. reference: an extra baseline. */
export type Kind = "raw" | "uniws" | "peer" | "reference";

export interface ServerSpec {
  id: string;
  label: string;
  runtime: Runtime;
  kind: Kind;
  /** The raw server of the same runtime its ratios are taken against. */
  baseline: string;
  file: string;
  env?: Record<string, string>;
  /** The cases it is measured in, when not all of them (the seed's loop). */
  cases?: string[];
  /** Also measured for handshakes per second. */
  handshakes?: boolean;
  /** Why it cannot run here, if it cannot (checked before starting it). */
  missing?: () => string | undefined;
}

export const ROOT = join(import.meta.dir, "..");
export const BUN = join(ROOT, "node_modules/.bin/bun");
export const DENO = join(ROOT, "node_modules/.bin/deno");

/** The command line that runs a server file in its runtime, with `flags` for the runtime (e.g. `--cpu-prof`). */
export function command(spec: ServerSpec, flags: string[] = []): string[] {
  const file = join(ROOT, "bench/servers", spec.file);
  switch (spec.runtime) {
    case "node":
      return ["node", ...flags, file];
    case "bun":
      return [BUN, ...flags, file];
    case "deno":
      return [DENO, "run", "-A", ...flags, file];
  }
}

const needsDist = (pkg: string) => () =>
  existsSync(join(ROOT, "packages", pkg, "dist/mod.js")) ? undefined : `packages/${pkg} is not built (run npm run build)`;

const needsModule = (name: string) => () =>
  existsSync(join(ROOT, "node_modules", name, "package.json")) ? undefined : `${name} is not installed (npm install)`;

// The seed's sample loop (receive(buffer) into 4 KiB, send each part with its type and endOfMessage): settings.mjs `echo`.
const SEED = { BENCH_LOOP: "seed" };
const SEED_CASE_IDS = Object.keys(SEED_CASES);

// The raw servers again, each message handed to an `async` loop per socket through a promise (text as a string),
// and nothing else: what any awaitable API costs over a callback, measured beside it (settings.mjs `awaitedDelivery`).
const AWAITED = { BENCH_DELIVERY: "await" };
const AWAITED_CASES = ["64B-100", "64KT-100", "64K-100", "64KT-100-heap", "64K-100-heap"];

export const SERVERS: ServerSpec[] = [
  { id: "ws", label: "ws (bufferutil)", runtime: "node", kind: "raw", baseline: "ws", file: "node-ws.mjs", handshakes: true },
  { id: "ws-js", label: "ws (no bufferutil)", runtime: "node", kind: "reference", baseline: "ws", file: "node-ws.mjs", env: { WS_NO_BUFFER_UTIL: "1" } },
  { id: "ws-await", label: "ws, each message awaited", runtime: "node", kind: "reference", baseline: "ws", file: "node-ws.mjs", env: AWAITED, cases: AWAITED_CASES, handshakes: true },
  { id: "uniws-node", label: "@uniws/node", runtime: "node", kind: "uniws", baseline: "ws", file: "node-uniws.mjs", missing: needsDist("adapter-node"), handshakes: true },
  { id: "uniws-node-seed", label: "@uniws/node, seed's loop", runtime: "node", kind: "uniws", baseline: "ws", file: "node-uniws.mjs", env: SEED, cases: SEED_CASE_IDS, missing: needsDist("adapter-node") },
  { id: "hono-node", label: "@uniws/hono on Node", runtime: "node", kind: "uniws", baseline: "ws", file: "node-uniws-hono.mjs", missing: needsDist("adapter-hono"), handshakes: true },
  { id: "crossws", label: "crossws (Node)", runtime: "node", kind: "peer", baseline: "ws", file: "node-crossws.mjs", handshakes: true },
  { id: "hono-node-ws", label: "@hono/node-ws", runtime: "node", kind: "peer", baseline: "ws", file: "node-hono-ws.mjs", handshakes: true },
  {
    id: "hono-node-server-v2",
    label: "@hono/node-server 2.x WebSocket",
    runtime: "node",
    kind: "peer",
    baseline: "ws",
    file: "node-hono-server-v2.mjs",
    handshakes: true,
    missing: needsModule("@hono/node-server-v2"),
  },
  { id: "bun", label: "Bun.serve", runtime: "bun", kind: "raw", baseline: "bun", file: "bun-raw.ts", handshakes: true },
  { id: "bun-await", label: "Bun.serve, each message awaited", runtime: "bun", kind: "reference", baseline: "bun", file: "bun-raw.ts", env: AWAITED, cases: AWAITED_CASES, handshakes: true },
  { id: "uniws-bun", label: "@uniws/bun", runtime: "bun", kind: "uniws", baseline: "bun", file: "bun-uniws.ts", handshakes: true },
  { id: "uniws-bun-seed", label: "@uniws/bun, seed's loop", runtime: "bun", kind: "uniws", baseline: "bun", file: "bun-uniws.ts", env: SEED, cases: SEED_CASE_IDS },
  { id: "hono-bun", label: "@uniws/hono on Bun", runtime: "bun", kind: "uniws", baseline: "bun", file: "bun-uniws-hono.ts", handshakes: true },
  { id: "deno", label: "Deno.upgradeWebSocket", runtime: "deno", kind: "raw", baseline: "deno", file: "deno-raw.ts", handshakes: true },
  { id: "deno-await", label: "Deno, each message awaited", runtime: "deno", kind: "reference", baseline: "deno", file: "deno-raw.ts", env: AWAITED, cases: AWAITED_CASES, handshakes: true },
  { id: "uniws-deno", label: "@uniws/deno", runtime: "deno", kind: "uniws", baseline: "deno", file: "deno-uniws.ts", handshakes: true },
  { id: "uniws-deno-seed", label: "@uniws/deno, seed's loop", runtime: "deno", kind: "uniws", baseline: "deno", file: "deno-uniws.ts", env: SEED, cases: SEED_CASE_IDS },
  { id: "hono-deno", label: "@uniws/hono on Deno", runtime: "deno", kind: "uniws", baseline: "deno", file: "deno-uniws-hono.ts", handshakes: true },
];

/** Whether `spec` is measured in the case `caseId`. */
export const measuresCase = (spec: ServerSpec, caseId: string) => spec.cases === undefined || spec.cases.includes(caseId);

/** The compressed echo: raw `ws` and `@uniws/node` with the same deflate settings (bench/servers/settings.mjs). */
export const DEFLATE_SERVERS: ServerSpec[] = [
  { id: "ws-deflate", label: "ws + deflate", runtime: "node", kind: "raw", baseline: "ws-deflate", file: "node-ws.mjs", env: { BENCH_DEFLATE: "1" } },
  {
    id: "uniws-node-deflate",
    label: "@uniws/node + deflate",
    runtime: "node",
    kind: "uniws",
    baseline: "ws-deflate",
    file: "node-uniws.mjs",
    env: { BENCH_DEFLATE: "1" },
    missing: () =>
      existsSync(join(ROOT, "packages/adapter-node/dist/compression.js"))
        ? undefined
        : "per-connection compression is not in @uniws/node's build",
  },
];
