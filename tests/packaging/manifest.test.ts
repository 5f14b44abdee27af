/**
 * What each published package is, checked on the packed tarballs of every workspace package: its
 * package.json (metadata, ranges not pins, README and LICENSE inside, no build output without its source),
 * that every import in its published
 * files is a builtin or a declared dependency or peer, publint --strict, @arethetypeswrong/cli
 * (esm-only profile), and JSR's view: `deno doc --lint` on every entry and `deno publish --dry-run`.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { publint } from "publint";
import { formatMessage } from "publint/utils";
import ts from "typescript";
import { afterAll, describe, expect, inject, test } from "vitest";
import { type Manifest, readJson, root, sourceOf, workspacePackages } from "./workspace.ts";

const packages = workspacePackages();
const packs = inject("packs");
const unpacked = mkdtempSync(join(tmpdir(), "uniws-unpacked-"));
afterAll(() => rmSync(unpacked, { recursive: true, force: true }));

/** The tarball's files, extracted once: the folder holding its package.json. */
function extract(name: string): string {
  const target = join(unpacked, name.replace("/", "+"));
  if (statSync(target, { throwIfNoEntry: false }) === undefined) {
    mkdirSync(target, { recursive: true });
    execFileSync("tar", ["-xzf", packs[name]!, "-C", target]);
  }
  return join(target, "package");
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** The package a bare specifier names (`@scope/name/sub` → `@scope/name`). */
function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
}

/** One diagnostic of `deno doc --lint`: its code, message and where. */
interface DocLintProblem {
  readonly code: string;
  readonly message: string;
  readonly file: string;
}

function docLintProblems(output: string): DocLintProblem[] {
  const problems: DocLintProblem[] = [];
  const pattern = /^error\[([\w-]+)\]: (.*)\n\s*--> (.*?):\d+:\d+/gm;
  for (const match of output.matchAll(pattern)) problems.push({ code: match[1]!, message: match[2]!, file: match[3]! });
  return problems;
}

/**
 * A `private-type-ref` to a type imported from another package (Hono's `Context`, redis's options,
 * another @uniws package's types): that type is public in its own package and documented there. deno doc
 * still flags it when the package resolves to a local file (node_modules), a known bug
 * (denoland/deno#27364, fixed upstream for jsr:/npm: modules by denoland/deno#34339).
 */
function isCrossPackageTypeRef(problem: DocLintProblem): boolean {
  if (problem.code !== "private-type-ref") return false;
  const name = /references private type '([^'.\[]+)/.exec(problem.message)?.[1];
  if (name === undefined) return false;
  const source = readFileSync(problem.file, "utf8");
  for (const match of source.matchAll(/import\s+(?:type\s+)?\{([^}]*)\}\s*from\s*"([^"]+)"/g)) {
    const names = match[1]!.split(",").map((binding) => binding.trim().replace(/^type\s+/, "").split(/\s+as\s+/).pop()!.trim());
    if (names.includes(name)) return !match[2]!.startsWith(".");
  }
  return false;
}

const RUNTIME_BUILTINS = new Set(["bun"]); // `bun` and `bun:*` are Bun's own modules (types from @types/bun)
const EXACT_VERSION = /^\d+\.\d+\.\d+(-[\w.]+)?$/;

describe.each(packages.map((pkg) => [pkg.manifest.name, pkg] as const))("%s", (name, pkg) => {
  const manifest = pkg.manifest;

  test("PackageJson_HasTheMetadataRegistriesShow", () => {
    expect(manifest.description, "description").toMatch(/\S{10,}/);
    expect(manifest.keywords?.length, "keywords").toBeGreaterThan(0);
    expect(manifest.license).toBe("MIT");
    expect(manifest.repository).toMatchObject({ type: "git", url: expect.stringMatching(/^git\+https:\/\//), directory: pkg.dir });
    expect(Object.keys(manifest.engines ?? {}).length, "engines").toBeGreaterThan(0);
    expect(manifest.sideEffects).toBe(false);
    expect(manifest.type).toBe("module");
    expect(manifest.files).toEqual(expect.arrayContaining(["README.md", "LICENSE"]));
  });

  test("Dependencies_AreRangesNotExactPins_InternalOnesCaretTheWorkspaceVersion", () => {
    const versions = new Map(packages.map((other) => [other.manifest.name, other.manifest.version]));
    for (const field of ["dependencies", "peerDependencies", "optionalDependencies"] as const) {
      for (const [dependency, range] of Object.entries(manifest[field] ?? {})) {
        expect(range, `${field}.${dependency}`).not.toMatch(EXACT_VERSION);
        if (versions.has(dependency)) expect(range, `${field}.${dependency}`).toBe(`^${versions.get(dependency)}`);
      }
    }
    for (const optional of Object.keys(manifest.peerDependenciesMeta ?? {})) {
      expect(manifest.peerDependencies, `peerDependenciesMeta.${optional} without a peer`).toHaveProperty([optional]);
    }
  });

  test("Tarball_EveryBuildOutputHasItsSource", () => {
    const dir = extract(name);
    const outputs = filesUnder(join(dir, "dist")).map((file) => relative(dir, file));
    expect(outputs.length).toBeGreaterThan(0);
    expect(outputs.filter((output) => statSync(join(dir, sourceOf(output)), { throwIfNoEntry: false }) === undefined)).toEqual([]);
  });

  test("Tarball_HoldsReadmeAndTheRepositoryLicense", () => {
    const dir = extract(name);
    expect(readFileSync(join(dir, "LICENSE"), "utf8")).toBe(readFileSync(join(root, "LICENSE"), "utf8"));
    expect(readFileSync(join(dir, "README.md"), "utf8")).toMatch(new RegExp(`^# ${name.replace("/", "\\/")}\\n`));
  });

  test("PublishedImports_AreBuiltinsOrDeclaredDependencies", () => {
    const dir = extract(name);
    const packed = readJson<Manifest>(join(dir, "package.json"));
    const declared = new Set([
      packed.name,
      ...Object.keys(packed.dependencies ?? {}),
      ...Object.keys(packed.peerDependencies ?? {}),
      ...Object.keys(packed.optionalDependencies ?? {}),
    ]);
    const files = filesUnder(dir).filter((file) => /\.(m?js|ts|mts)$/.test(file));
    expect(files.length).toBeGreaterThan(0);
    const problems: string[] = [];
    const used = new Set<string>();
    for (const file of files) {
      const text = readFileSync(file, "utf8");
      const info = ts.preProcessFile(text, true, true);
      const specifiers = [...info.importedFiles.map((ref) => ref.fileName), ...info.typeReferenceDirectives.map((ref) => `@types/${ref.fileName}`)];
      const where = relative(dir, file);
      for (const specifier of specifiers) {
        if (specifier.startsWith(".")) {
          // A relative import must reach a published file (the .ts source's own name or its emitted .js).
          const target = join(file, "..", specifier);
          const candidates = [target, target.replace(/\.js$/, ".ts"), target.replace(/\.js$/, ".d.ts"), target.replace(/\.ts$/, ".d.ts")];
          if (!candidates.some((candidate) => statSync(candidate, { throwIfNoEntry: false })?.isFile())) problems.push(`${where}: '${specifier}' is not in the tarball`);
          continue;
        }
        if (specifier.startsWith("node:")) {
          if (!builtinModules.includes(specifier.slice(5))) problems.push(`${where}: '${specifier}' is not a Node builtin`);
          continue;
        }
        if (builtinModules.includes(specifier)) {
          problems.push(`${where}: '${specifier}' must be imported as 'node:${specifier}'`);
          continue;
        }
        const runtimeModule = packageOf(specifier.split(":")[0]!);
        if (RUNTIME_BUILTINS.has(runtimeModule)) {
          // Bun's modules need no install, but their types do: a declaration importing them needs @types/bun.
          if (file.endsWith(".d.ts") && !declared.has(`@types/${runtimeModule}`)) problems.push(`${where}: '${specifier}' needs @types/${runtimeModule} declared`);
          continue;
        }
        const dependency = packageOf(specifier);
        used.add(dependency);
        if (!declared.has(dependency)) problems.push(`${where}: '${specifier}' is not a declared dependency or peer`);
        if (statSync(join(root, "node_modules", dependency, "package.json"), { throwIfNoEntry: false }) === undefined) {
          problems.push(`${where}: '${dependency}' is not installed in the workspace (add it as a devDependency, so its types are checked)`);
          continue;
        }
        // Published declarations must not need another package's @types that users would not have.
        if (file.endsWith(".d.ts") && !dependency.startsWith("@types/")) {
          const types = `@types/${dependency.replace(/^@(.*)\//, "$1__")}`;
          const theirs = readJson<Manifest & { types?: string; typings?: string }>(join(root, "node_modules", dependency, "package.json"));
          const hasOwnTypes = theirs.types !== undefined || theirs.typings !== undefined || JSON.stringify(theirs.exports ?? {}).includes('"types"');
          if (!hasOwnTypes && !declared.has(types)) problems.push(`${where}: '${specifier}' has no types of its own and ${types} is not declared`);
        }
      }
      // Deno's and Bun's globals in published declarations need their types declared too.
      if (file.endsWith(".d.ts") && /\bDeno\./.test(text.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, "")) && !declared.has("@types/deno")) {
        problems.push(`${where}: uses the Deno namespace but @types/deno is not declared`);
      }
    }
    // And nothing declared goes unused (optional dependencies such as bufferutil are loaded by a dependency;
    // @types/* peers serve the declarations' runtime globals and modules).
    for (const field of ["dependencies", "peerDependencies"] as const) {
      for (const dependency of Object.keys(packed[field] ?? {})) {
        if (!dependency.startsWith("@types/") && !used.has(dependency)) problems.push(`${field}.${dependency} is declared but no published file imports it`);
      }
    }
    expect(problems).toEqual([]);
  });

  test("Publint_Strict_ReportsNothing", async () => {
    const tarball = readFileSync(packs[name]!);
    const { messages, pkg: packed } = await publint({ pack: { tarball: tarball.buffer.slice(tarball.byteOffset, tarball.byteOffset + tarball.byteLength) }, strict: true, level: "suggestion" });
    expect(messages.map((message) => formatMessage(message, packed!) ?? message.code)).toEqual([]);
  });

  test("AreTheTypesWrong_EsmOnlyProfile_ReportsNothing", () => {
    const result = spawnSync(join(root, "node_modules/.bin/attw"), ["--profile", "esm-only", "--format", "ascii", "--quiet", packs[name]!], { encoding: "utf8" });
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  test("Jsr_DenoDocLint_EveryEntryDocumented", () => {
    expect(pkg.denoJson, `${pkg.dir}/deno.json`).toBeDefined();
    expect(pkg.denoJson!.name).toBe(name);
    expect(pkg.denoJson!.version).toBe(manifest.version);
    const exports = pkg.denoJson!.exports!;
    const entries = typeof exports === "string" ? [exports] : Object.values(exports);
    // The JSR entries are the npm entries: same subpaths.
    const subpaths = typeof exports === "string" ? ["."] : Object.keys(exports);
    expect(subpaths.sort()).toEqual(Object.keys(manifest.exports ?? { ".": "" }).sort());
    const result = spawnSync(join(root, "node_modules/.bin/deno"), ["doc", "--lint", ...entries], { cwd: join(root, pkg.dir), encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
    const problems = docLintProblems(result.stderr).filter((problem) => !isCrossPackageTypeRef(problem));
    expect(problems).toEqual([]);
    expect(result.stderr).not.toMatch(/^error: (?!Found \d+ documentation lint error)/m);
  });
});

test("Jsr_DenoPublishDryRun_Succeeds_ForEveryWorkspacePackage", () => {
  const denoWorkspace = readJson<{ workspace: string[] }>(join(root, "deno.json")).workspace.map((dir) => dir.replace(/^\.\//, ""));
  expect(denoWorkspace.sort()).toEqual(packages.map((pkg) => pkg.dir).sort());
  const result = spawnSync(join(root, "node_modules/.bin/deno"), ["publish", "--dry-run", "--allow-dirty"], { cwd: root, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  const output = result.stdout + result.stderr;
  expect(output).toContain("Success Dry run complete");
  expect(output).not.toMatch(/^warning/m);
  for (const pkg of packages) {
    expect(output).toContain(`Simulating publish of ${pkg.manifest.name}@${pkg.manifest.version}`);
    // JSR shows the README; the license travels with the code.
    for (const file of ["README.md", "LICENSE"]) expect(output).toContain(`${pkg.dir}/${file}`);
  }
  expect(result.status).toBe(0);
});
