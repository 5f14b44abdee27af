/**
 * The machine and the versions a run measured, for the report.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { DENO, ROOT } from "./servers.ts";

export interface MachineInfo {
  cpu: string;
  cores: number;
  kernel: string;
  memoryGiB: number;
  loadAverage: number[];
  versions: Record<string, string>;
  commit: string;
  /** Tracked files under packages/ with uncommitted changes when the run started (what "-dirty" covered). */
  uncommitted: string[];
}

function output(cmd: string[]): string {
  const result = spawnSync(cmd[0]!, cmd.slice(1), { cwd: ROOT, encoding: "utf8" });
  return result.status === 0 ? result.stdout.trim() : `unavailable (${result.stderr.trim().split("\n")[0] ?? result.status})`;
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "not installed";
  }
}

export function machineInfo(): MachineInfo {
  const bufferutilLoads = spawnSync("node", ["-e", "require('bufferutil')"], { cwd: ROOT }).status === 0;
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    kernel: release(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverage: loadavg().map((n) => Math.round(n * 100) / 100),
    versions: {
      node: output(["node", "--version"]),
      bun: Bun.version,
      deno: output([DENO, "--version"]).split("\n")[0]!,
      ws: packageVersion("ws"),
      bufferutil: `${packageVersion("bufferutil")}${bufferutilLoads ? "" : " (does not load)"}`,
      crossws: packageVersion("crossws"),
      hono: packageVersion("hono"),
      "@hono/node-ws": packageVersion("@hono/node-ws"),
      "@hono/node-server": packageVersion("@hono/node-server"),
      "@hono/node-server (peer, alias @hono/node-server-v2)": packageVersion("@hono/node-server-v2"),
    },
    commit: output(["git", "describe", "--always", "--dirty"]),
    uncommitted: (spawnSync("git", ["status", "--porcelain", "--untracked-files=no", "--", "packages"], { cwd: ROOT, encoding: "utf8" }).stdout ?? "")
      .split("\n")
      .filter((line) => line.length > 3)
      .map((line) => line.slice(3)),
  };
}
