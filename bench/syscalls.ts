/**
 * System calls per message: `bun bench/syscalls.ts <ids> [--case 64K-100]` runs each
 * server under the case's load and counts the server's system calls (`strace -c -f`)
 * over a window of it, printed per message beside the messages echoed. Counting
 * slows the server, so compare servers of one run with each other, not with the bench's
 * timings. Needs `strace` (Debian's package).
 *
 * @module
 */
import { spawn } from "node:child_process";
import { commandLine } from "./args.ts";
import { CASES } from "./cases.ts";
import type { LoadResult } from "./client.ts";
import { runClient, startServer } from "./process.ts";
import { SERVERS } from "./servers.ts";

const line = commandLine();
const caseId = line.option("case") ?? "64K-100";
const testCase = CASES.find((c) => c.id === caseId);
if (testCase === undefined) throw new Error(`${caseId} is not a case id (bench/cases.ts)`);
const warmupMs = 1500;
const durationMs = 3000;

for (const id of line.rest()) {
  const spec = SERVERS.find((s) => s.id === id);
  if (spec === undefined) throw new Error(`${id} is not a server id (bench/servers.ts)`);
  const server = await startServer(spec);
  try {
    const job = { mode: "load", url: server.url, serverPid: server.pid, connections: testCase.connections, size: testCase.size, text: testCase.text, inflight: testCase.inflight, warmupMs, durationMs };
    const load = runClient<LoadResult>(job, warmupMs + durationMs + 30_000);
    await new Promise((resolve) => setTimeout(resolve, warmupMs + 200));
    const strace = spawn("strace", ["-c", "-f", "-p", String(server.pid)], { stdio: ["ignore", "ignore", "pipe"] });
    let report = "";
    strace.stderr.on("data", (chunk) => (report += chunk));
    await new Promise((resolve) => setTimeout(resolve, durationMs - 800));
    strace.kill("SIGINT");
    await new Promise((resolve) => strace.on("close", resolve));
    const result = await load;
    const messages = result.messages;
    console.log(`\n${spec.label} (${testCase.label}): ${messages} messages in the client's window`);
    const rows = report.split("\n").filter((row) => /^\s*[\d.]+\s+[\d.]+\s+\d+\s+\d+/.test(row));
    for (const row of rows.slice(0, 12)) {
      const cells = row.trim().split(/\s+/);
      const calls = Number(cells[3]);
      console.log(`  ${cells.at(-1)!.padEnd(16)} ${String(calls).padStart(9)} calls`);
    }
  } finally {
    await server.stop();
  }
}
