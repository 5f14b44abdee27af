/**
 * The chat sample, shared by every runtime: rooms on a {@link WebSocketHub}, with a
 * Redis backplane so several instances — Node, Deno and Bun in any mix — behind one
 * Redis form one chat. Each runtime's entry (node.ts, deno.ts, bun.ts) only binds it;
 * on workerd (workerd.ts) each room is a Durable Object instead, with the same protocol.
 *
 * Wire protocol: the page sends each chat line as a text message; the server sends
 * JSON events — `welcome` (which instance serves the page), `message`, `joined`, `left`.
 *
 * @module
 */
import { type WebSocketHandler, WebSocketHub, type WebSocketOptions } from "@uniws/core";
import { RedisBackplane } from "@uniws/redis";
export { pageResponse } from "./page.ts";
import { clean } from "./text.ts";

/** The sample's settings, from its command-line flags. */
export interface ChatConfig {
  port: number;
  host: string;
  /** The Redis URL, or `undefined` to run as a single instance. */
  redis: string | undefined;
  options: WebSocketOptions;
}

export const USAGE = `Usage: chat [options]
  --port N        port to listen on (default 5001; 0 picks a free port)
  --host H        address to listen on (default 127.0.0.1)
  --redis URL     Redis for the backplane (default redis://127.0.0.1:6379)
  --no-redis      run as a single instance, without a backplane
  --help          show this help
With npm run start:chat, --runtime node|deno|bun|workerd picks the runtime (workerd: a Durable Object per room, no Redis).`;

/** A bad command line; the entry prints it with the usage and exits 2. */
export class UsageError extends Error {}

/** Parses the sample's flags. Throws {@link UsageError} on anything it does not know. */
export function parseArgs(args: readonly string[]): ChatConfig | "help" {
  const config: ChatConfig = { port: 5001, host: "127.0.0.1", redis: "redis://127.0.0.1:6379", options: { maxMessageSize: 4096 } };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = (): string => {
      const next = args[++i];
      if (next === undefined) throw new UsageError(`${arg} needs a value`);
      return next;
    };
    switch (arg) {
      case "--help":
      case "-h":
        return "help";
      case "--port": {
        const port = value();
        if (!/^\d+$/.test(port) || Number(port) > 65535) throw new UsageError(`--port needs a port number, got ${port}`);
        config.port = Number(port);
        break;
      }
      case "--host": config.host = value(); break;
      case "--redis": config.redis = value(); break;
      case "--no-redis": config.redis = undefined; break;
      default: throw new UsageError(`Unknown option: ${arg}`);
    }
  }
  return config;
}

/**
 * Reads the flags as every entry does: a bad flag prints its message and the usage and exits 2 through the
 * runtime's `exit`; `--help` prints the usage and gives `undefined`.
 */
export function readConfig(args: readonly string[], exit: (code: number) => never): ChatConfig | undefined {
  try {
    const config = parseArgs(args);
    if (config !== "help") return config;
    console.log(USAGE);
    return undefined;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return exit(2);
  }
}

/** The `Listening on …` line every entry prints when ready. */
export function listeningLine(host: string, port: number): string {
  return `Listening on http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** The hub of one chat instance, on the Redis backplane when `redis` is set. */
export function chatHub(redis: string | undefined): { hub: WebSocketHub; close(): Promise<void> } {
  const backplane = redis === undefined ? undefined : new RedisBackplane({ url: redis });
  const hub = new WebSocketHub({ name: "chat", backplane });
  return {
    hub,
    close: async () => {
      await hub.close();
      await backplane?.close();
    },
  };
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The chat endpoint: `/ws?name=Alice&room=lobby`. Every line a member sends goes to
 * everyone in the room (the sender too, so its page shows what the room saw), on
 * every instance.
 */
export function chatHandler(hub: WebSocketHub, runtime: string): WebSocketHandler {
  return async (context) => {
    if (!context.isWebSocketRequest) return context.reject(400, "Expected a WebSocket request\n");
    const name = clean(context.url.searchParams.get("name"), "anonymous", 40);
    const room = clean(context.url.searchParams.get("room"), "lobby", 40);
    const socket = await context.accept();
    const id = hub.add(socket);
    // Wait a little for the room's backplane subscription, so the page sees other instances from its first
    // message on; but never hold a member up on Redis being down.
    await Promise.race([hub.join(socket, room), delay(2000)]);
    await socket.send(JSON.stringify({ type: "welcome", id, instance: hub.instanceId, runtime, room }));
    hub.sendToGroup(room, JSON.stringify({ type: "joined", name }), { except: socket });
    for await (const message of socket) {
      if (message.type !== "text") {
        await socket.close(1003, "Text messages only");
        break;
      }
      const text = clean(message.data as string, "", 1000);
      if (text.length === 0) continue;
      hub.sendToGroup(room, JSON.stringify({ type: "message", from: name, text, runtime, instance: hub.instanceId }));
    }
    hub.sendToGroup(room, JSON.stringify({ type: "left", name }), { except: id });
  };
}
