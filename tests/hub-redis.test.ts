/**
 * Hubs on two server instances behind a real redis-server: group messages, broadcasts and
 * direct sends cross instances, in order per publisher; Redis going away and coming back.
 * The instances here share a process but nothing else (each has its own server, hub and
 * Redis connections); tests/node/chat.test.ts runs them as separate processes on mixed runtimes.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { type UniWebSocket, WebSocketHub } from "@uniws/core";
import { RedisBackplane } from "@uniws/redis";
import { delay } from "./support/accepted.ts";
import { RawClient } from "./support/raw-client.ts";
import { RedisServer } from "./support/redis.ts";
import { closeServers, startServer } from "./support/runtime.ts";

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
}, 30_000);
afterAll(async () => {
  await redis?.stop();
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  await closeServers();
});

/** Bounds a wait that has no timeout of its own. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

async function receivesWithin(client: RawClient, ms: number): Promise<boolean> {
  try {
    await client.readMessage(ms);
    return true;
  } catch (error) {
    if ((error as Error).message.includes("timed out")) return false;
    throw error;
  }
}

interface Instance {
  hub: WebSocketHub;
  backplane: RedisBackplane;
  errors: unknown[];
  /** Connects a raw client; the server adds it to the hub and to `groups`, and resolves with its socket. */
  connect(groups?: string[]): Promise<{ client: RawClient; socket: UniWebSocket; id: string }>;
}

/** One server instance: its own server, hub and backplane connections. */
async function instance(hubName: string, url = redis.url): Promise<Instance> {
  const errors: unknown[] = [];
  const backplane = new RedisBackplane({ url, onError: (error) => errors.push(error), maxReconnectDelay: 200 });
  const hub = new WebSocketHub({ backplane, name: hubName, onError: (error) => errors.push(error) });
  cleanups.push(async () => {
    await hub.close();
    await backplane.close();
  });
  const pending = new Map<string, (socket: UniWebSocket) => void>();
  const server = await startServer(async (context) => {
    const socket = await context.accept();
    hub.add(socket);
    // Not awaited: while Redis is down, a join's backplane subscription waits for the reconnection.
    for (const group of context.url.searchParams.getAll("group")) void hub.join(socket, group);
    pending.get(context.url.searchParams.get("tag")!)?.(socket);
    await socket.closed;
  });
  let tags = 0;
  return {
    hub,
    backplane,
    errors,
    connect: async (groups = []) => {
      const tag = String(++tags);
      const accepted = new Promise<UniWebSocket>((resolve) => pending.set(tag, resolve));
      const query = new URLSearchParams([["tag", tag], ...groups.map((group) => ["group", group])]);
      const { client } = await RawClient.open(server.port, `/ws?${query}`);
      cleanups.push(async () => client.destroy());
      const socket = await within(accepted, 5000, "the server to accept");
      return { client, socket, id: hub.idOf(socket)! };
    },
  };
}

let hubs = 0;
/** Two instances of one hub (a name of their own, so tests never hear each other). */
async function pair(): Promise<[Instance, Instance]> {
  const name = `test-${Date.now()}-${++hubs}`;
  const one = await instance(name);
  const two = await instance(name);
  await within(Promise.all([one.hub.ready(), two.hub.ready()]), 10_000, "the backplane");
  return [one, two];
}

describe("hub across instances through Redis", () => {
  test("GroupMessage_ReachesMembersOnEveryInstance_ExceptTheSender", async () => {
    const [one, two] = await pair();
    const a = await one.connect(["room"]);
    const b = await two.connect(["room"]);
    const outsider = await two.connect();
    await within(Promise.all([one.hub.ready(), two.hub.ready()]), 10_000, "the group subscriptions");
    one.hub.sendToGroup("room", "from a", { except: a.socket });
    expect(await b.client.readText()).toBe("from a");
    two.hub.sendToGroup("room", "to the room");
    expect(await a.client.readText()).toBe("to the room");
    expect(await b.client.readText()).toBe("to the room");
    expect(await receivesWithin(a.client, 300)).toBe(false);
    expect(await receivesWithin(outsider.client, 300)).toBe(false);
  });

  test("Broadcast_ReachesEveryoneEverywhere_ExceptByIdAcrossInstances", async () => {
    const [one, two] = await pair();
    const a = await one.connect();
    const b = await two.connect();
    const c = await two.connect();
    one.hub.broadcast(new Uint8Array([7, 8, 9]));
    for (const peer of [a, b, c]) expect([...(await peer.client.readMessage()).data]).toEqual([7, 8, 9]);
    // The id of a member on instance two, excluded by a broadcast from instance one.
    one.hub.broadcast("not for b", { except: b.id });
    expect(await a.client.readText()).toBe("not for b");
    expect(await c.client.readText()).toBe("not for b");
    expect(await receivesWithin(b.client, 300)).toBe(false);
  });

  test("SendTo_MemberOnAnotherInstanceById", async () => {
    const [one, two] = await pair();
    const a = await one.connect();
    const b = await two.connect();
    one.hub.sendTo(b.id, "direct to b");
    expect(await b.client.readText()).toBe("direct to b");
    expect(await receivesWithin(a.client, 300)).toBe(false);
  });

  test("ManyMessages_InOrderPerPublisher_FromTwoPublishersAtOnce", async () => {
    const [one, two] = await pair();
    const a = await one.connect(["room"]);
    const b = await two.connect(["room"]);
    await within(Promise.all([one.hub.ready(), two.hub.ready()]), 10_000, "the group subscriptions");
    const count = 300;
    for (let i = 0; i < count; i++) {
      one.hub.sendToGroup("room", `one:${i}`);
      two.hub.sendToGroup("room", `two:${i}`);
    }
    for (const peer of [a, b]) {
      const next = { one: 0, two: 0 };
      for (let i = 0; i < 2 * count; i++) {
        const [from, n] = (await peer.client.readText(10_000)).split(":") as ["one" | "two", string];
        expect(Number(n)).toBe(next[from]++);
      }
      expect(next).toEqual({ one: count, two: count });
    }
  });

  test("LeavingTheLastLocalMember_StopsTheGroupOnThatInstance", async () => {
    const [one, two] = await pair();
    const a = await one.connect(["room"]);
    const b = await two.connect(["room"]);
    await within(Promise.all([one.hub.ready(), two.hub.ready()]), 10_000, "the group subscriptions");
    two.hub.leave(b.socket, "room");
    one.hub.sendToGroup("room", "only a");
    expect(await a.client.readText()).toBe("only a");
    expect(await receivesWithin(b.client, 300)).toBe(false);
  });
});

describe("hub when Redis is unavailable", () => {
  test("RedisRestart_LocalMembersServedMeanwhile_BackplaneReconnectsAndDeliversAgain", async () => {
    const [one, two] = await pair();
    const a = await one.connect(["room"]);
    const b = await two.connect(["room"]);
    await within(Promise.all([one.hub.ready(), two.hub.ready()]), 10_000, "the group subscriptions");
    one.hub.sendToGroup("room", "before");
    expect(await b.client.readText()).toBe("before");
    expect(await a.client.readText()).toBe("before");

    await redis.stop();
    await until(() => !one.backplane.connected && !two.backplane.connected, 10_000, "the backplanes to notice");
    // Local members keep being served, and new sockets are accepted, joined and served.
    const late = await one.connect(["room"]);
    const elsewhere = await two.connect(["other"]);
    one.hub.sendToGroup("room", "during the outage");
    expect(await a.client.readText()).toBe("during the outage");
    expect(await late.client.readText()).toBe("during the outage");
    await until(() => one.errors.length > 0, 5000, "the publish failure to be reported");
    // Lost for the other instance: Redis pub/sub does not queue.
    expect(await receivesWithin(b.client, 300)).toBe(false);

    await redis.restart();
    await within(Promise.all([one.backplane.ready(), two.backplane.ready()]), 15_000, "the backplanes to reconnect");
    await within(Promise.all([one.hub.ready(), two.hub.ready()]), 15_000, "the subscriptions to come back");
    one.hub.sendToGroup("room", "after");
    expect(await b.client.readText(10_000)).toBe("after");
    expect(await a.client.readText()).toBe("after");
    expect(await late.client.readText()).toBe("after");
    // A group first joined during the outage was subscribed once Redis came back.
    one.hub.sendToGroup("other", "to the other group");
    expect(await elsewhere.client.readText(10_000)).toBe("to the other group");
  }, 60_000);

  test("RedisUnreachableFromTheStart_LocalMembersServed_FailureReported", async () => {
    // Nothing listens on the port of a stopped throwaway server.
    const gone = await RedisServer.start();
    await gone.stop();
    const lonely = await instance(`test-unreachable-${Date.now()}`, gone.url);
    const a = await lonely.connect(["room"]);
    const b = await lonely.connect(["room"]);
    lonely.hub.sendToGroup("room", "still served", { except: a.socket });
    expect(await b.client.readText()).toBe("still served");
    lonely.hub.broadcast("everyone here");
    expect(await a.client.readText()).toBe("everyone here");
    expect(await b.client.readText()).toBe("everyone here");
    expect(lonely.backplane.connected).toBe(false);
    await until(() => lonely.errors.length > 0, 5000, "the failure to be reported");
  }, 30_000);
});
