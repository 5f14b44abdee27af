/**
 * The server side of the policy, shared by every adapter: it reads each request's
 * handshake, answers what must be refused (400, 403, 426, 503) before the
 * application sees it, runs the application's handler with a
 * {@link WebSocketContext}, applies the accept context, keeps the live sockets and
 * their shared timers, and shuts them all down with 1001.
 *
 * @module
 */
import { CloseStatus } from "./close-status.ts";
import type { EngineEvents, UpgradeBinding, UpgradePlan } from "./engine.ts";
import { WebSocketError } from "./errors.ts";
import { type HandshakeRequest, isOriginAllowed, readHandshake, requestedProtocols } from "./handshake.ts";
import {
  type ResolvedWebSocketOptions,
  resolveOptions,
  validateAcceptContext,
  type WebSocketAcceptContext,
  type WebSocketOptions,
} from "./options.ts";
import { Scheduler } from "./scheduler.ts";
import { UniWebSocket } from "./socket.ts";

/**
 * The request context a handler receives (the seed's `HttpContext.WebSockets`).
 * `Native` is the adapter's own request object (Node's `IncomingMessage`, the web
 * `Request`, Hono's `Context`).
 */
export interface WebSocketContext<Native = unknown> {
  /** Whether this is a valid WebSocket opening handshake that `accept` can complete. */
  readonly isWebSocketRequest: boolean;
  /** The sub-protocols the client offered, in its order of preference. */
  readonly requestedProtocols: readonly string[];
  /** The `Origin` header, if any. Not authentication: any non-browser client can send any value. */
  readonly origin: string | undefined;
  readonly method: string;
  readonly url: URL;
  readonly headers: Headers;
  /** `"2"` for a WebSocket over an HTTP/2 extended CONNECT (RFC 8441). */
  readonly httpVersion: "1.1" | "2";
  /** The adapter's own request object. */
  readonly native: Native;
  /**
   * Completes the upgrade and resolves with the open socket. Throws
   * `NOT_WEBSOCKET_REQUEST` for a request that is not a WebSocket request,
   * `INVALID_SUBPROTOCOL` for a sub-protocol the client did not offer.
   */
  accept(acceptContext?: WebSocketAcceptContext): Promise<UniWebSocket>;
  /** Answers the request with an HTTP status instead of upgrading. */
  reject(status: number, body?: BodyInit | null, headers?: HeadersInit): void;
}

/**
 * The application's handler. Its promise is the connection's lifetime: when it
 * returns, an accepted socket still open is closed with 1000; when it throws, with
 * 1011 (and the error goes to `onError`). A handler may return a `Response` to
 * answer a request it does not upgrade.
 */
export type WebSocketHandler<Native = unknown> = (
  context: WebSocketContext<Native>,
) => void | Response | Promise<void | Response>;

/** What the adapter does with the HTTP request. */
export type DispatchOutcome =
  /** Send this response (a refusal, or the application's answer). */
  | { readonly kind: "response"; readonly response: Response }
  /** The request was upgraded; send `response` if the runtime needs one returned (Deno's 101). */
  | { readonly kind: "upgraded"; readonly response: Response | undefined }
  /** The handler neither upgraded nor answered: the adapter's fallback (or 404) answers. */
  | { readonly kind: "unhandled" };

/** Options of {@link WebSocketHost.close}. */
export interface ShutdownOptions {
  /** @default 1001 */
  readonly closeStatus?: number;
  /** @default "Server shutting down" */
  readonly statusDescription?: string;
  /** How long to wait for peers to answer the Close before aborting them. @default `closeTimeout` */
  readonly timeout?: number;
}

function plainResponse(status: number, reason: string, headers?: Record<string, string>): DispatchOutcome {
  return { kind: "response", response: new Response(reason, { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers } }) };
}

/** The policy and live sockets of one server. Adapters create one per server. */
export class WebSocketHost<Native = unknown> {
  readonly options: ResolvedWebSocketOptions;
  readonly #handler: WebSocketHandler<Native>;
  readonly #scheduler: Scheduler;
  readonly #sockets = new Set<UniWebSocket>();
  #closing = false;

  constructor(handler: WebSocketHandler<Native>, options?: WebSocketOptions) {
    if (typeof handler !== "function") throw new TypeError("A WebSocket handler function is required");
    this.options = resolveOptions(options);
    this.#handler = handler;
    this.#scheduler = new Scheduler(10, this.options.onError);
  }

  /** Sockets accepted and not yet ended. */
  get connections(): number {
    return this.#sockets.size;
  }

  /**
   * Deadlines filed on the server's shared timer (keep-alive, idle and close timeouts,
   * drain polls) for live sockets: 0 once every socket has ended.
   */
  get scheduledTasks(): number {
    return this.#scheduler.size;
  }

  /** Whether `close` was called: WebSocket requests are answered 503. */
  get closing(): boolean {
    return this.#closing;
  }

  /** Handles one request. The handler keeps running after an upgrade. */
  dispatch(request: HandshakeRequest, native: Native, binding: UpgradeBinding): Promise<DispatchOutcome> {
    const verdict = readHandshake(request);
    if (verdict.kind === "invalid") return Promise.resolve(plainResponse(verdict.status, verdict.reason, verdict.headers));
    const isWebSocketRequest = verdict.kind === "websocket";
    if (isWebSocketRequest) {
      if (this.#closing) return Promise.resolve(plainResponse(503, "Server shutting down"));
      // The origin check runs before any upgrade (RFC 6455 §10.2): 403, and the handler never runs.
      if (!isOriginAllowed(request.headers.get("origin"), this.options.allowedOrigins)) {
        return Promise.resolve({ kind: "response", response: new Response(null, { status: 403 }) });
      }
    }
    return new Promise((answer) => this.#run(request, native, binding, isWebSocketRequest, answer));
  }

  /** Closes every socket with 1001 and resolves once all have ended (aborting those that do not answer in time). */
  async close(options: ShutdownOptions = {}): Promise<void> {
    this.#closing = true;
    const status = options.closeStatus ?? CloseStatus.EndpointUnavailable;
    const description = options.statusDescription ?? "Server shutting down";
    const timeout = options.timeout ?? this.options.closeTimeout;
    const sockets = [...this.#sockets];
    for (const socket of sockets) socket.closeOutput(status, description).catch(this.options.onError);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeout)));
    await Promise.race([Promise.all(sockets.map((socket) => socket.closed)), expired]);
    clearTimeout(timer);
    for (const socket of this.#sockets) socket.abort();
    await Promise.all(sockets.map((socket) => socket.closed));
  }

  #run(
    request: HandshakeRequest,
    native: Native,
    binding: UpgradeBinding,
    isWebSocketRequest: boolean,
    answer: (outcome: DispatchOutcome) => void,
  ): void {
    let answered = false;
    let socket: UniWebSocket | undefined;
    let opened: Promise<UniWebSocket> | undefined;
    const respond = (outcome: DispatchOutcome) => {
      if (answered) throw new WebSocketError("ALREADY_ANSWERED", "This request was already answered");
      answered = true;
      answer(outcome);
    };
    const protocols = isWebSocketRequest ? requestedProtocols(request.headers) : [];
    const context: WebSocketContext<Native> = {
      isWebSocketRequest,
      requestedProtocols: protocols,
      origin: request.headers.get("origin") ?? undefined,
      method: request.method,
      url: request.url,
      headers: request.headers,
      httpVersion: request.httpVersion,
      native,
      accept: async (acceptContext = {}) => {
        if (!isWebSocketRequest) throw new WebSocketError("NOT_WEBSOCKET_REQUEST", "Not a WebSocket request");
        if (answered) throw new WebSocketError("ALREADY_ANSWERED", "This request was already answered");
        if (this.#closing) throw new WebSocketError("SERVER_CLOSING", "The server is shutting down");
        validateAcceptContext(acceptContext);
        const { subProtocol } = acceptContext;
        if (subProtocol !== undefined && !protocols.includes(subProtocol)) {
          throw new WebSocketError("INVALID_SUBPROTOCOL", `Sub-protocol '${subProtocol}' was not offered by the client`);
        }
        const upgrade = this.#upgrade(binding, acceptContext, (outcome) => respond(outcome));
        socket = upgrade.socket;
        opened = upgrade.ready;
        return await opened;
      },
      reject: (status, body, headers) => {
        respond({ kind: "response", response: new Response(body ?? null, { status, headers }) });
      },
    };
    const finished = (async () => await this.#handler(context))();
    finished.then(
      (value) => {
        if (value instanceof Response) {
          if (answered) this.options.onError(new WebSocketError("ALREADY_ANSWERED", "The handler returned a Response after answering"));
          else respond({ kind: "response", response: value });
        } else if (!answered) {
          respond({ kind: "unhandled" });
        }
        // The socket may still be opening if the handler did not await accept().
        opened?.then((open) => this.#finish(open, CloseStatus.NormalClosure), () => {});
      },
      (error) => {
        const socketEndedFirst = socket !== undefined && (socket.state === "aborted" || socket.state === "closed");
        if (!(socketEndedFirst && error instanceof WebSocketError && error.code === "CONNECTION_CLOSED")) this.options.onError(error);
        if (!answered) respond(plainResponse(500, "Internal Server Error"));
        opened?.then((open) => this.#finish(open, CloseStatus.InternalServerError), () => {});
      },
    );
  }

  #upgrade(
    binding: UpgradeBinding,
    acceptContext: WebSocketAcceptContext,
    respond: (outcome: DispatchOutcome) => void,
  ): { socket: UniWebSocket; ready: Promise<UniWebSocket> } {
    const { options } = this;
    const plan: UpgradePlan = {
      subProtocol: acceptContext.subProtocol,
      keepAliveInterval: acceptContext.keepAliveInterval ?? options.keepAliveInterval,
      keepAliveTimeout: acceptContext.keepAliveTimeout ?? options.keepAliveTimeout,
      compression: acceptContext.dangerousEnableCompression
        ? { serverMaxWindowBits: acceptContext.serverMaxWindowBits ?? 15, serverContextTakeover: !acceptContext.disableServerContextTakeover }
        : undefined,
    };
    const { capabilities } = binding;
    const socket = new UniWebSocket({
      subProtocol: plan.subProtocol,
      // Without ping control the adapter maps keep-alive onto the engine's own timer.
      keepAliveInterval: capabilities.pingControl ? plan.keepAliveInterval : 0,
      keepAliveTimeout: capabilities.pingControl ? plan.keepAliveTimeout : 0,
      idleTimeout: options.idleTimeout,
      closeTimeout: options.closeTimeout,
      maxMessageSize: options.maxMessageSize,
      sendHighWaterMark: options.sendHighWaterMark,
      sendBufferLimit: options.sendBufferLimit,
      receiveBufferLimit: options.receiveBufferLimit,
      capabilities,
      // A timer armed by one request's socket must not touch another request's (workerd forbids it).
      scheduler: capabilities.requestScopedIo === true ? new Scheduler(10, options.onError) : this.#scheduler,
    });
    this.#sockets.add(socket);
    void socket.closed.then(() => this.#sockets.delete(socket));
    const inner = socket.engineEvents;
    let settle!: { resolve: (socket: UniWebSocket) => void; reject: (error: unknown) => void };
    const ready = new Promise<UniWebSocket>((resolve, reject) => (settle = { resolve, reject }));
    const failed = (error: unknown) => {
      inner.failed(error);
      settle.reject(new WebSocketError("UPGRADE_FAILED", "The WebSocket upgrade did not complete", { cause: error }));
    };
    const events: EngineEvents = {
      ...inner,
      opened: (engine) => {
        inner.opened(engine);
        // A socket that opens while the server shuts down is closed at once.
        if (this.#closing) void socket.closeOutput(CloseStatus.EndpointUnavailable, "Server shutting down");
        settle.resolve(socket);
      },
      failed,
      closed: (code, reason, error) => {
        if (socket.state === "connecting") failed(error ?? new Error(`closed with ${code} before opening`));
        else inner.closed(code, reason, error);
      },
    };
    let response: Response | undefined;
    try {
      response = binding.upgrade(plan, events);
    } catch (error) {
      failed(error);
      respond({ kind: "response", response: new Response("Upgrade failed", { status: 500 }) });
      return { socket, ready };
    }
    respond({ kind: "upgraded", response });
    return { socket, ready };
  }

  // The handler's promise settled: no socket outlives it half-alive.
  #finish(socket: UniWebSocket, status: number): void {
    if (socket.state === "open" || socket.state === "closeReceived") socket.close(status).catch(this.options.onError);
  }
}
