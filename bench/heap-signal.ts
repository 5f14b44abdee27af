/**
 * Preloaded into Deno and Bun servers by bench/heap.ts (`--preload`), which have no
 * `--heapsnapshot-signal`: SIGUSR2 writes a V8-format heap snapshot (both implement
 * `node:v8`'s `writeHeapSnapshot`; Bun's is JavaScriptCore's heap in that format) into
 * BENCH_HEAP_DIR.
 *
 * @module
 */
import process from "node:process";
import { writeHeapSnapshot } from "node:v8";

const dir = process.env.BENCH_HEAP_DIR ?? ".";
const write = () => writeHeapSnapshot(`${dir}/Heap.${Date.now()}.${process.pid}.heapsnapshot`);
const deno = (globalThis as { Deno?: { addSignalListener(signal: string, listener: () => void): void } }).Deno;
if (deno !== undefined) deno.addSignalListener("SIGUSR2", write);
else process.on("SIGUSR2", write);
