/**
 * A process's CPU time and memory from Linux's /proc: what the benchmark measures
 * servers by, read from outside the server so no server needs code of its own for it.
 *
 * @module
 */
import { readFileSync } from "node:fs";

/** User + system CPU time of every thread of `pid`, in clock ticks (USER_HZ, 100 per second on Linux). */
export function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which may itself hold spaces or parentheses (proc(5)).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15; `fields` starts at field 3 (state).
  return Number(fields[11]) + Number(fields[12]);
}

/** Resident set size of `pid`, in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match === null) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}
