/**
 * A request `Bun.serve` received, as the core reads its handshake: in place, for
 * `@uniws/bun` and `@uniws/hono/bun` alike.
 *
 * @module
 */
import { type AnsweredHandshake, type EngineEvents, type HandshakeRequest, type LazyHeaders, RepeatedText, webRequestUrl } from "@uniws/core";
import { BunConnection, type BunTopicServer } from "./bun-engine.ts";

// Bun makes a new URL string for each request; an open connection keeps the shared copy.
const urls = new RepeatedText();

/** The part of a Bun `Server` that tells a request's peer address. */
export interface BunAddressLookup {
  /** Bun's `server.requestIP`: the peer of a request not yet upgraded, else `null`. */
  requestIP(request: Request): { readonly address: string } | null;
}

/**
 * A Bun request in the core's terms, read lazily: the URL when first asked for, the
 * headers in place (a web `Headers` copy only if the handler asks for every header),
 * the peer's address only when asked for. An upgraded request, once answered, is stood
 * for by its {@link BunConnection} (the context keeps that in its place). When the
 * answer comes before the upgrade (Hono's deferred upgrade) this object stays, and lets
 * go of Bun's `Request` once upgraded: it keeps the URL's text, and reads the address
 * from the socket (the upgrade makes `requestIP` forget the request). A refused request
 * keeps it: it ends with its answer.
 */
export class BunHandshakeRequest implements HandshakeRequest, LazyHeaders {
  #request: Request | undefined;
  #server: BunAddressLookup | undefined;
  #headers: Headers | undefined;
  // Its text once first read (the handshake reads it), parsed when `url` is first read.
  #url: URL | string | undefined;
  #upgraded: BunConnection | undefined;
  #answered = false;

  /**
   * Reads `request` as it is; nothing is parsed until asked for.
   * @param server where the peer's address is looked up; without it the address is `undefined`
   */
  constructor(request: Request, server: BunAddressLookup | undefined) {
    this.#request = request;
    this.#server = server;
  }

  /** The request method (`GET` once let go of: Bun upgrades nothing else). */
  get method(): string {
    return this.#request?.method ?? "GET";
  }

  /** Bun serves WebSockets over HTTP/1.1 only. */
  get httpVersion(): "1.1" {
    return "1.1";
  }

  /** The absolute request URL, parsed on first read (on localhost for an HTTP/1.0 request without `Host`). */
  get url(): URL {
    const url = this.#kept();
    return url instanceof URL ? url : (this.#url = webRequestUrl(url));
  }

  /** The request's URL text, whose scheme the core reads without parsing it. */
  get target(): string {
    const url = this.#kept();
    return typeof url === "string" ? url : url.href;
  }

  // The URL as this object keeps it: parsed if it was read, else its text, read from Bun's request once (Bun makes a
  // new string at each read, and its request forgets the URL once let go of or answered by a fallback).
  #kept(): URL | string {
    return (this.#url ??= urls.share(this.#request!.url));
  }

  /** The peer's IP address (`undefined` when Bun does not tell): from the socket once upgraded (Bun keeps it after the close too). */
  get remoteAddress(): string | undefined {
    const ws = this.#upgraded?.ws;
    return (ws !== undefined ? ws.remoteAddress : this.#server?.requestIP(this.#request!)?.address) ?? undefined;
  }

  /** The headers: this object, reading the request's in place. */
  get headers(): LazyHeaders {
    return this;
  }

  /** A request header (several joined with `, `), or `null`; `name` is case-insensitive. */
  get(name: string): string | null {
    // Bun's `request.headers` is a native getter: read once.
    return (this.#headers ??= this.#request!.headers).get(name);
  }

  /** Whether the request has the header; `name` is case-insensitive. */
  has(name: string): boolean {
    return this.get(name) !== null;
  }

  /** Every request header as a new web `Headers`. */
  toHeaders(): Headers {
    return new Headers(this.#request!.headers);
  }

  /**
   * Makes the connection an upgrade of this request gives Bun as the socket's `data`, with the request's URL (parsed
   * if it was read), after which the address is read from the connection's socket. Bun's upgrade rewrites the
   * request's extension offer; the core reads the headers no more by then (a handler's `context.headers` read
   * before is a copy).
   * @param events the core's events for the connection
   * @param extensions the handshake's `Sec-WebSocket-Extensions` answer ("" for none)
   * @param server where the native pub/sub publishes; `undefined` leaves the socket without one
   */
  upgradeConnection(events: EngineEvents, extensions: string, server: BunTopicServer | undefined): BunConnection {
    const connection = new BunConnection(events, extensions, server, this.#kept());
    this.#upgraded = connection;
    if (this.#answered) this.#letGo();
    return connection;
  }

  /**
   * Called by the core once it has answered: an upgraded request is stood for by its connection from now on; one
   * answered before its upgrade lets go of Bun's request once upgraded; one not upgraded keeps its URL's text.
   */
  answering(): AnsweredHandshake | undefined {
    this.#answered = true;
    if (this.#upgraded === undefined) this.#kept();
    return this.#upgraded;
  }

  #letGo(): void {
    this.#kept();
    this.#request = this.#headers = this.#server = undefined;
  }
}
