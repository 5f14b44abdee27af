/**
 * The chat sample on workerd (Cloudflare Workers): each room is a Durable Object
 * holding its members' sockets on the Hibernation API, so an idle room leaves memory
 * while its members stay connected. Same page and wire protocol as the other entries
 * (`/ws?name=…&room=…`; JSON `welcome`, `joined`, `message`, `left`); no Redis: a
 * room's object is the one place its members meet. Run it with
 * `npm run start:chat -- --runtime workerd` (start.mjs bundles it and serves it with Miniflare).
 *
 * @module
 */
import { type DurableObjectStateLike, HibernatableWebSocketServer, type WorkerdWebSocket } from "@uniws/cloudflare";
import { pageResponse } from "./page.ts";
import { clean } from "./text.ts";

/** What each member's socket keeps across hibernation. */
interface Member {
  readonly name: string;
  readonly room: string;
}

/** One chat room: every line a member sends goes to everyone in it, the sender too. */
export class ChatRoom {
  readonly #sockets: HibernatableWebSocketServer<Member>;

  constructor(ctx: DurableObjectStateLike) {
    const sockets: HibernatableWebSocketServer<Member> = new HibernatableWebSocketServer<Member>(ctx, {
      open: async (context) => {
        if (!context.isWebSocketRequest) return context.reject(400, "Expected a WebSocket request\n");
        const name = clean(context.url.searchParams.get("name"), "anonymous", 40);
        const room = clean(context.url.searchParams.get("room"), "lobby", 40);
        const socket = await context.accept({ attachment: { name, room } });
        const { hub } = sockets;
        await socket.send(JSON.stringify({ type: "welcome", id: hub.idOf(socket), instance: hub.instanceId, runtime: "workerd", room }));
        hub.broadcast(JSON.stringify({ type: "joined", name }), { except: socket });
      },
      message: async (socket, message) => {
        if (message.type !== "text") {
          await socket.close(1003, "Text messages only");
          return;
        }
        const text = clean(message.data, "", 1000);
        const member = sockets.attachment(socket);
        if (text.length === 0 || member === undefined) return;
        const { hub } = sockets;
        hub.broadcast(JSON.stringify({ type: "message", from: member.name, text, runtime: "workerd", instance: hub.instanceId }));
      },
      close: (socket) => {
        const member = sockets.attachment(socket);
        if (member !== undefined) sockets.hub.broadcast(JSON.stringify({ type: "left", name: member.name }));
      },
    }, { maxMessageSize: 4096 });
    this.#sockets = sockets;
  }

  fetch(request: Request): Promise<Response> {
    return this.#sockets.fetch(request);
  }
  webSocketMessage(ws: WorkerdWebSocket, message: string | ArrayBuffer): Promise<void> {
    return this.#sockets.webSocketMessage(ws, message);
  }
  webSocketClose(ws: WorkerdWebSocket, code: number, reason: string, wasClean: boolean): Promise<void> {
    return this.#sockets.webSocketClose(ws, code, reason, wasClean);
  }
  webSocketError(ws: WorkerdWebSocket, error: unknown): Promise<void> {
    return this.#sockets.webSocketError(ws, error);
  }
  alarm(): Promise<void> {
    return this.#sockets.alarm();
  }
}

/** The Durable Object namespace binding, as far as the Worker uses it. */
interface RoomNamespace {
  idFromName(name: string): unknown;
  get(id: unknown): { fetch(request: Request): Promise<Response> };
}

/** The Worker: `/ws` goes to the room's object, the page everywhere else. */
export default {
  fetch(request: Request, env: { ROOMS: RoomNamespace }): Response | Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== "/ws") return pageResponse(url.pathname);
    const room = clean(url.searchParams.get("room"), "lobby", 40);
    return env.ROOMS.get(env.ROOMS.idFromName(room)).fetch(request);
  },
};
