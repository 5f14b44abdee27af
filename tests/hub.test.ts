/** The broadcast hub on one instance: membership, groups, fan-out, and slow consumers. */
import { afterEach, describe, expect, test } from "vitest";
import { type HubOptions, type UniWebSocket, WebSocketError, WebSocketHub, type WebSocketOptions } from "@uniws/core";
import { delay } from "./support/accepted.ts";
import { Opcode, RawClient } from "./support/raw-client.ts";
import { adapter, closeServers, runtime, startServer } from "./support/runtime.ts";

afterEach(closeServers);

/** A server whose handler adds every accepted socket to `hub` and hands it to the test, in connection order. */
async function hubServer(hub: WebSocketHub, options?: WebSocketOptions) {
  const accepted: UniWebSocket[] = [];
  const waiters: Array<() => void> = [];
  const server = await startServer(async (context) => {
    const socket = await context.accept();
    hub.add(socket);
    accepted.push(socket);
    for (const waiter of waiters.splice(0)) waiter();
    await socket.closed;
  }, options);
  /** Connects a raw client and resolves with it and its server-side socket. */
  const connect = async (): Promise<{ client: RawClient; socket: UniWebSocket }> => {
    const index = accepted.length;
    const { client } = await RawClient.open(server.port, "/ws");
    const deadline = Date.now() + 5000;
    while (accepted.length <= index) {
      if (Date.now() > deadline) throw new Error("the server did not accept");
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return { client, socket: accepted[index]! };
  };
  return { server, connect };
}

/** Polls `condition` every 20 ms for at most `ms`. */
async function until(condition: () => boolean, ms = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(20);
  }
}

/** Resolves `true` if a data message arrives within `ms`. */
async function receivesWithin(client: RawClient, ms: number): Promise<boolean> {
  try {
    await client.readMessage(ms);
    return true;
  } catch (error) {
    if ((error as Error).message.includes("timed out")) return false;
    throw error;
  }
}

describe("hub membership", () => {
  test("Add_ReturnsMemberId_SocketLeavesByItselfWhenClosed", async () => {
    const hub = new WebSocketHub();
    const { connect } = await hubServer(hub);
    const { client, socket } = await connect();
    const id = hub.idOf(socket)!;
    expect(id.startsWith(`${hub.instanceId}.`)).toBe(true);
    expect(hub.add(socket)).toBe(id);
    await hub.join(socket, "room");
    expect(hub.size).toBe(1);
    expect(hub.members("room")).toEqual([socket]);
    client.sendClose(1000);
    await client.readClose();
    await socket.closed;
    await until(() => hub.size === 0, 5000, "the member to leave");
    expect(hub.members("room")).toEqual([]);
    expect(hub.idOf(socket)).toBeUndefined();
    client.destroy();
  });

  test("JoinLeave_GroupsOfAndMembersFollow", async () => {
    const hub = new WebSocketHub();
    const { connect } = await hubServer(hub);
    const a = await connect();
    const b = await connect();
    await hub.join(a.socket, "red");
    await hub.join(hub.idOf(b.socket)!, "red");
    await hub.join(b.socket, "blue");
    expect(hub.groupsOf(b.socket).sort()).toEqual(["blue", "red"]);
    expect(hub.members("red")).toEqual([a.socket, b.socket]);
    hub.leave(b.socket, "red");
    expect(hub.members("red")).toEqual([a.socket]);
    expect(hub.remove(a.socket)).toBe(true);
    expect(hub.remove(a.socket)).toBe(false);
    expect(hub.members("red")).toEqual([]);
    expect(hub.members()).toEqual([b.socket]);
    // Removing from the hub leaves the socket open: the handler owns it.
    expect(a.socket.state).toBe("open");
    a.client.destroy();
    b.client.destroy();
  });

  test("Misuse_TypedErrors", async () => {
    const hub = new WebSocketHub();
    const { connect } = await hubServer(hub);
    const { client, socket } = await connect();
    hub.remove(socket);
    expect(() => hub.join(socket, "room")).toThrow(WebSocketError);
    expect(() => hub.join(socket, "room")).toThrow(expect.objectContaining({ code: "INVALID_STATE" }));
    hub.add(socket);
    expect(() => hub.join(socket, "")).toThrow(TypeError);
    expect(() => new WebSocketHub({ slowConsumer: "queue" as HubOptions["slowConsumer"] })).toThrow(TypeError);
    expect(() => new WebSocketHub({ maxBufferedAmount: -1 })).toThrow(RangeError);
    expect(() => new WebSocketHub({ name: "a:b" })).toThrow(TypeError);
    // Refused when the hub is made, not when a backplane failure first reaches it.
    expect(() => new WebSocketHub({ onError: "log" as unknown as HubOptions["onError"] })).toThrow(TypeError);
    expect(() => new WebSocketHub({ backplane: {} as HubOptions["backplane"] })).toThrow(TypeError);
    expect(() => new WebSocketHub({ nativeFanOut: "no" as unknown as boolean })).toThrow(TypeError);
    await socket.closeOutput(1000);
    hub.remove(socket);
    expect(() => hub.add(socket)).toThrow(expect.objectContaining({ code: "INVALID_STATE" }));
    await hub.close();
    client.destroy();
  });

  test("AddWithGroupsNotAListOfNames_ThrowsTypeErrorBeforeAdding_NothingChanged", async () => {
    // add() joined each group as it went: an empty name after a good one threw with the socket already a member of
    // the hub and of the first group, and a string (JavaScript callers: `groups: "room"`) joined one group per character.
    const hub = new WebSocketHub();
    const { connect } = await hubServer(new WebSocketHub());
    const { client, socket } = await connect();
    expect(() => hub.add(socket, { groups: ["room", ""] })).toThrow(TypeError);
    expect(() => hub.add(socket, { groups: "room" as unknown as string[] })).toThrow(TypeError);
    expect(() => hub.add(socket, { groups: ["room", 7 as unknown as string] })).toThrow(TypeError);
    expect(hub.size).toBe(0);
    expect(hub.idOf(socket)).toBeUndefined();
    expect(hub.members("room")).toEqual([]);
    expect(hub.members("r")).toEqual([]);
    // A member already in the hub keeps its groups as they were.
    const id = hub.add(socket, { groups: ["lobby"] });
    expect(() => hub.add(socket, { groups: ["room", ""] })).toThrow(TypeError);
    expect(hub.idOf(socket)).toBe(id);
    expect(hub.groupsOf(socket)).toEqual(["lobby"]);
    await hub.close();
    client.destroy();
  });
});

describe("hub fan-out", () => {
  test("SendToGroup_ReachesMembersOnly_ExceptTheSender", async () => {
    const hub = new WebSocketHub();
    const { connect } = await hubServer(hub);
    const a = await connect();
    const b = await connect();
    const outsider = await connect();
    await hub.join(a.socket, "room");
    await hub.join(b.socket, "room");
    hub.sendToGroup("room", "to the room");
    expect(await a.client.readText()).toBe("to the room");
    expect(await b.client.readText()).toBe("to the room");
    hub.sendToGroup("room", "from a", { except: a.socket });
    expect(await b.client.readText()).toBe("from a");
    hub.sendToGroup("nobody-here", "lost");
    expect(await receivesWithin(a.client, 300)).toBe(false);
    expect(await receivesWithin(outsider.client, 300)).toBe(false);
    for (const peer of [a, b, outsider]) peer.client.destroy();
  });

  test("Broadcast_ReachesEveryone_BinaryStaysBinary_ExceptById", async () => {
    const hub = new WebSocketHub();
    const { connect } = await hubServer(hub);
    const peers = [await connect(), await connect(), await connect()];
    hub.broadcast(new Uint8Array([1, 2, 255]));
    for (const { client } of peers) {
      const message = await client.readMessage();
      expect(message.opcode).toBe(Opcode.binary);
      expect([...message.data]).toEqual([1, 2, 255]);
    }
    hub.broadcast("héllo", { except: hub.idOf(peers[1]!.socket) });
    expect(await peers[0]!.client.readText()).toBe("héllo");
    expect(await peers[2]!.client.readText()).toBe("héllo");
    expect(await receivesWithin(peers[1]!.client, 300)).toBe(false);
    for (const { client } of peers) client.destroy();
  });

  test("FanOut_BytesOnADetachedBuffer_ThrowTypeError_NothingSent", async () => {
    // Views on a transferred buffer read as empty: an empty message to every member (natively published, or to other
    // instances through the backplane) would be silent loss.
    const hub = new WebSocketHub();
    const { connect } = await hubServer(hub);
    const peers = [await connect(), await connect()];
    for (const { socket } of peers) await hub.join(socket, "room");
    const buffer = new Uint8Array([1, 2, 3]).buffer;
    const view = new Uint8Array(buffer);
    structuredClone(buffer, { transfer: [buffer] });
    expect(() => hub.broadcast(view)).toThrow(TypeError);
    expect(() => hub.sendToGroup("room", view)).toThrow(/detached ArrayBuffer.*nothing was sent/);
    expect(() => hub.sendTo(peers[0]!.socket, view)).toThrow(TypeError);
    hub.broadcast("after");
    for (const { client } of peers) {
      const message = await client.readMessage();
      expect([message.opcode, new TextDecoder().decode(message.data)]).toEqual([Opcode.text, "after"]);
    }
    for (const { client } of peers) client.destroy();
  });

  test("FanOut_MessageNeitherStringNorBytes_ThrowsTypeError_NothingSent", async () => {
    // For JavaScript callers: each member's send rejected and the hub, which waits on none, dropped it silently for
    // every member on Node and Deno, while Bun's native publish sent "[object Object]" and "42" as text.
    const hub = new WebSocketHub();
    const { connect } = await hubServer(hub);
    const peers = [await connect(), await connect()];
    for (const { socket } of peers) await hub.join(socket, "room");
    for (const message of [{}, 42, null, undefined]) {
      expect(() => hub.broadcast(message as unknown as string)).toThrow(TypeError);
      expect(() => hub.sendToGroup("room", message as unknown as string)).toThrow(TypeError);
      expect(() => hub.sendTo(peers[0]!.socket, message as unknown as string)).toThrow(TypeError);
    }
    hub.broadcast("after");
    for (const { client } of peers) {
      const message = await client.readMessage();
      expect([message.opcode, new TextDecoder().decode(message.data)]).toEqual([Opcode.text, "after"]);
    }
    for (const { client } of peers) client.destroy();
  });

  test("SendTo_OneMemberBySocketOrId", async () => {
    const hub = new WebSocketHub();
    const { connect } = await hubServer(hub);
    const a = await connect();
    const b = await connect();
    hub.sendTo(a.socket, "for a");
    hub.sendTo(hub.idOf(b.socket)!, "for b");
    hub.sendTo("no-such-member", "lost");
    expect(await a.client.readText()).toBe("for a");
    expect(await b.client.readText()).toBe("for b");
    expect(await receivesWithin(a.client, 300)).toBe(false);
    a.client.destroy();
    b.client.destroy();
  });

  test("NativeFanOut_OnlyWhereTheEngineHasTopics", async () => {
    // Bun's own adapter exposes its topics, so there the fan-outs above went through one native publish
    // (tests/bun/hub-native.test.ts pins it); Node's, Deno's and Hono's engines have none: the core loops over sends.
    const hub = new WebSocketHub();
    const { connect } = await hubServer(hub);
    const a = await connect();
    expect(a.socket.engineTopics !== undefined).toBe(runtime === "bun" && adapter === "native");
    a.client.destroy();
  });

  test("FanOut_ManyMessages_ArriveInOrder", async () => {
    const hub = new WebSocketHub();
    const { connect } = await hubServer(hub);
    const peers = [await connect(), await connect()];
    for (let i = 0; i < 200; i++) hub.broadcast(`m${i}`);
    for (const { client } of peers) {
      for (let i = 0; i < 200; i++) expect(await client.readText()).toBe(`m${i}`);
    }
    for (const { client } of peers) client.destroy();
  });

  test.each(["text", "binary"] as const)("FanOutWhileHandlerSendsInParts_%s_HubMessageArrivesWholeAfterThatMessage_NeitherJoined", async (type) => {
    // A handler sending a message in parts while the hub fans out to it: the hub's messages (text and binary, from
    // sendTo, a group send and a broadcast) must not become parts of the handler's message, nor be lost to it.
    const hub = new WebSocketHub();
    const { connect } = await hubServer(hub);
    const peers = [await connect(), await connect()];
    const part = (text: string) => (type === "text" ? text : new TextEncoder().encode(text));
    for (const { socket } of peers) {
      await hub.join(socket, "room");
      await socket.send(part("first "), { endOfMessage: false });
      await delay(50); // the part may go out as a fragment first (engines that send fragments)
    }
    hub.sendTo(peers[0]!.socket, "to one");
    hub.sendToGroup("room", new Uint8Array([7]));
    hub.broadcast("to all");
    // Still mid-message: the handler's next parts continue its own message.
    for (const { socket } of peers) {
      await socket.send(part("second "), { endOfMessage: false });
      await socket.send(part("last"));
      await socket.send("after");
    }
    const decoder = new TextDecoder();
    for (const [index, { client }] of peers.entries()) {
      const received: string[] = [];
      for (let i = 0; i < (index === 0 ? 5 : 4); i++) {
        const message = await client.readMessage();
        received.push(`${message.opcode === Opcode.text ? "text" : "binary"}:${message.opcode === Opcode.binary && message.data.byteLength === 1 ? message.data[0] : decoder.decode(message.data)}`);
      }
      expect(received).toEqual([
        `${type}:first second last`,
        ...(index === 0 ? ["text:to one"] : []),
        "binary:7",
        "text:to all",
        "text:after",
      ]);
      expect(await receivesWithin(client, 200)).toBe(false);
    }
    expect(hub.size).toBe(2);
    for (const { client } of peers) client.destroy();
  });
});

describe("hub backplane failures", () => {
  test("OnErrorThatThrows_GoesToTheConsoleWithTheError_MembersStillServed", async () => {
    // The hub reports a backplane failure from the publish's promise reaction: an application's onError that threw
    // there (a logger gone) was an unhandled rejection, which ends a Node process. The transport here is one that is
    // down (every publish rejects); the hub and its members are real.
    const down = new Error("backplane down");
    const backplane = {
      publish: () => Promise.reject(down),
      subscribe: () => Promise.resolve(),
      unsubscribe: () => Promise.resolve(),
    };
    const logged: unknown[][] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => void logged.push(args);
    const hub = new WebSocketHub({ backplane, onError: () => {
      throw new Error("logger down");
    } });
    try {
      const { connect } = await hubServer(hub);
      const member = await connect();
      await hub.join(member.socket, "room");
      hub.broadcast("to all");
      hub.sendToGroup("room", "to the room");
      expect(await member.client.readText()).toBe("to all");
      expect(await member.client.readText()).toBe("to the room");
      await until(() => logged.length >= 2, 2000, "both failures to be reported");
      for (const args of logged) {
        expect(args.some((arg) => arg instanceof Error && arg.message === "logger down")).toBe(true);
        expect(args).toContain(down);
      }
      member.client.destroy();
    } finally {
      console.error = consoleError;
      await hub.close();
    }
  });
});

describe("hub slow consumers", () => {
  const CHUNK = 64 * 1024;
  const LIMIT = 512 * 1024;

  function numbered(n: number): Uint8Array {
    const bytes = new Uint8Array(CHUNK);
    new DataView(bytes.buffer).setUint32(0, n);
    return bytes;
  }

  /** Reads binary messages in the background, keeping their sequence numbers. */
  function reader(client: RawClient) {
    const seen: number[] = [];
    let closeCode: number | undefined;
    let stopped = false;
    const done = (async () => {
      while (!stopped) {
        const message = await client.readMessage(15_000).catch(() => undefined);
        if (message === undefined) return;
        if (message.opcode === Opcode.close) {
          closeCode = new DataView(message.data.buffer, message.data.byteOffset).getUint16(0);
          return;
        }
        seen.push(new DataView(message.data.buffer, message.data.byteOffset).getUint32(0));
      }
    })();
    return { seen, closeCode: () => closeCode, stop: () => (stopped = true), done };
  }

  /**
   * Broadcasts numbered 64 KiB messages while `slow` reads nothing, keeping pace with
   * the fast reader, until `stopWhen` or 512 messages (32 MiB) — kernel buffers absorb
   * a few MiB before the send buffer grows.
   */
  async function flood(hub: WebSocketHub, fast: ReturnType<typeof reader>, stopWhen: () => boolean, watch: UniWebSocket) {
    let sent = 0;
    let peak = 0;
    for (; sent < 512 && !stopWhen(); sent++) {
      hub.broadcast(numbered(sent));
      peak = Math.max(peak, watch.bufferedAmount);
      await until(() => fast.seen.length >= sent - 4, 10_000, "the fast member to keep up");
    }
    return { sent, peak };
  }

  test("SlowConsumer_Close_ClosedWith1013_OthersGetEverything", async () => {
    const hub = new WebSocketHub({ maxBufferedAmount: LIMIT, slowConsumer: "close" });
    const { connect } = await hubServer(hub, { closeTimeout: 15_000 });
    const slow = await connect();
    const fast = await connect();
    slow.client.socket.pause();
    const fastReader = reader(fast.client);
    const { sent, peak } = await flood(hub, fastReader, () => hub.idOf(slow.socket) === undefined, slow.socket);
    expect(hub.idOf(slow.socket), `the slow member was never closed after ${sent} messages`).toBeUndefined();
    // The slow member's buffer never grew past the limit and one message.
    expect(peak).toBeLessThanOrEqual(LIMIT + CHUNK);
    // Bun ends the connection right after its Close frame (docs/bun.md): there the socket is closed as soon as
    // its end is reported, which may or may not have happened yet.
    expect(runtime === "bun" ? ["closeSent", "closed"] : ["closeSent"]).toContain(slow.socket.state);
    expect(hub.members()).toEqual([fast.socket]);
    hub.broadcast(numbered(sent));
    await until(() => fastReader.seen.length === sent + 1, 10_000, "the fast member to get every message");
    expect(fastReader.seen).toEqual(Array.from({ length: sent + 1 }, (_, i) => i));
    // Once it reads again, the slow peer gets what was queued, then the Close.
    slow.client.socket.resume();
    const slowReader = reader(slow.client);
    await slowReader.done;
    expect(slowReader.closeCode()).toBe(1013);
    expect(slowReader.seen.length).toBeLessThan(sent);
    expect(slowReader.seen).toEqual(Array.from({ length: slowReader.seen.length }, (_, i) => i));
    slow.client.sendClose(1013);
    expect((await slow.socket.closed).closeStatus).toBe(1013);
    fastReader.stop();
    slow.client.destroy();
    fast.client.destroy();
  }, 60_000);

  test("SlowConsumer_Drop_SkipsMessagesForItOnly_ItStaysAMember", async () => {
    const hub = new WebSocketHub({ maxBufferedAmount: LIMIT, slowConsumer: "drop" });
    const { connect } = await hubServer(hub);
    const slow = await connect();
    const fast = await connect();
    slow.client.socket.pause();
    const fastReader = reader(fast.client);
    let overSince = -1;
    const { sent, peak } = await flood(hub, fastReader, () => {
      if (overSince === -1 && slow.socket.bufferedAmount > LIMIT) overSince = 0;
      // Keep going a while after the limit is reached, so some messages are dropped.
      return overSince !== -1 && ++overSince > 20;
    }, slow.socket);
    expect(overSince, `the slow member's buffer never reached the limit after ${sent} messages`).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(LIMIT + CHUNK);
    expect(hub.members()).toEqual([slow.socket, fast.socket]);
    slow.client.socket.resume();
    const slowReader = reader(slow.client);
    // The slow member still gets new messages once drained.
    await until(() => slowReader.seen.length > 0 && slow.socket.bufferedAmount === 0, 15_000, "the slow member to drain");
    await delay(200);
    hub.broadcast(numbered(sent));
    await until(() => slowReader.seen.at(-1) === sent, 15_000, "the slow member to get the next message");
    await until(() => fastReader.seen.length === sent + 1, 10_000, "the fast member");
    expect(fastReader.seen).toEqual(Array.from({ length: sent + 1 }, (_, i) => i));
    // In order, with a gap where its buffer was full.
    expect(slowReader.seen.length).toBeLessThan(sent + 1);
    expect([...slowReader.seen].sort((x, y) => x - y)).toEqual(slowReader.seen);
    slowReader.stop();
    fastReader.stop();
    slow.client.destroy();
    fast.client.destroy();
  }, 60_000);
});
