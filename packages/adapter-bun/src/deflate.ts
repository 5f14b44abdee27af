/**
 * permessage-deflate (RFC 7692) on Bun. Bun negotiates the extension itself, from one
 * server-wide preset, against the offer it reads from the request. The adapter decides
 * per connection with the core's negotiation, then shows Bun only the outcome: no offer
 * (declined), or one offer carrying the parameters agreed — which the server may add
 * even when the client did not offer them (RFC 7692 §7.1.1.1, §7.1.2.1). With the
 * dedicated preset below, Bun then answers exactly those parameters, in its own format.
 * The one agreement Bun cannot apply, `server_no_context_takeover` with a
 * `server_max_window_bits` below 15, is declined: the connection is not compressed.
 *
 * @module
 */
import type { WebSocketHandler as BunWebSocketHandler } from "bun";
import { type CompressionRequest, negotiatePerMessageDeflate, PERMESSAGE_DEFLATE } from "@uniws/core";

/**
 * The server-wide preset: a compressor and a decompressor per connection (15-bit
 * windows), made only for connections that negotiate compression. Bun lowers the
 * compressor's window to an offered `server_max_window_bits` and switches to its
 * shared, context-free compressor on `server_no_context_takeover`.
 */
export const BUN_DEFLATE_PRESET: BunWebSocketHandler<unknown>["perMessageDeflate"] = {
  compress: "dedicated",
  decompress: "dedicated",
};

/** What to show Bun for one connection, and the answer Bun will then write. */
export interface BunDeflatePlan {
  /** The offer Bun negotiates against. */
  readonly offer: string;
  /** Bun's `Sec-WebSocket-Extensions` answer to that offer under {@link BUN_DEFLATE_PRESET}. */
  readonly answer: string;
}

/**
 * Negotiates for one connection; `undefined` when compression is declined (the
 * request's offer must then be removed so that Bun answers none): by the core's
 * negotiation, or because the agreement asks for both a server window below 15 bits
 * and no server context takeover, which Bun cannot apply together.
 */
export function planDeflate(offers: string | null, request: CompressionRequest | undefined): BunDeflatePlan | undefined {
  const negotiation = negotiatePerMessageDeflate(offers, request);
  if (!negotiation.accepted) return undefined;
  const { parameters } = negotiation;
  // Bun's context-free compressor always has a 15-bit window, and Bun declines an offer that asks for both:
  // the answer could not be applied, so compression is declined (docs/bun.md).
  if (parameters.serverNoContextTakeover && parameters.serverMaxWindowBits < 15) return undefined;
  const params: string[] = [];
  // Bun writes the client's parameters first, then the server's; a 15-bit window goes unsaid.
  if (parameters.clientNoContextTakeover) params.push("client_no_context_takeover");
  else if (parameters.clientMaxWindowBits < 15) params.push(`client_max_window_bits=${parameters.clientMaxWindowBits}`);
  if (parameters.serverNoContextTakeover) params.push("server_no_context_takeover");
  else if (parameters.serverMaxWindowBits < 15) params.push(`server_max_window_bits=${parameters.serverMaxWindowBits}`);
  const header = [PERMESSAGE_DEFLATE, ...params].join("; ");
  return { offer: header, answer: header };
}
