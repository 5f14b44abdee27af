import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const source = (dir: string) => fileURLToPath(new URL(`./packages/${dir}/src/mod.ts`, import.meta.url));

// Tests run against the TypeScript sources on every runtime (Bun reads them through the "bun" export condition).
export default defineConfig({
  resolve: {
    alias: {
      "@uniws/core": source("core"),
      "@uniws/node": source("adapter-node"),
      "@uniws/deno": source("adapter-deno"),
      "@uniws/bun": source("adapter-bun"),
      "@uniws/hono": source("adapter-hono"),
    },
  },
  test: {
    include: ["tests/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
