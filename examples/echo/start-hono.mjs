/**
 * `npm run start:hono -- --runtime node|deno|bun|workerd [flags]`: the echo sample
 * as a Hono app (examples/echo/hono.ts) on the chosen runtime, with the flags of
 * `npm start` and the same `Listening on …` line. Node runs the compiled sample
 * (built here first, as `npm start` does); Deno and Bun run the TypeScript; workerd
 * runs it bundled, as a Worker served by Miniflare.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { bin, bundleWorker, root, run, stopOnSignals, takeRuntime } from "../launch.mjs";

const here = fileURLToPath(new URL("./", import.meta.url));

/** Bundles hono.ts into one ES module for workerd (the Node-, Deno- and Bun-only imports stay out). */
function bundleHonoWorker() {
  const source = (path) => `${root}packages/${path}`;
  // The Worker's entry: hono.ts's Worker as the default export, and what this script calls before serving it.
  const entry = `export { echoWorker as default, listeningLine, readHonoConfig } from ${JSON.stringify(`${here}hono.ts`)};`;
  return bundleWorker({
    input: "worker-entry",
    plugins: [{ name: "worker-entry", resolveId: (id) => (id === "worker-entry" ? id : null), load: (id) => (id === "worker-entry" ? entry : null) }],
    external: [/^node:/, "@hono/node-server", "@uniws/hono/node", "@uniws/hono/deno", "@uniws/hono/bun"],
    alias: {
      "@uniws/hono/cloudflare-workers": source("adapter-hono/src/cloudflare-workers.ts"),
      "@uniws/hono": source("adapter-hono/src/mod.ts"),
    },
  });
}

async function onWorkerd(args) {
  const contents = await bundleHonoWorker();
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
  stopOnSignals(miniflare);
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
