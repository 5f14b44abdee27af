/**
 * `@uniws/cloudflare` in Durable Objects for real: tests/workerd/durable-worker.ts,
 * bundled with rolldown and served by workerd through Miniflare (which runs Durable
 * Objects, the Hibernation API and alarms locally), driven over TCP by the raw
 * client. workerd evicts an object that has had no event for about 10 s while its
 * hibernatable sockets stay connected; the eviction tests wait for that.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { bundleWorker } from "../workerd/bundle.ts";
import { handshakeHeaders, Opcode, RawClient } from "../support/raw-client.ts";

/** workerd's inactivity before it evicts a hibernatable object is 10 s; a margin on top. */
const EVICTED_AFTER_MS = 13_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("@uniws/cloudflare in Durable Objects on workerd (Miniflare)", () => {
  let port = 0;
  let dispose: () => Promise<void> = async () => {};

  beforeAll(async () => {
    const { Miniflare } = await import("miniflare");
    const contents = await bundleWorker(fileURLToPath(new URL("../workerd/durable-worker.ts", import.meta.url)));
    const miniflare = new Miniflare({
      modules: [{ type: "ESModule", path: "worker.mjs", contents }],
      compatibilityDate: "2024-09-23",
      durableObjects: { ROOM: "Room", IDLE: "IdleRoom", SLEEPY: "SleepyRoom", AWAITING: "AwaitingRoom", HONO: "HonoRoom" },
      host: "127.0.0.1",
      port: 0,
    });
    port = Number((await miniflare.ready).port);
    dispose = () => miniflare.dispose();
  }, 60_000);

  afterAll(() => dispose());

  const open = async (path: string, extra: Record<string, string | undefined> = {}) => (await RawClient.open(port, path, extra)).client;
  const text = async (path: string) => await (await fetch(`http://127.0.0.1:${port}${path}`)).text();

  /** A member of the object `room` of the class `kind` (`room`: Room, `idle`: IdleRoom), once welcomed. */
  async function member(room: string, name: string, query = "", kind = "room") {
    const client = await open(`/${kind}/${room}/ws?name=${name}${query}`);
    expect(await client.readText()).toMatch(new RegExp(`^welcome ${name} from instance \\d+$`));
    return client;
  }

  async function who(client: RawClient) {
    client.sendText("who");
    return JSON.parse(await client.readText()) as {
      instance: number;
      constructed: number;
      name: string;
      groups: string[];
      protocol: string | null;
      connections: number;
      ended: Array<{ name: string | undefined; closeStatus: number; wasClean: boolean; error: string | undefined }>;
    };
  }

  test("TwoRooms_Isolated_EveryMemberOfARoomGetsEachMessage", async () => {
    const [ada, bob, cy] = await Promise.all(["ada", "bob", "cy"].map((name) => member("isolated-a", name)));
    const other = await member("isolated-b", "dee");
    ada!.sendText("all hello room a");
    for (const client of [ada!, bob!, cy!]) expect(await client.readText()).toBe("hello room a");
    bob!.sendText("all second");
    for (const client of [ada!, bob!, cy!]) expect(await client.readText()).toBe("second");
    // The other room's member got nothing: its next frame is the answer to its own command.
    expect((await who(other)).connections).toBe(1);
    expect((await who(ada!)).connections).toBe(3);
    for (const client of [ada!, bob!, cy!, other]) client.destroy();
  });

  test("Groups_AtAcceptAndJoinedLater_GroupSendReachesMembersOnly_ExceptLeavesSenderOut", async () => {
    const tagged = await member("groups", "tagged", "&group=red");
    const later = await member("groups", "later");
    const outside = await member("groups", "outside");
    later.sendText("join red");
    expect(await later.readText()).toBe("joined red");
    outside.sendText("group red to red");
    expect(await tagged.readText()).toBe("to red");
    expect(await later.readText()).toBe("to red");
    tagged.sendText("all others: hi");
    expect(await later.readText()).toBe("others: hi");
    expect(await outside.readText()).toBe("others: hi");
    later.sendText("leave red");
    expect(await later.readText()).toBe("left red");
    outside.sendText("group red only tagged now");
    expect(await tagged.readText()).toBe("only tagged now");
    expect((await who(later)).groups).toEqual([]);
    for (const client of [tagged, later, outside]) client.destroy();
  });

  test("Handshake_PolicyOfTheCore_400_403_SubProtocol", async () => {
    const plain = await fetch(`http://127.0.0.1:${port}/room/policy/ws`);
    expect(plain.status).toBe(400);
    expect(await plain.text()).toBe("Expected a WebSocket request\n");
    const refused = await RawClient.connect(port);
    expect((await refused.handshake("/room/policy/ws", handshakeHeaders(port, { Origin: "https://evil.example" }))).status).toBe(403);
    refused.destroy();
    const { client, answer } = await RawClient.open(port, "/room/policy/ws?name=p", { Origin: "https://allowed.example", "Sec-WebSocket-Protocol": "other, chat" });
    expect(answer.headers["sec-websocket-protocol"]).toBe("chat");
    await client.readText();
    expect((await who(client)).protocol).toBe("chat");
    client.destroy();
  });

  test("MessageOverMaxMessageSize_FailedWith1009_AsOnEveryRuntime", async () => {
    const room = `limits-${Math.random().toString(36).slice(2)}`;
    const watcher = await member(room, "watcher");
    const client = await member(room, "big");
    client.sendText("x".repeat(65));
    expect(await client.readClose()).toEqual({ code: 1009, reason: "Message too big" });
    // Answered, and still a failed connection: the socket ends as `ws` and Bun end it (docs/semantics.md).
    client.sendClose(1009);
    let seen = await who(watcher);
    for (let i = 0; i < 50 && seen.connections > 1; i++) {
      await sleep(100);
      seen = await who(watcher);
    }
    expect(seen.ended).toEqual([{ name: "big", closeStatus: 1006, wasClean: false, error: "CONNECTION_CLOSED" }]);
    client.destroy();
    watcher.destroy();
  });

  test("MessagesOverTheRateLimit_ClosedWith1008_AsOnEveryRuntime", async () => {
    const client = await member("limits", "flood");
    for (let i = 0; i < 30; i++) client.sendText(`m${i}`);
    expect(await client.readClose()).toEqual({ code: 1008, reason: "maxMessagesPerSecond exceeded" });
    client.destroy();
  });

  test("MessageHandlerThrows_ClosedWith1011", async () => {
    const client = await member("limits", "thrower");
    client.sendText("throw");
    expect((await client.readClose()).code).toBe(1011);
    client.destroy();
  });

  test("HandlerLeavesATextMessageInsideACharacter_NextDeliveryRefused_ClosedWith1011", async () => {
    // receive(buffer) stopped inside "✓": no string holds the rest (INVALID_STATE), which the binding answers as a
    // handler's throw rather than hand the handler U+FFFD or leave the socket stuck on that message.
    const client = await member("limits", "halfreader");
    client.sendText("part");
    client.sendText("é✓");
    expect((await client.readClose()).code).toBe(1011);
    client.destroy();
  });

  test("PeerClose_AnsweredWithSameStatus_ServerClose_SendsStatusAndReason", async () => {
    const peer = await member("closing", "peer");
    peer.sendClose(4001, "client bye");
    expect((await peer.readClose()).code).toBe(4001);
    peer.destroy();
    const server = await member("closing", "server");
    server.sendText("close 4000 server bye");
    expect(await server.readClose()).toEqual({ code: 4000, reason: "server bye" });
    server.destroy();
  });

  test.each([
    ["a message over workerd's own 1 MiB limit", 1009, (client: RawClient) => client.send(Opcode.binary, new Uint8Array(1024 * 1024 + 1))],
    ["a reserved opcode", 1002, (client: RawClient) => client.send(3, "reserved")],
  ])("PeerFails_WebSocketError_ClosedOnce_CloseHandlerGetsATypedCause_OthersUnharmed (%s)", async (_what, status, fail) => {
    const room = `failing-${status}-${Math.random().toString(36).slice(2)}`;
    const watcher = await member(room, "watcher", "", "sleepy");
    const failing = await member(room, "failing", "", "sleepy");
    fail(failing);
    expect((await failing.readClose()).code).toBe(status);
    failing.destroy();
    let seen = await who(watcher);
    for (let i = 0; i < 50 && seen.connections > 1; i++) {
      await sleep(100);
      seen = await who(watcher);
    }
    expect(seen.connections).toBe(1);
    expect(seen.ended).toEqual([{ name: "failing", closeStatus: 1006, wasClean: false, error: "CONNECTION_CLOSED" }]);
    watcher.sendText("still here");
    expect(await watcher.readText()).toBe("echo still here");
    watcher.destroy();
  });

  // workerd, like Deno, does not check the mask bit (RFC 6455 §5.1 says a server must close): docs/reliability.md.
  test("UnmaskedClientFrame_WorkerdAcceptsIt", async () => {
    const client = await member("unmasked", "loose", "", "sleepy");
    client.send(Opcode.text, "not masked", { mask: false });
    expect(await client.readText()).toBe("echo not masked");
    client.destroy();
  });

  test("AttachmentTooLarge_TypedError_SocketKeepsItsState", async () => {
    const client = await member("attachments", "small");
    client.sendText("big");
    expect(await client.readText()).toBe("UNSUPPORTED");
    expect((await who(client)).name).toBe("small");
    client.destroy();
  });

  test("KeepAlive_AutoResponseAnsweredAtTheEdge", async () => {
    const client = await member("keepalive", "k");
    client.sendText("ping");
    expect(await client.readText()).toBe("pong");
    // The runtime answered; the room's own handler never saw it (it would have echoed).
    client.sendText("pin");
    expect(await client.readText()).toBe("echo pin");
    client.destroy();
  });

  test("IdleTimeout_FiresThroughTheAlarm_EdgeKeepAlivesHoldItOff", async () => {
    const silent = await member("short", "silent", "", "idle");
    const pinging = await member("short", "pinging", "", "idle");
    // The keep-alive is answered at the edge yet counts as activity: 1.6 s of pings outlast the 1 s timeout.
    for (let i = 0; i < 4; i++) {
      pinging.sendText("ping");
      expect(await pinging.readText()).toBe("pong");
      await sleep(400);
    }
    expect(await silent.readClose(5000)).toEqual({ code: 1001, reason: "Idle timeout" });
    // Still open (its next frame is the answer, not a Close); the command itself is a message, so 1 s more.
    expect((await who(pinging)).name).toBe("pinging");
    expect(await pinging.readClose(5000)).toEqual({ code: 1001, reason: "Idle timeout" });
    silent.destroy();
    pinging.destroy();
  });

  test.concurrent("Eviction_FreshInstanceRestoresAttachmentGroupsAndHub_KeepAliveDoesNotWakeIt", async () => {
    const ada = await member("eviction", "ada");
    const bob = await member("eviction", "bob", "&group=blue");
    ada.sendText("rename ada lovelace");
    expect(await ada.readText()).toBe("renamed ada lovelace");
    ada.sendText("join green");
    expect(await ada.readText()).toBe("joined green");
    const before = await who(ada);
    // Keep-alives during the wait are answered by the runtime: they must not wake (and so keep) the object.
    await sleep(2000);
    ada.sendText("ping");
    expect(await ada.readText()).toBe("pong");
    await sleep(4000);
    bob.sendText("ping");
    expect(await bob.readText()).toBe("pong");
    await sleep(EVICTED_AFTER_MS - 6000);
    const after = await who(ada);
    expect(after.instance).toBeGreaterThan(before.instance);
    expect(after).toMatchObject({ name: "ada lovelace", groups: ["green"], connections: 2 });
    expect(await who(bob)).toMatchObject({ instance: after.instance, name: "bob", groups: ["blue"] });
    // The rebuilt hub fans out to both groups and to everyone.
    bob.sendText("group green to green");
    expect(await ada.readText()).toBe("to green");
    ada.sendText("group blue to blue");
    expect(await bob.readText()).toBe("to blue");
    ada.sendText("all everyone");
    expect(await ada.readText()).toBe("everyone");
    expect(await bob.readText()).toBe("everyone");
    ada.destroy();
    bob.destroy();
  }, 40_000);

  test.concurrent("IdleTimeout_SurvivesHibernation_AlarmWakesARebuiltObject", async () => {
    const instanceOf = (welcome: string) => Number(/from instance (\d+)$/.exec(welcome)![1]);
    const client = await open("/sleepy/one/ws?name=sleeper");
    const first = instanceOf(await client.readText());
    // Silent past eviction (about 10 s) and the 14 s idle timeout: the alarm wakes a new instance, which closes it.
    expect(await client.readClose(25_000)).toEqual({ code: 1001, reason: "Idle timeout" });
    client.destroy();
    // The object that closed it is a rebuilt one: a new member, right after, is welcomed by a later instance.
    const next = await open("/sleepy/one/ws?name=next");
    expect(instanceOf(await next.readText())).toBeGreaterThan(first);
    next.destroy();
  }, 40_000);

  test("Shutdown_ClosesEverySocketWith1001_NewRequestsGet503", async () => {
    const [one, two] = await Promise.all([member("shutdown", "one"), member("shutdown", "two")]);
    const closing = text("/room/shutdown/shutdown");
    expect(await one.readClose()).toEqual({ code: 1001, reason: "Server shutting down" });
    expect(await two.readClose()).toEqual({ code: 1001, reason: "Server shutting down" });
    one.sendClose(1001);
    two.sendClose(1001);
    expect(await closing).toBe("closed, 0 left");
    const late = await RawClient.connect(port);
    expect((await late.handshake("/room/shutdown/ws", handshakeHeaders(port))).status).toBe(503);
    for (const client of [one, two, late]) client.destroy();
  });

  test.each(["awaiting", "hono"])("NoHibernation_AwaitableHandler_HubAndShutdownReachEveryRequestsSocket (%s)", async (kind) => {
    const [first, second] = await Promise.all([open(`/${kind}/a/ws`), open(`/${kind}/a/ws`)]);
    first.sendText("from the first request");
    expect(await first.readText()).toBe("from the first request");
    expect(await second.readText()).toBe("from the first request");
    const closing = text(`/${kind}/a/shutdown`);
    for (const client of [first, second]) {
      expect(await client.readClose()).toEqual({ code: 1001, reason: "Server shutting down" });
      client.sendClose(1001);
    }
    expect(await closing).toBe("closed, 0 left");
    first.destroy();
    second.destroy();
  });
});

describe("docs/cloudflare.md", () => {
  const root = fileURLToPath(new URL("../../", import.meta.url));
  const markdown = readFileSync(`${root}docs/cloudflare.md`, "utf8");
  /** The page's complete example: the first TypeScript block after "## A complete example". */
  const example = /## A complete example[\s\S]*?```ts\n([\s\S]*?)```/.exec(markdown)![1]!;
  let port = 0;
  let dispose: () => Promise<void> = async () => {};

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "uniws-cloudflare-doc-"));
    try {
      writeFileSync(join(dir, "example.ts"), example);
      const contents = await bundleWorker(join(dir, "example.ts"));
      const { Miniflare } = await import("miniflare");
      const miniflare = new Miniflare({
        modules: [{ type: "ESModule", path: "example.mjs", contents }],
        compatibilityDate: "2024-09-23",
        durableObjects: { ROOMS: "GameRoom" },
        host: "127.0.0.1",
        port: 0,
      });
      port = Number((await miniflare.ready).port);
      dispose = () => miniflare.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  afterAll(() => dispose());

  test("CodeBlocksAndPackageExamples_TypeCheckStrictly_WithoutWorkersTypes_AndFitCloudflaresTypes", () => {
    const deno = `${root}node_modules/.bin/deno`;
    const pages = spawnSync(deno, ["check", "--quiet", "--doc-only", "docs/cloudflare.md"], { cwd: root, encoding: "utf8" });
    expect(pages.status, pages.stderr).toBe(0);
    const sources = ["packages/adapter-cloudflare/src/mod.ts", "packages/adapter-cloudflare/src/durable-object.ts", "examples/chat/workerd.ts", "tests/workerd/durable-worker.ts"];
    const code = spawnSync(deno, ["check", "--quiet", "--doc", ...sources], { cwd: root, encoding: "utf8" });
    expect(code.status, code.stderr).toBe(0);
    // With Cloudflare's own types, a DurableObject's ctx and WebSockets fit the package's structural types.
    const tsc = spawnSync(`${root}node_modules/.bin/tsc`, ["-p", "tests/workerd/workers-types"], { cwd: root, encoding: "utf8" });
    expect(tsc.status, tsc.stdout).toBe(0);
  }, 60_000);

  test("CompleteExample_RunsOnWorkerd_TeamsNamesAndEdgeKeepAlive", async () => {
    const join = async (name: string, team: string) => {
      const { client, answer } = await RawClient.open(port, `/?room=docs&name=${name}&team=${team}`, { "Sec-WebSocket-Protocol": "game.v1" });
      expect(answer.headers["sec-websocket-protocol"]).toBe("game.v1");
      expect(await client.readText()).toBe(`welcome ${name}, team ${team}`);
      return client;
    };
    expect((await fetch(`http://127.0.0.1:${port}/?room=docs`)).status).toBe(400);
    const ada = await join("ada", "red");
    const bob = await join("bob", "red");
    const cy = await join("cy", "blue");
    ada.sendText("go red");
    expect(await ada.readText()).toBe("ada: go red");
    expect(await bob.readText()).toBe("ada: go red");
    bob.sendText("/name robert");
    bob.sendText("/team blue");
    bob.sendText("hello blue");
    expect(await bob.readText()).toBe("robert: hello blue");
    expect(await cy.readText()).toBe("robert: hello blue");
    cy.sendText("ping");
    expect(await cy.readText()).toBe("pong");
    ada.sendClose(1000);
    expect((await ada.readClose()).code).toBe(1000);
    expect(await bob.readText()).toBe("ada left (1000)");
    expect(await cy.readText()).toBe("ada left (1000)");
    for (const client of [ada, bob, cy]) client.destroy();
  });
});
