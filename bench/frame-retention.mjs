/**
 * Whether a suspended `async` handler keeps its last message alive while it waits for the next:
 * `node --expose-gc bench/frame-retention.mjs`, `deno run --v8-flags=--expose-gc bench/frame-retention.mjs` or
 * `bun bench/frame-retention.mjs`.
 * Each handler form reads messages from a socket-like iterator; after three messages, while the handler waits
 * for a fourth, a full collection runs and a `WeakRef` to each message tells which are still reachable.
 * bench/analysis.md ("64 KiB text on Deno") reads the result: in V8 the `for await` loop keeps the last
 * message (its value stays in the suspended frame's registers) whatever the loop body does with it,
 * so 100 connections keep 100 messages live through every scavenge; raw `onmessage` callbacks return and keep none.
 *
 * @module
 */

// A full, synchronous collection: V8's with --expose-gc, Bun's own.
const collect = globalThis.Bun !== undefined ? () => globalThis.Bun.gc(true) : globalThis.gc;
if (typeof collect !== "function") throw new Error("run with --expose-gc (Deno: --v8-flags=--expose-gc)");

// A socket-like source: next() waits for deliver().
function source() {
  let resolve;
  const iterator = {
    next: () => new Promise((r) => (resolve = r)),
    [Symbol.asyncIterator]: () => iterator,
  };
  return { iterator, deliver: (message) => resolve({ done: false, value: message }) };
}

const send = () => Promise.resolve();

// The handler forms measured: what an application writes.
const forms = {
  "for await (const message of socket) await send(message.data)": async (socket) => {
    for await (const message of socket) await send(message.data);
  },
  "for await, the body an inner async function": async (socket) => {
    for await (const message of socket) await (async (m) => await send(m.data))(message);
  },
  "while (true) { const result = await socket.next(); … }": async (socket) => {
    while (true) {
      const result = await socket.next();
      if (result.done) return;
      await send(result.value.data);
    }
  },
  "while (true) { let result = …; const data = result.value.data; result = null; … }": async (socket) => {
    while (true) {
      let result = await socket.next();
      if (result.done) return;
      const data = result.value.data;
      result = null;
      await send(data);
    }
  },
};

// Outside the measuring loop's frame, so that only the handler can keep a message.
function deliverOne(deliver, refs, i) {
  const message = { type: "text", data: "x".repeat(64 * 1024) + i };
  refs.push(new WeakRef(message));
  deliver(message);
}

for (const [name, handler] of Object.entries(forms)) {
  const { iterator, deliver } = source();
  void handler(iterator);
  const refs = [];
  for (let i = 0; i < 3; i++) {
    deliverOne(deliver, refs, i);
    // Let the handler send it and wait for the next.
    for (let turn = 0; turn < 10; turn++) await null;
  }
  await new Promise((resolve) => setTimeout(resolve, 0));
  collect();
  const kept = refs.filter((ref) => ref.deref() !== undefined).length;
  console.log(`${kept === 0 ? "keeps none " : `keeps ${kept} (the last)`}  ${name}`);
}
