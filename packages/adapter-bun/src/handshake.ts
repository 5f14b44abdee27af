/**
 * A request `Bun.serve` received, as the core reads its handshake: in place, for
 * `@uniws/bun` and `@uniws/hono/bun` alike.
 *
 * @module
 */
import type { HandshakeRequest, LazyHeaders } from "@uniws/core";
import type { BunConnection } from "./bun-engine.ts";

const EXTENSIONS = "sec-websocket-extensions";

/** The part of a Bun `Server` that tells a request's peer address. */
export interface BunAddressLookup {
  /** Bun's `server.requestIP`: the peer of a request not yet upgraded, else `null`. */
  requestIP(request: Request): { readonly address: string } | null;
}

/**
 * A Bun request in the core's terms, read lazily: the URL when first asked for, the
 * headers in place (a web `Headers` copy only if the handler asks for every header),
 * the peer's address only when asked for. The upgrade rewrites the request's extension
 * offer for Bun and makes `requestIP` forget the request, so {@link keepForUpgrade}
 * keeps the client's offer aside first and the address is then read from the socket:
 * the handler sees the client's own headers and address, also after `accept()`.
 * It stays for the connection's life (the context reads it), so it keeps six fields,
 * JavaScriptCore's 64-byte object: the method, HTTP version and address are read, not kept.
 */
export class BunHandshakeRequest implements HandshakeRequest, LazyHeaders {
  readonly #request: Request;
  readonly #server: BunAddressLookup | undefined;
  #headers: Headers | undefined;
  #url: URL | undefined;
  // The client's Sec-WebSocket-Extensions once the upgrade has rewritten it (null: it sent none).
  #offer: string | null | undefined;
  #upgraded: BunConnection | undefined;

  /**
   * Reads `request` as it is; nothing is parsed until asked for.
   * @param server where the peer's address is looked up; without it the address is `undefined`
   */
  constructor(request: Request, server: BunAddressLookup | undefined) {
    this.#request = request;
    this.#server = server;
  }

  /** The request method. */
  get method(): string {
    return this.#request.method;
  }

  /** Bun serves WebSockets over HTTP/1.1 only. */
  get httpVersion(): "1.1" {
    return "1.1";
  }

  /** The absolute request URL, parsed on first read. */
  get url(): URL {
    return (this.#url ??= new URL(this.#request.url));
  }

  /** The peer's IP address (`undefined` when Bun does not tell): from the socket once upgraded (Bun keeps it after the close too). */
  get remoteAddress(): string | undefined {
    const ws = this.#upgraded?.ws;
    return (ws !== undefined ? ws.remoteAddress : this.#server?.requestIP(this.#request)?.address) ?? undefined;
  }

  /** The headers: this object, reading the request's in place. */
  get headers(): LazyHeaders {
    return this;
  }

  /** A request header (several joined with `, `), or `null`; `name` is case-insensitive. */
  get(name: string): string | null {
    if (this.#offer !== undefined && name.toLowerCase() === EXTENSIONS) return this.#offer;
    // Bun's `request.headers` is a native getter: read once.
    return (this.#headers ??= this.#request.headers).get(name);
  }

  /** Whether the request has the header; `name` is case-insensitive. */
  has(name: string): boolean {
    return this.get(name) !== null;
  }

  /** Every request header as a new web `Headers`, with the client's own extension offer. */
  toHeaders(): Headers {
    const headers = new Headers(this.#request.headers);
    if (this.#offer === null) headers.delete(EXTENSIONS);
    else if (this.#offer !== undefined) headers.set(EXTENSIONS, this.#offer);
    return headers;
  }

  /**
   * Called before the upgrade with the connection it makes (the socket's `data`), which
   * rewrites the request's extension offer and after which the address is read from the
   * connection's socket.
   * @param offer the client's `Sec-WebSocket-Extensions` as {@link get} just gave it
   * (`null` for none), so it is not read again; read here when not given
   */
  keepForUpgrade(connection: BunConnection, offer?: string | null): void {
    this.#offer ??= offer !== undefined ? offer : (this.#headers ??= this.#request.headers).get(EXTENSIONS);
    this.#upgraded = connection;
  }
}
