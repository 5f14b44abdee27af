/**
 * Builds the packages and packs every workspace package once for the whole packaging suite, into a
 * folder outside the repository; the tests read the tarballs from there (`inject("packs")`).
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { root, rootManifest, sourceOf } from "./workspace.ts";

/** Where each package's tarball is, by package name. */
export type Packs = Record<string, string>;

declare module "vitest" {
  export interface ProvidedContext {
    packs: Packs;
    packDir: string;
  }
}

/** Deletes build outputs whose source is gone (a file removed or renamed since the last build): they would ship. */
function removeStaleOutputs(): void {
  for (const dir of rootManifest.workspaces) {
    const dist = join(root, dir, "dist");
    if (!existsSync(dist)) continue;
    for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const output = join(entry.parentPath, entry.name).slice(join(root, dir).length + 1);
      if (!existsSync(join(root, dir, sourceOf(output)))) rmSync(join(root, dir, output));
    }
  }
}

export default function setup(project: TestProject): () => void {
  removeStaleOutputs();
  execFileSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: "inherit" });
  const packDir = mkdtempSync(join(tmpdir(), "uniws-packs-"));
  const workspaces = rootManifest.workspaces.flatMap((dir) => ["--workspace", dir]);
  const output = execFileSync("npm", ["pack", "--json", "--pack-destination", packDir, ...workspaces], { cwd: root, encoding: "utf8" });
  const packs: Packs = {};
  for (const pack of JSON.parse(output) as Array<{ name: string; filename: string }>) packs[pack.name] = join(packDir, pack.filename);
  project.provide("packs", packs);
  project.provide("packDir", packDir);
  return () => rmSync(packDir, { recursive: true, force: true });
}
