/**
 * The broadcast hub: a registry of live sockets with named groups and fan-out, the
 * first-class home of the seed's background processor (a service that writes to
 * sockets it did not accept). Runtime-neutral; with a {@link Backplane} it reaches
 * the members of every server instance, without one it serves this process only.
 *
 * @module
 */
import { refuseDetached } from "./detached.ts";
import type { EngineTopics } from "./engine.ts";
import { WebSocketError } from "./errors.ts";
import { payloadLength } from "./metrics.ts";
import { guardOnError } from "./options.ts";
import type { UniWebSocket } from "./socket.ts";

/** A message the hub fans out: a string goes as text, bytes as binary. */
export type HubMessage = string | Uint8Array;

// What a fan-out sends, checked once before any member: a member's failed send is not reported (the hub waits on
// none), so another value was dropped for every member on one engine and sent as its string on Bun's publish.
function checkMessage(message: unknown, operation: string): void {
  if (typeof message !== "string" && !ArrayBuffer.isView(message) && !(message instanceof ArrayBuffer)) {
    throw new TypeError(`${operation} takes a string or bytes (a Uint8Array), got ${message === null ? "null" : typeof message}`);
  }
  refuseDetached(message, operation);
}

/**
 * What the hub does with a member whose send buffer is over `maxBufferedAmount`
 * when a message is due to it:
 * - `"close"`: close it with 1013 (Try Again Later) and remove it from the hub; a peer
 *   that still reads nothing is aborted after `closeTimeout`.
 * - `"drop"`: skip the message for that member only; it stays, and gets later messages
 *   once its buffer has drained (it sees a gap).
 */
export type SlowConsumerPolicy = "close" | "drop";

/**
 * A pub/sub transport between hub instances (one per server process). Delivery is
 * at most once and in order per publisher, as Redis pub/sub gives it: a message
 * published while the transport is down is lost, not queued.
 */
export interface Backplane {
  /** Publishes `message` to every subscriber of `channel` (this instance's own included). Rejects when it cannot. */
  publish(channel: string, message: Uint8Array): Promise<void>;
  /**
   * Delivers every message on `channel` to `listener` from now on, across reconnects.
   * Resolves once the subscription is in place; a transport that is down keeps the
   * request and resolves after it reconnects.
   */
  subscribe(channel: string, listener: (message: Uint8Array) => void): Promise<void>;
  /** Stops delivering `channel`. */
  unsubscribe(channel: string): Promise<void>;
}

/** Options of a {@link WebSocketHub}. */
export interface HubOptions {
  /**
   * Bytes a member may have queued and unsent before the hub applies `slowConsumer`.
   * Memory per member stays below this plus one message.
   * @default 1_048_576 (1 MiB)
   */
  readonly maxBufferedAmount?: number;
  /** What happens to a member over `maxBufferedAmount`. @default "close" */
  readonly slowConsumer?: SlowConsumerPolicy;
  /** Carries group messages, broadcasts and direct sends to the other instances. */
  readonly backplane?: Backplane;
  /** Hubs with the same name on a backplane form one hub. No `:` in it. @default "uniws" */
  readonly name?: string;
  /**
   * Receives backplane failures (a publish while Redis is down). Local members are
   * served regardless. What it throws itself goes to `console.error`, with the error it
   * was given. @default logs the first failure of each outage with console.error
   */
  readonly onError?: (error: unknown) => void;
  /**
   * Fan out through the engine's own pub/sub when it has one (Bun's topics) and every
   * local recipient shares it: one native publish instead of a send per member, with
   * the same `except` and slow-consumer semantics. `false` always loops over sends.
   * @default true
   */
  readonly nativeFanOut?: boolean;
}

/** Options of a group send or a broadcast. */
export interface FanOutOptions {
  /** Leave this member out (typically the sender), on every instance. */
  readonly except?: UniWebSocket | string;
}

interface Member {
  readonly id: string;
  readonly socket: UniWebSocket;
  readonly groups: Set<string>;
  /** The engine's native pub/sub for this socket, mirrored from the hub's membership when in use. */
  readonly topics: EngineTopics | undefined;
}

/** The envelope header a hub puts in front of the payload on the backplane. */
interface Envelope {
  /** Version. */
  v: 1;
  /** The publishing hub instance. */
  o: string;
  /** Kind: everyone, a group, one member. */
  k: "all" | "group" | "member";
  /** The group name or member id. */
  t?: string;
  /** Member to leave out. */
  x?: string;
  /** The payload is binary. */
  b?: 1;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NEWLINE = 0x0a;
/** 1013 Try Again Later (IANA WebSocket close code registry, RFC 6455 §7.4.2): the server is overloaded for this peer. */
const TRY_AGAIN_LATER = 1013;

// JSON never contains a raw newline, so the first one ends the header and the payload is carried byte for byte.
function encodeEnvelope(envelope: Envelope, payload: HubMessage): Uint8Array {
  const head = encoder.encode(JSON.stringify(envelope) + "\n");
  const body = typeof payload === "string" ? encoder.encode(payload) : payload;
  const frame = new Uint8Array(head.byteLength + body.byteLength);
  frame.set(head);
  frame.set(body, head.byteLength);
  return frame;
}

function decodeEnvelope(frame: Uint8Array): { envelope: Envelope; payload: HubMessage } | undefined {
  const end = frame.indexOf(NEWLINE);
  if (end === -1) return undefined;
  let envelope: Envelope;
  try {
    envelope = JSON.parse(decoder.decode(frame.subarray(0, end)));
  } catch {
    return undefined;
  }
  if (envelope?.v !== 1 || typeof envelope.o !== "string") return undefined;
  const body = frame.subarray(end + 1);
  return { envelope, payload: envelope.b === 1 ? body : decoder.decode(body) };
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function checkName(what: string, name: string): void {
  if (typeof name !== "string" || name.length === 0) throw new TypeError(`${what} must be a non-empty string`);
}

/**
 * A registry of live sockets with named groups: send to one member, to a group, or to
 * everyone, optionally leaving the sender out. A member leaves by itself when its
 * socket's `closed` settles. Each send is queued on every member at once; a member
 * whose buffer is over `maxBufferedAmount` gets the `slowConsumer` policy and never
 * holds up the others.
 *
 * The handler keeps the socket's pipeline alive as usual (loop on receive, or
 * `await socket.closed`): the hub does not own the connection, it only writes to it.
 *
 * @example
 * ```ts
 * const hub = new WebSocketHub();
 * const handler: WebSocketHandler = async (context) => {
 *   const socket = await context.accept();
 *   hub.add(socket, { groups: ["lobby"] });
 *   for await (const message of socket) hub.sendToGroup("lobby", message.data, { except: socket });
 * };
 * ```
 */
export class WebSocketHub {
  // Drawn on first use: a Worker forbids random values at module scope, where a hub is typically made.
  #instanceId: string | undefined;
  readonly #maxBufferedAmount: number;
  readonly #slowConsumer: SlowConsumerPolicy;
  readonly #backplane: Backplane | undefined;
  readonly #prefix: string;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #native: boolean;
  /** Starts this hub's native topic names: unique, so two hubs on one engine never share a topic. */
  #topicPrefix: string | undefined;
  /** Backplane subscriptions, by channel: settle when in place. */
  readonly #subscriptions = new Map<string, Promise<void>>();
  readonly #bySocket = new Map<UniWebSocket, Member>();
  readonly #byId = new Map<string, Member>();
  readonly #groups = new Map<string, Set<Member>>();
  #counter = 0;
  #failing = false;
  #closed = false;
  /** Settles when the instance's own channels are subscribed. */
  readonly #started: Promise<void>;

  /**
   * A hub; with a `backplane` it joins the hubs of the same `name` on other instances. Throws `RangeError` for a
   * negative or non-finite `maxBufferedAmount`, `TypeError` for any other invalid option (an unknown `slowConsumer`,
   * a `name` with `:`, an `onError` that is not a function, a `backplane` without its three methods).
   */
  constructor(options: HubOptions = {}) {
    const max = options.maxBufferedAmount ?? 1024 * 1024;
    if (!Number.isFinite(max) || max < 0) throw new RangeError("maxBufferedAmount must be a non-negative number of bytes");
    const policy = options.slowConsumer ?? "close";
    if (policy !== "close" && policy !== "drop") throw new TypeError(`slowConsumer must be 'close' or 'drop', got '${String(policy)}'`);
    const name = options.name ?? "uniws";
    checkName("name", name);
    // The name starts every channel, up to a colon: one in it could make two hubs' channels meet.
    if (name.includes(":")) throw new TypeError("name must not contain ':'");
    // Checked here rather than when first used: a backplane failure or a fan-out may come long after.
    if (options.onError !== undefined && typeof options.onError !== "function") throw new TypeError(`onError must be a function, got ${typeof options.onError}`);
    const backplane = options.backplane as Partial<Backplane> | undefined;
    if (backplane !== undefined && (typeof backplane?.publish !== "function" || typeof backplane.subscribe !== "function" || typeof backplane.unsubscribe !== "function")) {
      throw new TypeError("backplane must have publish, subscribe and unsubscribe methods");
    }
    if (options.nativeFanOut !== undefined && typeof options.nativeFanOut !== "boolean") throw new TypeError(`nativeFanOut must be a boolean, got ${typeof options.nativeFanOut}`);
    this.#maxBufferedAmount = max;
    this.#slowConsumer = policy;
    this.#backplane = options.backplane;
    this.#prefix = `${name}:`;
    // Guarded as the server's is: reported from a promise reaction, what it throws would end a Node process.
    this.#onError = options.onError === undefined ? undefined : guardOnError(options.onError, "uniws hub");
    this.#native = options.nativeFanOut ?? true;
    this.#started = this.#backplane === undefined ? Promise.resolve() : Promise.all([
      this.#subscribe(this.#allChannel()),
      this.#subscribe(this.#memberChannel(this.instanceId)),
    ]).then(() => {});
  }

  /** This instance's id on the backplane; member ids start with it. */
  get instanceId(): string {
    return (this.#instanceId ??= randomId());
  }

  /** Members on this instance. */
  get size(): number {
    return this.#bySocket.size;
  }

  /**
   * Resolves when the backplane subscriptions made so far (this instance's own
   * channels and every group joined) are in place: from then on, messages other
   * instances publish reach these members.
   */
  async ready(): Promise<void> {
    await this.#started;
    // Without a backplane every member is reachable at once: nothing to wait for.
    if (this.#backplane === undefined) return;
    await Promise.all([...this.#groups.keys()].map((group) => this.#subscribe(this.#groupChannel(group))));
  }

  /**
   * Adds a socket and returns its member id (unique across instances). The member
   * leaves every group by itself when the socket's `closed` settles. Adding a socket
   * twice returns the same id. Throws a `TypeError`, before anything changes, when
   * `groups` is not an array of non-empty strings.
   */
  add(socket: UniWebSocket, options: { groups?: readonly string[] } = {}): string {
    if (this.#closed) throw new WebSocketError("INVALID_STATE", "The hub is closed");
    // Checked before anything changes: a bad name after good ones left the socket added and in the first groups.
    const groups = options.groups ?? [];
    if (!Array.isArray(groups)) throw new TypeError(`groups must be an array of group names, got ${typeof groups}`);
    for (const group of groups) checkName("group", group);
    let member = this.#bySocket.get(socket);
    if (member === undefined) {
      if (socket.state !== "open") throw new WebSocketError("INVALID_STATE", `Cannot add a socket in state '${socket.state}'`);
      // Fail now rather than at every later send from another request (docs/cloudflare.md).
      if (socket.capabilities.requestScopedIo === true) {
        throw new WebSocketError(
          "REQUEST_SCOPED_IO",
          "A hub writes to sockets from other requests, which a plain Cloudflare Worker forbids: run the hub in a Durable Object (@uniws/cloudflare)",
        );
      }
      const topics = this.#native ? socket.engineTopics : undefined;
      member = { id: `${this.instanceId}.${++this.#counter}`, socket, groups: new Set(), topics };
      topics?.subscribe(this.#topic(undefined));
      this.#bySocket.set(socket, member);
      this.#byId.set(member.id, member);
      void socket.closed.then(() => this.remove(socket));
    }
    for (const group of groups) void this.join(socket, group);
    return member.id;
  }

  /** Removes a member from the hub and its groups (the socket stays open). Returns whether it was a member. */
  remove(member: UniWebSocket | string): boolean {
    const found = this.#find(member);
    if (found === undefined) return false;
    for (const group of [...found.groups]) this.#leave(found, group);
    found.topics?.unsubscribe(this.#topic(undefined));
    this.#bySocket.delete(found.socket);
    this.#byId.delete(found.id);
    return true;
  }

  /** The member id of a socket on this instance. */
  idOf(socket: UniWebSocket): string | undefined {
    return this.#bySocket.get(socket)?.id;
  }

  /**
   * Puts a member in a group: local group sends reach it at once. Resolves once the
   * group's backplane subscription is in place (at once without a backplane). Awaiting
   * it is optional — and while the backplane is down it waits for the reconnection, so
   * a handler should not hold up serving the socket on it.
   */
  join(member: UniWebSocket | string, group: string): Promise<void> {
    checkName("group", group);
    const found = this.#memberOrThrow(member);
    if (!found.groups.has(group)) {
      found.groups.add(group);
      found.topics?.subscribe(this.#topic(group), group);
      let members = this.#groups.get(group);
      if (members === undefined) this.#groups.set(group, (members = new Set()));
      members.add(found);
    }
    return this.#backplane === undefined ? Promise.resolve() : this.#subscribe(this.#groupChannel(group));
  }

  /** Takes a member out of a group. */
  leave(member: UniWebSocket | string, group: string): void {
    const found = this.#find(member);
    if (found !== undefined) this.#leave(found, group);
  }

  /** The groups a member of this instance is in. */
  groupsOf(member: UniWebSocket | string): string[] {
    return [...(this.#find(member)?.groups ?? [])];
  }

  /** The sockets of this instance in `group`, or every member of this instance. */
  members(group?: string): UniWebSocket[] {
    const members = group === undefined ? this.#bySocket.values() : (this.#groups.get(group) ?? []).values();
    return Array.from(members, (member) => member.socket);
  }

  /**
   * Sends to one member, on this instance or (by id, through the backplane) on another.
   * Throws a `TypeError` for a message that is neither a string nor bytes, or for bytes on a detached
   * `ArrayBuffer` (nothing is sent).
   */
  sendTo(member: UniWebSocket | string, message: HubMessage): void {
    checkMessage(message, "sendTo()");
    const found = this.#find(member);
    if (found !== undefined) {
      this.#deliver(found, message);
      return;
    }
    if (typeof member !== "string" || this.#backplane === undefined) return;
    const instance = member.slice(0, member.lastIndexOf("."));
    if (instance === this.instanceId || instance.length === 0) return;
    this.#publish(this.#memberChannel(instance), { v: 1, o: this.instanceId, k: "member", t: member }, message);
  }

  /**
   * Sends to every member of `group` on every instance. Throws a `TypeError` for a message
   * that is neither a string nor bytes, or for bytes on a detached `ArrayBuffer` (nothing is sent).
   */
  sendToGroup(group: string, message: HubMessage, options: FanOutOptions = {}): void {
    checkName("group", group);
    checkMessage(message, "sendToGroup()");
    const except = this.#exceptId(options.except);
    this.#fanOut(this.#groups.get(group), message, except, group);
    if (this.#backplane !== undefined) {
      this.#publish(this.#groupChannel(group), this.#envelope("group", group, except, message), message);
    }
  }

  /**
   * Sends to every member on every instance. Throws a `TypeError` for a message that is
   * neither a string nor bytes, or for bytes on a detached `ArrayBuffer` (nothing is sent).
   */
  broadcast(message: HubMessage, options: FanOutOptions = {}): void {
    checkMessage(message, "broadcast()");
    const except = this.#exceptId(options.except);
    this.#fanOut(this.#bySocket.values(), message, except, undefined);
    if (this.#backplane !== undefined) {
      this.#publish(this.#allChannel(), this.#envelope("all", undefined, except, message), message);
    }
  }

  /**
   * Stops the hub: its backplane subscriptions end and it takes no new members.
   * Sockets are left open (the handlers own them).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const groups = [...this.#groups.keys()];
    for (const member of [...this.#bySocket.values()]) this.remove(member.id);
    const backplane = this.#backplane;
    if (backplane === undefined) return;
    const channels = [this.#allChannel(), this.#memberChannel(this.instanceId), ...groups.map((group) => this.#groupChannel(group))];
    this.#subscriptions.clear();
    await Promise.all(channels.map((channel) => backplane.unsubscribe(channel).catch(() => {})));
  }

  // ---- local delivery ----

  /** `group` undefined: every member (the hub's "all" topic). */
  #fanOut(members: Iterable<Member> | undefined, message: HubMessage, except: string | undefined, group: string | undefined): void {
    if (members === undefined) return;
    // A copy: the slow-consumer policy may remove members while we iterate.
    const list = [...members];
    if (this.#native && this.#publishNatively(list, message, except, group)) return;
    for (const member of list) if (member.id !== except) this.#deliver(member, message);
  }

  /** Whether `member` may get a message now; applies the slow-consumer policy when it may not. */
  #admit(member: Member): boolean {
    const socket = member.socket;
    const state = socket.state;
    if (state !== "open" && state !== "closeReceived") return false;
    if (socket.bufferedAmount <= this.#maxBufferedAmount) return true;
    if (this.#slowConsumer === "close") {
      this.remove(member.id);
      socket.shutdown(TRY_AGAIN_LATER, "Slow consumer").catch(() => {});
    }
    return false;
  }

  #deliver(member: Member, message: HubMessage): void {
    // Not awaited: the hub never waits on one member. The promise only reports the buffer.
    // A message of its own: held until a message the handler is sending in parts has ended, never joined to it.
    if (this.#admit(member)) member.socket.sendApart(message).catch(() => {});
  }

  /**
   * One native publish to the topic mirroring `members`, when every one of them shares
   * one engine pub/sub domain. The same semantics as a loop of sends: each member is
   * admitted first (a closed slow consumer is unsubscribed by `remove`), and those
   * left out (`except`, dropped) are unsubscribed around the publish, which queues
   * synchronously. Returns false when the loop must do it.
   */
  #publishNatively(members: Member[], message: HubMessage, except: string | undefined, group: string | undefined): boolean {
    if (members.length < 2) return false;
    const topics = members[0]!.topics;
    if (topics === undefined) return false;
    for (const member of members) if (member.topics?.domain !== topics.domain) return false;
    const topic = this.#topic(group);
    const left: EngineTopics[] = [];
    // Members whose handler is sending a message in parts get this one after it, as the loop of sends does.
    const apart: Member[] = [];
    // Each recipient's server counts the message as if it had been sent to it (stats and metrics).
    const binary = typeof message !== "string";
    const bytes = payloadLength(message);
    for (const member of members) {
      if (member.id === except || !this.#admit(member)) {
        // A removed member is no longer subscribed; the others come back after the publish.
        if (this.#byId.has(member.id)) left.push(member.topics!);
      } else if (member.socket.sendingInParts) {
        left.push(member.topics!);
        apart.push(member);
      } else member.socket.countPublished(binary, bytes);
    }
    for (const out of left) out.unsubscribe(topic);
    topics.publish(topic, message);
    for (const out of left) out.subscribe(topic);
    for (const member of apart) member.socket.sendApart(message).catch(() => {});
    return true;
  }

  #topic(group: string | undefined): string {
    const prefix = (this.#topicPrefix ??= `uniws-hub:${this.instanceId}:`);
    return group === undefined ? `${prefix}all` : `${prefix}group:${group}`;
  }

  // ---- membership ----

  #find(member: UniWebSocket | string): Member | undefined {
    return typeof member === "string" ? this.#byId.get(member) : this.#bySocket.get(member);
  }

  #memberOrThrow(member: UniWebSocket | string): Member {
    const found = this.#find(member);
    if (found === undefined) throw new WebSocketError("INVALID_STATE", "Not a member of this hub: add the socket first");
    return found;
  }

  #leave(member: Member, group: string): void {
    if (!member.groups.delete(group)) return;
    member.topics?.unsubscribe(this.#topic(group), group);
    const members = this.#groups.get(group)!;
    members.delete(member);
    if (members.size > 0) return;
    this.#groups.delete(group);
    if (this.#backplane === undefined) return;
    const channel = this.#groupChannel(group);
    this.#subscriptions.delete(channel);
    this.#backplane.unsubscribe(channel).catch((error) => this.#report(error));
  }

  #exceptId(except: UniWebSocket | string | undefined): string | undefined {
    if (except === undefined || typeof except === "string") return except;
    return this.#bySocket.get(except)?.id;
  }

  // ---- backplane ----

  #allChannel(): string {
    return `${this.#prefix}all`;
  }

  #groupChannel(group: string): string {
    return `${this.#prefix}group:${group}`;
  }

  #memberChannel(instance: string): string {
    return `${this.#prefix}instance:${instance}`;
  }

  #envelope(kind: "all" | "group", group: string | undefined, except: string | undefined, message: HubMessage): Envelope {
    const envelope: Envelope = { v: 1, o: this.instanceId, k: kind };
    if (group !== undefined) envelope.t = group;
    if (except !== undefined) envelope.x = except;
    if (typeof message !== "string") envelope.b = 1;
    return envelope;
  }

  #subscribe(channel: string): Promise<void> {
    let subscription = this.#subscriptions.get(channel);
    if (subscription === undefined) {
      subscription = this.#backplane!.subscribe(channel, (frame) => this.#received(frame)).catch((error) => this.#report(error));
      this.#subscriptions.set(channel, subscription);
    }
    return subscription;
  }

  #publish(channel: string, envelope: Envelope, message: HubMessage): void {
    if (typeof message !== "string") envelope.b = 1;
    this.#backplane!.publish(channel, encodeEnvelope(envelope, message)).then(
      () => (this.#failing = false),
      (error) => this.#report(error),
    );
  }

  #received(frame: Uint8Array): void {
    const decoded = decodeEnvelope(frame);
    // Our own publications come back from the backplane; local members already have them.
    if (decoded === undefined || decoded.envelope.o === this.instanceId || this.#closed) return;
    const { envelope, payload } = decoded;
    switch (envelope.k) {
      case "all":
        this.#fanOut(this.#bySocket.values(), payload, envelope.x, undefined);
        break;
      case "group":
        if (envelope.t !== undefined) this.#fanOut(this.#groups.get(envelope.t), payload, envelope.x, envelope.t);
        break;
      case "member": {
        const member = envelope.t === undefined ? undefined : this.#byId.get(envelope.t);
        if (member !== undefined) this.#deliver(member, payload);
        break;
      }
    }
  }

  #report(error: unknown): void {
    const repeated = this.#failing;
    this.#failing = true;
    if (this.#onError !== undefined) this.#onError(error);
    else if (!repeated) console.error("uniws hub: backplane failure (local members are still served):", error);
  }
}
