/**
 * `npm run start:chat -- [--runtime node|deno|bun|workerd] [flags]`: the chat sample
 * on the chosen runtime, with the sample's flags and its `Listening on …` line.
 * Node runs the compiled sample (`npm run start:chat` builds it first); Deno and Bun
 * run the TypeScript; workerd runs workerd.ts bundled, each room a Durable Object,
 * served by Miniflare (there `--redis` has no effect: a room's object is where its
 * members meet).
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { bin, bundleWorker, run, stopOnSignals, takeRuntime } from "../launch.mjs";

const here = fileURLToPath(new URL("./", import.meta.url));

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
  const contents = await bundleWorker({ input: `${here}workerd.ts` });
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
  stopOnSignals(miniflare);
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
