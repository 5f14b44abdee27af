/**
 * `npm run start:chat -- [--runtime node|deno|bun|workerd] [flags]`: the chat sample
 * on the chosen runtime, with the sample's flags and its `Listening on …` line.
 * Node runs the compiled sample (`npm run start:chat` builds it first); Deno and Bun
 * run the TypeScript; workerd runs workerd.ts bundled, each room a Durable Object,
 * served by Miniflare (there `--redis` has no effect: a room's object is where its
 * members meet).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const here = fileURLToPath(new URL("./", import.meta.url));
const RUNTIMES = ["node", "deno", "bun", "workerd"];

/** `--runtime NAME` (or `--runtime=NAME`) out of the flags; the rest are the sample's. */
function takeRuntime(args) {
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
function bin(name) {
  const local = `${root}node_modules/.bin/${name}`;
  return existsSync(local) ? local : name;
}

/** Runs the sample as a child that owns the terminal; signals reach it, its exit code is ours. */
function run(command, args) {
  const child = spawn(command, args, { cwd: root, stdio: "inherit" });
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? (signal === null ? 1 : 128 + 15)));
}

/** Bundles workerd.ts into one ES module for workerd, against the packages' TypeScript sources. */
async function bundleWorker() {
  const { rolldown } = await import("rolldown");
  const source = (path) => `${root}packages/${path}`;
  const bundle = await rolldown({
    input: `${here}workerd.ts`,
    platform: "neutral",
    resolve: {
      alias: {
        "@uniws/core": source("core/src/mod.ts"),
        "@uniws/cloudflare": source("adapter-cloudflare/src/mod.ts"),
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

async function onWorkerd(args) {
  // The flags are read as on every runtime (the compiled app.ts), so a usage error exits 2 the same way.
  const app = `${here}dist/app.js`;
  if (!existsSync(app)) {
    console.error(`${app} is missing: run \`npm run build\` first (npm run start:chat does)`);
    process.exit(1);
  }
  const { listeningLine, readConfig } = await import(app);
  const config = readConfig(args, (code) => process.exit(code));
  if (config === undefined) return;
  const contents = await bundleWorker();
  const { Miniflare } = await import("miniflare");
  const miniflare = new Miniflare({
    modules: [{ type: "ESModule", path: "chat-worker.mjs", contents }],
    compatibilityDate: "2024-09-23",
    durableObjects: { ROOMS: "ChatRoom" },
    host: config.host,
    port: config.port,
  });
  const url = await miniflare.ready;
  console.log(listeningLine(config.host, Number(url.port)));
  const stop = async () => {
    await miniflare.dispose();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

const { runtime, rest } = takeRuntime(process.argv.slice(2));
switch (runtime) {
  case "node":
    run(process.execPath, [`${here}dist/node.js`, ...rest]);
    break;
  case "deno":
    run(bin("deno"), ["run", "-A", `${here}deno.ts`, ...rest]);
    break;
  case "bun":
    run(bin("bun"), [`${here}bun.ts`, ...rest]);
    break;
  case "workerd":
    await onWorkerd(rest);
    break;
}
