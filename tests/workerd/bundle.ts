/** Bundles a workerd test Worker into one ES module with rolldown (vite's bundler), against the TypeScript sources. */
import { fileURLToPath } from "node:url";
import { rolldown } from "rolldown";

const source = (path: string) => fileURLToPath(new URL(`../../packages/${path}`, import.meta.url));

/** The Worker script `entry` (a path, or a file of this directory by default) as one ES module. */
export async function bundleWorker(entry: string = fileURLToPath(new URL("./worker.ts", import.meta.url))): Promise<string> {
  const bundle = await rolldown({
    input: entry,
    platform: "neutral",
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
