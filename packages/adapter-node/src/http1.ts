/**
 * Translating between Node's HTTP/1.1 objects and the web-standard terms the core
 * speaks: an `IncomingMessage` into a handshake request, a `Response` onto a raw
 * upgrade socket or a `ServerResponse`.
 *
 * @module
 */
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from "node:http";
import type { Http2ServerResponse } from "node:http2";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { type AnsweredHandshake, type HandshakeRequest, type HttpVersion, type LazyHeaders, RepeatedText } from "@uniws/core";

/** Copies Node's header object into web `Headers`, leaving out HTTP/2 pseudo-headers. */
export function toHeaders(raw: IncomingMessage["headers"]): Headers {
  const headers = new Headers();
  for (const name in raw) {
    if (name.startsWith(":")) continue;
    const value = raw[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) headers.append(name, item);
    else headers.append(name, value);
  }
  return headers;
}

/**
 * The absolute URL of a request from its target and `Host` (a malformed `Host` falls back to localhost). An
 * origin-form target is the URL's path and query (RFC 9112 §3.2.1, §3.3), also when it starts with "//": resolved
 * as a reference, `//other.example/ws` would name another host, as Deno and Bun never read it.
 */
export function requestUrl(path: string, host: string | undefined, secure: boolean): URL {
  const scheme = secure ? "https" : "http";
  // "/." + "//x" is the path "//x" once the dot segment is removed (WHATWG URL), not the authority "x".
  const target = path.charCodeAt(0) === 47 && path.charCodeAt(1) === 47 ? "/." + path : path;
  try {
    return new URL(target, `${scheme}://${host ?? "localhost"}`);
  } catch {
    return new URL(target.startsWith("/") ? target : "/", `${scheme}://localhost`);
  }
}

/**
 * Whether Node's parser took an asterisk-form target (`GET * HTTP/1.1`) for a method other than OPTIONS: RFC 9112
 * §3.2.4 keeps that form for a server-wide OPTIONS, and `Deno.serve` and `Bun.serve` answer 400 to it before any
 * handler runs, where Node's request would reach the handler with the path `/*`. The adapters answer it
 * {@link asteriskFormRefusal} first, so every runtime answers those bytes alike.
 */
export function isAsteriskFormMisuse(req: Pick<IncomingMessage, "url" | "method">): boolean {
  return req.url === "*" && req.method !== "OPTIONS";
}

/** The answer to a request {@link isAsteriskFormMisuse} holds: 400, as Deno's and Bun's servers give. */
export function asteriskFormRefusal(): Response {
  return new Response("The asterisk-form request target is for OPTIONS only (RFC 9112 §3.2.4)", { status: 400, headers: { "content-type": "text/plain; charset=utf-8" } });
}

// Headers of which `IncomingMessage.headers` keeps the first value when they repeat (unless the server was created
// with `joinDuplicateHeaders`); it joins any other's values with ", ", Cookie's with "; ".
const FIRST_VALUE_ONLY = new Set([
  "age",
  "authorization",
  "content-length",
  "content-type",
  "etag",
  "expires",
  "from",
  "host",
  "if-modified-since",
  "if-unmodified-since",
  "last-modified",
  "location",
  "max-forwards",
  "proxy-authorization",
  "referer",
  "retry-after",
  "server",
  "user-agent",
]);

/**
 * Every header line of a request as Deno's and Bun's servers give them (RFC 9110 §5.3): repeats joined with ", ",
 * Cookie's with "; " (RFC 6265 §5.4), also of the fields `req.headers` keeps only the first line of (User-Agent,
 * Authorization…), so that a handler reads the same bytes the same way on every runtime; but `Host`, whose first
 * line is the URL's (docs/semantics.md). Also an HTTP/2 request's fields (Node's `rawHeaders`), without its
 * pseudo-header fields, its cookie crumbs joined into one Cookie (RFC 9113 §8.2.3).
 */
export function headersOfLines(raw: readonly string[]): Headers {
  const headers = new Headers();
  let cookie: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    // ":" starts only HTTP/2's pseudo-header fields (RFC 9113 §8.3), never a field name (a token, RFC 9110 §5.1).
    if (name.charCodeAt(0) === 58) continue;
    if (name === "cookie") cookie = cookie === undefined ? value : `${cookie}; ${value}`;
    else if (name !== "host" || !headers.has("host")) headers.append(name, value);
  }
  if (cookie !== undefined) headers.set("cookie", cookie);
  return headers;
}

/**
 * The request header `name` (lower-case) as `req.headers` would give it (repeats joined or dropped as Node does),
 * read from `req.rawHeaders`: Node builds its header object only when first asked for, and the core's few reads
 * need not pay for every header.
 */
export function rawHeader(req: Pick<IncomingMessage, "rawHeaders">, name: string): string | undefined {
  const raw = req.rawHeaders;
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const field = raw[i]!;
    if (field.length !== name.length || field.toLowerCase() !== name) continue;
    if (value === undefined) value = raw[i + 1]!;
    else if ((req as { joinDuplicateHeaders?: boolean }).joinDuplicateHeaders === true || !FIRST_VALUE_ONLY.has(name)) value += (name === "cookie" ? "; " : ", ") + raw[i + 1]!;
  }
  return value;
}

/** What `ws` reads of an HTTP/1.1 upgrade request (its URL and two handshake headers), read from `rawHeaders`. */
export function upgradeRequest(req: IncomingMessage): Pick<IncomingMessage, "headers" | "url"> {
  return {
    url: req.url,
    headers: { "sec-websocket-key": rawHeader(req, "sec-websocket-key"), "sec-websocket-extensions": rawHeader(req, "sec-websocket-extensions") },
  };
}

/**
 * An HTTP/1.1 request in the core's terms, read from Node's `IncomingMessage` in place: its URL is built when first
 * read, its headers from `rawHeaders`, and a web `Headers` copy is made only when the application asks for one. It
 * is its own headers reader. Once answered, the context keeps an {@link AnsweredHttp1Request} in its place.
 */
class NodeHandshakeRequest implements HandshakeRequest, LazyHeaders {
  readonly #req: IncomingMessage;
  #url: URL | undefined;

  constructor(req: IncomingMessage) {
    this.#req = req;
  }

  get method(): string {
    return this.#req.method ?? "GET";
  }

  get httpVersion(): HttpVersion {
    return nodeHttpVersion(this.#req);
  }

  get headers(): LazyHeaders {
    return this;
  }

  get(name: string): string | null {
    return rawHeader(this.#req, name.toLowerCase()) ?? null;
  }

  has(name: string): boolean {
    return rawHeader(this.#req, name.toLowerCase()) !== undefined;
  }

  toHeaders(): Headers {
    return headersOfLines(this.#req.rawHeaders);
  }

  get remoteAddress(): string | undefined {
    return this.#req.socket.remoteAddress;
  }

  // The request line's target, whose scheme the core reads without building the URL.
  get target(): string {
    return this.#req.url ?? "/";
  }

  get url(): URL {
    const req = this.#req;
    return (this.#url ??= requestUrl(req.url ?? "/", rawHeader(req, "host"), (req.socket as TLSSocket).encrypted === true));
  }

  // The core has read the headers it keeps: what stands for Node's request from now on (its header strings and
  // stream state are about 1.1 KB per open connection) holds the socket, which the connection holds anyway.
  answering(): AnsweredHandshake {
    const req = this.#req;
    const url = this.#url;
    if (url !== undefined) return new AnsweredHttp1Request(this.method, this.httpVersion, url, undefined, req.socket);
    return new AnsweredHttp1Request(this.method, this.httpVersion, targets.share(req.url ?? "/"), hosts.share(rawHeader(req, "host")), req.socket);
  }
}

// Node's parser makes new strings for each request: an open connection keeps the shared copies.
const targets = new RepeatedText();
const hosts = new RepeatedText();

// An answered HTTP/1.1 request: what the context's `method`, `httpVersion`, `url` and `remoteAddress` read, the URL
// built from the target and `Host` value when first read (unless it was before the answer). Five fields.
class AnsweredHttp1Request implements AnsweredHandshake {
  #url: URL | string;
  readonly #host: string | undefined;
  readonly #socket: IncomingMessage["socket"];

  constructor(readonly method: string, readonly httpVersion: HttpVersion, url: URL | string, host: string | undefined, socket: IncomingMessage["socket"]) {
    this.#url = url;
    this.#host = host;
    this.#socket = socket;
  }

  get url(): URL {
    const url = this.#url;
    if (typeof url !== "string") return url;
    return (this.#url = requestUrl(url, this.#host, (this.#socket as TLSSocket).encrypted === true));
  }

  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }
}

/** The HTTP version of a request Node parsed: the core refuses to upgrade HTTP/1.0 (RFC 6455 §4.1). */
export function nodeHttpVersion(req: Pick<IncomingMessage, "httpVersionMajor" | "httpVersionMinor">): HttpVersion {
  return req.httpVersionMajor === 1 && req.httpVersionMinor === 0 ? "1.0" : "1.1";
}

/** An HTTP/1.1 (or 1.0) request in the core's terms. */
export function toHandshakeRequest(req: IncomingMessage): HandshakeRequest {
  return new NodeHandshakeRequest(req);
}

/** Writes `response` on a socket that was not upgraded, then closes it. */
export async function writeRawResponse(socket: Duplex, response: Response): Promise<void> {
  const body = Buffer.from(await response.arrayBuffer());
  if (socket.destroyed) return;
  const lines = [`HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ""}`, "Connection: close", `Content-Length: ${body.byteLength}`];
  response.headers.forEach((value, name) => {
    if (name !== "content-length" && name !== "connection") lines.push(`${name}: ${value}`);
  });
  socket.end(Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n", "latin1"), body]));
}

/** Writes a web `Response` through a `ServerResponse` (for plain routes beside the WebSocket one). */
export async function writeResponse(res: ServerResponse | Http2ServerResponse, response: Response): Promise<void> {
  const body = Buffer.from(await response.arrayBuffer());
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => (headers[name] = value));
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers["set-cookie"] = cookies;
  res.writeHead(response.status, headers);
  res.end(body);
}
