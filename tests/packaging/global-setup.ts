/**
 * Builds the packages and packs every workspace package once for the whole packaging suite, into a
 * folder outside the repository; the tests read the tarballs from there (`inject("packs")`).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
import { root, rootManifest } from "./workspace.ts";

/** Where each package's tarball is, by package name. */
export type Packs = Record<string, string>;

declare module "vitest" {
  export interface ProvidedContext {
    packs: Packs;
    packDir: string;
  }
}

export default function setup(project: TestProject): () => void {
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
