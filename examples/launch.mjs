/**
 * What the samples' `start` scripts share: picking the runtime from the flags, finding
 * its command, running the sample as a child that owns the terminal, bundling a Worker
 * for workerd against the packages' TypeScript sources, and stopping Miniflare on a signal.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** The repository's root, with a trailing slash. */
export const root = fileURLToPath(new URL("../", import.meta.url));
const RUNTIMES = ["node", "deno", "bun", "workerd"];

/** `--runtime NAME` (or `--runtime=NAME`, default node) out of the flags; the rest are the sample's. Exits 2 on an unknown runtime. */
export function takeRuntime(args) {
  let runtime = "node";
  const rest = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--runtime") runtime = args[++i];
    else if (arg.startsWith("--runtime=")) runtime = arg.slice("--runtime=".length);
    else rest.push(arg);
  }
  if (!RUNTIMES.includes(runtime)) {
    console.error(`--runtime must be one of ${RUNTIMES.join(", ")}, got ${runtime ?? "nothing"}`);
    process.exit(2);
  }
  return { runtime, rest };
}

/** A runtime's command: the project's own copy in node_modules/.bin, else the one on PATH. */
export function bin(name) {
  const local = `${root}node_modules/.bin/${name}`;
  return existsSync(local) ? local : name;
}

/** Runs the sample as a child that owns the terminal; signals reach it, its exit code is ours. */
export function run(command, args) {
  const child = spawn(command, args, { cwd: root, stdio: "inherit" });
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? (signal === null ? 1 : 128 + 15)));
}

/**
 * Bundles a Worker into one ES module for workerd, with `@uniws/*` resolved to the packages' sources.
 * `options` are rolldown's input options (`input`, `plugins`, `external`); `alias` adds to the sources' aliases.
 */
export async function bundleWorker({ alias = {}, ...options }) {
  const { rolldown } = await import("rolldown");
  const source = (path) => `${root}packages/${path}`;
  const bundle = await rolldown({
    ...options,
    platform: "neutral",
    resolve: {
      alias: {
        "@uniws/core": source("core/src/mod.ts"),
        "@uniws/cloudflare": source("adapter-cloudflare/src/mod.ts"),
        ...alias,
      },
    },
    logLevel: "warn",
  });
  try {
    const { output } = await bundle.generate({ format: "esm" });
    return output[0].code;
  } finally {
    await bundle.close();
  }
}

/** Disposes `miniflare` and exits 0 on SIGINT or SIGTERM. */
export function stopOnSignals(miniflare) {
  const stop = async () => {
    await miniflare.dispose();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
