/**
 * The hub's backplane over Redis pub/sub: one connection publishes, one subscribes
 * (Redis puts a subscribing connection in a mode where it can do nothing else).
 *
 * @module
 */
import type { Backplane } from "@uniws/core";
import { createClient, type RedisClientOptions } from "redis";

/** Options of a {@link RedisBackplane}. */
export interface RedisBackplaneOptions {
  /** The Redis server's URL (`redis://` or `rediss://`). @default "redis://127.0.0.1:6379" */
  readonly url?: string;
  /** Put in front of every channel name, to share one Redis between applications. @default "uniws:" */
  readonly prefix?: string;
  /** The longest wait between reconnection attempts (they back off 50 ms, 100 ms, 200 ms … up to this). @default 2000 */
  readonly maxReconnectDelay?: number;
  /**
   * Receives connection failures (every failed reconnection attempt) and failed
   * subscriptions. @default logs the first failure of each outage with console.error
   */
  readonly onError?: (error: unknown) => void;
  /** More options for both connections (TLS, credentials, a database number…). */
  readonly clientOptions?: RedisClientOptions;
}

type Client = ReturnType<typeof createClient>;

interface Subscription {
  listener: (message: Uint8Array) => void;
  confirmed: boolean;
  inFlight: boolean;
  waiters: Array<() => void>;
}

/**
 * A {@link Backplane} on Redis pub/sub, for hubs on several server processes (any mix
 * of Node, Deno and Bun).
 *
 * - Delivery is Redis pub/sub's: at most once, in publication order per publishing
 *   connection (so per hub instance).
 * - When Redis is unreachable, `publish` rejects at once (nothing is queued: a message
 *   published then is lost for other instances; the hub still delivers it to its own
 *   members), and both connections retry with backoff, forever, until `close()`.
 * - After a reconnection every channel is subscribed again before `ready()` resolves.
 *   Messages published on other instances during the outage are not replayed.
 *
 * @example
 * ```ts
 * import { WebSocketHub } from "@uniws/core";
 * import { RedisBackplane } from "@uniws/redis";
 *
 * const backplane = new RedisBackplane({ url: "redis://127.0.0.1:6379" });
 * const hub = new WebSocketHub({ backplane });
 * ```
 */
export class RedisBackplane implements Backplane {
  readonly #prefix: string;
  readonly #publisher: Client;
  readonly #subscriber: Client;
  readonly #channels = new Map<string, Subscription>();
  readonly #onError: ((error: unknown) => void) | undefined;
  #readyWaiters: Array<() => void> = [];
  #failing = false;
  #closed = false;

  /** Opens the two connections (publisher and subscriber) to Redis; they reconnect by themselves. */
  constructor(options: RedisBackplaneOptions = {}) {
    this.#prefix = options.prefix ?? "uniws:";
    this.#onError = options.onError;
    const maxDelay = options.maxReconnectDelay ?? 2000;
    const base: RedisClientOptions = {
      ...options.clientOptions,
      url: options.url ?? options.clientOptions?.url ?? "redis://127.0.0.1:6379",
      socket: {
        ...options.clientOptions?.socket,
        // Keep trying for as long as the backplane is open: the server goes on serving local sockets meanwhile.
        reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 10), maxDelay),
      } as RedisClientOptions["socket"],
    };
    // Publishing while Redis is down fails fast rather than piling up in the client's offline queue.
    this.#publisher = createClient({ ...base, disableOfflineQueue: true }) as Client;
    this.#subscriber = createClient(base) as Client;
    for (const client of [this.#publisher, this.#subscriber]) {
      client.on("error", (error: unknown) => this.#report(error));
      client.on("ready", () => this.#onReady(client));
      // connect() resolves on the first connection and keeps reconnecting after; it only rejects once closed.
      client.connect().catch((error: unknown) => {
        if (!this.#closed) this.#report(error);
      });
    }
  }

  /** Both connections are up. */
  get connected(): boolean {
    return this.#publisher.isReady && this.#subscriber.isReady;
  }

  /** Resolves once both connections are up and every channel asked for is subscribed. */
  ready(): Promise<void> {
    if (this.#isReady()) return Promise.resolve();
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  /** Publishes on `channel` (prefixed). Rejects when Redis is unreachable. */
  async publish(channel: string, message: Uint8Array): Promise<void> {
    const bytes = Buffer.from(message.buffer, message.byteOffset, message.byteLength);
    await this.#publisher.publish(this.#prefix + channel, bytes);
  }

  /** Subscribes to `channel` (prefixed); resolves once Redis confirms, after a reconnection if it is down now. */
  subscribe(channel: string, listener: (message: Uint8Array) => void): Promise<void> {
    let subscription = this.#channels.get(channel);
    if (subscription === undefined) {
      subscription = { listener, confirmed: false, inFlight: false, waiters: [] };
      this.#channels.set(channel, subscription);
      this.#trySubscribe(channel, subscription);
    } else {
      subscription.listener = listener;
    }
    if (subscription.confirmed) return Promise.resolve();
    const pending = subscription;
    return new Promise((resolve) => pending.waiters.push(resolve));
  }

  /** Unsubscribes from `channel`. */
  async unsubscribe(channel: string): Promise<void> {
    const subscription = this.#channels.get(channel);
    if (subscription === undefined) return;
    this.#channels.delete(channel);
    for (const waiter of subscription.waiters.splice(0)) waiter();
    if (this.#closed) return;
    const done = this.#subscriber.unsubscribe(this.#prefix + channel).catch((error: unknown) => this.#report(error));
    // While Redis is down the command waits in the client's queue for the reconnection; do not wait with it.
    if (this.#subscriber.isReady) await done;
  }

  /** Closes both connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const subscription of this.#channels.values()) for (const waiter of subscription.waiters.splice(0)) waiter();
    for (const waiter of this.#readyWaiters.splice(0)) waiter();
    await Promise.all([this.#publisher, this.#subscriber].map(async (client) => {
      // A connection that is down has nothing to flush: drop it rather than wait for Redis.
      if (client.isReady) await client.close().catch(() => client.destroy());
      else if (client.isOpen) client.destroy();
    }));
  }

  #trySubscribe(channel: string, subscription: Subscription): void {
    if (this.#closed || subscription.inFlight || subscription.confirmed || !this.#subscriber.isReady) return;
    subscription.inFlight = true;
    const deliver = (message: Buffer) => this.#channels.get(channel)?.listener(message);
    this.#subscriber.subscribe(this.#prefix + channel, deliver, true).then(
      () => {
        subscription.inFlight = false;
        if (this.#channels.get(channel) !== subscription) return;
        subscription.confirmed = true;
        for (const waiter of subscription.waiters.splice(0)) waiter();
        this.#checkReady();
      },
      (error: unknown) => {
        subscription.inFlight = false;
        this.#report(error);
        // The connection dropped mid-subscribe: the next `ready` retries; if it is already back, retry now.
        if (this.#subscriber.isReady) setTimeout(() => this.#trySubscribe(channel, subscription), 100);
      },
    );
  }

  #onReady(client: Client): void {
    this.#failing = false;
    // The client itself re-subscribes confirmed channels before `ready`; subscribe what never got confirmed.
    if (client === this.#subscriber) for (const [channel, subscription] of this.#channels) this.#trySubscribe(channel, subscription);
    this.#checkReady();
  }

  #isReady(): boolean {
    if (this.#closed) return true;
    if (!this.connected) return false;
    for (const subscription of this.#channels.values()) if (!subscription.confirmed) return false;
    return true;
  }

  #checkReady(): void {
    if (!this.#isReady()) return;
    for (const waiter of this.#readyWaiters.splice(0)) waiter();
  }

  #report(error: unknown): void {
    const repeated = this.#failing;
    this.#failing = true;
    if (this.#onError !== undefined) this.#onError(error);
    else if (!repeated) console.error("uniws redis backplane: connection failure (reconnecting):", error);
  }
}
