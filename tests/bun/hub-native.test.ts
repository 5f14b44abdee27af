/**
 * The hub on Bun's own adapter fans out through Bun's topics (one `server.publish`)
 * when every recipient is on one Bun server, with the semantics of the core's loop of
 * sends: `except`, text and binary, membership kept in sync with the topics. The
 * slow-consumer policies on this path run in tests/hub.test.ts (two members on one
 * server: the native path). Bun only (`npm run test:bun`).
 */
import { afterEach, describe, expect, test } from "vitest";
import { BunWebSocketServer, type UniWebSocket, WebSocketHub, type HubOptions } from "@uniws/bun";
import { Opcode, RawClient } from "../support/raw-client.ts";
import { delay } from "../support/accepted.ts";

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

/** A Bun server whose handler adds each socket to `hub`; counts the server's native publishes by topic. */
function hubServer(hub: WebSocketHub) {
  const accepted: UniWebSocket[] = [];
  const sockets = new BunWebSocketServer(async (context) => {
    const socket = await context.accept();
    hub.add(socket);
    accepted.push(socket);
    await socket.closed;
  });
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, ...sockets.serveOptions() });
  // Observed, not replaced: every publish still goes to Bun.
  const published: string[] = [];
  const publish = server.publish.bind(server);
  server.publish = ((topic: string, data: string | Uint8Array, compress?: boolean) => {
    published.push(topic);
    return publish(topic, data, compress);
  }) as typeof server.publish;
  stops.push(async () => {
    await sockets.close({ timeout: 1000 });
    await server.stop(true);
  });
  const connect = async (): Promise<{ client: RawClient; socket: UniWebSocket }> => {
    const index = accepted.length;
    const { client } = await RawClient.open(server.port!, "/ws");
    const deadline = Date.now() + 5000;
    while (accepted.length <= index) {
      if (Date.now() > deadline) throw new Error("the server did not accept");
      await delay(10);
    }
    stops.push(async () => client.destroy());
    return { client, socket: accepted[index]! };
  };
  return { server, published, connect, stats: () => sockets.stats() };
}

async function silentFor(client: RawClient, ms: number): Promise<boolean> {
  try {
    await client.readMessage(ms);
    return false;
  } catch (error) {
    if ((error as Error).message.includes("timed out")) return true;
    throw error;
  }
}

describe("hub on Bun's topics", () => {
  test("GroupAndBroadcast_OneNativePublish_ExceptLeftOutAndResubscribed", async () => {
    const hub = new WebSocketHub();
    const { server, published, connect } = hubServer(hub);
    const [a, b, c] = [await connect(), await connect(), await connect()];
    for (const peer of [a, b, c]) await hub.join(peer.socket, "room");
    hub.sendToGroup("room", "to all three");
    expect(published.length).toBe(1);
    const topic = published[0]!;
    expect(server.subscriberCount(topic)).toBe(3);
    for (const { client } of [a, b, c]) expect(await client.readText()).toBe("to all three");
    // `except` a member that is not the first: it is unsubscribed around the publish only.
    hub.sendToGroup("room", new Uint8Array([7, 8]), { except: b.socket });
    expect(published.length).toBe(2);
    expect(server.subscriberCount(topic)).toBe(3);
    for (const { client } of [a, c]) {
      const message = await client.readMessage();
      expect(message.opcode).toBe(Opcode.binary);
      expect([...message.data]).toEqual([7, 8]);
    }
    expect(await silentFor(b.client, 300)).toBe(true);
    hub.broadcast("everyone", { except: hub.idOf(a.socket) });
    expect(published.length).toBe(3);
    expect(published[2]).not.toBe(topic);
    for (const { client } of [b, c]) expect(await client.readText()).toBe("everyone");
    expect(await silentFor(a.client, 300)).toBe(true);
    hub.sendToGroup("room", "after");
    for (const { client } of [a, b, c]) expect(await client.readText()).toBe("after");
  });

  test("NativePublish_CountedInStatsAsOneSendPerRecipient", async () => {
    const hub = new WebSocketHub();
    const { published, connect, stats } = hubServer(hub);
    const [a, b, c] = [await connect(), await connect(), await connect()];
    for (const peer of [a, b, c]) await hub.join(peer.socket, "room");
    hub.sendToGroup("room", "héllo", { except: a.socket }); // 6 bytes, to two members
    hub.broadcast(new Uint8Array(4));
    expect(published.length).toBe(2);
    for (const { client } of [b, c]) expect(await client.readText()).toBe("héllo");
    expect(stats().messages.send).toEqual({ text: 2, binary: 3 });
    expect(stats().bytes.send).toBe(2 * 6 + 3 * 4);
  });

  test("Membership_MirroredOnTopics_LeaveRemoveClose", async () => {
    const hub = new WebSocketHub();
    const { server, published, connect } = hubServer(hub);
    const [a, b, c] = [await connect(), await connect(), await connect()];
    for (const peer of [a, b, c]) await hub.join(peer.socket, "room");
    hub.sendToGroup("room", "1");
    const topic = published[0]!;
    hub.broadcast("2");
    const all = published[1]!;
    for (const { client } of [a, b, c]) expect([await client.readText(), await client.readText()]).toEqual(["1", "2"]);
    hub.leave(a.socket, "room");
    expect(server.subscriberCount(topic)).toBe(2);
    hub.remove(b.socket);
    expect([server.subscriberCount(topic), server.subscriberCount(all)]).toEqual([1, 2]);
    hub.sendToGroup("room", "3");
    expect(await c.client.readText()).toBe("3");
    expect(await silentFor(a.client, 200)).toBe(true);
    expect(await silentFor(b.client, 200)).toBe(true);
    // A member whose connection ends leaves its topics with it.
    await hub.join(a.socket, "room");
    c.client.destroy();
    await c.socket.closed;
    await delay(50);
    expect(hub.members("room")).toEqual([a.socket]);
    expect([server.subscriberCount(topic), server.subscriberCount(all)]).toEqual([1, 1]);
  });

  test("NativeFanOutOff_OrMembersOnTwoServers_TheCoreLoops", async () => {
    const options: HubOptions = { nativeFanOut: false };
    const off = new WebSocketHub(options);
    const one = hubServer(off);
    const [a, b] = [await one.connect(), await one.connect()];
    off.broadcast("looped");
    for (const { client } of [a, b]) expect(await client.readText()).toBe("looped");
    expect(one.published).toEqual([]);
    // One hub, sockets on two Bun servers: their topics do not meet, so the hub sends to each.
    const hub = new WebSocketHub();
    const first = hubServer(hub);
    const second = hubServer(hub);
    const [x, y] = [await first.connect(), await second.connect()];
    hub.broadcast("across");
    for (const { client } of [x, y]) expect(await client.readText()).toBe("across");
    expect([first.published, second.published]).toEqual([[], []]);
  });
});
