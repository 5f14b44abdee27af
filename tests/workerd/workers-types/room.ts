/**
 * `@uniws/cloudflare` with Cloudflare's own types: a `DurableObject` subclass hands its `ctx` and the runtime's
 * `WebSocket`s to the package's structural types as they are. Type-checked (not run) by tests/node/cloudflare.test.ts.
 */
import { DurableObject } from "cloudflare:workers";
import { DurableObjectWebSocketServer, HibernatableWebSocketServer } from "@uniws/cloudflare";

interface Env {
  ROOMS: DurableObjectNamespace<Room>;
}

export class Room extends DurableObject<Env> {
  readonly sockets: HibernatableWebSocketServer<{ name: string }>;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sockets = new HibernatableWebSocketServer<{ name: string }>(ctx, {
      open: async (context) => {
        if (!context.isWebSocketRequest) return context.reject(400);
        await context.accept({ attachment: { name: context.url.searchParams.get("name") ?? "anonymous" } });
      },
      message: (socket, message) => this.sockets.hub.broadcast(`${this.sockets.attachment(socket)?.name}: ${String(message.data)}`),
    });
  }

  override fetch(request: Request): Promise<Response> {
    return this.sockets.fetch(request);
  }
  override webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    return this.sockets.webSocketMessage(ws, message);
  }
  override webSocketClose(ws: WebSocket, code: number, reason: string, wasClean: boolean): Promise<void> {
    return this.sockets.webSocketClose(ws, code, reason, wasClean);
  }
  override webSocketError(ws: WebSocket, error: unknown): Promise<void> {
    return this.sockets.webSocketError(ws, error);
  }
  override alarm(): Promise<void> {
    return this.sockets.alarm();
  }
}

export class Plain extends DurableObject<Env> {
  readonly sockets = new DurableObjectWebSocketServer(async (context) => {
    const socket = await context.accept();
    for await (const message of socket) await socket.send(message.data);
  });

  override fetch(request: Request): Promise<Response> {
    return this.sockets.fetch(request);
  }
}

export default {
  fetch(request: Request, env: Env): Promise<Response> {
    return env.ROOMS.get(env.ROOMS.idFromName("lobby")).fetch(request);
  },
} satisfies ExportedHandler<Env>;
