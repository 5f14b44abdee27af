/**
 * Reading an opening handshake: is this a WebSocket request (RFC 6455 §4.2.1 for
 * HTTP/1.1, RFC 8441 §4–5 for HTTP/2 extended CONNECT), is it a malformed attempt
 * that must be refused, which sub-protocols does it offer, is its origin allowed.
 *
 * @module
 */
import { WebSocketError } from "./errors.ts";
import { RepeatedText } from "./repeated-text.ts";

/** The header lookups the core itself needs; a web `Headers` is one. */
export interface HeaderReader {
  /** The header's value (several joined with `, `), or `null`; `name` is case-insensitive. */
  get(name: string): string | null;
  /** Whether the header is present; `name` is case-insensitive. */
  has(name: string): boolean;
}

/**
 * Headers an adapter reads from its runtime's own request object, turned into a web
 * `Headers` only if the application asks for them: an accepted connection then keeps
 * no copy of every header for its whole life.
 */
export interface LazyHeaders extends HeaderReader {
  /** Every header as a web `Headers` (built on first call). */
  toHeaders(): Headers;
}

/** The HTTP version of a request: `"2"` for HTTP/2 (RFC 9113). */
export type HttpVersion = "1.0" | "1.1" | "2";

/**
 * What the core still reads of a request once it has answered it (the context's `method`, `url`, `httpVersion` and
 * `remoteAddress`): what an adapter's {@link HandshakeRequest.answering} may hand back to be kept in the request's
 * place for the connection's life.
 */
export interface AnsweredHandshake {
  /** The request method (`GET`, or `CONNECT` for an HTTP/2 extended CONNECT). */
  readonly method: string;
  /** The absolute request URL. */
  readonly url: URL;
  /** The HTTP version the request arrived on. */
  readonly httpVersion: HttpVersion;
  /** The IP address of the connection's peer, or `undefined` when the runtime does not tell. */
  readonly remoteAddress?: string | undefined;
}

/** What an adapter knows of an HTTP request, in web-standard terms. */
export interface HandshakeRequest extends AnsweredHandshake {
  /** The request method (`GET`, or `CONNECT` for an HTTP/2 extended CONNECT). */
  readonly method: string;
  /** The absolute request URL. */
  readonly url: URL;
  /** The request headers (without HTTP/2 pseudo-headers): a web `Headers`, or {@link LazyHeaders}. */
  readonly headers: Headers | LazyHeaders;
  /**
   * The request target as text, when the adapter has it without building `url`: the request
   * line's (`/ws?room=1`, or an absolute form `http://host/ws`) or the absolute URL the runtime
   * made of it. The core reads its scheme ({@link isForeignSchemeTarget}); when it is
   * `undefined` the core reads `url.protocol` instead.
   * @default undefined
   */
  readonly target?: string;
  /**
   * The HTTP version the request arrived on. `"1.0"` is never upgraded (RFC 6455 §4.1
   * needs HTTP/1.1 or later); an adapter whose runtime does not report the version says `"1.1"`.
   */
  readonly httpVersion: HttpVersion;
  /** The HTTP/2 `:protocol` pseudo-header of an extended CONNECT (RFC 8441 §4). */
  readonly protocol?: string;
  /**
   * The IP address of the peer of the connection the request came on, as the runtime
   * reports it (docs/operations.md); `undefined` when the runtime does not tell (an
   * adapter may answer it with a getter that looks the address up when first read).
   */
  readonly remoteAddress?: string | undefined;
  /**
   * Called by the core once it has answered the request (the engine has taken an upgrade,
   * another response was handed over, or the handler left it to the adapter's fallback). The core read the `Origin` and
   * `Sec-WebSocket-Protocol` values it keeps before the answer; from now on it reads only
   * `method`, `url`, `httpVersion` and `remoteAddress`. Returns what the context keeps in
   * this request's place from then on: one small object with only what those four need, so
   * that an open connection holds neither the runtime's request object
   * (`WebSocketContext.native`) nor this one for its whole life; `undefined` keeps this
   * request, which then lets go of the runtime's request itself.
   */
  answering?(): AnsweredHandshake | undefined;
}

/**
 * An answered request as the core keeps it: its method, version and peer address, and its URL, parsed when first
 * read (most handlers never read it). Made by {@link HandshakeRequest.answering}.
 */
export class AnsweredRequest implements AnsweredHandshake {
  /** The request method. */
  readonly method: string;
  /** The HTTP version the request arrived on. */
  readonly httpVersion: HttpVersion;
  /** The peer's IP address, or `undefined`. */
  readonly remoteAddress: string | undefined;
  // The URL's text until first read.
  #url: URL | string;

  /**
   * An answered request that reads as given.
   * @param method the request method
   * @param url the absolute URL, or its text (parsed when first read by {@link webRequestUrl})
   * @param httpVersion the HTTP version the request arrived on
   * @param remoteAddress the peer's IP address, if known
   */
  constructor(method: string, url: URL | string, httpVersion: HttpVersion, remoteAddress: string | undefined) {
    this.method = method;
    this.httpVersion = httpVersion;
    this.remoteAddress = remoteAddress;
    this.#url = url;
  }

  /** The absolute request URL ({@link webRequestUrl}). */
  get url(): URL {
    const url = this.#url;
    return typeof url === "string" ? (this.#url = webRequestUrl(url)) : url;
  }
}

/**
 * A web `Request`'s URL, parsed. Bun gives an HTTP/1.0 request without `Host` (which HTTP/1.0 allows) its target
 * alone (`/ws?room=1`): that one is read on `http://localhost`, as Node's adapter reads a request without `Host`, and
 * is all path even when it starts with `//` (RFC 9112 §3.2.1), never another host. Throws a `TypeError` for any
 * other URL that is not absolute.
 */
export function webRequestUrl(url: string): URL {
  return url.charCodeAt(0) === 47 ? new URL(`http://localhost${url}`) : new URL(url);
}

// RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*$/;

/**
 * Whether a request target is in absolute form (RFC 9112 §3.2.2) with a scheme other than `http` or `https`
 * (ASCII case-insensitive), such as `GET ws://host/ws` or `GET ftp://host/ws`: no resource of an HTTP origin server
 * (RFC 9110 §4.2), and `Bun.serve` answers it 400 before any handler runs where Node's and Deno's servers took it
 * (the handler saw a `ws:` URL). The core answers it 400 on every runtime. Only a `scheme://…` target is one: not
 * the origin form (`/…`), the asterisk form (`*`) or the authority form (`host:443`, a CONNECT's, §3.2.3).
 * @param target the request target as the request line gave it, or the absolute URL a runtime made of it
 * @returns `true` for an absolute-form target of another scheme
 */
export function isForeignSchemeTarget(target: string): boolean {
  const first = target.charCodeAt(0);
  // "/" (origin form), "*" (asterisk form), and the http(s) URLs web runtimes give: decided without a copy.
  if (first === 47 || first === 42 || target.startsWith("http://") || target.startsWith("https://")) return false;
  const colon = target.indexOf(":");
  if (colon <= 0 || !target.startsWith("//", colon + 1)) return false;
  const scheme = target.slice(0, colon);
  if (!SCHEME.test(scheme)) return false;
  const lower = scheme.toLowerCase();
  return lower !== "http" && lower !== "https";
}

/** What {@link WebHandshakeRequest} reads of a web `Request`. */
export interface WebRequestLike {
  /** The absolute request URL. */
  readonly url: string;
  /** The request method. */
  readonly method: string;
  /** The request headers. */
  readonly headers: Headers;
}

/** What {@link WebHandshakeRequest} takes from elsewhere than the web `Request`. */
export interface WebHandshakeRequestInit {
  /** The method, when the runtime's own request line says better (Hono on Node). @default request.method */
  readonly method?: string;
  /** The headers the handler sees. @default request.headers */
  readonly headers?: Headers | LazyHeaders;
  /** The HTTP version. @default "1.1" */
  readonly httpVersion?: HttpVersion;
  /** The peer's IP address, where the runtime tells it. @default undefined */
  readonly remoteAddress?: string;
}

/**
 * A web `Request` (Deno, workerd, Hono) in the core's terms, read in place: the `URL` is
 * parsed when first read. Once answered ({@link answering}) the context keeps, in its
 * place, the method, the version, the address and the URL (its text if never read).
 * Throws nothing; a `url` that is not absolute throws a `TypeError` when `url` is read.
 */
export class WebHandshakeRequest implements HandshakeRequest {
  readonly #request: WebRequestLike;
  // Kept only when it says more than the peer's address: read in place rather than copied.
  #init: WebHandshakeRequestInit | undefined;
  readonly #remoteAddress: string | undefined;
  #url: URL | undefined = undefined;

  /**
   * Reads `request` as it is; nothing is parsed until asked for.
   * @param request the web request
   * @param init what the runtime knows better than `request`
   */
  constructor(request: WebRequestLike, init: WebHandshakeRequestInit = {}) {
    this.#request = request;
    this.#init = init.method !== undefined || init.headers !== undefined || init.httpVersion !== undefined ? init : undefined;
    this.#remoteAddress = init.remoteAddress;
  }

  /** The request method. */
  get method(): string {
    return this.#init?.method ?? this.#request.method;
  }

  /** The request headers. */
  get headers(): Headers | LazyHeaders {
    return this.#init?.headers ?? this.#request.headers;
  }

  /** The HTTP version the request arrived on. */
  get httpVersion(): HttpVersion {
    return this.#init?.httpVersion ?? "1.1";
  }

  /** The peer's IP address, or `undefined` (a subclass may look it up when first read). */
  get remoteAddress(): string | undefined {
    return this.#remoteAddress;
  }

  /** The web request's URL text, as the runtime made it. */
  get target(): string {
    return this.#request.url;
  }

  /** The absolute request URL, parsed on first read ({@link webRequestUrl}). */
  get url(): URL {
    return (this.#url ??= webRequestUrl(this.#request.url));
  }

  /** The request stands answered by its method, URL (its text if never read), version and address (the core reads its headers no more). */
  answering(): AnsweredHandshake {
    return new AnsweredRequest(this.method, this.#url ?? urls.share(this.#request.url), this.httpVersion, this.remoteAddress);
  }
}

// Runtimes make a new URL string for each request; an open connection keeps the shared copy.
const urls = new RepeatedText();

/** The outcome of reading a handshake. */
export type HandshakeVerdict =
  /** A valid WebSocket opening handshake. */
  | { readonly kind: "websocket" }
  /** Not a WebSocket upgrade attempt at all: an ordinary HTTP request the application answers. */
  | { readonly kind: "plain" }
  /** An attempt to open a WebSocket that breaks the protocol; answered before the application sees it. */
  | { readonly kind: "invalid"; readonly status: 400 | 426; readonly reason: string; readonly headers?: Record<string, string> };

// RFC 7230 §3.2.6 token characters.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// 16 bytes in base64 are 22 significant characters and "==" (RFC 6455 §4.1, item 7).
const KEY = /^[+/0-9A-Za-z]{22}==$/;

/** The comma-separated values of a header, trimmed, empty ones dropped (RFC 7230 §7). */
export function headerList(value: string | null): string[] {
  if (value === null) return [];
  const list: string[] = [];
  for (const part of value.split(",")) {
    const item = part.trim();
    if (item !== "") list.push(item);
  }
  return list;
}

// `token` is lower-case. The usual header holds the token alone ("Upgrade", "websocket"): compared without a split.
function hasToken(value: string | null, token: string): boolean {
  if (value === null) return false;
  if (value.length === token.length && value.toLowerCase() === token) return true;
  return headerList(value).some((item) => item.toLowerCase() === token);
}

/** Whether `value` is a valid HTTP token, as a sub-protocol name must be (RFC 6455 §4.1, item 10). */
export function isToken(value: string): boolean {
  return TOKEN.test(value);
}

// The two verdicts without details, shared: reading a handshake allocates nothing when it passes.
const WEBSOCKET: HandshakeVerdict = Object.freeze({ kind: "websocket" });
const PLAIN: HandshakeVerdict = Object.freeze({ kind: "plain" });

function invalid(reason: string): HandshakeVerdict {
  return { kind: "invalid", status: 400, reason };
}

/**
 * Whether `request`'s target names a scheme other than `http` or `https` ({@link isForeignSchemeTarget}), read from
 * its `target` text when the adapter gives one, else from its URL.
 */
export function hasForeignScheme(request: HandshakeRequest): boolean {
  const target = request.target;
  if (target !== undefined) return isForeignSchemeTarget(target);
  const scheme = request.url.protocol;
  return scheme !== "http:" && scheme !== "https:";
}

/** The reason a request {@link hasForeignScheme} is answered 400 with. */
export const FOREIGN_SCHEME_REASON = "The request target's scheme is not http or https (RFC 9110 §4.2)";

/**
 * Reads a request's handshake: the whole of it, so that every engine is then asked to
 * upgrade only what the core accepted (docs/semantics.md, "How each handshake edge is
 * answered"). A request is an attempt when its `Upgrade` list contains `websocket`
 * or, over HTTP/2, when it is an extended CONNECT (RFC 8441 §4); an attempt is then
 * valid or refused:
 *
 * - an `Upgrade` naming anything beside `websocket` (`websocket, h2c`, `websocket,`):
 *   400. RFC 6455 §4.2.1 only asks that it contain `websocket`, but workerd upgrades
 *   nothing else, so no runtime does;
 * - a method other than GET (CONNECT on HTTP/2): 400, whatever the method;
 * - an absolute-form target whose scheme is not `http` or `https` (`GET ws://host/ws`): 400,
 *   as `Bun.serve` answers it ({@link isForeignSchemeTarget});
 * - HTTP/1.0 (RFC 6455 §4.1: HTTP/1.1 or later): 400;
 * - `Connection` without the `upgrade` token: 400;
 * - `Sec-WebSocket-Key` not 16 bytes in base64: 400;
 * - a body (`Content-Length` other than 0, or `Transfer-Encoding`): 400;
 * - `Sec-WebSocket-Version` other than exactly 13: 426 with `Sec-WebSocket-Version: 13` (RFC 6455 §4.4);
 * - a `Sec-WebSocket-Protocol` element that is not a token: 400 (empty elements are ignored, RFC 9110 §5.6.1).
 */
export function readHandshake(request: HandshakeRequest): HandshakeVerdict {
  const { headers } = request;
  if (request.httpVersion === "2") {
    // RFC 8441 §4: an extended CONNECT whose :protocol names the WebSocket protocol. No key: §5 drops it.
    if (request.method !== "CONNECT" || request.protocol?.toLowerCase() !== "websocket") return PLAIN;
  } else {
    // Only a request that asks to upgrade to "websocket" is an attempt; anything else is the application's.
    const upgrade = headers.get("upgrade");
    if (upgrade === null) return PLAIN;
    const named = upgrade.toLowerCase();
    if (named !== "websocket") {
      if (!hasToken(named, "websocket")) return PLAIN;
      if (named.trim() !== "websocket") return invalid("Upgrade must name websocket alone");
    }
    // 400 rather than 405: the resource may well take this method without the upgrade headers.
    if (request.method !== "GET") return invalid("A WebSocket handshake must be a GET request");
    if (hasForeignScheme(request)) return invalid(FOREIGN_SCHEME_REASON);
    if (request.httpVersion !== "1.1") return invalid("A WebSocket handshake needs HTTP/1.1 or later");
    if (!hasToken(headers.get("connection"), "upgrade")) return invalid("Connection header must contain 'upgrade'");
    const key = headers.get("sec-websocket-key")?.trim();
    if (key === undefined || !KEY.test(key)) return invalid("Sec-WebSocket-Key must be 16 bytes in base64");
    // A body on an upgrade request would be read as WebSocket frames.
    const length = headers.get("content-length");
    // `get` rather than `has`: Deno's `has` copies every request header into JavaScript, its `get` reads one.
    if ((length !== null && length.trim() !== "0") || headers.get("transfer-encoding") !== null) {
      return invalid("A WebSocket handshake must not have a body");
    }
  }
  // RFC 6455 §4.4: an unsupported version is answered 426 with the versions we speak. §4.2.1 item 6 asks for
  // the value 13 itself; a list ("13, 8") is refused, as Bun and `ws` would refuse it after an accept.
  if (headers.get("sec-websocket-version")?.trim() !== "13") {
    return { kind: "invalid", status: 426, reason: "Only WebSocket version 13 is supported", headers: { "sec-websocket-version": "13" } };
  }
  const protocols = headers.get("sec-websocket-protocol");
  if (protocols !== null && !headerList(protocols).every(isToken)) return invalid("Sec-WebSocket-Protocol must list tokens");
  return WEBSOCKET;
}

/** The sub-protocols the client offered, in its order of preference, without duplicates. */
export function requestedProtocols(headers: HeaderReader): string[] {
  return [...new Set(headerList(headers.get("sec-websocket-protocol")))];
}

/**
 * Whether the request's `Origin` is allowed. `allowed` holds lower-cased origins, or
 * is `undefined` when every origin is allowed. A request without `Origin` (not from a
 * browser) is allowed, as in the seed; several `Origin` values never match.
 */
export function isOriginAllowed(origin: string | null, allowed: ReadonlySet<string> | undefined): boolean {
  if (allowed === undefined || origin === null) return true;
  return allowed.has(origin.trim().toLowerCase());
}

// Response headers never copied onto a 101: the engine writes the handshake's own (RFC 6455 §4.2.2), and
// hop-by-hop ones describe another message (RFC 9110 §7.6.1).
const NOT_ON_101 = new Set([
  "connection",
  "content-length",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "sec-websocket-accept",
  "sec-websocket-extensions",
  "sec-websocket-protocol",
]);

/**
 * The headers of the application's answer (`answered`, e.g. what Hono middleware set,
 * `Set-Cookie` after `next()` included) that belong on the 101 of an upgrade, as
 * `[name, value]` pairs with one pair per `Set-Cookie`. Leaves out the handshake's own
 * headers (the engine writes them) and hop-by-hop ones; `[]` when `answered` is undefined.
 */
export function headersOnThe101(answered: Headers | undefined): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  answered?.forEach((value, name) => {
    if (!NOT_ON_101.has(name) && name !== "set-cookie") pairs.push([name, value]);
  });
  for (const cookie of answered?.getSetCookie() ?? []) pairs.push(["set-cookie", cookie]);
  return pairs;
}
