/**
 * Refusing bytes on a detached `ArrayBuffer`: one transferred away (`structuredClone(…, { transfer })`,
 * `postMessage`, `transfer()`). Every runtime then reads its views as empty, so sending them would send an
 * empty message in place of the caller's bytes: a bad argument, answered with a `TypeError` before anything
 * is sent (docs/semantics.md).
 *
 * @module
 */

// Whether `data` is, or views, a detached ArrayBuffer. Only a buffer of no bytes can be one, so a send costs a length
// check; `detached` (ES2024) answers for those, or where a runtime lacks it (Node 20) whether a view on it can be made.
// A typed array with bytes is on no detached buffer (one reads as empty once detached), and its `buffer` is not read:
// on Bun that read gives the array an ArrayBuffer object of its own (~1 µs per message sent). A DataView's length
// throws once detached, so its buffer is read.
function onDetachedBuffer(data: unknown): boolean {
  let buffer: ArrayBufferLike;
  if (ArrayBuffer.isView(data)) {
    if (!(data instanceof DataView) && data.byteLength !== 0) return false;
    buffer = data.buffer;
  } else if (data instanceof ArrayBuffer) buffer = data;
  else return false;
  if (buffer.byteLength !== 0) return false;
  const detached = (buffer as { detached?: boolean }).detached;
  if (detached !== undefined) return detached;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

/** Throws a `TypeError` naming `operation` when `data` is, or views, a detached `ArrayBuffer`. */
export function refuseDetached(data: unknown, operation: string): void {
  if (typeof data !== "string" && onDetachedBuffer(data)) {
    throw new TypeError(`${operation} was given bytes on a detached ArrayBuffer (transferred away): they are gone, and nothing was sent`);
  }
}
