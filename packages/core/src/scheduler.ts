/**
 * One timer structure for every socket of a server. 50,000 idle sockets each need
 * a keep-alive deadline; giving each its own runtime timer costs memory and timer
 * churn on every message. Instead deadlines are rounded up into buckets of
 * `resolution` ms, kept in a min-heap of bucket times, with a single runtime timer
 * armed for the earliest bucket.
 *
 * Tasks are lazy: traffic only updates numbers on the task; when its bucket comes
 * due the task computes its real next deadline and is re-filed. So a busy socket
 * costs nothing per message.
 *
 * @module
 */
import { MAX_TIMER_DELAY } from "./options.ts";

/** Something with deadlines. */
export interface ScheduledTask {
  /**
   * Called at (or just after) the deadline the task was filed for. Returns the
   * next deadline (same clock as `now`), or `undefined` when it needs no more calls.
   */
  onDue(now: number): number | undefined;
  /**
   * The bucket the task is filed in (`undefined` when it is not), written by the
   * scheduler: kept on the task rather than in a map of the scheduler's, which would
   * cost every socket an entry. A task is filed on one scheduler at a time.
   */
  scheduledBucket?: number | undefined;
}

// Read once: on Node the global `performance` is a lazily loading accessor, a call on every read.
const clock = globalThis.performance;

/**
 * The monotonic clock the scheduler runs on, in whole milliseconds: the times each
 * socket stamps then fit V8's small integers, which a field holds unboxed (a
 * fractional time costs a 16-byte box per field per socket).
 */
export const now: () => number = () => Math.floor(clock.now());

/**
 * Lets `timer` fire without keeping the process alive for it: `unref()` on Node's and
 * Bun's timer objects, `Deno.unrefTimer` for Deno's numeric ids; elsewhere nothing.
 */
export function unrefTimer(timer: ReturnType<typeof setTimeout>): void {
  (timer as { unref?: () => void }).unref?.();
  const deno = (globalThis as { Deno?: { unrefTimer?: (id: number) => void } }).Deno;
  if (typeof timer === "number") deno?.unrefTimer?.(timer);
}

// The tasks filed for one bucket time, in filing order: a list rather than a set, which costs several times the
// memory per socket (a hash table's slots). A task moved to an earlier bucket or cancelled is left in place and
// skipped when the bucket runs (its `scheduledBucket` names another bucket by then); `live` counts the tasks still
// filed here, and the list is compacted when most of it is such leftovers, so it never holds many ended sockets.
interface Bucket {
  tasks: ScheduledTask[];
  live: number;
}

// A list shorter than this is never compacted: its leftovers are few, and go when the bucket runs.
const COMPACT_FROM = 64;

/** A min-heap of deadline buckets with one runtime timer. */
export class Scheduler {
  readonly #resolution: number;
  readonly #onError: (error: unknown) => void;
  readonly #buckets = new Map<number, Bucket>();
  readonly #heap: number[] = [];
  #size = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;

  /**
   * @param resolution how far a deadline may be rounded up, in ms
   * @param onError receives what a task throws; the other tasks still run
   */
  constructor(resolution: number, onError: (error: unknown) => void) {
    this.#resolution = resolution;
    this.#onError = onError;
  }

  /** How many tasks are filed. */
  get size(): number {
    return this.#size;
  }

  /**
   * Files `task` for `deadline`. A task already filed for a later bucket is moved
   * earlier; one filed earlier stays (it re-files itself when called).
   */
  schedule(task: ScheduledTask, deadline: number): void {
    const bucket = Math.ceil(deadline / this.#resolution) * this.#resolution;
    const current = task.scheduledBucket;
    if (current !== undefined) {
      if (current <= bucket) return;
      this.#leave(current);
    } else {
      this.#size++;
    }
    task.scheduledBucket = bucket;
    let entry = this.#buckets.get(bucket);
    if (entry === undefined) {
      entry = { tasks: [], live: 0 };
      this.#buckets.set(bucket, entry);
      this.#push(bucket);
    }
    entry.tasks.push(task);
    entry.live++;
    if (bucket < this.#timerAt) this.#arm(bucket);
  }

  /** Removes `task`; it will not be called again. */
  cancel(task: ScheduledTask): void {
    const bucket = task.scheduledBucket;
    if (bucket === undefined) return;
    task.scheduledBucket = undefined;
    this.#size--;
    this.#leave(bucket);
  }

  /** Drops every task and the runtime timer. */
  clear(): void {
    for (const [bucket, entry] of this.#buckets) {
      for (const task of entry.tasks) if (task.scheduledBucket === bucket) task.scheduledBucket = undefined;
    }
    this.#buckets.clear();
    this.#size = 0;
    this.#heap.length = 0;
    this.#disarm();
  }

  // A task filed for `bucket` was moved or cancelled (its `scheduledBucket` already says so).
  #leave(bucket: number): void {
    const entry = this.#buckets.get(bucket);
    if (entry === undefined) return;
    // The heap keeps the bucket's time; #run skips a time with no bucket.
    if (--entry.live === 0) this.#buckets.delete(bucket);
    else if (entry.tasks.length >= COMPACT_FROM && entry.live * 2 < entry.tasks.length) {
      entry.tasks = entry.tasks.filter((task) => task.scheduledBucket === bucket);
    }
  }

  #arm(at: number): void {
    this.#disarm();
    this.#timerAt = at;
    // Never past the longest delay a timer holds (a bucket rounds a deadline up by up to the resolution): one that
    // fires early finds nothing due and arms again.
    this.#timer = setTimeout(() => this.#run(), Math.min(Math.max(0, at - now()), MAX_TIMER_DELAY));
    // A pending keep-alive must not keep a process alive once its server is gone.
    unrefTimer(this.#timer);
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  #run(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const time = now();
    while (this.#heap.length > 0 && this.#heap[0]! <= time) {
      const bucket = this.#pop();
      const entry = this.#buckets.get(bucket);
      if (entry === undefined) continue;
      this.#buckets.delete(bucket);
      for (const task of entry.tasks) {
        // A leftover of a task moved or cancelled (or its second entry, filed again after a move): not filed here.
        if (task.scheduledBucket !== bucket) continue;
        task.scheduledBucket = undefined;
        this.#size--;
        let next: number | undefined;
        try {
          next = task.onDue(time);
        } catch (error) {
          this.#onError(error);
        }
        if (next !== undefined) this.schedule(task, Math.max(next, time + 1));
      }
    }
    if (this.#heap.length > 0) this.#arm(this.#heap[0]!);
  }

  #push(value: number): void {
    const heap = this.#heap;
    heap.push(value);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]! <= value) break;
      heap[i] = heap[parent]!;
      i = parent;
    }
    heap[i] = value;
  }

  #pop(): number {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= heap.length) break;
        const right = left + 1;
        const child = right < heap.length && heap[right]! < heap[left]! ? right : left;
        if (heap[child]! >= last) break;
        heap[i] = heap[child]!;
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}
