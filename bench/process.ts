/**
 * Starting and stopping the benchmark's processes: servers pinned to core 0, the
 * load client pinned to core 1, each bounded in time.
 *
 * @module
 */
import type { Subprocess } from "bun";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BUN, command, ROOT, type ServerSpec } from "./servers.ts";

export const SERVER_CORE = "0";
export const CLIENT_CORE = "1";
const START_TIMEOUT_MS = 30_000;
/**
 * Open files every bench process may hold: the scale case keeps 50,000 sockets in the
 * server and as many in the client, past the usual 1,024–20,000. Raised in a child
 * shell just before the process starts (root may raise the hard limit up to nr_open).
 */
export const OPEN_FILES = 120_000;

/**
 * The open-files limit a bench process gets: {@link OPEN_FILES} where the limit can be
 * raised that far, else the hard limit (a container without CAP_SYS_RESOURCE cannot raise it).
 */
export function openFilesLimit(): number {
  const shell = Bun.spawnSync(["sh", "-c", `ulimit -n ${OPEN_FILES} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; ulimit -n`]);
  const limit = Number(new TextDecoder().decode(shell.stdout).trim());
  return Number.isFinite(limit) ? limit : 1024;
}

/** `argv` run under a raised open-files limit. */
function withOpenFiles(argv: string[]): string[] {
  return ["sh", "-c", `ulimit -n ${OPEN_FILES} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`, "sh", ...argv];
}

/** A running server: its process id (the one /proc is read for) and port. */
export interface RunningServer {
  spec: ServerSpec;
  pid: number;
  port: number;
  url: string;
  /** Every port the server listens on (two in the scale case), as WebSocket URLs. */
  urls: string[];
  /** Ends the server (SIGTERM, then SIGKILL after 3 s) and resolves once it and its output have ended. */
  stop(): Promise<void>;
  /** What the server has printed so far (complete once `stop` has resolved): a collector's log, for bench/gc.ts. */
  output(): { stdout: string; stderr: string };
}

const running = new Set<Subprocess>();
// Whatever ends the orchestrator, its servers end with it.
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => process.exit(130));
}

/** Why `spec` cannot be measured here, or undefined when it can. */
export function missingReason(spec: ServerSpec): string | undefined {
  if (!existsSync(join(ROOT, "bench/servers", spec.file))) return `no bench server file ${spec.file}`;
  return spec.missing?.();
}

/** Collects a stream's text into `sink` (so a full pipe never blocks the child) and reports each chunk. */
async function drain(stream: ReadableStream<Uint8Array>, sink: string[], onText?: (all: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    sink.push(decoder.decode(chunk, { stream: true }));
    onText?.(sink.join(""));
  }
}

/** Starts `spec` on the server core and waits for its `READY <port>` line. */
export async function startServer(spec: ServerSpec, flags: string[] = [], env: Record<string, string> = {}): Promise<RunningServer> {
  const child = Bun.spawn(withOpenFiles(["taskset", "-c", SERVER_CORE, ...command(spec, flags)]), {
    cwd: ROOT,
    env: { ...process.env, ...spec.env, ...env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  running.add(child);
  const out: string[] = [];
  const err: string[] = [];
  let drained: Promise<unknown> = Promise.resolve();
  const ports = await new Promise<number[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no READY line within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    let ready = false;
    drained = Promise.all([
      drain(child.stdout, out, (text) => {
        const match = ready ? null : /READY ([\d ]+)\n/.exec(text);
        if (match !== null) {
          ready = true;
          clearTimeout(timer);
          resolve(match[1]!.trim().split(" ").map(Number));
        }
      }),
      drain(child.stderr, err),
    ]);
    void child.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}: ${err.join("").trim().split("\n").slice(0, 6).join(" | ")}`));
    });
  }).catch((error: unknown) => {
    child.kill("SIGKILL");
    running.delete(child);
    throw error;
  });
  return {
    spec,
    pid: child.pid,
    port: ports[0]!,
    url: `ws://127.0.0.1:${ports[0]}/ws`,
    urls: ports.map((port) => `ws://127.0.0.1:${port}/ws`),
    async stop() {
      child.kill("SIGTERM");
      const ended = await Promise.race([child.exited.then(() => true), Bun.sleep(3000).then(() => false)]);
      if (!ended) child.kill("SIGKILL");
      await child.exited;
      await drained;
      running.delete(child);
    },
    output: () => ({ stdout: out.join(""), stderr: err.join("") }),
  };
}

/** Runs the load client on the client core with `job`, and parses its one-line JSON result. */
export async function runClient<T>(job: object, timeoutMs: number): Promise<T> {
  const child = Bun.spawn(withOpenFiles(["taskset", "-c", CLIENT_CORE, BUN, join(ROOT, "bench/client.ts"), JSON.stringify(job)]), {
    cwd: ROOT,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  running.add(child);
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  clearTimeout(timer);
  running.delete(child);
  if (code !== 0) throw new Error(`client exited with ${code}: ${stderr.trim().split("\n").slice(0, 4).join(" | ")}`);
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as T;
}
