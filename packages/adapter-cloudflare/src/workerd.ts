/**
 * workerd (Cloudflare Workers) as a uniws engine: its capabilities, its
 * differences from the web WebSocket engine of the core, the upgrade through a
 * `WebSocketPair`, and the few workerd types this package uses, declared
 * structurally so that consumers need no `@cloudflare/workers-types`.
 *
 * @module
 */
import {
  bindWebSocket,
  type EngineCapabilities,
  type EngineEvents,
  type UpgradePlan,
  type WebEngineOptions,
  WebSocketError,
  type WebSocketLike,
} from "@uniws/core";

/**
 * A workerd `WebSocket` as this package uses it: the web API plus `accept()` and
 * the Hibernation API's attachment (a structured-clone value kept with the socket
 * while the object is evicted; Cloudflare limits its serialized size, 2,048 bytes
 * when this was written).
 */
export interface WorkerdWebSocket extends WebSocketLike {
  /** Accepts the server end of a `WebSocketPair` for handling in this request (no hibernation). */
  accept(): void;
  /** Keeps `value` with the socket across hibernation (structured clone). Throws past the platform's size limit. */
  serializeAttachment(value: unknown): void;
  /** The value last given to `serializeAttachment`, or `null`. */
  deserializeAttachment(): unknown;
}

/**
 * A Durable Object's state (`ctx`), as far as this package uses it: the
 * Hibernation API and the alarm. `DurableObjectState` of
 * `@cloudflare/workers-types` fits it.
 */
export interface DurableObjectStateLike {
  /** Hands the socket to the runtime, which keeps it open while the object hibernates (tags: at most 10, fixed). */
  acceptWebSocket(socket: WorkerdWebSocket, tags?: string[]): void;
  /** The sockets accepted with `acceptWebSocket` and not yet closed, those with `tag` only when given. */
  getWebSockets(tag?: string): WorkerdWebSocket[];
  /** Sets the request/response text pair the runtime answers itself, without waking the object (`undefined` clears it). */
  setWebSocketAutoResponse(pair?: unknown): void;
  /** When the runtime last answered the auto-response request on `socket`, or `null`. */
  getWebSocketAutoResponseTimestamp(socket: WorkerdWebSocket): Date | null;
  /** The object's storage: its single alarm, which wakes a hibernated object. */
  readonly storage: {
    getAlarm(): Promise<number | null>;
    setAlarm(scheduledTime: number | Date): Promise<void>;
  };
}

// workerd's globals (this package builds without @cloudflare/workers-types).
declare const WebSocketPair: new () => { 0: WorkerdWebSocket; 1: WorkerdWebSocket };

/**
 * What workerd can do, in a plain Worker: no Ping or Pong on request (workerd
 * answers the client's Pings itself) and no keep-alive timer of its own, whole
 * messages only, no compression, no drain event or `bufferedAmount` (workerd queues
 * sends), and a message limit fixed by the platform, so the core checks each message
 * against `maxMessageSize`. A socket belongs to the request that opened it
 * (`requestScopedIo`): its timers run on its own scheduler.
 */
export const WORKERD_CAPABILITIES: EngineCapabilities = {
  pingControl: false,
  fragmentedSend: false,
  compression: false,
  perMessageCompression: false,
  compressionParameters: "none",
  drainEvent: false,
  enforcesMaxMessageSize: false,
  http2: false,
  requestScopedIo: true,
};

/** What workerd can do inside a Durable Object: as in a Worker, but every request of the object shares its I/O. */
export const DURABLE_OBJECT_CAPABILITIES: EngineCapabilities = { ...WORKERD_CAPABILITIES, requestScopedIo: false };

/**
 * workerd's differences from the core's web engine: it cannot drop a connection
 * without a Close frame (1011 is the nearest), does not answer a peer's Close
 * itself (RFC 6455 §5.5.1 asks the server to), and ends a connection that fails
 * (a message over its own 1 MiB limit, answered 1009) with an `error` event and
 * no `close` (as the Hibernation API's `webSocketError`).
 */
export const WORKERD_ENGINE: WebEngineOptions = { abortClose: 1011, answerPeerClose: true, errorEnds: true, failureStatus: workerdFailureStatus };
// A plain Worker's sockets: one options object for all of them (the engine keeps it for the socket's life).
const WORKERD_REQUEST_ENGINE: WebEngineOptions = { ...WORKERD_ENGINE, requestScopedIo: true };

// workerd's error for a connection it failed names the Close it sent: "protocolError.statusCode = 1009".
function workerdFailureStatus(error: unknown): number | undefined {
  const status = /protocolError\.statusCode = (\d{4})\b/.exec(error instanceof Error ? error.message : String(error))?.[1];
  return status === undefined ? undefined : Number(status);
}

/** Throws what workerd cannot do for `plan`: waiting for a Pong needs a Ping first, and a Worker sends none. */
export function checkWorkerdPlan(plan: UpgradePlan): void {
  if (plan.keepAliveTimeout > 0) {
    throw new WebSocketError("UNSUPPORTED", "keepAliveTimeout needs Ping frames, which a Worker cannot send; use idleTimeout");
  }
}

/** The 101 that hands `client` to the runtime, with the selected sub-protocol (RFC 6455 §4.2.2). */
export function switchingProtocols(client: WorkerdWebSocket, subProtocol: string | undefined): Response {
  const headers = subProtocol === undefined ? undefined : { "Sec-WebSocket-Protocol": subProtocol };
  return new Response(null, { status: 101, webSocket: client, headers } as ResponseInit);
}

/** Creates a `WebSocketPair`: the client end for the 101, the server end for the engine. */
export function webSocketPair(): { client: WorkerdWebSocket; server: WorkerdWebSocket } {
  const pair = new WebSocketPair();
  return { client: pair[0], server: pair[1] };
}

/**
 * Upgrades through a `WebSocketPair` handled in this isolate (`accept()`, no
 * hibernation) and reports to `events`; returns the 101. `requestScopedIo` is
 * true in a plain Worker, false in a Durable Object.
 */
export function upgradeWorkerd(plan: UpgradePlan, events: EngineEvents, requestScopedIo: boolean): Response {
  checkWorkerdPlan(plan);
  const { client, server } = webSocketPair();
  server.accept();
  // An accepted socket is open at once; data sent before the 101 goes out is queued.
  bindWebSocket(server, events, requestScopedIo ? WORKERD_REQUEST_ENGINE : WORKERD_ENGINE);
  return switchingProtocols(client, plan.subProtocol);
}
