/**
 * Inbound rate limits of one socket: token buckets for messages per second and bytes
 * per second. A bucket holds at most its burst; it refills continuously at its rate;
 * a message takes one token from the message bucket and its size from the byte
 * bucket, and a message that finds too few tokens is over the limit (the socket then
 * closes with 1008, RFC 6455 §7.4.1). Nothing is queued or delayed: a peer over its
 * limit is refused, not slowed (pausing reads would also hold back its Pongs and Close).
 *
 * @module
 */

/** A token bucket: `rate` tokens per second, holding at most `burst`; it starts full. */
export class TokenBucket {
  readonly #perMs: number;
  readonly #burst: number;
  #tokens: number;
  #at: number;

  /**
   * @param rate tokens added per second (> 0)
   * @param burst the most tokens the bucket holds (> 0)
   * @param now the current time in ms (the clock `take` is given)
   */
  constructor(rate: number, burst: number, now: number) {
    this.#perMs = rate / 1000;
    this.#burst = burst;
    this.#tokens = burst;
    this.#at = now;
  }

  /** Takes `cost` tokens if the bucket has them at time `now` (ms) and says whether it did. */
  take(cost: number, now: number): boolean {
    const tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#perMs);
    this.#at = now;
    if (tokens < cost) {
      this.#tokens = tokens;
      return false;
    }
    this.#tokens = tokens - cost;
    return true;
  }
}

/** The inbound limits of one socket (rates per second, bursts); a rate of 0 turns that limit off. */
export interface InboundRateSettings {
  readonly maxMessagesPerSecond: number;
  readonly messageBurst: number;
  readonly maxBytesPerSecond: number;
  readonly byteBurst: number;
}

/** Whether either inbound limit is on. */
export function hasInboundLimit(settings: InboundRateSettings): boolean {
  return settings.maxMessagesPerSecond > 0 || settings.maxBytesPerSecond > 0;
}

/** Both buckets of one socket. Once over a limit it stays over: the socket is closing. */
export class InboundRateLimit {
  readonly #messages: TokenBucket | undefined;
  readonly #bytes: TokenBucket | undefined;
  #exceeded: string | undefined;

  constructor(settings: InboundRateSettings, now: number) {
    if (settings.maxMessagesPerSecond > 0) this.#messages = new TokenBucket(settings.maxMessagesPerSecond, settings.messageBurst, now);
    if (settings.maxBytesPerSecond > 0) this.#bytes = new TokenBucket(settings.maxBytesPerSecond, settings.byteBurst, now);
  }

  /**
   * Counts one message of `bytes` bytes arriving at `now` (ms). Returns `undefined`
   * when it is within both limits, else the name of the option it exceeds (for the
   * Close reason) — for this message and every later one.
   */
  admit(bytes: number, now: number): string | undefined {
    if (this.#exceeded !== undefined) return this.#exceeded;
    if (this.#messages !== undefined && !this.#messages.take(1, now)) this.#exceeded = "maxMessagesPerSecond";
    else if (this.#bytes !== undefined && !this.#bytes.take(bytes, now)) this.#exceeded = "maxBytesPerSecond";
    return this.#exceeded;
  }
}
