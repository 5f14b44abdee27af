/**
 * The packages as a new user gets them: the packed tarballs installed into fresh projects outside the
 * repository — Node with `npm install`, Bun with `bun install`, Deno through the packed files (deno.json
 * `imports` map every `@uniws/*` entry to the TypeScript sources in the tarball, the files JSR publishes),
 * workerd through a Worker bundled from the installed tarballs with rolldown and served by Miniflare.
 *
 * Each consumer imports every published entry for its runtime and type-checks with `--strict` and no
 * `skipLibCheck` (NodeNext and Bundler resolution; Node and workerd with a `lib` without DOM; Bun with its types;
 * Deno with `deno check`, and tsc with @types/deno for npm users of its entries);
 * then every checked example of README.md and docs/*.md (docs/README.md) is type-checked the same way, and
 * the servers among them run as written and echo through a real WebSocket client.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { connect as http2Connect } from "node:http2";
import { get as httpsGet } from "node:https";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { WebSocket } from "ws";
import { allBlocks, type CheckedExample } from "./docs.ts";
import { entrySpecifiers, readJson, root, rootManifest, type TargetRuntime, targetRuntime, workspacePackages } from "./workspace.ts";

const packs = inject("packs");
const packages = workspacePackages();
const bin = (name: string) => join(root, "node_modules/.bin", name);

/** A checked documentation example, with the port it is run on. */
interface Example extends CheckedExample {
  readonly where: string;
  readonly code: string;
  /** Chosen before the run (a free port in place of the docs' 5000); 0 for an example that does not serve. */
  port: number;
}

/** Every checked block of the docs; each becomes a file of each consumer project (its `file=` or a generated name). */
const examples: Example[] = [];
for (const block of allBlocks(root)) {
  if (block.check === undefined) continue;
  if (examples.some((example) => example.file === block.check!.file)) throw new Error(`${block.where}: another checked block is already ${block.check.file}`);
  examples.push({ ...block.check, where: block.where, code: block.code, port: 0 });
}
const temporary: string[] = [];
afterAll(() => {
  for (const dir of temporary) rmSync(dir, { recursive: true, force: true });
});

function freshDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `uniws-${name}-`));
  temporary.push(dir);
  return dir;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

/** The examples a runtime type-checks: its own and the shared modules (`any`) they import. */
function examplesFor(runtime: TargetRuntime): Example[] {
  return examples.filter((example) => example.runtime === runtime || example.runtime === "any");
}

/** Every published entry (`@uniws/hono/node`, …) a runtime's consumer imports. `@uniws/core` goes everywhere. */
function entriesFor(runtime: TargetRuntime): string[] {
  const all = packages.flatMap((pkg) => entrySpecifiers(pkg.manifest));
  return all.filter((specifier) => targetRuntime(specifier) === runtime || specifier === "@uniws/core");
}

/** A module importing every entry of a runtime, so their declarations are all type-checked. */
function consumerModule(specifiers: string[]): string {
  const lines = specifiers.map((specifier, index) => `import * as entry${index} from "${specifier}";`);
  lines.push(`export const entries: object[] = [${specifiers.map((_, index) => `entry${index}`).join(", ")}];`);
  // Misuse the published types must refuse (an unused @ts-expect-error fails the check).
  lines.push(
    `import { UniWebSocket } from "@uniws/core";`,
    `export function socketWithoutAccept(): unknown {`,
    `  // @ts-expect-error a socket comes from context.accept() only: the constructor is private`,
    `  return new UniWebSocket();`,
    `}`,
  );
  return lines.join("\n") + "\n";
}

/** The third-party packages the examples import, at the versions the workspace develops against. */
function exampleDependencies(): string[] {
  const wanted = new Set<string>();
  const ours = new Set(packages.map((pkg) => pkg.manifest.name));
  for (const example of examples) {
    for (const { fileName } of ts.preProcessFile(example.code, true, true).importedFiles) {
      if (fileName.startsWith(".") || fileName.startsWith("node:")) continue;
      const name = fileName.startsWith("@") ? fileName.split("/").slice(0, 2).join("/") : fileName.split("/")[0]!;
      if (!ours.has(name)) wanted.add(name);
    }
  }
  return [...wanted].map((name) => {
    const range = rootManifest.devDependencies?.[name];
    if (range === undefined) throw new Error(`The docs import '${name}': add it to the root devDependencies`);
    return `${name}@${range}`;
  });
}

function writeExamples(dir: string, list: Example[]): void {
  for (const example of list) writeFileSync(join(dir, example.file), example.code.replace(/\b5000\b/g, String(example.port)));
}

/** Runs a command; on failure the error carries its whole output. */
function run(command: string, args: string[], cwd: string): string {
  try {
    return execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(" ")} failed in ${cwd}:\n${stdout ?? ""}${stderr ?? ""}`);
  }
}

/** The workspace's `tsc --strict` without skipLibCheck over `files`, with the given resolution and environment. */
function typeCheck(dir: string, label: string, files: string[], options: Record<string, unknown>): void {
  const config = {
    compilerOptions: {
      // The strictest settings users turn on: the published types and the docs must hold under them.
      strict: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
      skipLibCheck: false,
      target: "ES2022",
      noEmit: true,
      allowImportingTsExtensions: true,
      ...options,
    },
    files,
  };
  const name = `tsconfig.${label}.json`;
  writeFileSync(join(dir, name), JSON.stringify(config, null, 2));
  run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", name], dir);
}

beforeAll(async () => {
  for (const example of examples) if (example.ws !== undefined) example.port = await freePort();
});

/** Starts a documented server, waits for its port, checks it, and makes sure SIGINT ends it. */
async function checkServer(example: Example, command: string, args: string[], cwd: string): Promise<void> {
  const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    await waitForPort(example.port, child, () => output);
    await checkServing(example, example.port);
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(`${example.where} (${example.file}): ${(error as Error).message}\n--- its output ---\n${output}`);
  }
  child.kill("SIGINT");
  const ended = await Promise.race([exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 10_000))]);
  if (!ended) child.kill("SIGKILL");
  expect(ended, `${example.where}: the server did not end on SIGINT\n${output}`).toBe(true);
}

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before listening`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.once("connect", () => (socket.destroy(), resolve(true)));
      socket.once("error", () => resolve(false));
      socket.connect(port, "127.0.0.1");
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing listened on ${port} within 30 s\n${output()}`);
}

/** A plain GET answers 200 (over HTTP/1.1, and over HTTP/2 too for a TLS server), and a WebSocket echoes. */
async function checkServing(example: CheckedExample, port: number): Promise<void> {
  const origin = `${example.tls ? "https" : "http"}://127.0.0.1:${port}`;
  if (example.page !== undefined) {
    const status = await new Promise<number>((resolve, reject) => {
      const request = (example.tls ? httpsGet : httpGet)(`${origin}${example.page}`, { rejectUnauthorized: false }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.on("error", reject);
    });
    expect(status, `GET ${example.page} over HTTP/1.1`).toBe(200);
    if (example.tls) {
      const session = http2Connect(origin, { rejectUnauthorized: false });
      try {
        const h2Status = await new Promise<number>((resolve, reject) => {
          const stream = session.request({ ":path": example.page! });
          stream.on("response", (headers) => resolve(Number(headers[":status"])));
          stream.on("error", reject);
          stream.resume();
        });
        expect(h2Status, `GET ${example.page} over HTTP/2`).toBe(200);
      } finally {
        session.close();
      }
    }
  }
  if (example.ws !== undefined) {
    const client = new WebSocket(`${example.tls ? "wss" : "ws"}://127.0.0.1:${port}${example.ws}`, { rejectUnauthorized: false });
    try {
      const token = `uniws packaging ${Math.random()}`;
      const echoed = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no echo on ${example.ws} within 10 s`)), 10_000);
        client.on("open", () => client.send(token));
        client.on("message", (data, isBinary) => {
          // Examples may greet first: wait for the echo of our message.
          if (!isBinary && data.toString() === token) {
            clearTimeout(timer);
            resolve(data.toString());
          }
        });
        client.on("error", (error) => (clearTimeout(timer), reject(error)));
        client.on("unexpected-response", (_, response) => (clearTimeout(timer), reject(new Error(`upgrade answered ${response.statusCode}`))));
      });
      expect(echoed).toBe(token);
    } finally {
      client.terminate();
    }
  }
}

const WORKERS_TYPES = "@cloudflare/workers-types";
const workersTypes = rootManifest.devDependencies?.[WORKERS_TYPES] !== undefined;

function served(runtime: TargetRuntime): Example[] {
  return examples.filter((example) => example.runtime === runtime && example.ws !== undefined);
}

describe("Node consumer (npm install of the tarballs)", () => {
  let dir = "";

  beforeAll(() => {
    dir = freshDir("node-consumer");
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "uniws-node-consumer", private: true, type: "module" }));
    // @types/deno: the optional peer of @uniws/deno, for tsc users of its npm package.
    const tools = ["@types/node", "@types/deno", ...(workersTypes ? [WORKERS_TYPES] : [])].map((name) => `${name}@${rootManifest.devDependencies![name]}`);
    run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", ...Object.values(packs), ...exampleDependencies(), ...tools], dir);
    writeExamples(dir, examples);
    writeFileSync(join(dir, "consumer-node.ts"), consumerModule(entriesFor("node")));
    writeFileSync(join(dir, "consumer-workerd.ts"), consumerModule(entriesFor("workerd")));
    writeFileSync(join(dir, "consumer-deno.ts"), consumerModule(entriesFor("deno")));
    if (examples.some((example) => example.tls)) {
      execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", "key.pem", "-out", "cert.pem"], { cwd: dir, stdio: "ignore" });
    }
  });

  test("Installed_OneCopyOfEachPackage_FromTheTarballs", () => {
    const tree = JSON.parse(run("npm", ["ls", "--all", "--json"], dir)) as { dependencies: Record<string, { resolved?: string }> };
    for (const pkg of packages) expect(tree.dependencies[pkg.manifest.name]?.resolved, pkg.manifest.name).toMatch(/^file:.*\.tgz$/);
    const listing = run("npm", ["ls", "--all", "--parseable"], dir).split("\n");
    for (const pkg of packages) expect(listing.filter((path) => path.endsWith(`/node_modules/${pkg.manifest.name}`)), pkg.manifest.name).toHaveLength(1);
  });

  for (const [resolution, module] of [["NodeNext", "NodeNext"], ["Bundler", "ESNext"]] as const) {
    test(`TypeCheck_PublishedTypes_${resolution}_StrictWithoutSkipLibCheck_NoDomLib`, () => {
      typeCheck(dir, `types-${resolution}`, ["consumer-node.ts"], { module, moduleResolution: resolution, lib: ["ES2023"], types: ["node"] });
    });
  }

  // The examples add the DOM lib: @hono/node-server's own declarations name DOM types (RequestInfo).
  test("TypeCheck_DocExamples_NodeNext_StrictWithoutSkipLibCheck", () => {
    // Emits too: the servers below run this output.
    typeCheck(dir, "examples-nodenext", examplesFor("node").map((example) => example.file), {
      module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2023", "DOM"], types: ["node"],
      noEmit: false, outDir: "out", rewriteRelativeImportExtensions: true,
    });
  });

  test("TypeCheck_DocExamples_Bundler_StrictWithoutSkipLibCheck", () => {
    typeCheck(dir, "examples-bundler", examplesFor("node").map((example) => example.file), { module: "ESNext", moduleResolution: "Bundler", lib: ["ES2023", "DOM"], types: ["node"] });
  });

  // Deno's entries from npm, for tsc users: @types/deno needs ESNext and DOM beside it.
  for (const [resolution, module] of [["NodeNext", "NodeNext"], ["Bundler", "ESNext"]] as const) {
    test(`TypeCheck_PublishedTypes_${resolution}_StrictWithoutSkipLibCheck_DenoTypes`, () => {
      typeCheck(dir, `deno-types-${resolution}`, ["consumer-deno.ts"], { module, moduleResolution: resolution, lib: ["ESNext", "DOM"], types: ["deno"] });
    });
  }

  test("TypeCheck_Workerd_Bundler_StrictWithoutSkipLibCheck", () => {
    const files = ["consumer-workerd.ts", ...examplesFor("workerd").map((example) => example.file)];
    // Cloudflare's own types when the workspace develops against them (a Durable Objects binding needs them),
    // else the web worker lib.
    const environment = workersTypes ? { lib: ["ES2023"], types: [WORKERS_TYPES] } : { lib: ["ES2023", "WebWorker"], types: [] };
    typeCheck(dir, "workerd", files, { module: "ESNext", moduleResolution: "Bundler", ...environment });
  });

  test.each(served("node").map((example) => [example.where, example] as const))("Example_%s_ServesAndEchoes", async (_, example) => {
    await checkServer(example, process.execPath, [join("out", example.file.replace(/\.ts$/, ".js"))], dir);
  });

  describe("Deno, through the packed files", () => {
    beforeAll(() => {
      // What JSR publishes: each package's sources, entries as its deno.json exports them.
      const imports: Record<string, string> = {};
      for (const pkg of packages) {
        const target = join(dir, "jsr", pkg.manifest.name);
        mkdirSync(target, { recursive: true });
        cpSync(join(dir, "node_modules", pkg.manifest.name), target, { recursive: true });
        const exports = pkg.denoJson?.exports ?? "./src/mod.ts";
        for (const [key, path] of Object.entries(typeof exports === "string" ? { ".": exports } : exports)) {
          imports[key === "." ? pkg.manifest.name : `${pkg.manifest.name}/${key.slice(2)}`] = `./jsr/${pkg.manifest.name}/${path.slice(2)}`;
        }
      }
      // The workspace's own settings: the sources here are local files, so Deno checks them with these, while
      // a JSR user's check reports nothing from remote modules (tsc above checks users' strictest settings).
      const compilerOptions = readJson<{ compilerOptions: object }>(join(root, "deno.json")).compilerOptions;
      writeFileSync(join(dir, "deno.json"), JSON.stringify({ imports, nodeModulesDir: "manual", compilerOptions }, null, 2));
    });

    test("TypeCheck_DenoCheck_Strict", () => {
      run(bin("deno"), ["check", "consumer-deno.ts", ...examplesFor("deno").map((example) => example.file)], dir);
    });

    test.each(served("deno").map((example) => [example.where, example] as const))("Example_%s_ServesAndEchoes", async (_, example) => {
      await checkServer(example, bin("deno"), ["run", "-A", example.file], dir);
    });
  });

  describe("workerd, a Worker bundled from the tarballs", () => {
    test.each(served("workerd").map((example) => [example.where, example] as const))("Example_%s_ServesAndEchoes", async (_, example) => {
      const { rolldown } = await import("rolldown");
      const bundle = await rolldown({ input: join(dir, example.file), platform: "neutral", cwd: dir, logLevel: "warn" });
      let code: string;
      try {
        code = (await bundle.generate({ format: "esm" })).output[0].code;
      } finally {
        await bundle.close();
      }
      const { Miniflare } = await import("miniflare");
      const miniflare = new Miniflare({
        modules: [{ type: "ESModule", path: "worker.mjs", contents: code }],
        compatibilityDate: "2024-09-23",
        durableObjects: example.durableObjects,
        host: "127.0.0.1",
        port: example.port,
      });
      try {
        await miniflare.ready;
        await checkServing(example, example.port);
      } finally {
        await miniflare.dispose();
      }
    });
  });
});

describe("Bun consumer (bun install of the tarballs)", () => {
  let dir = "";

  beforeAll(() => {
    dir = freshDir("bun-consumer");
    // Every @uniws package from its tarball, also where another package depends on it.
    const fromTarballs = Object.fromEntries(Object.entries(packs).map(([name, path]) => [name, `file:${path}`]));
    const thirdParty = Object.fromEntries(exampleDependencies().map((spec) => [spec.slice(0, spec.lastIndexOf("@")), spec.slice(spec.lastIndexOf("@") + 1)]));
    const manifest = {
      name: "uniws-bun-consumer",
      private: true,
      type: "module",
      dependencies: { ...fromTarballs, ...thirdParty, "@types/bun": rootManifest.devDependencies!["@types/bun"] },
      overrides: fromTarballs,
    };
    writeFileSync(join(dir, "package.json"), JSON.stringify(manifest, null, 2));
    run(bin("bun"), ["install", "--no-progress"], dir);
    writeExamples(dir, examples);
    writeFileSync(join(dir, "consumer-bun.ts"), consumerModule(entriesFor("bun")));
  });

  test("BunCondition_ResolvesToThePublishedSources", () => {
    // The "bun" export condition gives Bun the TypeScript sources: the code the Bun test suite runs
    // (Node and Deno run the built dist). The examples below run through it.
    for (const pkg of packages) {
      const resolved = run(bin("bun"), ["-e", `console.log(Bun.resolveSync(${JSON.stringify(pkg.manifest.name)}, process.cwd()))`], dir).trim();
      const expected = (pkg.manifest.exports?.["."] as Record<string, string> | undefined)?.["bun"];
      if (expected !== undefined) expect(resolved, pkg.manifest.name).toBe(join(dir, "node_modules", pkg.manifest.name, expected));
    }
  });

  for (const [resolution, module] of [["NodeNext", "NodeNext"], ["Bundler", "ESNext"]] as const) {
    test(`TypeCheck_PublishedTypes_${resolution}_StrictWithoutSkipLibCheck_BunTypes`, () => {
      typeCheck(dir, `types-${resolution}`, ["consumer-bun.ts"], { module, moduleResolution: resolution, lib: ["ESNext"], types: ["bun"] });
    });
  }

  // The examples add the DOM lib: hono/bun's own declarations name a DOM type (BinaryType).
  test("TypeCheck_DocExamples_Bundler_StrictWithoutSkipLibCheck_BunTypes", () => {
    typeCheck(dir, "examples-bundler", examplesFor("bun").map((example) => example.file), { module: "ESNext", moduleResolution: "Bundler", lib: ["ESNext", "DOM"], types: ["bun"] });
  });

  test.each(served("bun").map((example) => [example.where, example] as const))("Example_%s_ServesAndEchoes", async (_, example) => {
    await checkServer(example, bin("bun"), [example.file], dir);
  });
});

test("EveryServedRuntime_HasAnExample", () => {
  // The README shows each runtime; the docs checker must be running one per runtime.
  for (const runtime of ["node", "deno", "bun", "workerd"] as const) expect(served(runtime).length, runtime).toBeGreaterThan(0);
  expect(readFileSync(join(root, "README.md"), "utf8")).toContain("<!-- check:");
});
