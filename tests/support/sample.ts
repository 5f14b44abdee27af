/** Starts the echo sample app as a child process on a runtime, the way a user runs it. */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { expect } from "vitest";
import { handshakeHeaders, Opcode, RawClient } from "./raw-client.ts";
import type { RuntimeName } from "./runtime.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const bin = (name: string) => `${root}node_modules/.bin/${name}`;

/** The command that runs the sample on `runtime` (what `npm start`, `start:deno`, `start:bun` run). */
export function sampleCommand(runtime: RuntimeName): [string, string[]] {
  switch (runtime) {
    case "node": {
      const entry = `${root}examples/echo/dist/node.js`;
      if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (npm test does)`);
      return ["node", [entry]];
    }
    case "deno":
      return [bin("deno"), ["run", "-A", `${root}examples/echo/deno.ts`]];
    case "bun":
      return [bin("bun"), [`${root}examples/echo/bun.ts`]];
  }
}

export interface RunningSample {
  readonly url: string;
  readonly port: number;
  readonly output: () => string;
  stop(): Promise<void>;
}

/** Runs the sample with `flags` and resolves once it prints its `Listening on` line. */
export async function startSample(runtime: RuntimeName, flags: string[]): Promise<RunningSample> {
  const [command, args] = sampleCommand(runtime);
  return await startListening(command, [...args, ...flags]);
}

/** Runs the sample with `flags` to completion; resolves with its exit code and output. */
export async function runSample(runtime: RuntimeName, flags: string[]): Promise<{ code: number | null; output: string }> {
  const [command, args] = sampleCommand(runtime);
  return await runToEnd(command, [...args, ...flags]);
}

/** Starts a server process (any of the samples) and resolves once it prints its `Listening on` line. */
export async function startListening(command: string, args: string[], timeoutMs = 60_000): Promise<RunningSample> {
  const child: ChildProcess = spawn(command, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stderr!.on("data", (chunk) => (output += chunk));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`no Listening line within ${timeoutMs / 1000} s:\n${output}`));
    }, timeoutMs);
    child.stdout!.on("data", (chunk) => {
      output += chunk;
      const match = /Listening on (\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code}:\n${output}`));
    });
  });
  return {
    url: line,
    port: Number(new URL(line).port),
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs a process to completion; resolves with its exit code and output. */
export async function runToEnd(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(command, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { code, output };
}

/** The limit flags {@link expectLimitFlagsApplied} checks. */
export const LIMIT_FLAGS = ["--max-connections", "1", "--max-messages-per-second", "2", "--max-bytes-per-second", "1000"];

/**
 * Checks a sample started with {@link LIMIT_FLAGS}: a second socket gets 503 with Retry-After, a third
 * message at once closes with 1008, and once that socket has ended, 1001 bytes at once close with 1008.
 */
export async function expectLimitFlagsApplied(port: number): Promise<void> {
  const { client } = await RawClient.open(port, "/ws");
  const refused = await RawClient.connect(port);
  const answer = await refused.handshake("/ws", handshakeHeaders(port));
  expect(answer.status).toBe(503);
  expect(answer.headers["retry-after"]).toBe("5");
  refused.destroy();
  for (const text of ["one", "two", "three"]) client.sendText(text);
  expect(await client.readClose()).toEqual({ code: 1008, reason: "maxMessagesPerSecond exceeded" });
  client.destroy();
  const deadline = Date.now() + 5000;
  let next: RawClient | undefined;
  while (next === undefined) {
    const attempt = await RawClient.connect(port);
    if ((await attempt.handshake("/ws", handshakeHeaders(port))).status === 101) next = attempt;
    else {
      attempt.destroy();
      if (Date.now() > deadline) throw new Error("the first socket's place was not freed");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  next.send(Opcode.binary, new Uint8Array(1001));
  expect(await next.readClose()).toEqual({ code: 1008, reason: "maxBytesPerSecond exceeded" });
  next.destroy();
}
