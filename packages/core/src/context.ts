/**
 * One request as the application's handler sees it (the seed's
 * `HttpContext.WebSockets`): what the client asked for, `accept` and `reject`, and
 * the handler's run, whose promise is the connection's lifetime.
 *
 * @module
 */
import { CloseStatus } from "./close-status.ts";
import type { UpgradeBinding, UpgradePlan } from "./engine.ts";
import { WebSocketError } from "./errors.ts";
import { type AnsweredHandshake, type HandshakeRequest, type HttpVersion, requestedProtocols } from "./handshake.ts";
import { type ResolvedWebSocketOptions, validateAcceptContext, type WebSocketAcceptContext } from "./options.ts";
import type { UniWebSocket } from "./socket.ts";

/**
 * A body {@link WebSocketContext.reject} answers with: what `new Response(body)` takes, named with types every
 * runtime declares globally (Node's types, Deno, Bun, workerd), so the published types need no DOM lib.
 */
export type ResponseBody = string | ArrayBuffer | Uint8Array | Blob | ReadableStream<Uint8Array> | URLSearchParams | FormData;

/** Headers {@link WebSocketContext.reject} answers with, in any form `new Response(body, { headers })` takes. */
export type ResponseHeaders = Headers | Record<string, string> | Array<[string, string]>;

/**
 * The request context a handler receives. `Native` is the adapter's own request
 * object (Node's `IncomingMessage`, the web `Request`, Hono's `Context`).
 */
export interface WebSocketContext<Native = unknown> {
  /** Whether this is a valid WebSocket opening handshake that `accept` can complete. */
  readonly isWebSocketRequest: boolean;
  /** The sub-protocols the client offered, in its order of preference. */
  readonly requestedProtocols: readonly string[];
  /** The `Origin` header, if any. Not authentication: any non-browser client can send any value. */
  readonly origin: string | undefined;
  /** The request method: `GET` for an HTTP/1.1 upgrade, `CONNECT` for HTTP/2 (RFC 8441 §4). */
  readonly method: string;
  /** The request URL (for HTTP/2, built from `:scheme`, `:authority` and `:path`). */
  readonly url: URL;
  /**
   * The request headers, as a web `Headers`. The handshake's: first read before the request is answered, it is a
   * copy that stays readable for the connection's life; first read after, it throws `INVALID_STATE` (a
   * `WebSocketError`) on every runtime, as the context has let go of the request (see {@link native}).
   */
  readonly headers: Headers;
  /** The request's HTTP version: `"2"` for a WebSocket over an HTTP/2 extended CONNECT (RFC 8441). */
  readonly httpVersion: HttpVersion;
  /**
   * The IP address of the connection's peer (ASP.NET's `Connection.RemoteIpAddress`):
   * Node's socket, Deno's `ServeHandlerInfo.remoteAddr`, Bun's `server.requestIP`,
   * workerd's `CF-Connecting-IP`. An IPv4 peer of a dual-stack listener reads as plain
   * IPv4 (`127.0.0.1`, not `::ffff:127.0.0.1`). Behind a proxy this is the proxy: trust
   * `Forwarded` / `X-Forwarded-For` only from proxies you run (docs/operations.md).
   * `undefined` when the runtime does not tell.
   */
  readonly remoteAddress: string | undefined;
  /**
   * The adapter's own request object (Node's `IncomingMessage`, `{ request, info }` on Deno, `{ request, server }`
   * on Bun, Hono's `Context`). The handshake's, as Deno's `Request` is: readable until the request is answered
   * (`accept`, `reject`, a returned `Response`), then let go of, so that an open connection keeps none of its
   * request (≈ 1 KB per idle connection on Node); read after that, it throws `INVALID_STATE` on every runtime.
   * `method`, `url`, `httpVersion`, `origin`, `requestedProtocols` and `remoteAddress` stay readable, and so does
   * what the handler took from the request before answering.
   */
  readonly native: Native;
  /**
   * Completes the upgrade and resolves with the open socket. Rejects with
   * `NOT_WEBSOCKET_REQUEST` for a request that is not a WebSocket request,
   * `INVALID_SUBPROTOCOL` for a sub-protocol the client did not offer, a `TypeError` for an
   * `acceptContext` that is neither an object nor `undefined` (`null`, a string) and a `RangeError` for
   * an invalid value in it. The request is then still unanswered: a handler that lets the error out is
   * answered 500, as any handler that throws before accepting.
   */
  accept(acceptContext?: WebSocketAcceptContext): Promise<UniWebSocket>;
  /**
   * Answers the request with an HTTP `status` (and optional `body` and `headers`) instead of upgrading.
   * Throws `ALREADY_ANSWERED` when the request was already accepted or answered, a `RangeError`
   * for a `status` that is not a final one (an integer from 200 to 599, RFC 9110 §15), and a `TypeError` for a
   * `body` with 204, 205 or 304 (statuses without content, RFC 9110 §15.3.5, §15.3.6, §15.4.5) or `headers` the
   * web `Headers` refuses (a name that is not a token), on every runtime.
   */
  reject(status: number, body?: ResponseBody | null, headers?: ResponseHeaders): void;
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

/** What a context needs from the server it belongs to: one object per server, shared by its requests. */
export interface ContextHost {
  readonly closing: boolean;
  readonly options: ResolvedWebSocketOptions;
  /** The plan of an accept that sets nothing (the server's keep-alive, no sub-protocol, no compression): one per server. */
  readonly defaultPlan: UpgradePlan;
  /** Creates (and tracks) the socket an accept will open. */
  createSocket(plan: UpgradePlan, binding: UpgradeBinding): UniWebSocket;
  /** A WebSocket request was answered with `outcome` (the server counts its pending handshakes and refusals). */
  answered(outcome: DispatchOutcome): void;
}

// What a context holds in place of the adapter's request once it has answered it, the sub-protocols of a WebSocket
// request that offers none, and those of a request that is not a WebSocket request (shared; the second also says
// that it is not one, which costs the context no field of its own).
const RELEASED: unique symbol = Symbol("released");
const NONE: readonly string[] = Object.freeze([]);
const NOT_WEBSOCKET: readonly string[] = Object.freeze([]);

function released(what: string): WebSocketError {
  return new WebSocketError(
    "INVALID_STATE",
    `${what} is the handshake's: the request was answered (accepted or refused) and let go of; read what the handler needs of it before accept()`,
  );
}

// An accept context that chooses nothing, and the outcome of an upgrade with no response to return: shared.
const NO_CHOICES: WebSocketAcceptContext = Object.freeze({});
const UPGRADED: DispatchOutcome = Object.freeze({ kind: "upgraded", response: undefined });

// The reaction on the handler's promise waits for the connection's whole life: two functions bound to the context, or
// two closures over it, whichever the engine makes smaller. V8 (Node, Deno, workerd): 48 B per bound function, 152 B
// for the closures and their shared scope; JavaScriptCore (Bun): 96 B per bound function, 112 B for the closures
// (heap snapshots, bench/analysis.md). Bun's global is the one marker of its engine every Bun has.
const CLOSURES_ARE_SMALLER = typeof (globalThis as { Bun?: unknown }).Bun === "object";

/** A plain-text response, for the answers the core gives itself. */
export function textResponse(status: number, text: string, headers?: Record<string, string>): Response {
  return new Response(text, { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers } });
}

/** @internal The answer to a WebSocket request while the server shuts down, before or in its handler. */
export function shuttingDown(): Response {
  return textResponse(503, "Server shutting down");
}

/** The context of one request, and the run of the handler over it. */
export class RequestContext<Native> implements WebSocketContext<Native> {
  readonly #host: ContextHost;
  // The adapter's reading of the request; once answered, what it handed back to keep in its place.
  #request: HandshakeRequest | AnsweredHandshake;
  // The adapter's request until the answer; then RELEASED (the connection keeps none of its request).
  #native: Native | typeof RELEASED;
  #headers: Headers | undefined;
  // Read from the request when first asked for (most handlers accept without looking at the offer), at the latest
  // when it is answered (NOT_WEBSOCKET from the start for a request that is not a WebSocket request), with the
  // `Origin` value (`null`: none sent; `undefined`: not read yet).
  #requestedProtocols: readonly string[] | undefined;
  #origin: string | null | undefined;
  // Dropped once used: an accepted connection keeps only what its handler can still reach.
  #binding: UpgradeBinding | undefined;
  // Until the request is answered, how to answer it; once accepted, the socket, which the handler's end closes (not
  // accept()'s promise, which would stay for the connection's life). One field: the two never coexist.
  #answerOrSocket: ((outcome: DispatchOutcome) => void) | UniWebSocket | undefined;

  constructor(
    host: ContextHost,
    request: HandshakeRequest,
    native: Native,
    binding: UpgradeBinding,
    isWebSocketRequest: boolean,
    answer: (outcome: DispatchOutcome) => void,
  ) {
    this.#host = host;
    this.#request = request;
    if (!isWebSocketRequest) this.#requestedProtocols = NOT_WEBSOCKET;
    this.#native = native;
    this.#binding = binding;
    this.#answerOrSocket = answer;
  }

  get isWebSocketRequest(): boolean {
    return this.#requestedProtocols !== NOT_WEBSOCKET;
  }

  // Read from the request in place, and after the answer from what stands for it (HandshakeRequest.answering).
  get method(): string {
    return this.#request.method;
  }

  get httpVersion(): HttpVersion {
    return this.#request.httpVersion;
  }

  get url(): URL {
    return this.#request.url;
  }

  get requestedProtocols(): readonly string[] {
    return (this.#requestedProtocols ??= requestedProtocols((this.#request as HandshakeRequest).headers));
  }

  get headers(): Headers {
    if (this.#headers !== undefined) return this.#headers;
    if (this.#native === RELEASED) throw released("context.headers");
    // A copy: the runtime's own may become unreadable once the request is answered (Deno's does).
    const source = (this.#request as HandshakeRequest).headers;
    return (this.#headers = "toHeaders" in source ? source.toHeaders() : new Headers(source));
  }

  get origin(): string | undefined {
    return (this.#native === RELEASED ? this.#origin : (this.#request as HandshakeRequest).headers.get("origin")) ?? undefined;
  }

  get native(): Native {
    const native = this.#native;
    if (native === RELEASED) throw released("context.native");
    return native;
  }

  get remoteAddress(): string | undefined {
    const address = this.#request.remoteAddress;
    // An IPv4 peer on a dual-stack socket shows as IPv4-mapped IPv6 (RFC 4291 §2.5.5.2): report the IPv4 address.
    return address !== undefined && address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
  }

  accept(acceptContext: WebSocketAcceptContext = NO_CHOICES): Promise<UniWebSocket> {
    try {
      return RequestContext.#accept.call(this, acceptContext);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  reject(status: number, body?: ResponseBody | null, headers?: ResponseHeaders): void {
    // Runtimes disagree on other statuses (Bun sends a bare 101, which tells the client it was upgraded): refuse them all.
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new RangeError(`reject() takes a final HTTP status, an integer from 200 to 599 (RFC 9110 §15), got ${status}`);
    }
    // Checked here, not left to the Response: Bun's takes a body on these and drops it, and Hono's lazy Response on Node
    // throws only once it is sent, unanswered. 204, 205, 304: Fetch's null body statuses (RFC 9110 §15.3.5, §15.4.5).
    if (body != null && (status === 204 || status === 205 || status === 304)) throw new TypeError(`reject(${status}) takes no body: a ${status} response has none`);
    // Every runtime's Response takes these; the cast only bridges lib versions' narrower BufferSource. Headers given as
    // a record or a list are checked now (a name that is not a token throws a TypeError), for the same reason.
    const init = { status, headers: headers === undefined || headers instanceof Headers ? headers : new Headers(headers) };
    RequestContext.#respond.call(this, { kind: "response", response: new Response((body ?? null) as BodyInit | null, init) });
  }

  /** Runs `handler` over this context and turns its outcome into the answer and the socket's end. */
  run(handler: WebSocketHandler<Native>): void {
    let result: ReturnType<WebSocketHandler<Native>>;
    try {
      result = handler(this);
    } catch (error) {
      RequestContext.#threw.call(this, error);
      return;
    }
    if (!(result instanceof Promise)) RequestContext.#returned.call(this, result);
    else if (CLOSURES_ARE_SMALLER) result.then((value) => RequestContext.#returned.call(this, value), (error) => RequestContext.#threw.call(this, error));
    else result.then(RequestContext.#returned.bind(this), RequestContext.#threw.bind(this));
  }

  // The helpers below are static, called with the context as `this`: a private instance method would cost every
  // context a slot for its connection's whole life (V8 brands each instance of a class that has one).
  static #accept(this: RequestContext<unknown>, acceptContext: WebSocketAcceptContext): Promise<UniWebSocket> {
    if (!this.isWebSocketRequest) throw new WebSocketError("NOT_WEBSOCKET_REQUEST", "Not a WebSocket request");
    const binding = this.#binding;
    if (typeof this.#answerOrSocket !== "function" || binding === undefined) throw new WebSocketError("ALREADY_ANSWERED", "This request was already answered");
    if (this.#host.closing) throw new WebSocketError("SERVER_CLOSING", "The server is shutting down");
    validateAcceptContext(acceptContext);
    const { subProtocol } = acceptContext;
    if (subProtocol !== undefined && !this.requestedProtocols.includes(subProtocol)) {
      throw new WebSocketError("INVALID_SUBPROTOCOL", `Sub-protocol '${subProtocol}' was not offered by the client`);
    }
    const { keepAliveInterval, keepAliveTimeout, dangerousEnableCompression } = acceptContext;
    const plan: UpgradePlan = subProtocol === undefined && keepAliveInterval === undefined && keepAliveTimeout === undefined && !dangerousEnableCompression
      ? this.#host.defaultPlan
      : {
        subProtocol,
        keepAliveInterval: keepAliveInterval ?? this.#host.options.keepAliveInterval,
        keepAliveTimeout: keepAliveTimeout ?? this.#host.options.keepAliveTimeout,
        compression: dangerousEnableCompression
          ? { serverMaxWindowBits: acceptContext.serverMaxWindowBits ?? 15, serverContextTakeover: !acceptContext.disableServerContextTakeover }
          : undefined,
      };
    RequestContext.#release.call(this);
    const socket = this.#host.createSocket(plan, binding);
    const opened = socket.whenOpen();
    this.#binding = undefined;
    let response: Response | undefined;
    try {
      response = binding.upgrade(plan, socket.engineEvents);
    } catch (error) {
      socket.engineEvents.failed(error);
      RequestContext.#respond.call(this, { kind: "response", response: textResponse(500, "Upgrade failed") });
      this.#answerOrSocket = socket;
      return opened;
    }
    RequestContext.#respond.call(this, response === undefined ? UPGRADED : { kind: "upgraded", response });
    this.#answerOrSocket = socket;
    return opened;
  }

  static #respond(this: RequestContext<unknown>, outcome: DispatchOutcome): void {
    const answer = this.#answerOrSocket;
    if (typeof answer !== "function") throw new WebSocketError("ALREADY_ANSWERED", "This request was already answered");
    this.#answerOrSocket = undefined;
    this.#binding = undefined;
    // An upgrade let go of the request before the engine took it. A request left to the adapter's fallback (Hono's
    // next()) is the handshake's as much: Deno closes it with the fallback's answer.
    if (outcome.kind !== "upgraded") RequestContext.#release.call(this);
    const final = RequestContext.#tunnelSafe.call(this, outcome);
    if (this.isWebSocketRequest) this.#host.answered(final);
    answer(final);
    // The engine has taken what it needed of the request (Bun's upgrade reads it): keep only what stands for it.
    // Also before a fallback answers: Deno and Bun forget the request's URL once it is answered.
    this.#request = (this.#request as HandshakeRequest).answering?.() ?? this.#request;
  }

  // The request is being answered: keep what the context still gives (origin, protocols; the adapter's request keeps
  // the method, URL, version and address, HandshakeRequest.answering) and let go of the rest, which an open connection
  // would otherwise hold for its whole life (Node's request with its header strings, Bun's and Deno's `Request`,
  // Hono's `Context`). Before the engine takes the request: Deno's upgrade leaves its headers unreadable. Deno closes a
  // request with its answer anyway: every runtime now answers a late read the same way.
  static #release(this: RequestContext<unknown>): void {
    if (this.#native === RELEASED) return;
    const headers = (this.#request as HandshakeRequest).headers;
    this.#origin = headers.get("origin");
    // `get`, not `has`: Deno's `has` copies the whole header list into JavaScript, and Deno keeps its request.
    if (this.#requestedProtocols === undefined) {
      this.#requestedProtocols = headers.get("sec-websocket-protocol") !== null ? requestedProtocols(headers) : NONE;
    }
    this.#native = RELEASED;
  }

  // Over HTTP/2 a 2xx answer to a WebSocket CONNECT opens the tunnel (RFC 9110 §9.3.6, RFC 8441 §5): a request the
  // handler answered without accepting gets 400 instead, whatever 2xx it chose (docs/http2.md).
  static #tunnelSafe(this: RequestContext<unknown>, outcome: DispatchOutcome): DispatchOutcome {
    if (outcome.kind !== "response" || this.httpVersion !== "2" || !this.isWebSocketRequest) return outcome;
    const { status } = outcome.response;
    if (status < 200 || status > 299) return outcome;
    return { kind: "response", response: textResponse(400, `A WebSocket request that was not accepted cannot be answered ${status} over HTTP/2`) };
  }

  static #returned(this: RequestContext<unknown>, value: void | Response): void {
    // Most handlers return nothing: no read of the global `Response` (on Node a lazily loading accessor) for them.
    if (value !== undefined && value instanceof Response) {
      // Bun and Deno would send a bare 1xx (a 101 tells the client it was upgraded); Node cannot build one: a fault.
      if (value.status < 200) return RequestContext.#threw.call(this, new RangeError(`The handler returned a ${value.status} response; only final statuses (200 to 599) may answer`));
      // A Response answers one request: one kept and returned again has no body left (Node's answer never ended).
      if (value.bodyUsed) return RequestContext.#threw.call(this, new TypeError("The handler returned a Response whose body was already used; create a Response for each request"));
      if (typeof this.#answerOrSocket !== "function") this.#host.options.onError(new WebSocketError("ALREADY_ANSWERED", "The handler returned a Response after answering"));
      else RequestContext.#respond.call(this, { kind: "response", response: value });
    } else if (typeof this.#answerOrSocket === "function") {
      RequestContext.#respond.call(this, { kind: "unhandled" });
    }
    RequestContext.#finish.call(this, CloseStatus.NormalClosure, undefined);
  }

  static #threw(this: RequestContext<unknown>, error: unknown): void {
    if (typeof this.#answerOrSocket === "function") {
      // accept()'s refusal during a shutdown, left uncaught: the server's doing, not the application's fault. Answered as
      // a request arriving now would be (503), and not reported.
      if (error instanceof WebSocketError && error.code === "SERVER_CLOSING" && this.#host.closing) {
        RequestContext.#respond.call(this, { kind: "response", response: shuttingDown() });
        return;
      }
      RequestContext.#respond.call(this, { kind: "response", response: textResponse(500, "Internal Server Error") });
    }
    RequestContext.#finish.call(this, CloseStatus.InternalServerError, error);
  }

  // The handler settled: no socket outlives it half-alive. The socket may still be opening if the handler did
  // not await accept().
  static #finish(this: RequestContext<unknown>, status: number, error: unknown): void {
    const accepted = this.#answerOrSocket;
    if (accepted === undefined || typeof accepted === "function") {
      if (error !== undefined) this.#host.options.onError(error);
      return;
    }
    accepted.whenOpen().then((socket) => {
      // The socket's own end (a vanished peer, a close the policy or the server started) surfacing through the
      // handler is no fault of the application.
      const ended = socket.state !== "open" && socket.state !== "closeReceived";
      if (error !== undefined && !(ended && error instanceof WebSocketError && error.code === "CONNECTION_CLOSED")) this.#host.options.onError(error);
      if (socket.state === "open" || socket.state === "closeReceived") socket.close(status).catch(this.#host.options.onError);
    }, () => {
      if (error !== undefined) this.#host.options.onError(error);
    });
  }
}
