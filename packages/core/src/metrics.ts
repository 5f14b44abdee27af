/**
 * What a server counts about itself: the figures of {@link WebSocketServerStats}
 * (always kept, as plain numbers) and, when the application passes an OpenTelemetry
 * `Meter`, the `uniws.server.*` instruments. The core never imports
 * `@opentelemetry/api`: {@link MetricsMeter} is the part of its `Meter` that uniws
 * calls, so a real `Meter` fits it, and without one nothing is recorded.
 *
 * @module
 */

/** Attribute values as OpenTelemetry takes them. */
export type MetricsAttributes = Record<string, string | number | boolean>;

/** The options uniws gives an instrument (a subset of OpenTelemetry's `MetricOptions`). */
export interface MetricsInstrumentOptions {
  /** What the instrument measures. */
  readonly description?: string;
  /** UCUM unit: `s`, `By`, or an annotation such as `{connection}`. */
  readonly unit?: string;
  /** Hints for the SDK: a histogram's bucket boundaries. */
  readonly advice?: { readonly explicitBucketBoundaries?: number[] };
}

/** A Counter or UpDownCounter. */
export interface MetricsCounter {
  /** Adds `value` (negative only on an UpDownCounter) under `attributes`. */
  add(value: number, attributes?: MetricsAttributes): void;
}

/** A Histogram. */
export interface MetricsHistogram {
  /** Records one measurement under `attributes`. */
  record(value: number, attributes?: MetricsAttributes): void;
}

/**
 * The part of an OpenTelemetry `Meter` (`@opentelemetry/api` 1.x) uniws uses: pass
 * `metrics.getMeter("uniws")` after registering a `MeterProvider` (docs/operations.md).
 */
export interface MetricsMeter {
  /** Creates a monotonic Counter. */
  createCounter(name: string, options?: MetricsInstrumentOptions): MetricsCounter;
  /** Creates an UpDownCounter. */
  createUpDownCounter(name: string, options?: MetricsInstrumentOptions): MetricsCounter;
  /** Creates a Histogram. */
  createHistogram(name: string, options?: MetricsInstrumentOptions): MetricsHistogram;
}

/** Messages by type, in one direction. */
export interface MessageCounts {
  /** Text messages (opcode 0x1). */
  readonly text: number;
  /** Binary messages (opcode 0x2). */
  readonly binary: number;
}

/**
 * One server's figures at one moment, as {@link WebSocketHost.stats} returns them:
 * the same figures as the `uniws.server.*` instruments, without OpenTelemetry.
 * Counts run from the server's creation.
 */
export interface WebSocketServerStats {
  /** Sockets open now (opened and not yet ended): `uniws.server.active_connections`. */
  readonly activeConnections: number;
  /** Sockets opened since the server was created. */
  readonly acceptedConnections: number;
  /** WebSocket requests whose handler has not answered yet (they count against `maxConnections`). */
  readonly pendingHandshakes: number;
  /**
   * WebSocket requests answered with an HTTP status instead of an upgrade, by status
   * (the core's 400, 403, 426 and 503, the handler's own, 500 for a handler that threw):
   * `uniws.server.rejected_handshakes`. Requests the handler passed on are not counted.
   */
  readonly rejectedHandshakes: Readonly<Record<number, number>>;
  /** Ended sockets by close status (1006 when no Close frame came): the `uniws.close.code` of `uniws.server.connection.duration`. */
  readonly closedConnections: Readonly<Record<number, number>>;
  /** Whole data messages: `uniws.server.messages`. */
  readonly messages: { readonly receive: MessageCounts; readonly send: MessageCounts };
  /** Payload bytes of data messages (text as UTF-8, before compression): `uniws.server.message.bytes`. */
  readonly bytes: { readonly receive: number; readonly send: number };
}

/** Bytes `text` takes in UTF-8 (a lone surrogate counts as U+FFFD, as `TextEncoder` writes it). */
export function utf8Length(text: string): number {
  const length = text.length;
  let bytes = length;
  for (let i = 0; i < length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) bytes += 1;
    else if (unit >= 0xd800 && unit < 0xdc00 && i + 1 < length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // A surrogate pair: two units, four bytes.
      bytes += 2;
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/** The size of a message's payload in bytes. */
export function payloadLength(data: string | Uint8Array): number {
  return typeof data === "string" ? utf8Length(data) : data.byteLength;
}

// Connection lifetimes run from milliseconds to days.
const DURATION_BUCKETS = [0.01, 0.1, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400];

/** The OpenTelemetry instruments, with their constant attribute sets built once. */
class Instruments {
  readonly #runtime: MetricsAttributes;
  readonly #active: MetricsCounter;
  readonly #duration: MetricsHistogram;
  readonly #rejected: MetricsCounter;
  readonly #messages: MetricsCounter;
  readonly #bytes: MetricsCounter;
  // [direction][binary]: receive text, receive binary, send text, send binary.
  readonly #messageAttributes: readonly MetricsAttributes[];
  readonly #receiveAttributes: MetricsAttributes;
  readonly #sendAttributes: MetricsAttributes;

  constructor(meter: MetricsMeter, runtime: string) {
    this.#runtime = { "uniws.runtime": runtime };
    this.#active = meter.createUpDownCounter("uniws.server.active_connections", {
      description: "WebSocket connections open on the server",
      unit: "{connection}",
    });
    this.#duration = meter.createHistogram("uniws.server.connection.duration", {
      description: "How long WebSocket connections lasted, from the upgrade to their end",
      unit: "s",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    this.#rejected = meter.createCounter("uniws.server.rejected_handshakes", {
      description: "WebSocket requests answered with an HTTP status instead of an upgrade",
      unit: "{handshake}",
    });
    this.#messages = meter.createCounter("uniws.server.messages", { description: "WebSocket data messages", unit: "{message}" });
    this.#bytes = meter.createCounter("uniws.server.message.bytes", { description: "Payload bytes of WebSocket data messages", unit: "By" });
    const message = (direction: string, type: string) => ({ "uniws.runtime": runtime, "uniws.message.direction": direction, "uniws.message.type": type });
    this.#messageAttributes = [message("receive", "text"), message("receive", "binary"), message("send", "text"), message("send", "binary")];
    this.#receiveAttributes = { "uniws.runtime": runtime, "uniws.message.direction": "receive" };
    this.#sendAttributes = { "uniws.runtime": runtime, "uniws.message.direction": "send" };
  }

  opened(): void {
    this.#active.add(1, this.#runtime);
  }

  ended(closeStatus: number, seconds: number): void {
    this.#active.add(-1, this.#runtime);
    this.#duration.record(seconds, { "uniws.runtime": this.#runtime["uniws.runtime"]!, "uniws.close.code": closeStatus });
  }

  rejected(status: number): void {
    this.#rejected.add(1, { "uniws.runtime": this.#runtime["uniws.runtime"]!, "http.response.status_code": status });
  }

  message(send: boolean, binary: boolean): void {
    this.#messages.add(1, this.#messageAttributes[(send ? 2 : 0) + (binary ? 1 : 0)]);
  }

  bytes(send: boolean, bytes: number): void {
    this.#bytes.add(bytes, send ? this.#sendAttributes : this.#receiveAttributes);
  }
}

function increment(counts: Record<number, number>, key: number): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/**
 * The counting of one server, shared by its sockets. Each event updates plain
 * numbers and, only when a meter was given, the instruments.
 */
export class ServerMetrics {
  readonly #instruments: Instruments | undefined;
  #active = 0;
  #accepted = 0;
  readonly #rejected: Record<number, number> = {};
  readonly #closed: Record<number, number> = {};
  #receivedText = 0;
  #receivedBinary = 0;
  #sentText = 0;
  #sentBinary = 0;
  #receivedBytes = 0;
  #sentBytes = 0;

  /**
   * @param meter where the instruments are created; `undefined` records nothing
   * @param runtime the `uniws.runtime` attribute (`node`, `deno`, `bun`, `workerd`)
   */
  constructor(meter: MetricsMeter | undefined, runtime: string) {
    this.#instruments = meter === undefined ? undefined : new Instruments(meter, runtime);
  }

  /** A socket opened. */
  opened(): void {
    this.#active++;
    this.#accepted++;
    this.#instruments?.opened();
  }

  /** A socket that had opened ended with `closeStatus` after `seconds`. */
  ended(closeStatus: number, seconds: number): void {
    this.#active--;
    increment(this.#closed, closeStatus);
    this.#instruments?.ended(closeStatus, seconds);
  }

  /** A WebSocket request was answered with `status` instead of an upgrade. */
  rejected(status: number): void {
    increment(this.#rejected, status);
    this.#instruments?.rejected(status);
  }

  /** A whole data message of `bytes` bytes arrived. */
  received(binary: boolean, bytes: number): void {
    if (binary) this.#receivedBinary++;
    else this.#receivedText++;
    this.#receivedBytes += bytes;
    const instruments = this.#instruments;
    if (instruments !== undefined) {
      instruments.message(false, binary);
      instruments.bytes(false, bytes);
    }
  }

  /** `bytes` bytes of a data message were queued; `endOfMessage` when they were its last. */
  sent(binary: boolean, bytes: number, endOfMessage: boolean): void {
    if (endOfMessage) {
      if (binary) this.#sentBinary++;
      else this.#sentText++;
    }
    this.#sentBytes += bytes;
    const instruments = this.#instruments;
    if (instruments !== undefined) {
      if (endOfMessage) instruments.message(true, binary);
      instruments.bytes(true, bytes);
    }
  }

  /** The figures now; `pendingHandshakes` is the host's. */
  snapshot(pendingHandshakes: number): WebSocketServerStats {
    return {
      activeConnections: this.#active,
      acceptedConnections: this.#accepted,
      pendingHandshakes,
      rejectedHandshakes: { ...this.#rejected },
      closedConnections: { ...this.#closed },
      messages: {
        receive: { text: this.#receivedText, binary: this.#receivedBinary },
        send: { text: this.#sentText, binary: this.#sentBinary },
      },
      bytes: { receive: this.#receivedBytes, send: this.#sentBytes },
    };
  }
}
