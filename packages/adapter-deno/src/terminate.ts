/**
 * Dropping a WebSocket's connection without a Close frame. Deno's server-side
 * `WebSocket` has no public `terminate()`: `close()` always sends a Close frame and
 * then waits for the peer's, with no timeout, so a vanished peer would hold its
 * connection open. The only way Deno offers is to close the socket's resource, as
 * Deno itself does when a connection fails; that id sits under an internal symbol.
 * The hook is feature-detected; its loss would be caught by the suite's
 * `Abort_DropsConnectionWithoutCloseFrame` (tests/close.test.ts) and by tests/deno/.
 *
 * @module
 */

/** Deno's internal resource table, reached through `Deno[Deno.internal].core`. */
interface InternalCore {
  tryClose(rid: number): void;
}

let core: InternalCore | null | undefined;

// Looked up on first use, so that importing this module outside Deno stays harmless.
function internalCore(): InternalCore | null {
  if (core !== undefined) return core;
  const deno = (globalThis as { Deno?: Record<PropertyKey, unknown> & { internal?: symbol } }).Deno;
  const candidate = deno?.internal === undefined ? undefined : (deno[deno.internal] as { core?: Partial<InternalCore> } | undefined)?.core;
  core = typeof candidate?.tryClose === "function" ? (candidate as InternalCore) : null;
  return core;
}

function resourceId(socket: WebSocket): number | undefined {
  const symbol = Object.getOwnPropertySymbols(socket).find((candidate) => candidate.description === "[[rid]]");
  if (symbol === undefined) return undefined;
  const rid = (socket as unknown as Record<symbol, unknown>)[symbol];
  return typeof rid === "number" ? rid : undefined;
}

/**
 * Ends `socket`'s connection at once, without a Close frame. Returns `false` when
 * this Deno offers no way to (the caller then falls back to a Close frame).
 */
export function dropConnection(socket: WebSocket): boolean {
  // A closed socket's id may already belong to another resource.
  if (socket.readyState === WebSocket.CLOSED) return true;
  const core = internalCore();
  const rid = resourceId(socket);
  if (core === null || rid === undefined) return false;
  core.tryClose(rid);
  return true;
}
