/**
 * The code blocks of README.md and docs/*.md, and the marker each TypeScript block carries
 * (the convention is described in docs/README.md):
 *
 * - `<!-- check: RUNTIME [file=NAME.ts] [ws=PATH] [page=PATH] [tls] [durable=BINDING:Class,…] -->` — a
 *   complete program, type-checked for RUNTIME (`node`, `deno`, `bun`, `workerd`, or `any` for a module every
 *   runtime's examples may import), saved as NAME.ts when given. With `ws=PATH` it is a server: the test runs
 *   it and echoes a message through a WebSocket at PATH; with `page=PATH` it also expects a 200 for a plain GET
 *   of PATH. `tls` means HTTPS. `durable` gives a workerd example its Durable Object bindings.
 * - `<!-- fragment of: TARGET -->` — part of a complete program: TARGET is a repository file
 *   (`examples/echo/app.ts`) or the `file=` name of a checked block. Each code line of the fragment must
 *   appear in TARGET, in order.
 *
 * Blocks in other languages (`sh`, `text`) are not programs; a block without a language is an error.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { TargetRuntime } from "./workspace.ts";

/** One fenced code block. */
export interface CodeBlock {
  /** `docs/hono.md:13`, for messages. */
  readonly where: string;
  readonly language: string;
  readonly code: string;
  readonly check?: CheckedExample;
  readonly fragmentOf?: string;
}

/** What a `check:` marker says. */
export interface CheckedExample {
  readonly runtime: TargetRuntime | "any";
  /** The file the block is saved as in the consumer project. */
  readonly file: string;
  /** The WebSocket path a server example echoes on. */
  readonly ws?: string;
  /** A path a server example answers 200 to. */
  readonly page?: string;
  readonly tls: boolean;
  /** A workerd example's Durable Object bindings: binding name → exported class name. */
  readonly durableObjects: Record<string, string>;
}

const TYPESCRIPT = new Set(["ts", "typescript", "js", "javascript", "tsx"]);

/** README.md and every docs/*.md, relative to `root`. */
export function documentationFiles(root: string): string[] {
  return ["README.md", ...readdirSync(join(root, "docs")).filter((name) => name.endsWith(".md")).map((name) => `docs/${name}`)];
}

/** The blocks of one Markdown file. Throws on a malformed marker or an unlabelled block. */
export function codeBlocks(root: string, file: string): CodeBlock[] {
  const lines = readFileSync(join(root, file), "utf8").split("\n");
  const blocks: CodeBlock[] = [];
  let marker: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const comment = /^<!--\s*((?:check|fragment of):.*?)\s*-->\s*$/.exec(line);
    if (comment !== null) {
      marker = comment[1];
      continue;
    }
    const fence = /^(`{3,})(\S*)\s*$/.exec(line);
    if (fence === null) {
      if (line.trim() !== "") marker = undefined; // a marker belongs to the block right after it
      continue;
    }
    const where = `${file}:${i + 1}`;
    const end = lines.findIndex((candidate, index) => index > i && candidate.startsWith(fence[1]!) && candidate.trim() === fence[1]);
    if (end === -1) throw new Error(`${where}: unclosed code block`);
    const code = lines.slice(i + 1, end).join("\n") + "\n";
    const language = fence[2]!;
    if (language === "") throw new Error(`${where}: a code block needs a language (ts for programs, sh for commands, text for the rest)`);
    blocks.push({ where, language, code, ...parseMarker(where, marker, blocks.length) });
    marker = undefined;
    i = end;
  }
  return blocks;
}

function parseMarker(where: string, marker: string | undefined, index: number): Pick<CodeBlock, "check" | "fragmentOf"> {
  if (marker === undefined) return {};
  if (marker.startsWith("fragment of:")) return { fragmentOf: marker.slice("fragment of:".length).trim() };
  const [runtime, ...options] = marker.slice("check:".length).trim().split(/\s+/);
  if (!["node", "deno", "bun", "workerd", "any"].includes(runtime!)) throw new Error(`${where}: unknown runtime '${runtime}' in check marker`);
  const settings = new Map(options.map((option) => [option.split("=")[0]!, option.split("=")[1] ?? ""]));
  for (const key of settings.keys()) if (!["file", "ws", "page", "tls", "durable"].includes(key)) throw new Error(`${where}: unknown check option '${key}'`);
  const slug = where.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
  return {
    check: {
      runtime: runtime as CheckedExample["runtime"],
      file: settings.get("file") ?? `example-${slug}-${index}.ts`,
      ws: settings.get("ws"),
      page: settings.get("page"),
      tls: settings.has("tls"),
      durableObjects: Object.fromEntries((settings.get("durable") ?? "").split(",").filter(Boolean).map((pair) => pair.split(":") as [string, string])),
    },
  };
}

/** Whether a block is a TypeScript or JavaScript program (the blocks that need a marker). */
export function isProgram(block: CodeBlock): boolean {
  return TYPESCRIPT.has(block.language);
}

/** The code lines of a snippet, for comparing a fragment with its program: trimmed, comments dropped. */
export function codeLines(code: string): string[] {
  return code
    .split("\n")
    .map((line) => line.replace(/\s+\/\/.*$/, "").trim())
    .filter((line) => line !== "" && !line.startsWith("//"));
}

/** Every block of README.md and docs/*.md. */
export function allBlocks(root: string): CodeBlock[] {
  return documentationFiles(root).flatMap((file) => codeBlocks(root, file));
}
