/**
 * The load cases: message size and type, connections, and messages each connection
 * keeps in flight (enough that a single socket keeps a server busy), and the target
 * each uniws adapter must meet against its raw runtime in the case.
 *
 * @module
 */
import type { Case } from "./results.ts";

// Issue 9: small messages within 3% of raw. Issue 15: 64 KiB messages ≤ 1.05× raw CPU and ≥ 0.95× raw throughput.
export const SMALL_TARGET = { throughput: 0.97, cpu: 1.03 };
export const LARGE_TARGET = { throughput: 0.95, cpu: 1.05 };

/** Small messages are chat-like text; large ones both text and binary (documents, files). */
export const CASES: Case[] = [
  { id: "64B-1", label: "64 B text, 1 conn", size: 64, text: true, connections: 1, inflight: 16, target: SMALL_TARGET },
  { id: "64B-100", label: "64 B text, 100 conns", size: 64, text: true, connections: 100, inflight: 4, target: SMALL_TARGET },
  { id: "64KT-1", label: "64 KiB text, 1 conn", size: 65_536, text: true, connections: 1, inflight: 16, target: LARGE_TARGET },
  { id: "64KT-100", label: "64 KiB text, 100 conns", size: 65_536, text: true, connections: 100, inflight: 4, target: LARGE_TARGET },
  { id: "64K-1", label: "64 KiB binary, 1 conn", size: 65_536, text: false, connections: 1, inflight: 16, target: LARGE_TARGET },
  { id: "64K-100", label: "64 KiB binary, 100 conns", size: 65_536, text: false, connections: 100, inflight: 4, target: LARGE_TARGET },
];

/**
 * The application's own heap every server of these cases carries (bench/servers/settings.mjs), in MiB: what an
 * application holds besides its sockets. V8 starts incremental marking on its allocation limit only once the old
 * generation is past 8 MB; a bench server alone stays under it, and an application does not. Above it, the
 * limit counts ArrayBuffer memory allocated since the last mark-compact, so 64 KiB messages cost far more
 * garbage collection on every Node and Deno server, raw ones included (bench/analysis.md).
 */
export const APP_HEAP_MB = 16;

/** The 64 KiB cases again, every server (raw and uniws alike) carrying an application's heap of {@link APP_HEAP_MB}. */
export const APP_HEAP_CASES: Case[] = ["64KT-100", "64K-100"].map((id) => {
  const base = CASES.find((c) => c.id === id)!;
  return { ...base, id: `${id}-heap`, label: `${base.label}, ${APP_HEAP_MB} MiB app heap`, env: { BENCH_APP_HEAP_MB: String(APP_HEAP_MB) } };
});

/**
 * The cases the seed's loop (`receive(buffer)` into 4 KiB, then `send(part, { type,
 * endOfMessage })`) is measured in, and its targets (issue 15): at 64 B no more than
 * the `for await` echo (≤ 1.05× raw), at 64 KiB ≤ 1.5× raw.
 */
export const SEED_CASES: Record<string, { throughput: number; cpu: number }> = {
  "64B-100": { throughput: 0.95, cpu: 1.05 },
  "64KT-100": { throughput: 0, cpu: 1.5 },
  "64K-100": { throughput: 0, cpu: 1.5 },
};

export const DEFLATE_CASE: Case = { id: "json4K-100", label: "4 KiB JSON text, 100 conns, deflate", size: 4096, text: true, connections: 100, inflight: 4 };

/** Handshakes: this many clients each open a socket, wait for it to open, close it (1000) and start again. */
export const HANDSHAKE_PARALLEL = 32;
/** Issue 15: server CPU per handshake ≤ 1.10× raw. */
export const HANDSHAKE_TARGET_CPU = 1.1;

/** The scale case (Node only): idle connections held by one process, spread over two listening ports (one client address has ~28,000 ephemeral ports). */
export const SCALE = {
  connections: 50_000,
  /** Keep-alive period for the scale case, short enough that the window sees every socket pinged. */
  keepAliveIntervalMs: 10_000,
  /** The window over which keep-alive CPU per second is read, once every socket is open. */
  windowMs: 20_000,
  /** Idle timeout for the scale case: long enough that no socket is closed while the case runs. */
  idleTimeoutMs: 300_000,
};
