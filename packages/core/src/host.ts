/**
 * The server side of the policy, shared by every adapter: it reads each request's
 * handshake, answers what must be refused (400, 403, 426, 503 — shutting down or
 * over `maxConnections`) before the application sees it, runs the application's
 * handler with a {@link WebSocketContext}, applies the accept context, keeps the
 * live sockets, their shared timers and the server's figures (`stats()`, metrics),
 * and shuts them all down with 1001.
 *
 * @module
 */
import { CloseStatus, validateCloseStatus } from "./close-status.ts";
import { type ContextHost, type DispatchOutcome, RequestContext, shuttingDown, textResponse, type WebSocketHandler } from "./context.ts";
import type { EngineCapabilities, UpgradeBinding, UpgradePlan } from "./engine.ts";
import { FOREIGN_SCHEME_REASON, type HandshakeRequest, hasForeignScheme, isOriginAllowed, readHandshake } from "./handshake.ts";
import { ServerMetrics, type WebSocketServerStats } from "./metrics.ts";
import { checkTimerDelay, type ResolvedWebSocketOptions, resolveOptions, type WebSocketOptions } from "./options.ts";
import { WebSocketError } from "./errors.ts";
import { Scheduler } from "./scheduler.ts";
import { type SocketSettings, UniWebSocket } from "./socket.ts";

export type { DispatchOutcome, ResponseBody, ResponseHeaders, WebSocketContext, WebSocketHandler } from "./context.ts";

function requestScoped(): WebSocketError {
  return new WebSocketError(
    "REQUEST_SCOPED_IO",
    "Sockets opened by other requests cannot be closed from this one on a plain Cloudflare Worker: " +
      "they stay open; keep sockets a shutdown must reach in a Durable Object (@uniws/cloudflare)",
  );
}

/** Options of {@link WebSocketHost.close}; checked before any socket is touched. */
export interface ShutdownOptions {
  /** The status of every socket's Close frame: one `close()` accepts (RFC 6455 §7.4). @default 1001 */
  readonly closeStatus?: number;
  /** The reason in every Close frame, at most 123 UTF-8 bytes (RFC 6455 §5.5). @default "Server shutting down" */
  readonly statusDescription?: string;
  /**
   * How long to wait for peers to answer the Close before aborting them, in ms (0 to 2^31 - 1, the longest delay a
   * timer holds; a `RangeError` otherwise); `0` waits for every peer, as `closeTimeout` 0 does for `close()`.
   * @default `closeTimeout`
   */
  readonly timeout?: number;
}

/** The policy and live sockets of one server. Adapters create one per server. */
export class WebSocketHost<Native = unknown> {
  /** The resolved options (every default filled in). */
  readonly options: ResolvedWebSocketOptions;
  readonly #handler: WebSocketHandler<Native>;
  readonly #scheduler: Scheduler;
  readonly #sockets = new Set<UniWebSocket>();
  readonly #forget = (socket: UniWebSocket) => this.#sockets.delete(socket);
  readonly #metrics: ServerMetrics;
  // WebSocket requests whose handler has not answered: with the sockets, what `maxConnections` bounds.
  #pendingHandshakes = 0;
  #closing = false;
  // What this server's request contexts see of it: creating sockets stays off the public API (and out of the .d.ts).
  readonly #contextHost: ContextHost;

  /**
   * Runs `handler` for every request under `options`; adapters create one per server.
   * Throws `TypeError` without a handler and `RangeError` for an invalid option.
   * @param runtime the adapter's runtime, the `uniws.runtime` attribute of every metric
   *   (`node`, `deno`, `bun`, `workerd`)
   */
  constructor(handler: WebSocketHandler<Native>, options?: WebSocketOptions, runtime = "unknown") {
    if (typeof handler !== "function") throw new TypeError("A WebSocket handler function is required");
    this.options = resolveOptions(options);
    this.#handler = handler;
    this.#scheduler = new Scheduler(10, this.options.onError);
    this.#metrics = new ServerMetrics(this.options.meter, runtime);
    const host = this;
    this.#contextHost = {
      get closing() {
        return host.#closing;
      },
      options: this.options,
      defaultPlan: Object.freeze({
        subProtocol: undefined,
        keepAliveInterval: this.options.keepAliveInterval,
        keepAliveTimeout: this.options.keepAliveTimeout,
        compression: undefined,
      }),
      createSocket: (plan, binding) => this.#createSocket(plan, binding),
      answered: (outcome) => this.#answered(outcome),
    };
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

  /** The server's figures now (a new plain object each call): the same as its metrics, without OpenTelemetry. */
  stats(): WebSocketServerStats {
    return this.#metrics.snapshot(this.#pendingHandshakes);
  }

  /** Whether `close` was called: WebSocket requests are answered 503. */
  get closing(): boolean {
    return this.#closing;
  }

  /** Handles one request. The handler keeps running after an upgrade. */
  dispatch(request: HandshakeRequest, native: Native, binding: UpgradeBinding): Promise<DispatchOutcome> {
    const verdict = readHandshake(request);
    if (verdict.kind === "invalid") return this.#refuse(textResponse(verdict.status, verdict.reason, verdict.headers));
    if (verdict.kind === "plain") {
      // Answered as Bun.serve answers it, before the handler, on every runtime; a plain request is no refused handshake.
      if (hasForeignScheme(request)) return Promise.resolve({ kind: "response", response: textResponse(400, FOREIGN_SCHEME_REASON) });
      return new Promise((answer) => new RequestContext(this.#contextHost, request, native, binding, false, answer).run(this.#handler));
    }
    if (this.#closing) return this.#refuse(shuttingDown());
    // The origin check runs before any upgrade (RFC 6455 §10.2): 403, and the handler never runs.
    const { allowedOrigins } = this.options;
    if (allowedOrigins !== undefined && !isOriginAllowed(request.headers.get("origin"), allowedOrigins)) return this.#refuse(new Response(null, { status: 403 }));
    const { maxConnections } = this.options;
    // Requests still in their handler count, so two racing for the last place cannot both be accepted.
    if (maxConnections > 0 && this.#sockets.size + this.#pendingHandshakes >= maxConnections) {
      const retryAfter = String(Math.ceil(this.options.maxConnectionsRetryAfter / 1000));
      return this.#refuse(textResponse(503, "Too many connections", { "retry-after": retryAfter }));
    }
    this.#pendingHandshakes++;
    return new Promise((answer) => new RequestContext(this.#contextHost, request, native, binding, true, answer).run(this.#handler));
  }

  // A WebSocket request's answer: an accepted one is counted by its socket from now on (created before this
  // runs), any other by nothing.
  #answered(outcome: DispatchOutcome): void {
    this.#pendingHandshakes--;
    if (outcome.kind === "response") this.#metrics.rejected(outcome.response.status);
  }

  /**
   * Closes every socket with 1001 and resolves once all have ended (aborting those
   * that do not answer in time). Rejects with `INVALID_CLOSE_STATUS` (a status or
   * description no Close frame may carry) or a `RangeError` (a bad timeout) before
   * touching any socket or refusing any request. Rejects at once with
   * `REQUEST_SCOPED_IO` when some socket belongs to another request of a plain
   * Cloudflare Worker: those stay open and counted (the others are closed as usual).
   */
  async close(options: ShutdownOptions = {}): Promise<void> {
    const status = options.closeStatus ?? CloseStatus.EndpointUnavailable;
    const description = options.statusDescription ?? "Server shutting down";
    const timeout = options.timeout ?? this.options.closeTimeout;
    validateCloseStatus(status, description);
    checkTimerDelay("timeout", timeout);
    this.#closing = true;
    const sockets = [...this.#sockets];
    let unreachable: WebSocketError | undefined;
    for (const socket of sockets) {
      socket.shutdown(status, description).catch((error) => {
        if (!(error instanceof WebSocketError && error.code === "REQUEST_SCOPED_IO")) this.options.onError(error);
      });
      // A Worker's socket from another request stays open and counted; the caller hears it at once.
      if (socket.state === "open" && socket.capabilities.requestScopedIo === true) unreachable ??= requestScoped();
    }
    if (unreachable !== undefined) throw unreachable;
    // 0 is no limit, as `closeTimeout` 0 is for close(): wait for every peer's Close.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = timeout === 0 ? [] : [new Promise<void>((resolve) => (timer = setTimeout(resolve, timeout)))];
    await Promise.race([Promise.all(sockets.map((socket) => socket.closed)), ...expired]);
    clearTimeout(timer);
    for (const socket of this.#sockets) socket.abort();
    await Promise.all(sockets.map((socket) => socket.closed));
  }

  /**
   * Tracks a socket whose handshake was judged earlier and whose engine socket is
   * already open: a Durable Object's hibernated socket, when the object is built
   * again after eviction. `binding.upgrade(plan, events)` must report `opened` at
   * once (its response is ignored); the socket then follows this host's options.
   * Throws `SERVER_CLOSING` while the host closes, and what the binding throws.
   */
  adopt(plan: UpgradePlan, binding: UpgradeBinding): UniWebSocket {
    if (this.#closing) throw new WebSocketError("SERVER_CLOSING", "The server is shutting down");
    const socket = this.#createSocket(plan, binding);
    try {
      binding.upgrade(plan, socket.engineEvents);
    } catch (error) {
      socket.engineEvents.failed(error);
      throw error;
    }
    if (socket.state !== "open") {
      const error = new WebSocketError("UPGRADE_FAILED", "The adopted socket did not report itself open");
      socket.engineEvents.failed(error);
      throw error;
    }
    return socket;
  }

  // A WebSocket request answered by the core itself: counted, and never shown to the handler.
  #refuse(response: Response): Promise<DispatchOutcome> {
    this.#metrics.rejected(response.status);
    return Promise.resolve({ kind: "response", response });
  }

  /** Creates and tracks the socket an accept opens (called by the request's context). */
  #createSocket(plan: UpgradePlan, binding: UpgradeBinding): UniWebSocket {
    const socket = UniWebSocket.create(this.#settingsFor(plan, binding.capabilities), plan.subProtocol);
    this.#sockets.add(socket);
    return socket;
  }

  // Sockets with the same engine and keep-alive share one settings object (on most servers, every socket).
  readonly #sharedSettings: SocketSettings[] = [];

  #settingsFor(plan: UpgradePlan, capabilities: EngineCapabilities): SocketSettings {
    // Without ping control the adapter maps keep-alive onto the engine's own timer.
    const keepAliveInterval = capabilities.pingControl ? plan.keepAliveInterval : 0;
    const keepAliveTimeout = capabilities.pingControl ? plan.keepAliveTimeout : 0;
    // A timer armed by one request's socket must not touch another request's (workerd forbids it).
    const scoped = capabilities.requestScopedIo === true;
    if (!scoped) {
      for (const settings of this.#sharedSettings) {
        if (settings.capabilities === capabilities && settings.keepAliveInterval === keepAliveInterval && settings.keepAliveTimeout === keepAliveTimeout) return settings;
      }
    }
    const { options } = this;
    const settings: SocketSettings = {
      keepAliveInterval,
      keepAliveTimeout,
      idleTimeout: options.idleTimeout,
      closeTimeout: options.closeTimeout,
      maxMessageSize: options.maxMessageSize,
      sendHighWaterMark: options.sendHighWaterMark,
      sendBufferLimit: options.sendBufferLimit,
      receiveBufferLimit: options.receiveBufferLimit,
      maxMessagesPerSecond: options.maxMessagesPerSecond,
      messageBurst: options.messageBurst,
      maxBytesPerSecond: options.maxBytesPerSecond,
      byteBurst: options.byteBurst,
      metrics: this.#metrics,
      capabilities,
      scheduler: scoped ? new Scheduler(10, options.onError) : this.#scheduler,
      onEnded: this.#forget,
    };
    // Bounded: accept contexts may pick keep-alive per socket.
    if (!scoped && this.#sharedSettings.length < 16) this.#sharedSettings.push(settings);
    return settings;
  }
}
