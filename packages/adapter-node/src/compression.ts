/**
 * permessage-deflate on Node, per connection. The core decides
 * ({@link negotiatePerMessageDeflate}, from the accept context); `ws` only applies
 * the decision. `ws` takes its permessage-deflate settings once per server, so the
 * adapter keeps a second `ws` engine whose settings name no window or takeover
 * choice of their own, and shows it a request whose `Sec-WebSocket-Extensions` is
 * exactly the core's answer (ws-upgrade.ts): `ws` accepts that single offer as it stands, answers it
 * verbatim and configures zlib from it. Connections without compression go through
 * the engine that has permessage-deflate off, and never see an offer.
 *
 * @module
 */
import type { IncomingMessage } from "node:http";
import { type CompressionRequest, negotiatePerMessageDeflate, type PerMessageDeflateNegotiation } from "@uniws/core";

/** zlib tuning for connections that negotiated permessage-deflate (the accept context turns compression on). */
export interface NodeDeflateOptions {
  /**
   * zlib `memLevel` (1–9) of each connection's compressor: its hash table and output
   * buffer take about 2^(memLevel+9) bytes, beside the 2^(windowBits+2) of its window.
   * @default 4
   */
  readonly memLevel?: number;
  /** zlib compression level (0–9). @default 6 */
  readonly level?: number;
  /**
   * Messages smaller than this (bytes) go out uncompressed when the server resets its
   * context after each message (`server_no_context_takeover`); with context takeover
   * every message is compressed, as `ws` does.
   * @default 1024
   */
  readonly threshold?: number;
  /**
   * How many zlib jobs run at once, for the whole process (`ws`'s `concurrencyLimit`):
   * the first compressed connection's value holds for every later one.
   * @default 10
   */
  readonly concurrencyLimit?: number;
}

/**
 * The `perMessageDeflate` settings uniws gives a `ws` server (a `ws` `PerMessageDeflateOptions`), declared here
 * so the published types need no `@types/ws`.
 */
export interface WsPerMessageDeflateOptions {
  /** zlib settings of each connection's compressor. */
  readonly zlibDeflateOptions: { readonly memLevel: number; readonly level: number };
  /** Messages smaller than this (bytes) are not compressed. */
  readonly threshold: number;
  /** How many zlib jobs run at once in the process. */
  readonly concurrencyLimit: number;
}

/** The defaults of {@link NodeDeflateOptions}. */
export const DEFAULT_DEFLATE_OPTIONS = { memLevel: 4, level: 6, threshold: 1024, concurrencyLimit: 10 } as const;

function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`deflate.${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  return value;
}

/**
 * The `perMessageDeflate` settings of the compressing `ws` engine. They leave every
 * negotiated parameter (windows, context takeover) to the offer `ws` is shown, so
 * the engine applies the core's answer unchanged.
 */
export function wsDeflateOptions(options: NodeDeflateOptions = {}): WsPerMessageDeflateOptions {
  const settings = { ...DEFAULT_DEFLATE_OPTIONS, ...options };
  return {
    zlibDeflateOptions: {
      memLevel: checkInteger("memLevel", settings.memLevel, 1, 9),
      level: checkInteger("level", settings.level, 0, 9),
    },
    threshold: checkInteger("threshold", settings.threshold, 0, Number.MAX_SAFE_INTEGER),
    concurrencyLimit: checkInteger("concurrencyLimit", settings.concurrencyLimit, 1, 1024),
  };
}

/** Negotiates permessage-deflate for a request `ws` is about to take (an HTTP/1.1 upgrade or the stand-in of an HTTP/2 CONNECT). */
export function negotiateForRequest(req: IncomingMessage, compression: CompressionRequest | undefined): PerMessageDeflateNegotiation {
  const offers = req.headers["sec-websocket-extensions"];
  return negotiatePerMessageDeflate(Array.isArray(offers) ? offers.join(", ") : offers, compression);
}
