/**
 * The shape of a run's results (bench/results.json) and the statistics the report
 * takes from them: medians over rounds, and ratios to the raw server of the same
 * runtime paired round by round.
 *
 * @module
 */
import type { MachineInfo } from "./machine.ts";
import type { Kind, Runtime } from "./servers.ts";

export interface Case {
  id: string;
  label: string;
  size: number;
  text: boolean;
  connections: number;
  /** Messages each connection keeps in flight. */
  inflight: number;
  /** What a uniws adapter must reach against raw (ratios); none for the compressed echo. */
  target?: { throughput: number; cpu: number };
  /** Environment every server of the case starts with (the application-heap cases: `BENCH_APP_HEAP_MB`). */
  env?: Record<string, string>;
}

/** One server, one case, one round. */
export interface Sample {
  server: string;
  case: string;
  round: number;
  messagesPerSecond: number;
  cpuMicrosPerMessage: number;
  /** Server CPU seconds per wall second in the window (1 = one core saturated). */
  serverBusy: number;
  clientBusy: number;
  wrongEchoes: number;
  lost: number;
  extensions: string;
}

export type DeflateSample = Sample;

export interface MemorySample {
  server: string;
  steps: number[];
  rss: number[];
  open: number;
  failed: number;
  /** (RSS at the last step − RSS at the first) / connections added. */
  bytesPerConnection: number;
}

/** One server, one round of handshakes (open, 101, Close and its answer) from parallel clients. */
export interface HandshakeSample {
  server: string;
  round: number;
  handshakesPerSecond: number;
  cpuMicrosPerHandshake: number;
  serverBusy: number;
  failed: number;
}

/** One server holding many idle connections with keep-alive on. */
export interface ScaleSample {
  server: string;
  target: number;
  open: number;
  failed: number;
  /** Server RSS with 1,000 sockets open, and with all of them. */
  rssFirst: number;
  rssAll: number;
  /** Server CPU seconds per second while all sockets sit idle (keep-alive pings and the timers behind them). */
  idleCpuPerSecond: number;
  windowSeconds: number;
  keepAliveIntervalMs: number;
  /** Seconds the client took to open every socket. */
  openSeconds: number;
  /** The open-files limit the server and client ran with (the scale case stays under it). */
  openFilesLimit?: number;
}

export interface Results {
  date: string;
  finished: string;
  machine: MachineInfo;
  loadAverageAfter: number[];
  settings: { rounds: number; warmupMs: number; durationMs: number; idleSteps: number[]; quick: boolean };
  cases: Case[];
  deflateCase: Case;
  servers: { id: string; label: string; runtime: Runtime; kind: Kind; baseline: string }[];
  unavailable: Record<string, string>;
  samples: Sample[];
  memory: MemorySample[];
  deflate: DeflateSample[];
  handshakes?: HandshakeSample[];
  scale?: ScaleSample[];
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Median over rounds of one measure of `server` in `caseId`. */
export function medianOf(samples: Sample[], server: string, caseId: string, measure: (s: Sample) => number): number {
  return median(samples.filter((s) => s.server === server && s.case === caseId && valid(s)).map(measure));
}

/** A sample counts only when every echo came back right and no socket was lost. */
export function valid(s: Sample): boolean {
  return s.wrongEchoes === 0 && s.lost === 0 && s.messagesPerSecond > 0;
}

/**
 * Ratio of `server` to `baseline` in `caseId`: the median over rounds of the ratio
 * within each round, so both sides of each ratio ran minutes apart at most.
 */
export function ratio(samples: Sample[], server: string, baseline: string, caseId: string, measure: (s: Sample) => number): number {
  const ratios: number[] = [];
  for (const s of samples) {
    if (s.server !== server || s.case !== caseId || !valid(s)) continue;
    const base = samples.find((b) => b.server === baseline && b.case === caseId && b.round === s.round && valid(b));
    if (base !== undefined) ratios.push(measure(s) / measure(base));
  }
  return median(ratios);
}

export const throughput = (s: Sample) => s.messagesPerSecond;
export const cpuPerMessage = (s: Sample) => s.cpuMicrosPerMessage;
