/** docs/operations.md shows the checked examples as they are: each TypeScript block is in an examples/operations file. */
import { readFileSync } from "node:fs";
import { expect, test } from "vitest";

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");

test("OperationsDoc_TypeScriptBlocks_AreTheCheckedExamples", () => {
  const examples = ["examples/operations/forwarded.ts", "examples/operations/metrics.ts"].map(read);
  const blocks = [...read("docs/operations.md").matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1]!);
  expect(blocks).toHaveLength(2);
  for (const block of blocks) expect(examples.some((source) => source.includes(block)), block.slice(0, 80)).toBe(true);
});
