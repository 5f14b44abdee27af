/**
 * The workspace as a publisher sees it: the packages the root package.json lists as workspaces (so a
 * package added later is covered without touching these tests), their manifests, the specifiers their
 * `exports` publish, and the runtime each entry is for.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const root: string = fileURLToPath(new URL("../../", import.meta.url));

/** The parts of a package.json these tests read. */
export interface Manifest {
  name: string;
  version: string;
  description?: string;
  keywords?: string[];
  license?: string;
  repository?: { type?: string; url?: string; directory?: string } | string;
  engines?: Record<string, string>;
  sideEffects?: boolean | string[];
  type?: string;
  files?: string[];
  exports?: Record<string, string | Record<string, string>>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/** One workspace package. */
export interface WorkspacePackage {
  /** Its folder, relative to the root (`packages/core`). */
  readonly dir: string;
  readonly manifest: Manifest;
  /** `deno.json`, when the package has one (every package publishes to JSR). */
  readonly denoJson: { name?: string; version?: string; exports?: string | Record<string, string>; publish?: unknown; imports?: Record<string, string> } | undefined;
}

/** The runtimes a published entry can be for. */
export type TargetRuntime = "node" | "deno" | "bun" | "workerd";

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, "utf8")) as T;
}

/** The root package.json. */
export const rootManifest: Manifest & { workspaces: string[] } = readJson(join(root, "package.json"));

/** Every workspace package, in the root's order. */
export function workspacePackages(): WorkspacePackage[] {
  return rootManifest.workspaces.map((dir) => {
    let denoJson: WorkspacePackage["denoJson"];
    try {
      denoJson = readJson(join(root, dir, "deno.json"));
    } catch {
      denoJson = undefined;
    }
    return { dir, manifest: readJson<Manifest>(join(root, dir, "package.json")), denoJson };
  });
}

/** The import specifiers a package publishes (`@uniws/hono`, `@uniws/hono/node`, …). */
export function entrySpecifiers(manifest: Manifest): string[] {
  const keys = Object.keys(manifest.exports ?? { ".": "" });
  return keys.map((key) => (key === "." ? manifest.name : `${manifest.name}/${key.replace(/^\.\//, "")}`));
}

/**
 * The runtime an entry is for, from its name: `…bun…`, `…deno…`, `…cloudflare…`/`…workers…`/`…workerd…`;
 * anything else runs on Node (and is runtime-neutral, like `@uniws/core`). A new package or subpath named
 * after its runtime is type-checked against that runtime's types without changes here.
 */
export function targetRuntime(specifier: string): TargetRuntime {
  if (/\bbun\b/.test(specifier)) return "bun";
  if (/\bdeno\b/.test(specifier)) return "deno";
  if (/cloudflare|\bworkers?\b|workerd|durable/.test(specifier)) return "workerd";
  return "node";
}

/** The source a build output came from (`dist/a/b.d.ts.map` → `src/a/b.ts`). */
export function sourceOf(output: string): string {
  return output.replace(/^dist\//, "src/").replace(/(\.d)?\.js(\.map)?$|\.d\.ts(\.map)?$/, ".ts");
}
