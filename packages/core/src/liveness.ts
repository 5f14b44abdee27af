/**
 * The deadlines of one socket: keep-alive (the seed's KeepAliveInterval and
 * KeepAliveTimeout), the application idle timeout, and the close-handshake timeout.
 * Traffic only stamps times here; the shared {@link Scheduler} calls `onDue` when
 * the earliest deadline may have passed, and the subclass (the socket's events
 * object) is told what to do: one object per socket, not a bookkeeper and a listener.
 *
 * @module
 */
import { now, type ScheduledTask, type Scheduler } from "./scheduler.ts";

/** The deadlines that apply to one socket, in ms (0 = off), and the timer they are filed on. */
export interface LivenessSettings {
  readonly keepAliveInterval: number;
  readonly keepAliveTimeout: number;
  readonly idleTimeout: number;
  readonly closeTimeout: number;
  readonly scheduler: Scheduler;
}

/** What the socket does when a deadline passes. */
export interface LivenessActions {
  /** Send a keep-alive Ping (an answer is expected). */
  ping(): void;
  /** Send an unsolicited Pong (keep-alive without timeout: no answer expected, RFC 6455 §5.5.3). */
  heartbeat(): void;
  /** No data message within the idle timeout. */
  idle(): void;
  /** The peer did not answer a Ping, or did not finish the close handshake, in time. */
  expired(what: "keep-alive" | "close"): void;
}

const NEVER = Infinity;
// A Ping not sent, a close not started: a small integer, so the fields stay unboxed (see `now`).
const UNSET = -1;
// The close started field once the socket has ended: no more deadlines (a field of its own would cost every socket).
const STOPPED = -2;

/** Deadline bookkeeping for one socket; the subclass does what a passed deadline asks ({@link LivenessActions}). */
export abstract class Liveness implements ScheduledTask, LivenessActions {
  /** @internal The scheduler's note of where this task is filed ({@link ScheduledTask.scheduledBucket}). */
  scheduledBucket: number | undefined = undefined;
  // The later of the last frame from the peer and the last keep-alive frame sent: the keep-alive interval runs from it.
  #quietSince = 0;
  #lastMessage = 0;
  #pingSentAt = UNSET;
  #closeStartedAt = UNSET;

  /**
   * The deadlines' settings, often shared by every socket of a server: the subclass answers from what it keeps
   * anyway, so they cost no field here (the scheduler comes from them too).
   */
  protected abstract get settings(): LivenessSettings;

  abstract ping(): void;
  abstract heartbeat(): void;
  abstract idle(): void;
  abstract expired(what: "keep-alive" | "close"): void;

  /** Starts the clocks (when the socket opens) at `time` (ms, the scheduler's clock). */
  start(time: number = now()): void {
    this.#quietSince = this.#lastMessage = time;
    Liveness.#file(this, time);
  }

  /** Any frame from the peer: it is alive. A data message also resets the idle clock. */
  inbound(isMessage: boolean): void {
    const time = now();
    this.#quietSince = time;
    if (isMessage) this.#lastMessage = time;
    if (this.#pingSentAt !== UNSET) {
      // The Ping is answered: the next heartbeat is due an interval from now, which may come before the
      // Pong deadline the socket is filed for (keepAliveTimeout > keepAliveInterval). Only here, once per Ping:
      // other traffic only pushes deadlines later, and a task filed too early re-files itself.
      this.#pingSentAt = UNSET;
      if (this.#closeStartedAt === UNSET) Liveness.#file(this, time);
    }
  }

  /** The close handshake started: the peer has `closeTimeout` to finish it. */
  closing(): void {
    if (this.#closeStartedAt !== UNSET) return;
    this.#closeStartedAt = now();
    const { closeTimeout, scheduler } = this.settings;
    if (closeTimeout > 0) scheduler.schedule(this, this.#closeStartedAt + closeTimeout);
  }

  /** The socket ended; no more calls. */
  stop(): void {
    this.#closeStartedAt = STOPPED;
    this.settings.scheduler.cancel(this);
  }

  /** Called by the scheduler ({@link ScheduledTask}): runs the due checks and returns the next deadline. */
  onDue(time: number): number | undefined {
    if (this.#closeStartedAt === STOPPED) return undefined;
    const { keepAliveInterval, keepAliveTimeout, idleTimeout, closeTimeout } = this.settings;
    if (this.#closeStartedAt !== UNSET) {
      // Once closing, only the close timeout matters.
      if (closeTimeout > 0 && time >= this.#closeStartedAt + closeTimeout) {
        this.stop();
        this.expired("close");
        return undefined;
      }
      return closeTimeout > 0 ? this.#closeStartedAt + closeTimeout : undefined;
    }
    if (keepAliveTimeout > 0 && this.#pingSentAt !== UNSET && time >= this.#pingSentAt + keepAliveTimeout) {
      this.stop();
      this.expired("keep-alive");
      return undefined;
    }
    if (idleTimeout > 0 && time >= this.#lastMessage + idleTimeout) {
      this.idle(); // starts the close handshake, which calls closing()
      return this.#closeStartedAt >= 0 && closeTimeout > 0 ? this.#closeStartedAt + closeTimeout : undefined;
    }
    if (keepAliveInterval > 0 && this.#pingSentAt === UNSET) {
      if (time >= this.#quietSince + keepAliveInterval) {
        // Never earlier than a frame the peer sent (the scheduler's time was read before this task ran).
        this.#quietSince = Math.max(this.#quietSince, time);
        if (keepAliveTimeout > 0) {
          this.#pingSentAt = time;
          this.ping();
        } else {
          this.heartbeat();
        }
      }
    }
    const next = Liveness.#next(this);
    return next === NEVER ? undefined : next;
  }

  // Static: a private instance method would cost every socket a slot (V8 brands each instance of such a class).
  static #file(task: Liveness, time: number): void {
    const next = Liveness.#next(task);
    if (next !== NEVER) task.settings.scheduler.schedule(task, Math.max(next, time));
  }

  static #next(task: Liveness): number {
    const { keepAliveInterval, keepAliveTimeout, idleTimeout } = task.settings;
    let next = NEVER;
    if (idleTimeout > 0) next = task.#lastMessage + idleTimeout;
    if (keepAliveInterval > 0) {
      const due = task.#pingSentAt !== UNSET
        ? task.#pingSentAt + keepAliveTimeout
        : task.#quietSince + keepAliveInterval;
      if (due < next) next = due;
    }
    return next;
  }
}
