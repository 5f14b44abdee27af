/**
 * The Worker the Durable Object tests run (bundled by ./bundle.ts, served by
 * Miniflare with the Hibernation API): `/room/NAME/…` goes to the object of that
 * name of the class the path names, each a `@uniws/cloudflare` server.
 *
 * A socket's text commands: `who` (what this object instance knows of it), `join G`,
 * `leave G`, `group G TEXT`, `all TEXT`, `rename NAME`, `big` (an attachment too
 * large to keep), `throw`, `part` (reads the next message's first 3 bytes with receive(buffer)), `close CODE REASON`. `who` also lists how this instance's sockets ended.
 */
import {
  DurableObjectWebSocketServer,
  type DurableObjectStateLike,
  HibernatableWebSocketServer,
  type HibernationOptions,
  type UniWebSocket,
  WebSocketError,
  WebSocketHub,
  type WorkerdWebSocket,
} from "@uniws/cloudflare";
import { createWebSocket } from "@uniws/hono";
import { cloudflareWorkersRuntime } from "@uniws/hono/cloudflare-workers";
import { Hono } from "hono";

/** Object instances built in this isolate: a rebuilt (evicted) object counts again. */
let constructed = 0;

/** How a socket of this instance ended, as its `close` handler saw it (`who` reports them). */
interface Ended {
  name: string | undefined;
  closeStatus: number;
  wasClean: boolean;
  /** The cause's `WebSocketError` code, or what else it was. */
  error: string | undefined;
}

interface Member {
  name: string;
}

/** A hibernating room; the subclasses differ in their options only. */
class HibernatingRoom {
  readonly sockets: HibernatableWebSocketServer<Member>;
  readonly instance = ++constructed;
  readonly ended: Ended[] = [];

  constructor(ctx: DurableObjectStateLike, options: HibernationOptions) {
    this.sockets = new HibernatableWebSocketServer<Member>(ctx, {
      open: async (context) => {
        if (!context.isWebSocketRequest) return context.reject(400, "Expected a WebSocket request\n");
        const subProtocol = context.requestedProtocols.includes("chat") ? "chat" : undefined;
        const group = context.url.searchParams.get("group");
        const socket = await context.accept({
          subProtocol,
          attachment: { name: context.url.searchParams.get("name") ?? "anonymous" },
          groups: group === null ? [] : [group],
        });
        await socket.send(`welcome ${this.sockets.attachment(socket)?.name} from instance ${this.instance}`);
      },
      message: (socket, message) => this.#command(socket, String(message.data)),
      close: (socket, { closeStatus, wasClean, error }) => {
        const cause = error === undefined ? undefined : error instanceof WebSocketError ? error.code : `plain ${String(error)}`;
        this.ended.push({ name: this.sockets.attachment(socket)?.name, closeStatus, wasClean, error: cause });
      },
    }, options);
  }

  async #command(socket: UniWebSocket, text: string): Promise<void> {
    const [command, ...rest] = text.split(" ");
    const argument = rest.join(" ");
    const { hub } = this.sockets;
    switch (command) {
      case "who":
        await socket.send(JSON.stringify({
          instance: this.instance,
          constructed,
          name: this.sockets.attachment(socket)?.name,
          groups: hub.groupsOf(socket),
          protocol: socket.subProtocol ?? null,
          connections: this.sockets.connections,
          ended: this.ended,
        }));
        break;
      case "join":
        await hub.join(socket, argument);
        await socket.send(`joined ${argument}`);
        break;
      case "leave":
        hub.leave(socket, argument);
        await socket.send(`left ${argument}`);
        break;
      case "group": {
        const [group, ...words] = rest;
        hub.sendToGroup(group!, words.join(" "));
        break;
      }
      case "all":
        hub.broadcast(argument, { except: argument.startsWith("others:") ? socket : undefined });
        break;
      case "rename":
        this.sockets.attach(socket, { name: argument });
        await socket.send(`renamed ${argument}`);
        break;
      case "big":
        try {
          this.sockets.attach(socket, { name: "x".repeat(64 * 1024) });
          await socket.send("kept");
        } catch (error) {
          await socket.send(error instanceof WebSocketError ? error.code : `plain ${String(error)}`);
        }
        break;
      case "throw":
        throw new Error("handler failed on purpose");
      case "part": {
        // The start of the next message, into a 3-byte buffer; the rest is left to the binding.
        const result = await socket.receive(new Uint8Array(3));
        await socket.send(`part ${result.count}`);
        break;
      }
      case "close":
        await socket.close(Number(rest[0]), rest.slice(1).join(" "));
        break;
      default:
        await socket.send(`echo ${text}`);
    }
  }

  async fetch(request: Request): Promise<Response> {
    if (new URL(request.url).pathname.endsWith("/shutdown")) {
      await this.sockets.close({ timeout: 1000 });
      return new Response(`closed, ${this.sockets.connections} left`);
    }
    return this.sockets.fetch(request);
  }
  webSocketMessage(ws: WorkerdWebSocket, message: string | ArrayBuffer): Promise<void> {
    return this.sockets.webSocketMessage(ws, message);
  }
  webSocketClose(ws: WorkerdWebSocket, code: number, reason: string, wasClean: boolean): Promise<void> {
    return this.sockets.webSocketClose(ws, code, reason, wasClean);
  }
  webSocketError(ws: WorkerdWebSocket, error: unknown): Promise<void> {
    return this.sockets.webSocketError(ws, error);
  }
  alarm(): Promise<void> {
    return this.sockets.alarm();
  }
}

/** Origins, sub-protocols, small size and rate limits, and a text keep-alive answered at the edge. */
export class Room extends HibernatingRoom {
  constructor(ctx: DurableObjectStateLike) {
    super(ctx, {
      allowedOrigins: ["https://allowed.example"],
      maxMessageSize: 64,
      maxMessagesPerSecond: 20,
      messageBurst: 20,
      autoResponse: { request: "ping", response: "pong" },
      onError: () => {},
    });
  }
}

/** A short idle timeout, which client keep-alives answered at the edge hold off. */
export class IdleRoom extends HibernatingRoom {
  constructor(ctx: DurableObjectStateLike) {
    super(ctx, { idleTimeout: 1000, autoResponse: { request: "ping", response: "pong" } });
  }
}

/** An idle timeout longer than workerd waits before evicting an idle object (about 10 s). */
export class SleepyRoom extends HibernatingRoom {
  constructor(ctx: DurableObjectStateLike) {
    super(ctx, { idleTimeout: 14_000 });
  }
}

/** No hibernation: the awaitable handler of every runtime, and an in-memory hub across the object's requests. */
export class AwaitingRoom {
  readonly hub = new WebSocketHub();
  readonly sockets = new DurableObjectWebSocketServer(async (context) => {
    if (!context.isWebSocketRequest) return context.reject(400);
    const socket = await context.accept();
    this.hub.add(socket);
    for await (const message of socket) this.hub.broadcast(message.data);
  });

  async fetch(request: Request): Promise<Response> {
    if (new URL(request.url).pathname.endsWith("/shutdown")) {
      await this.sockets.close({ timeout: 1000 });
      return new Response(`closed, ${this.sockets.connections} left`);
    }
    return this.sockets.fetch(request);
  }
}

/** No hibernation, through Hono: the workerd runtime told it runs in an object shares sockets across requests. */
export class HonoRoom {
  readonly hub = new WebSocketHub();
  readonly app = new Hono();

  constructor() {
    const webSocket = createWebSocket(cloudflareWorkersRuntime({ durableObject: true }));
    const sockets = webSocket(async (context) => {
      if (!context.isWebSocketRequest) return context.reject(400);
      const socket = await context.accept();
      this.hub.add(socket);
      for await (const message of socket) this.hub.broadcast(message.data);
    });
    this.app.get("/hono/:name/ws", sockets);
    this.app.get("/hono/:name/shutdown", async (c) => {
      await sockets.close({ timeout: 1000 });
      return c.text(`closed, ${sockets.connections} left`);
    });
  }

  fetch(request: Request): Response | Promise<Response> {
    return this.app.fetch(request);
  }
}

interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(request: Request): Promise<Response> };
}

type Env = Record<"ROOM" | "IDLE" | "SLEEPY" | "AWAITING" | "HONO", DurableObjectNamespaceLike>;

export default {
  fetch(request: Request, env: Env): Promise<Response> | Response {
    const url = new URL(request.url);
    const [, kind, name] = url.pathname.split("/");
    const namespace = { room: env.ROOM, idle: env.IDLE, sleepy: env.SLEEPY, awaiting: env.AWAITING, hono: env.HONO }[kind ?? ""];
    if (namespace === undefined || name === undefined) return new Response("Not Found\n", { status: 404 });
    return namespace.get(namespace.idFromName(name)).fetch(request);
  },
};
