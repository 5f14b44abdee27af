/**
 * A fan-out endpoint for measuring the hub: every socket joins the hub; a text message
 * `fanout <bytes>` from any of them makes the server broadcast one text message of that
 * size to every member (the sender included). Time to last delivery is what a client
 * side measures: from sending the trigger until the last socket has the message.
 * Runtime-neutral; `bench/fanout.ts` binds it to each adapter it measures.
 *
 * @module
 */
import type { WebSocketHandler, WebSocketHub } from "@uniws/core";

/** The payload of a fan-out round: `size` ASCII bytes starting with the round's trigger text. */
export function fanOutPayload(trigger: string, size: number): string {
  return trigger.length >= size ? trigger.slice(0, size) : trigger + "x".repeat(size - trigger.length);
}

/** Parses a `fanout <bytes>` trigger; `undefined` for anything else. */
export function parseTrigger(message: string): number | undefined {
  const match = /^fanout (\d{1,7})/.exec(message);
  return match ? Number(match[1]) : undefined;
}

/** The fan-out endpoint on a hub (see the module comment). */
export function fanOutHandler(hub: WebSocketHub): WebSocketHandler {
  return async (context) => {
    if (!context.isWebSocketRequest) return context.reject(400);
    const socket = await context.accept();
    hub.add(socket);
    for await (const message of socket) {
      if (message.type !== "text") continue;
      const size = parseTrigger(message.data as string);
      if (size !== undefined) hub.broadcast(fanOutPayload(message.data as string, size));
    }
  };
}
