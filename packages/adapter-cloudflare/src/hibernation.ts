/**
 * uniws in a Durable Object on the WebSocket Hibernation API: the object may leave
 * memory while its sockets stay connected. Handlers are events (`open`, `message`,
 * `close`) rather than one awaitable run per socket, since a suspended `for await`
 * would keep the object in memory; what a socket must remember lives in its
 * attachment. docs/cloudflare.md tells what runs when and what survives eviction.
 *
 * @module
 */
import {
  type CloseResult,
  type DataMessage,
  type EngineEvents,
  type HttpVersion,
  type HubOptions,
  resolveOptions,
  type ResponseBody,
  type ResponseHeaders,
  type ShutdownOptions,
  type UniWebSocket,
  type UpgradeBinding,
  type UpgradePlan,
  WebEngineLink,
  type WebSocketAcceptContext,
  type WebSocketContext,
  WebSocketError,
  type WebSocketHandler,
  WebSocketHost,
  WebSocketHub,
  type WebSocketOptions,
  type WebSocketServerStats,
} from "@uniws/core";
import { workerdHandshakeRequest } from "./durable-object.ts";
import { ObjectTopics } from "./topics.ts";
import {
  checkWorkerdPlan,
  DURABLE_OBJECT_CAPABILITIES,
  type DurableObjectStateLike,
  switchingProtocols,
  webSocketPair,
  WORKERD_ENGINE,
  type WorkerdWebSocket,
} from "./workerd.ts";

// workerd's global (this package builds without @cloudflare/workers-types).
declare const WebSocketRequestResponsePair: new (request: string, response: string) => unknown;

/** The accept context in a hibernating object: the core's, plus what the socket keeps across eviction. */
export interface HibernationAcceptContext<Attachment = unknown> extends WebSocketAcceptContext {
  /** The socket's own state, kept in its attachment (structured clone; the platform limits its size). */
  readonly attachment?: Attachment;
  /**
   * Hub groups the socket joins at once. They are also the socket's tags, so
   * `ctx.getWebSockets(group)` finds it (at most 10; later joins are not tags).
   */
  readonly groups?: readonly string[];
}

/** The request context `open` receives: the core's, with the hibernating accept. */
export interface HibernationContext<Attachment = unknown> extends Omit<WebSocketContext<Request>, "accept"> {
  /**
   * Completes the upgrade and resolves with the open socket, a member of the
   * object's hub. Throws as the core's `accept` does; `RangeError` for more than 10 groups.
   */
  accept(acceptContext?: HibernationAcceptContext<Attachment>): Promise<UniWebSocket>;
}

/** What the application does, as events: any of them may run in an object built after eviction. */
export interface HibernationHandlers<Attachment = unknown> {
  /**
   * Runs once per request, like a `WebSocketHandler` (reject, answer, or accept),
   * but the socket outlives it: returning leaves it open. A throw closes it with 1011.
   */
  open(context: HibernationContext<Attachment>): void | Response | Promise<void | Response>;
  /** A whole data message from `socket`; a throw closes it with 1011. Messages of one socket are delivered in order. */
  message?(socket: UniWebSocket, message: DataMessage): void | Promise<void>;
  /** `socket` ended (its peer closed, the server closed it, or it failed); it has left the hub. */
  close?(socket: UniWebSocket, result: CloseResult): void | Promise<void>;
}

/** Options of a {@link HibernatableWebSocketServer}: the core's, plus the edge's keep-alive. */
export interface HibernationOptions extends WebSocketOptions {
  /**
   * A text message the runtime answers itself, without waking the object
   * (`setWebSocketAutoResponse`): a client's application-level keep-alive. Such
   * messages never reach `message` and count as activity for `idleTimeout`.
   * @default none
   */
  readonly autoResponse?: { readonly request: string; readonly response: string };
  /** Options of the object's hub (`maxBufferedAmount` has no effect: workerd exposes no send buffer). */
  readonly hub?: Omit<HubOptions, "backplane" | "nativeFanOut">;
}

/** What the server keeps in each socket's attachment. */
interface Envelope {
  /** Version of this layout. */
  readonly uniws: 1;
  /** The selected sub-protocol. */
  readonly protocol: string | undefined;
  /** Hub groups. */
  readonly groups: string[];
  /** Last data message, ms since the epoch (for `idleTimeout`, to `IDLE_PRECISION` ms). */
  last: number;
  /** The application's attachment. */
  attachment: unknown;
}

/** How stale the stored time of the last message may be: a write per second at most, per socket. */
const IDLE_PRECISION = 1000;

interface Entry {
  readonly native: WorkerdWebSocket;
  readonly envelope: Envelope;
  readonly link: WebEngineLink;
  socket: UniWebSocket | undefined;
  /** The last data message (exact, in memory). */
  lastMessage: number;
  /** Settles when `close` has run. */
  ended: Promise<void> | undefined;
}

/** One request's accept in progress. */
interface Pending {
  attachment: unknown;
  groups: readonly string[];
  entry: Entry | undefined;
}

function readEnvelope(value: unknown): Envelope {
  const stored = value as Partial<Envelope> | null;
  if (stored?.uniws === 1 && Array.isArray(stored.groups)) return stored as Envelope;
  // Accepted by other code, or stored by another layout: start afresh.
  return { uniws: 1, protocol: undefined, groups: [], last: Date.now(), attachment: undefined };
}

/**
 * The core's policy over one Durable Object's hibernatable sockets. Create it in the
 * object's constructor and forward the object's `fetch`, `webSocketMessage`,
 * `webSocketClose`, `webSocketError` and `alarm` to it. It rebuilds every socket
 * from its attachment when the object is built again after eviction.
 *
 * Keep-alive: workerd answers the client's Ping frames itself, and `autoResponse`
 * answers a text keep-alive at the edge; `keepAliveTimeout` fails the upgrade
 * (`UNSUPPORTED`). `idleTimeout` runs on the object's alarm, so it survives
 * hibernation (the object cannot use its alarm for anything else).
 */
export class HibernatableWebSocketServer<Attachment = unknown> {
  /** The object's hub: every accepted socket is a member; groups fan out with one native loop. */
  readonly hub: WebSocketHub;
  readonly #ctx: DurableObjectStateLike;
  readonly #handlers: HibernationHandlers<Attachment>;
  readonly #host: WebSocketHost<Request>;
  readonly #idleTimeout: number;
  readonly #onError: (error: unknown) => void;
  readonly #topics = new ObjectTopics();
  readonly #byNative = new Map<WorkerdWebSocket, Entry>();
  readonly #bySocket = new Map<UniWebSocket, Entry>();
  readonly #pending = new WeakMap<Request, Pending>();
  /** Connections that ended here: a late event for one must not rebuild it. */
  readonly #ended = new WeakSet<WorkerdWebSocket>();
  /** The alarm as this instance last set it (unknown after eviction). */
  #alarmAt: number | undefined;

  /**
   * Creates the server in the object's constructor and rebuilds the sockets the object already holds.
   * @param ctx the object's state (`this.ctx` of a `DurableObject`)
   * @param handlers what the application does on open, message and close
   * @param options the core's options (`idleTimeout`, `maxMessageSize`…) and `autoResponse`
   */
  constructor(ctx: DurableObjectStateLike, handlers: HibernationHandlers<Attachment>, options: HibernationOptions = {}) {
    if (typeof handlers?.open !== "function") throw new TypeError("handlers.open must be a function");
    const resolved = resolveOptions(options);
    this.#ctx = ctx;
    this.#handlers = handlers;
    this.#idleTimeout = resolved.idleTimeout;
    this.#onError = resolved.onError;
    // The idle timeout is this server's, on the alarm: an in-memory timer would keep the object awake.
    this.#host = new WebSocketHost(this.#run, { ...options, idleTimeout: 0 }, "workerd");
    this.hub = new WebSocketHub({ ...options.hub, nativeFanOut: true });
    if (options.autoResponse !== undefined) {
      ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(options.autoResponse.request, options.autoResponse.response));
    }
    for (const native of ctx.getWebSockets()) this.#restore(native);
  }

  /** Sockets open on this object (rebuilt ones included). */
  get connections(): number {
    return this.#host.connections;
  }

  /** The attachment of `socket` (what `accept` or `attach` stored), or `undefined`. */
  attachment(socket: UniWebSocket): Attachment | undefined {
    return this.#entryOf(socket).envelope.attachment as Attachment | undefined;
  }

  /**
   * Replaces the attachment of `socket`. Throws `UNSUPPORTED` when the value
   * cannot be kept (over the platform's size limit, or not structured-cloneable).
   */
  attach(socket: UniWebSocket, attachment: Attachment): void {
    const entry = this.#entryOf(socket);
    const previous = entry.envelope.attachment;
    entry.envelope.attachment = attachment;
    try {
      entry.native.serializeAttachment(entry.envelope);
    } catch (error) {
      entry.envelope.attachment = previous;
      throw new WebSocketError("UNSUPPORTED", `The attachment cannot be kept with the socket: ${(error as Error)?.message}`, { cause: error });
    }
  }

  /** The object's `fetch`: refusals (400, 403, 426, 503), the handler's answer, or the 101. Unhandled: 404. */
  async fetch(request: Request): Promise<Response> {
    const pending: Pending = { attachment: undefined, groups: [], entry: undefined };
    this.#pending.set(request, pending);
    const binding: UpgradeBinding = {
      capabilities: DURABLE_OBJECT_CAPABILITIES,
      upgrade: (plan, events) => {
        checkWorkerdPlan(plan);
        const { client, server } = webSocketPair();
        const envelope: Envelope = { uniws: 1, protocol: plan.subProtocol, groups: [...pending.groups], last: Date.now(), attachment: pending.attachment };
        // Stored before the runtime holds the socket, so an attachment that does not fit fails the upgrade cleanly.
        server.serializeAttachment(envelope);
        this.#ctx.acceptWebSocket(server, [...pending.groups]);
        pending.entry = this.#link(server, envelope, events);
        return switchingProtocols(client, plan.subProtocol);
      },
    };
    const outcome = await this.#host.dispatch(workerdHandshakeRequest(request), request, binding);
    if (outcome.kind === "unhandled") return new Response(null, { status: 404 });
    return outcome.response ?? new Response(null, { status: 500 });
  }

  /**
   * The object's `webSocketMessage`: the core's checks of every runtime (`maxMessageSize`
   * 1009, the inbound rate limits 1008, the metrics), then `message`.
   */
  async webSocketMessage(native: WorkerdWebSocket, message: string | ArrayBuffer): Promise<void> {
    const entry = this.#byNative.get(native) ?? this.#restore(native);
    const socket = entry?.socket;
    if (entry === undefined || socket === undefined) return;
    this.#touch(entry);
    entry.link.message(message);
    try {
      // Nothing when the core refused it (and started the close) or the socket has ended. A throw is the handler's
      // misuse (a text message left with receive(buffer) inside a character): answered as the handler's own throw.
      const received = socket.takeReceived();
      if (received === undefined) return;
      await this.#handlers.message?.(socket, received);
    } catch (error) {
      this.#onError(error);
      await socket.closeOutput(1011).catch(() => {});
    }
  }

  /** The object's `webSocketClose`: answers the peer's Close (same status), ends the socket and runs `close`. */
  async webSocketClose(native: WorkerdWebSocket, code: number, reason: string, wasClean: boolean): Promise<void> {
    const entry = this.#byNative.get(native) ?? this.#restore(native);
    if (entry === undefined) return;
    entry.link.closed({ code, reason, wasClean });
    await entry.ended;
  }

  /** The object's `webSocketError`: the socket ended abnormally, `error` its cause. */
  async webSocketError(native: WorkerdWebSocket, error: unknown): Promise<void> {
    const entry = this.#byNative.get(native) ?? this.#restore(native);
    if (entry === undefined) return;
    entry.link.error(error);
    entry.link.closed({ code: 1006, reason: "", wasClean: false });
    await entry.ended;
  }

  /** The object's `alarm`: closes sockets idle past `idleTimeout` with 1001 and sets the next alarm. */
  async alarm(): Promise<void> {
    this.#alarmAt = undefined;
    if (this.#idleTimeout <= 0) return;
    const now = Date.now();
    let next = Infinity;
    for (const entry of this.#byNative.values()) {
      const socket = entry.socket;
      if (socket?.state !== "open") continue;
      const due = this.#lastActivity(entry) + this.#idleTimeout;
      if (now >= due) socket.shutdown(1001, "Idle timeout").catch(this.#onError);
      else next = Math.min(next, due);
    }
    if (next === Infinity) return;
    // Set, not compared: the alarm that is running still reads as set until this handler returns.
    this.#alarmAt = next;
    await this.#ctx.storage.setAlarm(next);
  }

  /**
   * The server's figures now (connections, handshakes refused, messages and bytes),
   * as `stats()` on every adapter (docs/operations.md). In a hibernating object they
   * count from the instance's construction: an eviction starts them afresh.
   */
  stats(): WebSocketServerStats {
    return this.#host.stats();
  }

  /** Closes every socket (1001 by default) and resolves when all have ended; new WebSocket requests get 503. */
  close(options?: ShutdownOptions): Promise<void> {
    return this.#host.close(options);
  }

  // ---- sockets ----

  /** The core's handler: `open` with the hibernating context; the socket outlives it (its run ends with the socket). */
  readonly #run: WebSocketHandler<Request> = async (context) => {
    const pending = this.#pending.get(context.native)!;
    let accepted: UniWebSocket | undefined;
    const accepting = new AcceptingContext<Attachment>(context, async (acceptContext) => {
      const { attachment, groups = [], ...core } = acceptContext;
      if (groups.length > 10) throw new RangeError(`A socket takes at most 10 groups at accept (its tags), got ${groups.length}`);
      pending.attachment = attachment;
      pending.groups = groups;
      const socket = await context.accept(core);
      accepted = socket;
      this.#adopted(pending.entry!, socket, groups);
      return socket;
    });
    const answer = await this.#handlers.open(accepting);
    // Returning does not close the socket: the object may hibernate meanwhile, and this run is then forgotten.
    if (accepted !== undefined) await accepted.closed;
    return answer;
  };

  /** Rebuilds the socket of `native` after eviction, from its attachment. */
  #restore(native: WorkerdWebSocket): Entry | undefined {
    if (this.#ended.has(native)) return undefined;
    const envelope = readEnvelope(native.deserializeAttachment());
    const plan: UpgradePlan = { subProtocol: envelope.protocol, keepAliveInterval: 0, keepAliveTimeout: 0, compression: undefined };
    let entry: Entry | undefined;
    try {
      const socket = this.#host.adopt(plan, {
        capabilities: DURABLE_OBJECT_CAPABILITIES,
        upgrade: (_plan, events) => {
          entry = this.#link(native, envelope, events);
          return undefined;
        },
      });
      this.#adopted(entry!, socket, [...envelope.groups]);
    } catch (error) {
      this.#onError(error);
      return undefined;
    }
    return entry;
  }

  #link(native: WorkerdWebSocket, envelope: Envelope, events: EngineEvents): Entry {
    const topics = this.#topics.forSocket(native, envelope.groups, () => this.#persist(entry));
    const entry: Entry = { native, envelope, link: undefined!, socket: undefined, lastMessage: envelope.last, ended: undefined };
    this.#byNative.set(native, entry);
    (entry as { link: WebEngineLink }).link = new WebEngineLink(native, events, { ...WORKERD_ENGINE, topics });
    return entry;
  }

  /** The socket is open: track it, put it in the hub, and run `close` when it ends. */
  #adopted(entry: Entry, socket: UniWebSocket, groups: readonly string[]): void {
    entry.socket = socket;
    this.#bySocket.set(socket, entry);
    this.hub.add(socket, { groups });
    entry.ended = socket.closed.then(async (result) => {
      this.#ended.add(entry.native);
      try {
        await this.#handlers.close?.(socket, result);
      } catch (error) {
        this.#onError(error);
      } finally {
        // Forgotten only now: `close` may still read the socket's attachment.
        this.#byNative.delete(entry.native);
        this.#bySocket.delete(socket);
      }
    });
    if (this.#idleTimeout > 0) this.#armAlarm(this.#lastActivity(entry) + this.#idleTimeout);
  }

  #entryOf(socket: UniWebSocket): Entry {
    const entry = this.#bySocket.get(socket);
    if (entry === undefined) throw new WebSocketError("INVALID_STATE", "Not a socket of this object (or it has ended)");
    return entry;
  }

  #persist(entry: Entry): void {
    const state = entry.socket?.state;
    // An ended socket keeps nothing; one still being accepted is stored by its upgrade.
    if (state === undefined || state === "closed" || state === "aborted") return;
    try {
      entry.native.serializeAttachment(entry.envelope);
    } catch (error) {
      this.#onError(error);
    }
  }

  // ---- idle timeout on the alarm ----

  #touch(entry: Entry): void {
    const now = Date.now();
    entry.lastMessage = now;
    if (this.#idleTimeout > 0 && now - entry.envelope.last >= IDLE_PRECISION) {
      entry.envelope.last = now;
      this.#persist(entry);
    }
  }

  /** The later of the last data message and the last keep-alive the runtime answered. */
  #lastActivity(entry: Entry): number {
    const answered = this.#ctx.getWebSocketAutoResponseTimestamp(entry.native)?.getTime() ?? 0;
    return Math.max(entry.lastMessage, answered);
  }

  #armAlarm(due: number): void {
    if (this.#alarmAt !== undefined && this.#alarmAt <= due) return;
    this.#alarmAt = due;
    const storage = this.#ctx.storage;
    storage.getAlarm().then((current) => {
      if (current === null || current > due) return storage.setAlarm(due);
    }).catch(this.#onError);
  }
}

/** The core's context with the hibernating `accept`. */
class AcceptingContext<Attachment> implements HibernationContext<Attachment> {
  readonly #context: WebSocketContext<Request>;
  readonly #accept: (acceptContext: HibernationAcceptContext<Attachment>) => Promise<UniWebSocket>;

  constructor(context: WebSocketContext<Request>, accept: (acceptContext: HibernationAcceptContext<Attachment>) => Promise<UniWebSocket>) {
    this.#context = context;
    this.#accept = accept;
  }

  get isWebSocketRequest(): boolean {
    return this.#context.isWebSocketRequest;
  }
  get requestedProtocols(): readonly string[] {
    return this.#context.requestedProtocols;
  }
  get origin(): string | undefined {
    return this.#context.origin;
  }
  get method(): string {
    return this.#context.method;
  }
  get url(): URL {
    return this.#context.url;
  }
  get headers(): Headers {
    return this.#context.headers;
  }
  get httpVersion(): HttpVersion {
    return this.#context.httpVersion;
  }
  get native(): Request {
    return this.#context.native;
  }
  get remoteAddress(): string | undefined {
    return this.#context.remoteAddress;
  }

  accept(acceptContext: HibernationAcceptContext<Attachment> = {}): Promise<UniWebSocket> {
    try {
      return this.#accept(acceptContext);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  reject(status: number, body?: ResponseBody | null, headers?: ResponseHeaders): void {
    this.#context.reject(status, body, headers);
  }
}
