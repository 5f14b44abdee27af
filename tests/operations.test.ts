/**
 * Operating a server (docs/operations.md): the connection limit, the inbound rate limits, the
 * peer's address and the server's figures, on every adapter.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { UniWebSocket, WebSocketHandler } from "@uniws/core";
import { clientAddress } from "../examples/operations/forwarded.ts";
import { delay } from "./support/accepted.ts";
import { handshakeHeaders, Opcode, RawClient } from "./support/raw-client.ts";
import { closeServers, runtime, startServer } from "./support/runtime.ts";

afterEach(closeServers);

const echo: WebSocketHandler = async (context) => {
  if (!context.isWebSocketRequest) return context.reject(400);
  const socket = await context.accept();
  for await (const message of socket) await socket.send(message.data);
};

/** Sends a handshake on a new connection and returns the HTTP answer (the connection stays open until destroyed). */
async function handshake(port: number, path = "/ws", extra: Record<string, string | undefined> = {}) {
  const client = await RawClient.connect(port);
  const answer = await client.handshake(path, handshakeHeaders(port, extra));
  return { client, answer };
}

describe("maxConnections", () => {
  test("RequestPastLimit_Answered503WithRetryAfter_HandlerNotRun", async () => {
    let handlerRuns = 0;
    const server = await startServer(async (context) => {
      handlerRuns++;
      const socket = await context.accept();
      await socket.closed;
    }, { maxConnections: 2, maxConnectionsRetryAfter: 2_500 });
    const first = await RawClient.open(server.port, "/ws");
    const second = await RawClient.open(server.port, "/ws");
    const third = await handshake(server.port);
    expect(third.answer.status).toBe(503);
    // 2.5 s rounded up to whole seconds (RFC 9110 §10.2.3).
    expect(third.answer.headers["retry-after"]).toBe("3");
    expect(handlerRuns).toBe(2);
    expect(server.stats().rejectedHandshakes).toEqual({ 503: 1 });
    for (const client of [first.client, second.client, third.client]) client.destroy();
  });

  test("DefaultRetryAfter_FiveSeconds", async () => {
    const server = await startServer(echo, { maxConnections: 1 });
    const first = await RawClient.open(server.port, "/ws");
    const second = await handshake(server.port);
    expect(second.answer.status).toBe(503);
    expect(second.answer.headers["retry-after"]).toBe("5");
    first.client.destroy();
    second.client.destroy();
  });

  test("SocketEnds_PlaceFreed_NextRequestAccepted", async () => {
    const server = await startServer(echo, { maxConnections: 1 });
    const first = await RawClient.open(server.port, "/ws");
    first.client.sendClose(1000);
    await first.client.readClose();
    first.client.destroy();
    await waitFor(() => server.connections() === 0);
    const second = await RawClient.open(server.port, "/ws");
    expect(second.answer.status).toBe(101);
    second.client.destroy();
  });

  test("TwoRequestsRaceForLastPlace_OneAccepted_OtherGets503BeforeItsHandler", async () => {
    // The first request is still in its handler (not yet accepted) when the second arrives: it holds the place.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let handlerRuns = 0;
    const server = await startServer(async (context) => {
      handlerRuns++;
      await gate;
      const socket = await context.accept();
      await socket.closed;
    }, { maxConnections: 1 });
    const firstClient = await RawClient.connect(server.port);
    const firstAnswer = firstClient.handshake("/ws", handshakeHeaders(server.port));
    await waitFor(() => handlerRuns === 1);
    const second = await handshake(server.port);
    expect(second.answer.status).toBe(503);
    expect(server.stats().pendingHandshakes).toBe(1);
    release();
    expect((await firstAnswer).status).toBe(101);
    expect(handlerRuns).toBe(1);
    expect(server.stats().pendingHandshakes).toBe(0);
    firstClient.destroy();
    second.client.destroy();
  });

  test("HandlerRefuses_PlaceNotKept", async () => {
    const server = await startServer(async (context) => {
      if (context.url.pathname === "/deny") return context.reject(401);
      const socket = await context.accept();
      await socket.closed;
    }, { maxConnections: 1 });
    const denied = await handshake(server.port, "/deny");
    expect(denied.answer.status).toBe(401);
    const accepted = await RawClient.open(server.port, "/ws");
    expect(accepted.answer.status).toBe(101);
    expect(server.stats().rejectedHandshakes).toEqual({ 401: 1 });
    denied.client.destroy();
    accepted.client.destroy();
  });

  test("ClientGoneWhileHandlerRuns_PlaceFreed", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let accepts = 0;
    const settled: Promise<unknown>[] = [];
    const server = await startServer(async (context) => {
      if (accepts++ === 0) await gate;
      const opened = context.accept();
      settled.push(opened.then((socket) => socket.closed, () => undefined));
      const socket = await opened;
      await socket.closed;
    }, { maxConnections: 1, onError: () => {} });
    const gone = await RawClient.connect(server.port);
    gone.write(`GET /ws HTTP/1.1\r\n${Object.entries(handshakeHeaders(server.port)).map(([name, value]) => `${name}: ${value}\r\n`).join("")}\r\n`);
    await waitFor(() => server.stats().pendingHandshakes === 1);
    gone.destroy();
    release();
    // Whether the engine reports the upgrade failed or the socket opened and ended at once, it ends.
    await waitFor(() => settled.length === 1);
    await settled[0];
    await waitFor(() => server.connections() === 0, 8_000);
    const next = await RawClient.open(server.port, "/ws");
    expect(next.answer.status).toBe(101);
    next.client.destroy();
  }, 15_000);

  test("ClientLeavesWhileHandlerRuns_AcceptRejectsUpgradeFailed_ServerEndsItsSideToo", async () => {
    // The client sends its handshake and leaves (FIN) before the handler accepts. Node's server keeps a socket
    // half-open after the client's FIN (http.Server's allowHalfOpen) and the adapter reported the failed upgrade
    // without ending it: every such client left a file descriptor open for good, and server.close() never finished.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const outcomes: string[] = [];
    const server = await startServer(async (context) => {
      await gate;
      outcomes.push(await context.accept().then(() => "accepted", (error: { code?: string }) => String(error.code)));
    }, { onError: () => {} });
    const client = await RawClient.connect(server.port);
    client.write(`GET /ws HTTP/1.1\r\n${Object.entries(handshakeHeaders(server.port)).map(([name, value]) => `${name}: ${value}\r\n`).join("")}\r\n`);
    await waitFor(() => server.stats().pendingHandshakes === 1);
    client.socket.end();
    await delay(100);
    release();
    await waitFor(() => outcomes.length === 1, 8_000);
    expect(outcomes).toEqual(["UPGRADE_FAILED"]);
    // Deno 2.9 itself leaves such a connection in CLOSE_WAIT, Deno.upgradeWebSocket alone too (docs/deno.md, item 8).
    if (runtime !== "deno") {
      await client.waitForEnd();
      expect(client.ended).toBe(true);
    }
    client.destroy();
  });

  test("InvalidValues_Throw", async () => {
    await expect(startServer(echo, { maxConnections: -1 })).rejects.toThrow(RangeError);
    await expect(startServer(echo, { maxConnections: 1.5 })).rejects.toThrow(RangeError);
  });
});

/** Waits until the server holds no socket, then a little longer for the handlers' ends to be reported. */
async function handlerDone(server: { connections(): number }): Promise<void> {
  for (let waited = 0; server.connections() > 0 && waited < 5_000; waited += 20) await delay(20);
  expect(server.connections()).toBe(0);
  await delay(100);
}

describe("a close the server starts", () => {
  test("Shutdown_HandlerStillSending_SendRejectsConnectionClosed_NothingLogged", async () => {
    const errors: unknown[] = [];
    let sendError: unknown;
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      try {
        for (;;) {
          await socket.send("tick");
          await delay(20);
        }
      } catch (error) {
        sendError = error;
        throw error;
      }
    }, { onError: (error) => errors.push(error) });
    const { client } = await RawClient.open(server.port, "/ws");
    expect(await client.readText()).toBe("tick");
    const shutdown = server.shutdown({ timeout: 5_000 });
    let frame = await client.readFrame();
    while (frame.opcode !== Opcode.close) frame = await client.readFrame();
    await delay(100); // the handler's next tick finds the socket closing
    client.sendClose(1001);
    await shutdown;
    await handlerDone(server);
    expect(sendError).toMatchObject({ code: "CONNECTION_CLOSED" });
    expect(errors).toEqual([]);
    client.destroy();
  });

  test("ApplicationClosed_ThenSends_InvalidStateStillReported", async () => {
    const errors: unknown[] = [];
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      void socket.close(1000, "bye");
      await socket.send("late");
    }, { onError: (error) => errors.push(error) });
    const { client } = await RawClient.open(server.port, "/ws");
    expect(await client.readClose()).toEqual({ code: 1000, reason: "bye" });
    client.sendClose(1000);
    await handlerDone(server);
    expect(errors).toEqual([expect.objectContaining({ code: "INVALID_STATE" })]);
    client.destroy();
  });
});

describe("inbound rate limits", () => {
  test("MessagesOverBurst_Closed1008_ReasonNamesTheLimit_NothingLogged", async () => {
    // 1 message a second with a burst of 3: the fourth message at once is over. The echo of an earlier one may
    // then find the socket closing: that send rejects with CONNECTION_CLOSED, which is no fault of the handler.
    const errors: unknown[] = [];
    let sendError: unknown;
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      try {
        for await (const message of socket) await socket.send(message.data);
      } catch (error) {
        sendError = error;
        throw error;
      }
    }, { maxMessagesPerSecond: 1, messageBurst: 3, onError: (error) => errors.push(error) });
    const { client } = await RawClient.open(server.port, "/ws");
    for (let i = 0; i < 4; i++) client.sendText(`m${i}`);
    // The Close goes out when the fourth arrives, maybe ahead of echoes the handler had not sent yet.
    expect(await client.readClose()).toEqual({ code: 1008, reason: "maxMessagesPerSecond exceeded" });
    client.sendClose(1008);
    await handlerDone(server);
    if (sendError !== undefined) expect(sendError).toMatchObject({ code: "CONNECTION_CLOSED" });
    expect(errors).toEqual([]);
    client.destroy();
  });

  test("MessagesWithinBurst_AllEchoed_Open", async () => {
    const server = await startServer(echo, { maxMessagesPerSecond: 1, messageBurst: 3 });
    const { client } = await RawClient.open(server.port, "/ws");
    for (let i = 0; i < 3; i++) client.sendText(`m${i}`);
    for (let i = 0; i < 3; i++) expect(await client.readText()).toBe(`m${i}`);
    client.send(Opcode.ping, "still open?");
    expect((await client.readFrame()).opcode).toBe(Opcode.pong);
    client.destroy();
  });

  test("BytesOverBurst_Closed1008_ReasonNamesTheLimit", async () => {
    const server = await startServer(echo, { maxBytesPerSecond: 1, byteBurst: 100 });
    const { client } = await RawClient.open(server.port, "/ws");
    client.send(Opcode.binary, new Uint8Array(60));
    expect((await client.readMessage()).data.byteLength).toBe(60);
    client.send(Opcode.binary, new Uint8Array(60));
    expect(await client.readClose()).toEqual({ code: 1008, reason: "maxBytesPerSecond exceeded" });
    client.destroy();
  });

  test("BytesOfText_CountedAsUtf8", async () => {
    // "ééééé" is 5 characters and 10 bytes: with a 10-byte burst, one more "é" is over.
    const server = await startServer(echo, { maxBytesPerSecond: 1, byteBurst: 10 });
    const { client } = await RawClient.open(server.port, "/ws");
    client.sendText("ééééé");
    expect(await client.readText()).toBe("ééééé");
    client.sendText("é");
    expect(await client.readClose()).toEqual({ code: 1008, reason: "maxBytesPerSecond exceeded" });
    client.destroy();
  });

  test("BucketRefills_AtItsRate", async () => {
    // 20 messages a second, burst 1: a message every 100 ms stays within (a token every 50 ms).
    const server = await startServer(echo, { maxMessagesPerSecond: 20, messageBurst: 1 });
    const { client } = await RawClient.open(server.port, "/ws");
    for (let i = 0; i < 4; i++) {
      client.sendText(`m${i}`);
      expect(await client.readText()).toBe(`m${i}`);
      await delay(100);
    }
    client.destroy();
  });

  test("Defaults_Off_InvalidValuesThrow", async () => {
    await expect(startServer(echo, { maxMessagesPerSecond: -1 })).rejects.toThrow(RangeError);
    await expect(startServer(echo, { maxBytesPerSecond: 10, byteBurst: 0 })).rejects.toThrow(RangeError);
    // Off by default: 200 messages at once all come back.
    const server = await startServer(echo);
    const { client } = await RawClient.open(server.port, "/ws");
    for (let i = 0; i < 200; i++) client.sendText(`m${i}`);
    for (let i = 0; i < 200; i++) expect(await client.readText()).toBe(`m${i}`);
    client.destroy();
  });
});

describe("remoteAddress", () => {
  test("RemoteAddress_IsThePeersIp", async () => {
    const server = await startServer(async (context) => {
      const address = context.remoteAddress;
      const socket = await context.accept();
      await socket.send(String(address));
      await socket.closed;
    });
    const { client } = await RawClient.open(server.port, "/ws");
    expect(await client.readText()).toBe("127.0.0.1");
    client.destroy();
  });

  test("RemoteAddress_ReadOnlyAfterAccept_StillThePeersIp", async () => {
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      await socket.send(String(context.remoteAddress));
      await socket.closed;
    });
    const { client } = await RawClient.open(server.port, "/ws");
    expect(await client.readText()).toBe("127.0.0.1");
    client.destroy();
  });

  test("ForwardedRecipe_BelievedOnlyFromTrustedProxies_ReadFromTheRight", async () => {
    // examples/operations/forwarded.ts, as docs/operations.md gives it.
    const server = await startServer((context) => new Response(String(clientAddress(context, proxies))));
    const proxies = new Set(["127.0.0.1", "10.0.0.2"]);
    const seen = async (headers: Record<string, string>) => await (await fetch(`${server.url}/`, { headers })).text();
    // The peer (127.0.0.1) is a trusted proxy: the right-most address that is not one of ours is the client.
    expect(await seen({ "X-Forwarded-For": "198.51.100.1, 203.0.113.7, 10.0.0.2" })).toBe("203.0.113.7");
    // Some proxies write ports into X-Forwarded-For too: the address is compared and returned without them.
    expect(await seen({ "X-Forwarded-For": "203.0.113.7:50122, 10.0.0.2:443" })).toBe("203.0.113.7");
    expect(await seen({ "X-Forwarded-For": "[2001:db8::7]:4711" })).toBe("2001:db8::7");
    expect(await seen({ Forwarded: 'for=198.51.100.1, for="[2001:db8::7]:4711";proto=https, for=10.0.0.2' })).toBe("2001:db8::7");
    expect(await seen({ Forwarded: "for=unknown" })).toBe("undefined");
    expect(await seen({})).toBe("undefined");
    // Without the peer among the trusted proxies, the headers are not read at all.
    const direct = await startServer((context) => new Response(String(clientAddress(context, new Set(["10.0.0.2"])))));
    expect(await (await fetch(`${direct.url}/`, { headers: { "X-Forwarded-For": "203.0.113.7" } })).text()).toBe("127.0.0.1");
  });

  test("RemoteAddress_OnPlainRequestsToo", async () => {
    const server = await startServer((context) => new Response(String(context.remoteAddress)));
    expect(await (await fetch(`${server.url}/plain`)).text()).toBe("127.0.0.1");
  });
});

describe("stats", () => {
  test("Stats_CountConnectionsMessagesBytesRejectionsAndCloses", async () => {
    let socket!: UniWebSocket;
    const server = await startServer(async (context) => {
      socket = await context.accept();
      for await (const message of socket) await socket.send(message.data);
    }, { allowedOrigins: ["https://allowed.example"] });
    expect(server.stats()).toEqual({
      activeConnections: 0,
      acceptedConnections: 0,
      pendingHandshakes: 0,
      rejectedHandshakes: {},
      closedConnections: {},
      messages: { receive: { text: 0, binary: 0 }, send: { text: 0, binary: 0 } },
      bytes: { receive: 0, send: 0 },
    });
    const refused = await handshake(server.port, "/ws", { Origin: "https://evil.example" });
    expect(refused.answer.status).toBe(403);
    refused.client.destroy();
    const { client } = await RawClient.open(server.port, "/ws");
    client.sendText("héllo"); // 6 bytes in UTF-8
    expect(await client.readText()).toBe("héllo");
    client.send(Opcode.binary, new Uint8Array([1, 2, 3]));
    expect((await client.readMessage()).data.byteLength).toBe(3);
    expect(server.stats()).toMatchObject({ activeConnections: 1, acceptedConnections: 1 });
    client.sendClose(4000, "bye");
    await client.readClose();
    client.destroy();
    await socket.closed;
    expect(server.stats()).toEqual({
      activeConnections: 0,
      acceptedConnections: 1,
      pendingHandshakes: 0,
      rejectedHandshakes: { 403: 1 },
      closedConnections: { 4000: 1 },
      messages: { receive: { text: 1, binary: 1 }, send: { text: 1, binary: 1 } },
      bytes: { receive: 9, send: 9 },
    });
  });

  test("Stats_LargeTextEchoedBack_BytesAreItsUtf8Length", async () => {
    // Over 1 KiB, so Node's engine hands the core the text's bytes and the echo goes out as them.
    const text = "é€".repeat(1000) + "x"; // 2,001 characters, 5,001 bytes in UTF-8
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      for await (const message of socket) await socket.send(message.data);
    });
    const { client } = await RawClient.open(server.port, "/ws");
    client.sendText(text);
    expect(await client.readText()).toBe(text);
    expect(server.stats().bytes).toEqual({ receive: 5001, send: 5001 });
    client.destroy();
  });

  test("Stats_ReceivedTextSentBackTwiceThenOtherText_EachSendCountedAsItsUtf8Length", async () => {
    // The first send back may reuse the received count; the second and the other text are counted anew.
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      for await (const message of socket) {
        await socket.send(message.data);
        await socket.send(message.data);
        await socket.send("é€");
      }
    });
    const { client } = await RawClient.open(server.port, "/ws");
    client.sendText("héllo"); // 6 bytes in UTF-8
    expect([await client.readText(), await client.readText(), await client.readText()]).toEqual(["héllo", "héllo", "é€"]);
    expect(server.stats().bytes).toEqual({ receive: 6, send: 6 + 6 + 5 });
    client.destroy();
  });

  test("Stats_MessageSentInParts_CountedOnceWithEveryByte", async () => {
    let socket!: UniWebSocket;
    const server = await startServer(async (context) => {
      socket = await context.accept();
      await socket.send("ab", { endOfMessage: false });
      await socket.send("cd");
      await socket.closed;
    });
    const { client } = await RawClient.open(server.port, "/ws");
    expect(await client.readText()).toBe("abcd");
    expect(server.stats().messages.send).toEqual({ text: 1, binary: 0 });
    expect(server.stats().bytes.send).toBe(4);
    client.destroy();
  });

  test("Stats_MessagesDroppedByTheRateLimit_NotCountedAsReceived", async () => {
    // A burst of 3: the fourth message is over the limit, and it and the three the peer sends after the Close are
    // dropped by policy. Only what the handler could read counts as received, on every runtime.
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      await socket.closed;
    }, { maxMessagesPerSecond: 1, messageBurst: 3 });
    const { client } = await RawClient.open(server.port, "/ws");
    for (let i = 0; i < 4; i++) client.sendText(`m${i}`);
    expect(await client.readClose()).toEqual({ code: 1008, reason: "maxMessagesPerSecond exceeded" });
    for (let i = 4; i < 7; i++) client.sendText(`m${i}`);
    client.sendClose(1008);
    await handlerDone(server);
    client.destroy();
    expect(server.stats()).toMatchObject({
      messages: { receive: { text: 3, binary: 0 } },
      bytes: { receive: 6 },
      closedConnections: { 1008: 1 },
    });
  });

  test("Stats_MessageTooBig_ClosedConnectionRecordedWith1009TheServerSent_NotReceived", async () => {
    // The server closes with 1009 (the core, or the engine itself on Node and Bun); the figures record the Close
    // that ended the connection, the server's, whatever the peer answers (here 1000) or whether it answers at all.
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      await socket.closed;
    }, { maxMessageSize: 100 });
    const { client } = await RawClient.open(server.port, "/ws");
    client.send(Opcode.binary, new Uint8Array(200));
    expect((await client.readClose()).code).toBe(1009);
    client.sendClose(1000);
    client.destroy();
    await handlerDone(server);
    expect(server.stats()).toMatchObject({
      closedConnections: { 1009: 1 },
      messages: { receive: { text: 0, binary: 0 } },
      bytes: { receive: 0 },
    });
  });

  test("Stats_ServerStartedTheClose_RecordedWithTheStatusItSent_PeerStarted_WithThePeers", async () => {
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      const message = await socket.receive();
      if (message.type === "text" && message.data === "close me") await socket.close(4001, "asked");
      else await socket.closed;
    });
    const first = await RawClient.open(server.port, "/ws");
    first.client.sendText("close me");
    expect(await first.client.readClose()).toEqual({ code: 4001, reason: "asked" });
    first.client.sendClose(4002);
    const second = await RawClient.open(server.port, "/ws");
    second.client.sendClose(4003);
    await second.client.readClose();
    await handlerDone(server);
    first.client.destroy();
    second.client.destroy();
    expect(server.stats().closedConnections).toEqual({ 4001: 1, 4003: 1 });
  });

  test("Stats_BadHandshake_CountedByStatus", async () => {
    const server = await startServer(echo);
    const wrongVersion = await handshake(server.port, "/ws", { "Sec-WebSocket-Version": "8" });
    expect(wrongVersion.answer.status).toBe(426);
    wrongVersion.client.destroy();
    expect(server.stats().rejectedHandshakes).toEqual({ 426: 1 });
  });
});

/** Polls `condition` every 10 ms until it holds (a test's own deadline ends the wait). */
async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error("condition not reached in time");
    await delay(10);
  }
}
