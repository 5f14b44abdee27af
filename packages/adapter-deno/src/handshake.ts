/**
 * A `Deno.serve` request in the core's terms. Deno closes a request once its response
 * has been sent: reading a header after that throws ("Request closed"), and a WebSocket
 * handler runs on for the connection's life. So what the core itself offers after the
 * answer (`context.origin`, `context.requestedProtocols`) is read before it goes, and a
 * later read of any other header that Deno refuses is a typed error instead of Deno's own.
 *
 * @module
 */
import { type LazyHeaders, WebHandshakeRequest, WebSocketError } from "@uniws/core";

// The two headers whose values the core still reads after answering (`origin`, `requestedProtocols`).
interface Kept {
  readonly origin: string | null;
  readonly protocol: string | null;
}

// Deno's own `Headers` of the request: the base class's reading (a module function, not a private accessor, which
// would cost every instance a brand slot for the connection's life).
const nativeHeaders = Object.getOwnPropertyDescriptor(WebHandshakeRequest.prototype, "headers")!.get as (this: WebHandshakeRequest) => Headers;

/**
 * A request from `Deno.serve` (or Hono on Deno) as the core reads it: its own
 * headers reader, on Deno's `Headers` until the request is answered, then on the
 * values the context can still give. `context.headers` read before the answer is a
 * copy that stays readable; read after it, it is what Deno still gives (the headers
 * of a request whose headers were read before), else it throws `INVALID_STATE`.
 */
export class DenoHandshakeRequest extends WebHandshakeRequest implements LazyHeaders {
  #kept: Kept | undefined = undefined;

  /**
   * Reads `request` in place until it is answered.
   * @param request the request `Deno.serve` gave
   * @param remoteAddress the peer's IP address (`Deno.ServeHandlerInfo.remoteAddr.hostname`), if known
   */
  constructor(request: Request, remoteAddress: string | undefined) {
    super(request, { remoteAddress });
  }

  /** This request, as its own headers reader. */
  override get headers(): LazyHeaders {
    return this;
  }

  /**
   * The header's value. After the answer, `Origin` and `Sec-WebSocket-Protocol` as kept, any other as Deno still
   * gives it (it does where the request's headers were read before, by the application or a middleware), else
   * `INVALID_STATE`.
   */
  get(name: string): string | null {
    const kept = this.#kept;
    if (kept === undefined) return nativeHeaders.call(this).get(name);
    const lower = name.toLowerCase();
    if (lower === "origin") return kept.origin;
    if (lower === "sec-websocket-protocol") return kept.protocol;
    try {
      return nativeHeaders.call(this).get(name);
    } catch (error) {
      throw closed(`the '${lower}' header`, error);
    }
  }

  /** Whether the header is present (as {@link get}). */
  has(name: string): boolean {
    return this.get(name) !== null;
  }

  /** A copy of every header, which stays readable; after the answer, `INVALID_STATE` where Deno no longer gives them. */
  toHeaders(): Headers {
    try {
      return new Headers(nativeHeaders.call(this));
    } catch (error) {
      if (this.#kept === undefined) throw error;
      throw closed("its headers", error);
    }
  }

  /** Called by the core just before it answers: keeps what the context still reads once Deno closes the request. */
  answering(): void {
    const headers = nativeHeaders.call(this);
    this.#kept ??= { origin: headers.get("origin"), protocol: headers.get("sec-websocket-protocol") };
  }
}

function closed(what: string, cause: unknown): WebSocketError {
  return new WebSocketError(
    "INVALID_STATE",
    `Deno closes a request once it is answered (accepted or refused), so ${what} can no longer be read: read context.headers before accept()`,
    { cause },
  );
}
