/**
 * Dropping a WebSocket's connection without a Close frame. Deno's server-side
 * `WebSocket` has no public `terminate()`: `close()` always sends a Close frame and
 * then waits for the peer's, with no timeout, so a vanished peer would hold its
 * connection open. The only way Deno offers is to close the socket's resource, as
 * Deno itself does when a connection fails; that id sits under an internal symbol.
 * The hook is looked up once and feature-detected, and its loss is caught by
 * `tests/deno-engine.test.ts` ("Abort_DropsConnectionWithoutCloseFrame").
 *
 * @module
 */

/** Deno's internal resource table, reached through `Deno[Deno.internal].core`. */
interface InternalCore {
  tryClose(rid: number): void;
}

function internalCore(): InternalCore | undefined {
  const deno = Deno as unknown as Record<PropertyKey, unknown> & { internal?: symbol };
  if (deno.internal === undefined) return undefined;
  const core = (deno[deno.internal] as { core?: Partial<InternalCore> } | undefined)?.core;
  return typeof core?.tryClose === "function" ? (core as InternalCore) : undefined;
}

const core = internalCore();

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
  const rid = resourceId(socket);
  if (core === undefined || rid === undefined) return false;
  core.tryClose(rid);
  return true;
}
