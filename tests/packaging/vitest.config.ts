import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

// The packaging suite (npm run test:packaging): the packed tarballs installed as users get them. It runs
// on Node only (it starts Deno, Bun and workerd itself), one file at a time: installs are heavy.
export default defineConfig({
  root: fileURLToPath(new URL("../../", import.meta.url)),
  test: {
    include: ["tests/packaging/**/*.test.ts"],
    globalSetup: ["tests/packaging/global-setup.ts"],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
  },
});
