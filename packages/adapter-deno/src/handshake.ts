/**
 * A `Deno.serve` request in the core's terms. Deno closes a request once its response
 * has been sent (reading a header after that throws "Request closed") while a WebSocket
 * handler runs on for the connection's life; the core lets go of every request it has
 * answered on every runtime, and reads what it still gives (origin, sub-protocols) before.
 *
 * @module
 */
import { RepeatedText, WebHandshakeRequest } from "@uniws/core";

// Deno makes a new address string for each request; an open connection keeps the shared copy (behind a proxy, one
// address serves every connection).
const addresses = new RepeatedText();

/**
 * A request from `Deno.serve` (or Hono on Deno) as the core reads it: Deno's own
 * `Request`, headers read in place, until the request is answered.
 */
export class DenoHandshakeRequest extends WebHandshakeRequest {
  /**
   * Reads `request` in place until it is answered.
   * @param request the request `Deno.serve` gave
   * @param remoteAddress the peer's IP address (`Deno.ServeHandlerInfo.remoteAddr.hostname`), if known
   */
  constructor(request: Request, remoteAddress: string | undefined) {
    super(request, { remoteAddress: addresses.share(remoteAddress) });
  }
}
