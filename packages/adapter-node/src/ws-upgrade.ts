/**
 * Handing a handshake the core accepted to `ws`. `ws` validates the request again
 * with rules of its own (an `Upgrade` header of exactly `websocket`, a strict
 * `Sec-WebSocket-Protocol` list, a single version), and a refusal then would come
 * after the handler accepted. So `ws` is shown the request as the core judged it,
 * restated in the one form it takes: `GET`, `Upgrade: websocket`, the client's key,
 * version 13, the chosen sub-protocol alone and the agreed extension alone. Both Node
 * bindings (`@uniws/node` on HTTP/1.1 and HTTP/2, `@uniws/hono/node`) upgrade here.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { type EngineEvents, headersOnThe101, type UpgradePlan } from "@uniws/core";
import { WebSocketServer } from "ws";
import { negotiateForRequest, type WsPerMessageDeflateOptions } from "./compression.ts";
import { bindWsSocket } from "./ws-engine.ts";

/** The limits one `ws` engine applies; `ws` takes them per server, not per connection. */
export interface WsLimits {
  /** The largest message, in bytes (`maxMessageSize`). */
  readonly maxMessageSize: number;
  /** How long to wait for the peer's Close, in ms; 0 waits forever. */
  readonly closeTimeout: number;
}

/**
 * The default fragment limit for a size limit: `ws` keeps each fragment of a message
 * until the last arrives, and bounds their number (16,384 by default) to bound that
 * bookkeeping. This scales the bound with `maxMessageSize` so that any message within
 * the size limit whose frames average at least 64 bytes arrives: `max(16384,
 * ceil(maxMessageSize / 64))`.
 */
export function defaultMaxFragments(maxMessageSize: number): number {
  return Math.max(16_384, Math.ceil(maxMessageSize / 64));
}

// A closeTimeout of 0 means "wait forever"; `ws` needs a number of ms.
const FOREVER = 2 ** 31 - 1;

// Until `ws` owns an upgrading socket, a reset by the client must not become an uncaught error. A shared listener (a
// closure would keep the request and `head` alive), taken off once `ws` has added its own: two `error` listeners
// would cost each connection an array on its transport for its whole life.
function destroyOnError(this: Duplex): void {
  this.destroy();
}

/**
 * Guards a socket whose upgrade is being handled: an error on it (a reset by the
 * client) destroys it instead of going uncaught. {@link WsEngines.upgrade} removes
 * the guard once `ws` owns the socket.
 */
export function guardUpgrade(socket: Duplex): void {
  socket.on("error", destroyOnError);
}

/** What one upgrade adds to and learns from the 101 `ws` writes. */
interface Answer {
  readonly extra: string[];
  extensions: string;
}

/**
 * The `ws` engines of one binding: one per set of limits, with and without
 * permessage-deflate (the core negotiates; the compressing engine applies the answer,
 * shown to it as the request's only offer, see compression.ts).
 */
export class WsEngines {
  readonly #deflate: WsPerMessageDeflateOptions;
  readonly #maxFragments: number | undefined;
  readonly #engines = new Map<string, WebSocketServer>();
  readonly #answers = new WeakMap<object, Answer>();

  /**
   * `deflate`: the compressing engines' zlib settings (`wsDeflateOptions`);
   * `maxFragments`: the most frames one message may arrive in, 0 for no limit, by
   * default {@link defaultMaxFragments} of each engine's `maxMessageSize`. Throws a
   * `RangeError` for a `maxFragments` that is not an integer >= 0.
   */
  constructor(deflate: WsPerMessageDeflateOptions, maxFragments?: number) {
    if (maxFragments !== undefined && (!Number.isInteger(maxFragments) || maxFragments < 0)) {
      throw new RangeError(`maxFragments must be an integer >= 0, got ${String(maxFragments)}`);
    }
    this.#deflate = deflate;
    this.#maxFragments = maxFragments;
  }

  /**
   * Upgrades `req` on `socket` as `plan` says and reports through `events`; never
   * refuses (the core judged the request). `headers` are added to the 101 (a Hono
   * middleware's `Set-Cookie`), but for the handshake's own and hop-by-hop ones.
   */
  upgrade(limits: WsLimits, req: Pick<IncomingMessage, "headers" | "url">, socket: Duplex, head: Buffer, plan: UpgradePlan, events: EngineEvents, headers?: Headers): void {
    // `ws` drops a socket the client already closed without calling back: report that as a failed upgrade. And end
    // it: Node's HTTP server keeps a socket half-open after the client's FIN (allowHalfOpen), for good.
    if (socket.destroyed || !socket.readable || !socket.writable) {
      socket.destroy();
      events.failed(new Error("The client closed the connection during the handshake"));
      return;
    }
    const deflate = negotiateForRequest(req as IncomingMessage, plan.compression);
    const shown = engineRequest(req, plan.subProtocol, deflate.accepted ? deflate.header : undefined);
    const extra = headers === undefined ? [] : headersOnThe101(headers).map(([name, value]) => `${name}: ${value}`);
    // Only an upgrade with something to add to or learn from the 101 is looked up by the engine's `headers` listener.
    const answer: Answer = { extra, extensions: "" };
    if (extra.length > 0 || deflate.accepted) this.#answers.set(shown, answer);
    let upgraded = false;
    // Without `verifyClient`, `ws` upgrades (calling back) or drops the socket before handleUpgrade returns.
    this.#engine(limits, deflate.accepted).handleUpgrade(shown, socket, head, (ws) => {
      upgraded = true;
      socket.off("error", destroyOnError);
      bindWsSocket(ws, socket, answer.extensions, events);
    });
    if (!upgraded) events.failed(new Error("The client closed the connection during the handshake"));
  }

  // The engines of the limits object last asked for (a server passes the same object every time).
  #lastLimits: WsLimits | undefined;
  readonly #lastEngines: Array<WebSocketServer | undefined> = [undefined, undefined];

  #engine(limits: WsLimits, compress: boolean): WebSocketServer {
    const index = compress ? 1 : 0;
    if (limits === this.#lastLimits) {
      const engine = this.#lastEngines[index];
      if (engine !== undefined) return engine;
    } else {
      this.#lastLimits = limits;
      this.#lastEngines.fill(undefined);
    }
    return (this.#lastEngines[index] = this.#engineFor(limits, compress));
  }

  #engineFor(limits: WsLimits, compress: boolean): WebSocketServer {
    const maxFragments = this.#maxFragments ?? defaultMaxFragments(limits.maxMessageSize);
    const key = `${limits.maxMessageSize}/${limits.closeTimeout}/${maxFragments}/${compress}`;
    let engine = this.#engines.get(key);
    if (engine === undefined) {
      // `closeTimeout` (ws 8.19+) and `maxFragments` (8.21+) are not in @types/ws yet.
      const settings: ConstructorParameters<typeof WebSocketServer>[0] & { closeTimeout: number; maxFragments: number } = {
        noServer: true,
        clientTracking: false,
        perMessageDeflate: compress ? this.#deflate : false,
        maxPayload: limits.maxMessageSize,
        maxFragments,
        closeTimeout: limits.closeTimeout === 0 ? FOREVER : limits.closeTimeout,
      };
      engine = new WebSocketServer(settings).on("headers", (lines: string[], req: IncomingMessage) => {
        const answer = this.#answers.get(req);
        if (answer === undefined) return;
        const line = lines.find((header) => header.toLowerCase().startsWith("sec-websocket-extensions:"));
        if (line !== undefined) answer.extensions = line.slice(line.indexOf(":") + 1).trim();
        lines.push(...answer.extra);
      });
      this.#engines.set(key, engine);
    }
    return engine;
  }
}

/**
 * The request as `ws` must see it: the handshake's headers alone, which are all `ws` reads
 * (without `verifyClient` or `path`, it never looks at the others). An HTTP/2 stream has
 * no key (RFC 8441 §5): a fresh one stands in, its accept value is never sent.
 */
function engineRequest(req: Pick<IncomingMessage, "headers" | "url">, subProtocol: string | undefined, extensions: string | undefined): IncomingMessage {
  const key = req.headers["sec-websocket-key"];
  const headers: IncomingHttpHeaders = {
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": typeof key === "string" ? key.trim() : randomBytes(16).toString("base64"),
    "sec-websocket-version": "13",
  };
  if (subProtocol !== undefined) headers["sec-websocket-protocol"] = subProtocol;
  if (extensions !== undefined) headers["sec-websocket-extensions"] = extensions;
  // `ws` reads only `method` and `headers` (and `socket` for a verifyClient it is not given).
  return { method: "GET", url: req.url, headers, httpVersion: "1.1" } as IncomingMessage;
}
