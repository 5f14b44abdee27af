/** A server that accepts one socket and hands it to the test, with a raw client connected to it. */
import type { UniWebSocket, WebSocketAcceptContext, WebSocketOptions } from "@uniws/core";
import { RawClient, type HttpAnswer } from "./raw-client.ts";
import { startServer, type TestServer } from "./runtime.ts";

export interface Accepted {
  server: TestServer;
  socket: UniWebSocket;
  client: RawClient;
  answer: HttpAnswer;
  /** Settles when the handler has returned. */
  handlerDone: Promise<void>;
}

/** Starts a server whose handler accepts and then lives until the socket ends. */
export async function acceptOne(
  options?: WebSocketOptions,
  acceptContext?: WebSocketAcceptContext,
  headers: Record<string, string | undefined> = {},
): Promise<Accepted> {
  let resolveSocket!: (socket: UniWebSocket) => void;
  const socketPromise = new Promise<UniWebSocket>((resolve) => (resolveSocket = resolve));
  let resolveDone!: () => void;
  const handlerDone = new Promise<void>((resolve) => (resolveDone = resolve));
  const server = await startServer(async (context) => {
    try {
      const socket = await context.accept(acceptContext);
      resolveSocket(socket);
      await socket.closed;
    } finally {
      resolveDone();
    }
  }, options);
  const { client, answer } = await RawClient.open(server.port, "/ws", headers);
  const socket = await socketPromise;
  return { server, socket, client, answer, handlerDone };
}

/** Resolves after `ms`. */
export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves `true` if `promise` settles within `ms`, else `false`. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const settled = promise.then(() => true, () => true);
  const result = await Promise.race([settled, timeout]);
  clearTimeout(timer);
  return result;
}

/**
 * A handler that waits `delayMs` before it accepts (its client may have left meanwhile), and what its `accept()`
 * came to: `"opened"`, or what it rejected with.
 */
export function lateAccept(delayMs = 200): { handler: (context: { accept(): Promise<unknown> }) => Promise<void>; outcome: Promise<unknown> } {
  const { promise: outcome, resolve } = Promise.withResolvers<unknown>();
  const handler = async (context: { accept(): Promise<unknown> }) => {
    await new Promise((wait) => setTimeout(wait, delayMs));
    try {
      await context.accept();
      resolve("opened");
    } catch (error) {
      resolve(error);
    }
  };
  return { handler, outcome };
}
