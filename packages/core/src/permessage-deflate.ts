/**
 * permessage-deflate negotiation (RFC 7692 §7.1), as a pure function every adapter
 * can call: given the client's `Sec-WebSocket-Extensions` offers and what the
 * accept context asked for, it picks the first acceptable offer and writes the exact
 * answer — or declines, and the connection opens uncompressed.
 *
 * Rules (RFC 7692 §7.1 unless noted):
 * - Offers are tried in the client's order; the first acceptable `permessage-deflate` wins.
 * - An offer is declined when it has an unknown parameter, a parameter twice, a value
 *   on a `*_no_context_takeover` parameter, or a window-bits value that is not a
 *   decimal integer from 9 to 15 without leading zeros. 8 is refused too: zlib cannot
 *   produce or safely inflate an 8-bit raw deflate window (the seed's rule).
 * - `server_max_window_bits` in an offer needs a value (§7.1.2.1); the answer carries
 *   the smaller of the client's value and the server's.
 * - A bare `client_max_window_bits` means the client can take a value: it is answered
 *   `=15`. The answer never carries `client_max_window_bits` unless offered (§7.1.2.2).
 * - The answer lists the client's parameters in the offer's order, then
 *   `server_no_context_takeover` and `server_max_window_bits` (as ASP.NET Core does).
 *
 * @module
 */
import type { CompressionRequest } from "./engine.ts";

/** The extension token of RFC 7692. */
export const PERMESSAGE_DEFLATE = "permessage-deflate";

/** The parameters in force on a connection once permessage-deflate is accepted. */
export interface PerMessageDeflateParameters {
  /** The server resets its compression context after every message. */
  readonly serverNoContextTakeover: boolean;
  /** The client resets its compression context after every message (the server may inflate with a fresh context). */
  readonly clientNoContextTakeover: boolean;
  /** The LZ77 window the server compresses with (9–15; 15 when the answer does not name it). */
  readonly serverMaxWindowBits: number;
  /** The largest LZ77 window the client compresses with (9–15; 15 when the answer does not name it). */
  readonly clientMaxWindowBits: number;
}

/** Why permessage-deflate is not in force. */
export type PerMessageDeflateDeclineReason =
  /** The accept context did not ask for compression. */
  | "not-enabled"
  /** The client offered no permessage-deflate. */
  | "not-offered"
  /** Every permessage-deflate offer broke a rule. */
  | "no-acceptable-offer";

/** The outcome of {@link negotiatePerMessageDeflate}. */
export type PerMessageDeflateNegotiation =
  | {
    readonly accepted: true;
    /** What both ends will do. */
    readonly parameters: PerMessageDeflateParameters;
    /** The exact `Sec-WebSocket-Extensions` answer, e.g. `permessage-deflate; server_max_window_bits=10`. */
    readonly header: string;
    /** Which offer (0-based, counting every extension in the header) was accepted. */
    readonly offerIndex: number;
  }
  | { readonly accepted: false; readonly reason: PerMessageDeflateDeclineReason };

/** One extension of a `Sec-WebSocket-Extensions` header (RFC 6455 §9.1). */
interface ExtensionOffer {
  readonly name: string;
  /** Parameters in order; `undefined` value for a bare parameter. `undefined` list when the offer is malformed. */
  readonly params: ReadonlyArray<{ readonly name: string; readonly value: string | undefined }> | undefined;
}

// RFC 7230 §3.2.6 token characters.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// RFC 7692 §7.1.2: "a decimal integer value without leading zeroes".
const WINDOW_BITS = /^[1-9][0-9]?$/;

/** Splits `text` on `separator` outside quoted-strings (RFC 7230 §3.2.6), keeping the quotes. */
function splitOutsideQuotes(text: string, separator: string): string[] | undefined {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (quoted && char === "\\") i++;
    else if (char === '"') quoted = !quoted;
    else if (!quoted && char === separator) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  if (quoted) return undefined;
  parts.push(text.slice(start));
  return parts;
}

/** A parameter value: a token, or a quoted-string whose content is a token (RFC 6455 §9.1). */
function parseValue(raw: string): string | undefined {
  if (raw.startsWith('"')) {
    if (raw.length < 2 || !raw.endsWith('"')) return undefined;
    const unquoted = raw.slice(1, -1).replace(/\\(.)/g, "$1");
    return TOKEN.test(unquoted) ? unquoted : undefined;
  }
  return TOKEN.test(raw) ? raw : undefined;
}

function parseOffer(text: string): ExtensionOffer {
  const pieces = splitOutsideQuotes(text, ";");
  const name = text.slice(0, text.includes(";") ? text.indexOf(";") : text.length).trim();
  if (pieces === undefined) return { name, params: undefined };
  const params: Array<{ name: string; value: string | undefined }> = [];
  for (const piece of pieces.slice(1)) {
    const equals = piece.indexOf("=");
    const paramName = (equals === -1 ? piece : piece.slice(0, equals)).trim();
    if (!TOKEN.test(paramName)) return { name, params: undefined };
    if (equals === -1) {
      params.push({ name: paramName, value: undefined });
      continue;
    }
    const value = parseValue(piece.slice(equals + 1).trim());
    if (value === undefined) return { name, params: undefined };
    params.push({ name: paramName, value });
  }
  return { name, params };
}

/**
 * Reads a `Sec-WebSocket-Extensions` header into its offers, in order. Commas inside
 * quoted-strings do not split; an offer that cannot be read has `params: undefined`.
 */
function parseOffers(header: string): ExtensionOffer[] {
  const offers = splitOutsideQuotes(header, ",") ?? [header];
  return offers.filter((offer) => offer.trim() !== "").map(parseOffer);
}

function windowBits(value: string | undefined): number | undefined {
  if (value === undefined || !WINDOW_BITS.test(value)) return undefined;
  const bits = Number(value);
  return bits >= 9 && bits <= 15 ? bits : undefined;
}

/** The answer to one permessage-deflate offer, or `undefined` to decline it. */
function answerOffer(
  params: NonNullable<ExtensionOffer["params"]>,
  request: CompressionRequest,
): { parameters: PerMessageDeflateParameters; header: string } | undefined {
  const seen = new Set<string>();
  const clientParts: string[] = [];
  let serverNoContextTakeover = !request.serverContextTakeover;
  let clientNoContextTakeover = false;
  let offeredServerBits: number | undefined;
  let clientMaxWindowBits = 15;
  for (const { name, value } of params) {
    if (seen.has(name)) return undefined;
    seen.add(name);
    switch (name) {
      case "server_no_context_takeover":
        if (value !== undefined) return undefined;
        serverNoContextTakeover = true;
        break;
      case "client_no_context_takeover":
        if (value !== undefined) return undefined;
        clientNoContextTakeover = true;
        clientParts.push(name);
        break;
      case "server_max_window_bits":
        offeredServerBits = windowBits(value);
        if (offeredServerBits === undefined) return undefined;
        break;
      case "client_max_window_bits": {
        // Bare: the client accepts any value we name; we name the largest.
        const bits = value === undefined ? 15 : windowBits(value);
        if (bits === undefined) return undefined;
        clientMaxWindowBits = bits;
        clientParts.push(`${name}=${bits}`);
        break;
      }
      default:
        return undefined;
    }
  }
  const serverMaxWindowBits = Math.min(offeredServerBits ?? 15, request.serverMaxWindowBits);
  const parts = [PERMESSAGE_DEFLATE, ...clientParts];
  if (serverNoContextTakeover) parts.push("server_no_context_takeover");
  // Named when the client asked for a limit, or when the server's own limit is below the default.
  if (offeredServerBits !== undefined || serverMaxWindowBits !== 15) parts.push(`server_max_window_bits=${serverMaxWindowBits}`);
  return {
    parameters: { serverNoContextTakeover, clientNoContextTakeover, serverMaxWindowBits, clientMaxWindowBits },
    header: parts.join("; "),
  };
}

/**
 * Negotiates permessage-deflate for one connection (RFC 7692 §7.1). Pure and
 * runtime-neutral: adapters call it with the request's `Sec-WebSocket-Extensions`
 * value and the accept context's compression fields (`UpgradePlan.compression`), then
 * configure their engine from `parameters` and answer `header` verbatim — or, when
 * declined, answer no `Sec-WebSocket-Extensions` at all.
 *
 * @param offers The request's `Sec-WebSocket-Extensions` value (several header lines joined with ", "), or null.
 * @param request What the accept context asked for; `undefined` when it did not enable compression.
 * @throws RangeError when `request.serverMaxWindowBits` is not an integer from 9 to 15.
 *
 * @example
 * ```ts
 * import { negotiatePerMessageDeflate } from "@uniws/core";
 *
 * const result = negotiatePerMessageDeflate(
 *   "permessage-deflate; client_max_window_bits",
 *   { serverMaxWindowBits: 12, serverContextTakeover: false },
 * );
 * // result.accepted === true
 * // result.header === "permessage-deflate; client_max_window_bits=15; server_no_context_takeover; server_max_window_bits=12"
 * ```
 */
export function negotiatePerMessageDeflate(
  offers: string | null | undefined,
  request: CompressionRequest | undefined,
): PerMessageDeflateNegotiation {
  if (request === undefined) return { accepted: false, reason: "not-enabled" };
  const bits = request.serverMaxWindowBits;
  if (!Number.isInteger(bits) || bits < 9 || bits > 15) {
    throw new RangeError(`serverMaxWindowBits must be an integer from 9 to 15, got ${String(bits)}`);
  }
  if (offers === null || offers === undefined) return { accepted: false, reason: "not-offered" };
  let offered = false;
  const list = parseOffers(offers);
  for (let index = 0; index < list.length; index++) {
    const offer = list[index]!;
    if (offer.name !== PERMESSAGE_DEFLATE) continue;
    offered = true;
    if (offer.params === undefined) continue;
    const answer = answerOffer(offer.params, request);
    if (answer !== undefined) return { accepted: true, ...answer, offerIndex: index };
  }
  return { accepted: false, reason: offered ? "no-acceptable-offer" : "not-offered" };
}
