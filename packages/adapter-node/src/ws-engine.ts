/**
 * The `ws` package as the engine under a core socket: a thin translation of a `ws`
 * WebSocket into the core's {@link EngineSocket} and its events into
 * {@link EngineEvents}.
 *
 * @module
 */
import type { Duplex } from "node:stream";
import type { EngineCapabilities, EngineEvents, EngineSendOptions, EngineSocket } from "@uniws/core";
import type { WebSocket } from "ws";

/** What `ws` on Node can do. */
export const NODE_CAPABILITIES: EngineCapabilities = {
  pingControl: true,
  fragmentedSend: true,
  compression: true,
  perMessageCompression: true,
  compressionParameters: "per-connection",
  drainEvent: true,
  enforcesMaxMessageSize: true,
  http2: true,
};

class WsEngineSocket implements EngineSocket {
  readonly #ws: WebSocket;
  readonly extensions: string;

  constructor(ws: WebSocket, extensions: string) {
    this.#ws = ws;
    this.extensions = extensions;
  }

  send(data: string | Uint8Array, options: EngineSendOptions): void {
    this.#ws.send(data, { binary: !options.text, fin: options.fin, compress: options.compress });
  }

  ping(payload: Uint8Array): void {
    this.#ws.ping(payload);
  }

  pong(payload: Uint8Array): void {
    this.#ws.pong(payload);
  }

  close(code: number, reason: string): void {
    this.#ws.close(code, reason);
  }

  terminate(): void {
    this.#ws.terminate();
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }
}

/** Wires an upgraded `ws` socket (over `transport`) to the core's events and reports it open. */
export function bindWsSocket(ws: WebSocket, transport: Duplex, extensions: string, events: EngineEvents): void {
  let lastError: unknown;
  ws.on("message", (data: Buffer, isBinary: boolean) => {
    events.message(isBinary ? data : data.toString("utf8"), isBinary);
  });
  // A Ping from the peer proves it alive as much as a Pong; `ws` answers it itself (autoPong).
  ws.on("pong", () => events.pong());
  ws.on("ping", () => events.pong());
  ws.on("error", (error: Error) => (lastError = error));
  ws.on("close", (code: number, reason: Buffer) => {
    // After a protocol error `ws` reports the code it sent (1002, 1007, 1009); the peer sent no valid Close (RFC 6455 §7.1.5).
    if (lastError !== undefined) events.closed(1006, "", lastError);
    else events.closed(code, reason.toString("utf8"));
  });
  transport.on("drain", () => events.drained());
  events.opened(new WsEngineSocket(ws, extensions));
}
