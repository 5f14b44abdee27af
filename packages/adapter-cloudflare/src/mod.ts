/**
 * `@uniws/cloudflare`: uniws on Cloudflare's runtime (workerd), in Durable Objects.
 * `HibernatableWebSocketServer` runs on the WebSocket Hibernation API (event
 * handlers, per-socket state in attachments, the idle timeout on the object's
 * alarm, keep-alive answered at the edge, a hub that fans out natively);
 * `DurableObjectWebSocketServer` keeps the awaitable handler style of every other
 * runtime for objects that need not hibernate. See docs/cloudflare.md.
 *
 * @example
 * ```ts
 * import { type DurableObjectStateLike, HibernatableWebSocketServer, type WorkerdWebSocket } from "@uniws/cloudflare";
 *
 * export class Room {
 *   readonly sockets: HibernatableWebSocketServer<{ name: string }>;
 *
 *   constructor(ctx: DurableObjectStateLike) {
 *     this.sockets = new HibernatableWebSocketServer<{ name: string }>(ctx, {
 *       open: async (context) => {
 *         if (!context.isWebSocketRequest) return context.reject(400);
 *         await context.accept({ attachment: { name: context.url.searchParams.get("name") ?? "anonymous" } });
 *       },
 *       message: (socket, message) => {
 *         const name = this.sockets.attachment(socket)?.name;
 *         this.sockets.hub.broadcast(`${name}: ${message.data}`);
 *       },
 *     }, { idleTimeout: 120_000, autoResponse: { request: "ping", response: "pong" } });
 *   }
 *
 *   fetch(request: Request) { return this.sockets.fetch(request); }
 *   webSocketMessage(ws: WorkerdWebSocket, message: string | ArrayBuffer) { return this.sockets.webSocketMessage(ws, message); }
 *   webSocketClose(ws: WorkerdWebSocket, code: number, reason: string, wasClean: boolean) { return this.sockets.webSocketClose(ws, code, reason, wasClean); }
 *   webSocketError(ws: WorkerdWebSocket, error: unknown) { return this.sockets.webSocketError(ws, error); }
 *   alarm() { return this.sockets.alarm(); }
 * }
 * ```
 *
 * @module
 */
export { DurableObjectWebSocketServer, workerdHandshakeRequest } from "./durable-object.ts";
export {
  type HibernationAcceptContext,
  type HibernationContext,
  type HibernationHandlers,
  type HibernationOptions,
  HibernatableWebSocketServer,
} from "./hibernation.ts";
export {
  DURABLE_OBJECT_CAPABILITIES,
  type DurableObjectStateLike,
  upgradeWorkerd,
  WORKERD_CAPABILITIES,
  WORKERD_ENGINE,
  type WorkerdWebSocket,
} from "./workerd.ts";
export * from "@uniws/core";
