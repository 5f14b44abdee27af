/**
 * `npm run start:hono -- --runtime node|deno|bun|workerd [flags]`: the echo sample
 * as a Hono app (examples/echo/hono.ts) on the chosen runtime, with the flags of
 * `npm start` and the same `Listening on …` line. Node runs the compiled sample
 * (built here first, as `npm start` does); Deno and Bun run the TypeScript; workerd
 * runs it bundled, as a Worker served by Miniflare.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";

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

/** Bundles hono.ts into one ES module for workerd (the Node-, Deno- and Bun-only imports stay out). */
async function bundleWorker() {
  const { rolldown } = await import("rolldown");
  const source = (path) => `${root}packages/${path}`;
  // The Worker's entry: hono.ts's Worker as the default export, and what this script calls before serving it.
  const entry = `export { echoWorker as default, listeningLine, readHonoConfig } from ${JSON.stringify(`${here}hono.ts`)};`;
  const bundle = await rolldown({
    input: "worker-entry",
    plugins: [{ name: "worker-entry", resolveId: (id) => (id === "worker-entry" ? id : null), load: (id) => (id === "worker-entry" ? entry : null) }],
    platform: "neutral",
    external: [/^node:/, "@hono/node-server", "@uniws/hono/node", "@uniws/hono/deno", "@uniws/hono/bun"],
    resolve: {
      alias: {
        "@uniws/core": source("core/src/mod.ts"),
        "@uniws/cloudflare": source("adapter-cloudflare/src/mod.ts"),
        "@uniws/hono/cloudflare-workers": source("adapter-hono/src/cloudflare-workers.ts"),
        "@uniws/hono": source("adapter-hono/src/mod.ts"),
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
  const contents = await bundleWorker();
  mkdirSync(`${here}dist`, { recursive: true });
  const path = `${here}dist/hono-worker.mjs`;
  writeFileSync(path, contents);
  // The Worker module checks the flags here, where a usage error can still exit 2.
  const worker = await import(pathToFileURL(path).href);
  const config = worker.readHonoConfig(args, (code) => process.exit(code));
  if (config === undefined) return;
  const secure = config.tlsCert !== undefined && config.tlsKey !== undefined;
  const { Miniflare } = await import("miniflare");
  const miniflare = new Miniflare({
    modules: [{ type: "ESModule", path: "hono-worker.mjs", contents }],
    compatibilityDate: "2024-09-23",
    bindings: { ECHO_ARGS: JSON.stringify(args) },
    host: config.host,
    port: config.port,
    ...(secure ? { httpsCertPath: config.tlsCert, httpsKeyPath: config.tlsKey } : {}),
  });
  const url = await miniflare.ready;
  console.log(worker.listeningLine(secure, config.host, Number(url.port)));
  const stop = async () => {
    await miniflare.dispose();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

const { runtime, rest } = takeRuntime(process.argv.slice(2));
switch (runtime) {
  case "node": {
    const built = spawnSync(bin("tsc"), ["-b", `${here}tsconfig.json`], { cwd: root, stdio: "inherit" });
    if (built.status !== 0) process.exit(built.status ?? 1);
    run(process.execPath, [`${here}dist/hono.js`, ...rest]);
    break;
  }
  case "deno":
    run(bin("deno"), ["run", "-A", `${here}hono.ts`, ...rest]);
    break;
  case "bun":
    run(bin("bun"), [`${here}hono.ts`, ...rest]);
    break;
  case "workerd":
    await onWorkerd(rest);
    break;
}
