import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const source = (dir: string) => fileURLToPath(new URL(`./packages/${dir}/src/mod.ts`, import.meta.url));
const sourceFile = (dir: string, file: string) => fileURLToPath(new URL(`./packages/${dir}/src/${file}.ts`, import.meta.url));

const global = globalThis as { Deno?: unknown; Bun?: unknown };
const onNode = global.Deno === undefined && global.Bun === undefined;

// Tests run against the TypeScript sources on every runtime (Bun reads them through the "bun" export condition).
export default defineConfig({
  resolve: {
    alias: {
      "@uniws/core": source("core"),
      "@uniws/node": source("adapter-node"),
      "@uniws/deno": source("adapter-deno"),
      "@uniws/bun": source("adapter-bun"),
      "@uniws/cloudflare": source("adapter-cloudflare"),
      // Subpaths before the package itself: the first alias that matches wins.
      "@uniws/hono/node": sourceFile("adapter-hono", "node"),
      "@uniws/hono/deno": sourceFile("adapter-hono", "deno"),
      "@uniws/hono/bun": sourceFile("adapter-hono", "bun"),
      "@uniws/hono/cloudflare-workers": sourceFile("adapter-hono", "cloudflare-workers"),
      "@uniws/hono": source("adapter-hono"),
      "@uniws/redis": source("redis"),
    },
  },
  test: {
    // tests/*.test.ts is the shared behaviour suite, run unchanged on Node, Deno and Bun. tests/node/ holds what
    // only Node can host (HTTP/2 extended CONNECT, the browser and workerd drivers, which start every runtime's
    // sample themselves); Deno and Bun run the shared suite.
    // tests/deno/ likewise holds what only Deno's adapter does (its documented differences, the sample over TLS).
    include: onNode ? ["tests/*.test.ts", "tests/node/**/*.test.ts"] : global.Deno !== undefined ? ["tests/*.test.ts", "tests/deno/**/*.test.ts"] : ["tests/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
