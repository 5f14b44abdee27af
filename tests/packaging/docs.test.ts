/**
 * The documentation's code blocks follow docs/README.md: every TypeScript block is a checked program
 * (run by consumers.test.ts) or a marked fragment whose lines appear, in order, in the program it names.
 * A block without a language, or a malformed marker, fails loading this file (docs.ts throws).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { allBlocks, codeLines, documentationFiles, isProgram } from "./docs.ts";
import { root } from "./workspace.ts";

const blocks = allBlocks(root);

test("Docs_HaveCodeBlocks_InReadmeAndDocs", () => {
  expect(documentationFiles(root)).toContain("README.md");
  expect(blocks.filter((block) => block.check !== undefined).length).toBeGreaterThan(5);
});

describe.each(blocks.filter(isProgram).map((block) => [block.where, block] as const))("%s", (_, block) => {
  test("Block_IsACheckedProgramOrAMarkedFragment", () => {
    expect(block.check !== undefined || block.fragmentOf !== undefined, `${block.where}: add <!-- check: … --> or <!-- fragment of: … --> (docs/README.md)`).toBe(true);
  });

  if (block.fragmentOf !== undefined) {
    test("Fragment_LinesAppearInOrderInItsProgram", () => {
      const target = block.fragmentOf!;
      const named = blocks.find((candidate) => candidate.check?.file === target);
      const program = named?.code ?? readFileSync(join(root, target), "utf8");
      const lines = codeLines(program);
      let at = 0;
      for (const line of codeLines(block.code)) {
        const found = lines.indexOf(line, at);
        expect(found, `${block.where}: '${line}' is not in ${target} (after line ${at} of its code)`).toBeGreaterThanOrEqual(0);
        at = found + 1;
      }
    });
  }
});
