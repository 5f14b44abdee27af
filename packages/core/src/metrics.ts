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

/** What an asynchronous instrument's callback reports its values through. */
export interface MetricsObservableResult {
  /** Reports the instrument's current `value` under `attributes`. */
  observe(value: number, attributes?: MetricsAttributes): void;
}

/** An asynchronous (observable) instrument: the SDK calls its callbacks at each collection. */
export interface MetricsObservable {
  /** Adds a callback the SDK calls at each collection. */
  addCallback(callback: (result: MetricsObservableResult) => void): void;
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
  /** Creates an asynchronous Counter, whose callbacks report its cumulative value at each collection. */
  createObservableCounter(name: string, options?: MetricsInstrumentOptions): MetricsObservable;
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
  /**
   * Ended sockets by the status of the Close that ended them: the one the server sent when
   * the server (the handler, a shutdown, a policy, the engine) started the close, else the
   * peer's (1005 for a Close without status); 1006 when neither side's Close ended it.
   * The `uniws.close.code` of `uniws.server.connection.duration`.
   */
  readonly closedConnections: Readonly<Record<number, number>>;
  /** Whole data messages (received: those the handler can read, not those a policy dropped): `uniws.server.messages`. */
  readonly messages: { readonly receive: MessageCounts; readonly send: MessageCounts };
  /** Payload bytes of data messages (text as UTF-8, before compression): `uniws.server.message.bytes`. */
  readonly bytes: { readonly receive: number; readonly send: number };
}

const encoder = new TextEncoder();
// A chunk of at most 16,384 UTF-16 units encodes to at most 49,152 bytes: it always fits the scratch buffer.
const CHUNK = 16_384;
let scratch: Uint8Array | undefined;

/**
 * Bytes `text` takes in UTF-8 (a lone surrogate counts as U+FFFD, as `TextEncoder`
 * writes it). The runtime's native encoder does the counting, into a reused buffer:
 * several times faster than a JavaScript loop over the string, and nothing allocated
 * for a string up to 16,384 units.
 */
export function utf8Length(text: string): number {
  scratch ??= new Uint8Array(3 * CHUNK);
  if (text.length <= CHUNK) return encoder.encodeInto(text, scratch).written;
  let bytes = 0;
  for (let start = 0; start < text.length;) {
    let end = Math.min(start + CHUNK, text.length);
    // Never split a surrogate pair: each half alone would count as U+FFFD.
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last < 0xdc00) end--;
    bytes += encoder.encodeInto(text.slice(start, end), scratch).written;
    start = end;
  }
  return bytes;
}

/** The size of a message's payload in bytes. */
export function payloadLength(data: string | Uint8Array): number {
  return typeof data === "string" ? utf8Length(data) : data.byteLength;
}

// Connection lifetimes run from milliseconds to days.
const DURATION_BUCKETS = [0.01, 0.1, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400];

/** Messages received (text, binary) and sent (text, binary), then bytes received and sent. */
type MessageTotals = [number, number, number, number, number, number];

// Each runtime's attribute sets for the message counts, built once: receive text, receive binary, send text, send binary.
const messageAttributes = new Map<string, readonly MetricsAttributes[]>();
function attributesOf(runtime: string): readonly MetricsAttributes[] {
  let sets = messageAttributes.get(runtime);
  if (sets === undefined) {
    const set = (direction: string, type: string) => ({ "uniws.runtime": runtime, "uniws.message.direction": direction, "uniws.message.type": type });
    sets = [
      set("receive", "text"),
      set("receive", "binary"),
      set("send", "text"),
      set("send", "binary"),
      { "uniws.runtime": runtime, "uniws.message.direction": "receive" },
      { "uniws.runtime": runtime, "uniws.message.direction": "send" },
    ];
    messageAttributes.set(runtime, sets);
  }
  return sets;
}

/**
 * The instruments of one meter, shared by every server recording on it. Connections
 * and refused handshakes are recorded as they happen; messages and bytes, which come
 * at a rate where a call into the SDK per message would cost more than the message,
 * are observed: at each collection the SDK reads the servers' running totals (an
 * asynchronous Counter exports the same monotonic sum as a synchronous one).
 */
class MeterInstruments {
  readonly active: MetricsCounter;
  readonly duration: MetricsHistogram;
  readonly rejected: MetricsCounter;
  // Kept for good: a closed server's messages stay in the cumulative totals, which never go down.
  readonly #servers = new Set<ServerMetrics>();

  constructor(meter: MetricsMeter) {
    this.active = meter.createUpDownCounter("uniws.server.active_connections", {
      description: "WebSocket connections open on the server",
      unit: "{connection}",
    });
    this.duration = meter.createHistogram("uniws.server.connection.duration", {
      description: "How long WebSocket connections lasted, from the upgrade to their end",
      unit: "s",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    this.rejected = meter.createCounter("uniws.server.rejected_handshakes", {
      description: "WebSocket requests answered with an HTTP status instead of an upgrade",
      unit: "{handshake}",
    });
    const messages = meter.createObservableCounter("uniws.server.messages", { description: "WebSocket data messages", unit: "{message}" });
    const bytes = meter.createObservableCounter("uniws.server.message.bytes", { description: "Payload bytes of WebSocket data messages", unit: "By" });
    messages.addCallback((result) => {
      for (const [runtime, totals] of this.#totals()) {
        const sets = attributesOf(runtime);
        for (let i = 0; i < 4; i++) result.observe(totals[i]!, sets[i]);
      }
    });
    bytes.addCallback((result) => {
      for (const [runtime, totals] of this.#totals()) {
        const sets = attributesOf(runtime);
        result.observe(totals[4], sets[4]);
        result.observe(totals[5], sets[5]);
      }
    });
  }

  /** Records `server`'s messages and bytes from now on (its counts so far included). */
  add(server: ServerMetrics): void {
    this.#servers.add(server);
  }

  // The servers' totals summed by runtime, in the order of `attributesOf`.
  #totals(): Map<string, MessageTotals> {
    const byRuntime = new Map<string, MessageTotals>();
    for (const server of this.#servers) {
      let totals = byRuntime.get(server.runtime);
      if (totals === undefined) byRuntime.set(server.runtime, (totals = [0, 0, 0, 0, 0, 0]));
      server.addTotals(totals);
    }
    return byRuntime;
  }
}

const instrumentsByMeter = new WeakMap<MetricsMeter, MeterInstruments>();

function increment(counts: Record<number, number>, key: number): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

const METER_METHODS = ["createCounter", "createUpDownCounter", "createHistogram", "createObservableCounter"] as const;

// A wrong `meter` option (a provider, a plain object) is the caller's mistake: named at construction, not a
// TypeError from deep inside the first recording.
function checkMeter(meter: MetricsMeter): void {
  for (const method of METER_METHODS) {
    if (typeof (meter as Partial<MetricsMeter> | null)?.[method] !== "function") {
      throw new TypeError(`meter must be an OpenTelemetry Meter (metrics.getMeter("uniws") from @opentelemetry/api): it has no ${method}()`);
    }
  }
}

/**
 * The counting of one server, shared by its sockets: plain numbers, which `stats()`
 * reads and, when a meter was given, the meter's instruments too (see
 * `MeterInstruments`). A message costs a few additions, with or without a meter.
 */
export class ServerMetrics {
  /** The `uniws.runtime` attribute. */
  readonly runtime: string;
  readonly #instruments: MeterInstruments | undefined;
  readonly #runtimeAttributes: MetricsAttributes;
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
   * @param meter where the instruments are recorded; `undefined` records nothing
   * @param runtime the `uniws.runtime` attribute (`node`, `deno`, `bun`, `workerd`)
   */
  constructor(meter: MetricsMeter | undefined, runtime: string) {
    this.runtime = runtime;
    this.#runtimeAttributes = { "uniws.runtime": runtime };
    if (meter === undefined) return;
    checkMeter(meter);
    let instruments = instrumentsByMeter.get(meter);
    if (instruments === undefined) instrumentsByMeter.set(meter, (instruments = new MeterInstruments(meter)));
    instruments.add(this);
    this.#instruments = instruments;
  }

  /** A socket opened. */
  opened(): void {
    this.#active++;
    this.#accepted++;
    this.#instruments?.active.add(1, this.#runtimeAttributes);
  }

  /** A socket that had opened ended with `closeStatus` after `seconds`. */
  ended(closeStatus: number, seconds: number): void {
    this.#active--;
    increment(this.#closed, closeStatus);
    const instruments = this.#instruments;
    if (instruments === undefined) return;
    instruments.active.add(-1, this.#runtimeAttributes);
    instruments.duration.record(seconds, { "uniws.runtime": this.runtime, "uniws.close.code": closeStatus });
  }

  /** A WebSocket request was answered with `status` instead of an upgrade. */
  rejected(status: number): void {
    increment(this.#rejected, status);
    this.#instruments?.rejected.add(1, { "uniws.runtime": this.runtime, "http.response.status_code": status });
  }

  /** A whole data message of `bytes` bytes arrived. */
  received(binary: boolean, bytes: number): void {
    if (binary) this.#receivedBinary++;
    else this.#receivedText++;
    this.#receivedBytes += bytes;
  }

  /** `bytes` bytes of a data message were queued; `endOfMessage` when they were its last. */
  sent(binary: boolean, bytes: number, endOfMessage: boolean): void {
    if (endOfMessage) {
      if (binary) this.#sentBinary++;
      else this.#sentText++;
    }
    this.#sentBytes += bytes;
  }

  /** Adds this server's message and byte totals to `totals` (receive text, binary, send text, binary, bytes in, out). */
  addTotals(totals: MessageTotals): void {
    totals[0] += this.#receivedText;
    totals[1] += this.#receivedBinary;
    totals[2] += this.#sentText;
    totals[3] += this.#sentBinary;
    totals[4] += this.#receivedBytes;
    totals[5] += this.#sentBytes;
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
