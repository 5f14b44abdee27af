/** Ending a socket: the close handshake, closeOutput, abort, a vanished peer, and the handler's lifetime. */
import { afterEach, describe, expect, test } from "vitest";
import { type UniWebSocket, WebSocketError } from "@uniws/core";
import { acceptOne, delay, settlesWithin } from "./support/accepted.ts";
import { handshakeHeaders, Opcode, RawClient } from "./support/raw-client.ts";
import { closeServers, runtime, startServer } from "./support/runtime.ts";

afterEach(closeServers);

/** An accepted socket whose raw client keeps its side of the TCP connection open once the server ends its own. */
async function acceptHalfOpen() {
  let resolveSocket!: (socket: UniWebSocket) => void;
  const accepted = new Promise<UniWebSocket>((resolve) => (resolveSocket = resolve));
  const server = await startServer(async (context) => {
    const socket = await context.accept();
    resolveSocket(socket);
    await socket.closed;
  });
  const client = await RawClient.connect(server.port, true);
  expect((await client.handshake("/ws", handshakeHeaders(server.port))).status).toBe(101);
  return { server, socket: await accepted, client };
}

describe("close", () => {
  test("CloseAsync_ServerInitiated_CompletesHandshake", async () => {
    const { socket, client } = await acceptOne();
    const closing = socket.close(4000, "server bye");
    expect(socket.state).toBe("closeSent");
    expect(await client.readClose()).toEqual({ code: 4000, reason: "server bye" });
    if (runtime === "bun") {
      // Documented difference (docs/bun.md): Bun ends the connection right after its Close frame and never
      // reads the peer's; the socket reports the status it sent, as a clean close.
      expect(await closing).toEqual({ closeStatus: 4000, closeStatusDescription: "server bye", wasClean: true });
      expect(socket.state).toBe("closed");
      await client.waitForEnd();
      client.destroy();
      return;
    }
    client.sendClose(4000, "ack");
    const result = await closing;
    expect(result).toMatchObject({ closeStatus: 4000, closeStatusDescription: "ack", wasClean: true });
    expect(socket.state).toBe("closed");
    expect(socket.closeStatus).toBe(4000);
    await client.waitForEnd();
    client.destroy();
  });

  test("PeerInitiatedClose_ReceiveReportsStatus_EngineAnswersSameStatus", async () => {
    const { socket, client } = await acceptOne();
    client.sendClose(4001, "client bye");
    const message = await socket.receive();
    expect(message).toEqual({ type: "close", closeStatus: 4001, closeStatusDescription: "client bye" });
    expect(socket.state).toBe("closed");
    // RFC 6455 §5.5.1: the answer echoes the status.
    expect((await client.readClose()).code).toBe(4001);
    client.destroy();
  });

  test("PeerClosesAndKeepsItsTcpSideOpen_CloseSeenAtOnce_SendRejectsConnectionClosed", async () => {
    // RFC 6455 §7.1.1: the server closes the TCP connection first, and a client may wait for it. On Node `ws` ended
    // its side after echoing the Close but reported the end only once the peer closed its own, or after closeTimeout:
    // meanwhile the socket stayed `open`, receive() did not see the Close and sends were dropped silently. Deno and Bun
    // reported it at once.
    const { server, socket, client } = await acceptHalfOpen();
    const received = socket.receive();
    client.sendClose(4000, "bye");
    expect(await client.readClose()).toEqual({ code: 4000, reason: "bye" });
    expect(await settlesWithin(received, 5000)).toBe(true);
    expect(await received).toEqual({ type: "close", closeStatus: 4000, closeStatusDescription: "bye" });
    expect(socket.state).toBe("closed");
    expect(await socket.closed).toEqual({ closeStatus: 4000, closeStatusDescription: "bye", wasClean: true });
    await expect(socket.send("late")).rejects.toMatchObject({ code: "CONNECTION_CLOSED" });
    expect(server.connections()).toBe(0);
    client.destroy();
  });

  test("ServerClosesPeerAnswersAndKeepsItsTcpSideOpen_CloseResolvesAtOnce", async () => {
    const { socket, client } = await acceptHalfOpen();
    const closing = socket.close(4001, "server bye");
    expect(await client.readClose()).toEqual({ code: 4001, reason: "server bye" });
    if (runtime !== "bun") client.sendClose(4001, "ack");
    expect(await settlesWithin(closing, 5000)).toBe(true);
    // Bun ends the connection with its own Close (docs/bun.md): the status it sent, clean.
    expect(await closing).toEqual(runtime === "bun"
      ? { closeStatus: 4001, closeStatusDescription: "server bye", wasClean: true }
      : { closeStatus: 4001, closeStatusDescription: "ack", wasClean: true });
    client.destroy();
  });

  test("PeerCloseWithoutStatus_Reports1005", async () => {
    const { socket, client } = await acceptOne();
    client.sendClose();
    const result = await socket.receive(new Uint8Array(8));
    expect(result).toMatchObject({ type: "close", count: 0, endOfMessage: true, closeStatus: 1005 });
    client.destroy();
  });

  test("MessagesBeforePeerClose_AllReceivedFirst", async () => {
    const { socket, client } = await acceptOne();
    client.sendText("one");
    client.sendText("two");
    client.sendClose(1000);
    const seen: string[] = [];
    for await (const message of socket) seen.push(message.data as string);
    expect(seen).toEqual(["one", "two"]);
    expect(socket.closeStatus).toBe(1000);
    client.destroy();
  });

  test("CloseOutput_ThenPeerStillSends_ReceivedUntilPeerClose", async () => {
    const { socket, client } = await acceptOne();
    await socket.closeOutput(1000, "done sending");
    expect(socket.state).toBe("closeSent");
    expect(await client.readClose()).toEqual({ code: 1000, reason: "done sending" });
    await expect(socket.send("more")).rejects.toMatchObject({ code: "INVALID_STATE" });
    client.sendText("last words");
    client.sendClose(1000, "ok");
    if (runtime === "bun") {
      // Documented difference (docs/bun.md): Bun ends the connection right after its Close frame; what the
      // peer sends after it is never read, and the close reports the status the server sent.
      expect(await socket.receive()).toEqual({ type: "close", closeStatus: 1000, closeStatusDescription: "done sending" });
      expect(socket.state).toBe("closed");
      client.destroy();
      return;
    }
    if (runtime === "deno") {
      // Documented difference (docs/deno.md): Deno stops reading once it has sent its Close, and ends
      // the connection at the first data frame that still arrives; that message is lost.
      await expect(socket.receive()).rejects.toMatchObject({ code: "CONNECTION_CLOSED" });
      expect(await socket.closed).toMatchObject({ wasClean: false, closeStatus: 1006 });
      expect(socket.state).toBe("aborted");
      await client.waitForEnd();
      client.destroy();
      return;
    }
    expect(await socket.receive()).toEqual({ type: "text", data: "last words" });
    expect(await socket.receive()).toMatchObject({ type: "close", closeStatus: 1000 });
    expect(socket.state).toBe("closed");
    client.destroy();
  });

  test("Abort_DropsConnectionWithoutCloseFrame", async () => {
    const { socket, client } = await acceptOne();
    const pending = socket.receive();
    socket.abort();
    expect(socket.state).toBe("aborted");
    await expect(pending).rejects.toMatchObject({ code: "CONNECTION_CLOSED" });
    const result = await socket.closed;
    expect(result.wasClean).toBe(false);
    expect(result.closeStatus).toBe(1006);
    await client.waitForEnd();
    // Nothing but the end of the stream: no Close frame was written.
    await expect(client.readFrame(500)).rejects.toThrow("connection ended");
    client.destroy();
  });

  test("PeerVanishes_ClosedSettlesAborted_ReceiveRejects", async () => {
    const { socket, client } = await acceptOne();
    const pending = socket.receive();
    client.destroy();
    await expect(pending).rejects.toBeInstanceOf(WebSocketError);
    const result = await socket.closed;
    expect(result).toMatchObject({ closeStatus: 1006, wasClean: false });
    expect(socket.state).toBe("aborted");
  });

  test.each(["close", "closeOutput"] as const)("ServerSentCloseBy_%s_PeerVanishesWithoutItsOwn_EndsAbnormallyWith1006", async (method) => {
    // The server's Close reached the peer, which then dropped the TCP connection without a Close frame of its own
    // (RFC 6455 §7.1.5: no Close frame received, so the status is 1006 and the close was not clean).
    const { socket, client } = await acceptOne({ closeTimeout: 5000 });
    const closing = method === "close" ? socket.close(4000, "bye") : socket.closeOutput(4000, "bye").then(() => socket.closed);
    expect(await client.readClose()).toEqual({ code: 4000, reason: "bye" });
    client.destroy();
    const result = await closing;
    if (runtime === "bun") {
      // Documented difference (docs/bun.md): Bun ends the connection right after its Close frame and never waits
      // for the peer's, so there is no peer left to vanish: a clean close with the status it sent.
      expect(result).toEqual({ closeStatus: 4000, closeStatusDescription: "bye", wasClean: true });
      expect(socket.state).toBe("closed");
      return;
    }
    expect(result).toMatchObject({ closeStatus: 1006, closeStatusDescription: "", wasClean: false });
    expect(result.error).toBeInstanceOf(WebSocketError);
    expect(socket.state).toBe("aborted");
    await expect(socket.receive()).rejects.toMatchObject({ code: "CONNECTION_CLOSED" });
  });

  test("ServerSentEmptyClose_PeerVanishesWithoutItsOwn_1006_ButOnDenoLikeAnEmptyAnswer", async () => {
    const { socket, client } = await acceptOne({ closeTimeout: 5000 });
    const closing = socket.close(1005);
    expect(await client.readClose()).toEqual({ code: undefined, reason: "" });
    client.destroy();
    const result = await closing;
    if (runtime === "bun") {
      // Documented difference (docs/bun.md): Bun does not wait for the peer's Close.
      expect(result).toEqual({ closeStatus: 1005, closeStatusDescription: "", wasClean: true });
    } else if (runtime === "deno") {
      // Documented difference (docs/deno.md): once its Close is out, Deno reports a connection that ended without the
      // peer's Close exactly as an empty Close from the peer, which answers an empty Close as it should: uniws
      // cannot tell them apart here, and takes the answer the peer most likely gave.
      expect(result).toEqual({ closeStatus: 1005, closeStatusDescription: "", wasClean: true });
    } else {
      expect(result).toMatchObject({ closeStatus: 1006, wasClean: false });
    }
  });

  test("ServerSentCloseWithStatus_PeerAnswersWithEmptyClose_1005Clean_ButOnDenoLikeAVanishedPeer", async () => {
    const { socket, client } = await acceptOne({ closeTimeout: 5000 });
    const closing = socket.close(4000, "bye");
    expect(await client.readClose()).toEqual({ code: 4000, reason: "bye" });
    // Allowed (RFC 6455 §5.5.1 says a peer "typically" echoes the status), though browsers, ws, Deno and Bun echo it.
    client.sendClose();
    const result = await closing;
    if (runtime === "bun") {
      // Documented difference (docs/bun.md): Bun does not wait for the peer's Close.
      expect(result).toEqual({ closeStatus: 4000, closeStatusDescription: "bye", wasClean: true });
    } else if (runtime === "deno") {
      // Documented difference (docs/deno.md): Deno reports this empty answer exactly as a connection that ended
      // without the peer's Close; uniws reads it as that (ServerSentCloseBy_%s_PeerVanishesWithoutItsOwn_…).
      expect(result).toMatchObject({ closeStatus: 1006, wasClean: false });
    } else {
      expect(result).toEqual({ closeStatus: 1005, closeStatusDescription: "", wasClean: true });
    }
    client.destroy();
  });

  test("PeerVanishes_ForAwaitEndsQuietly", async () => {
    const { socket, client } = await acceptOne();
    client.sendText("a");
    const seen: string[] = [];
    const loop = (async () => {
      for await (const message of socket) {
        seen.push(message.data as string);
        client.destroy();
      }
    })();
    await loop;
    expect(seen).toEqual(["a"]);
    expect(socket.state).toBe("aborted");
  });

  test("CloseTimeout_PeerNeverAnswers_Aborts", async () => {
    const { socket, client } = await acceptOne({ closeTimeout: 200 });
    const started = Date.now();
    const result = await socket.close(1000);
    if (runtime === "bun") {
      // Documented difference (docs/bun.md): Bun does not wait for the peer's Close at all, so no close
      // timeout applies; the connection is already ended, cleanly from the server's side.
      expect(result).toMatchObject({ closeStatus: 1000, wasClean: true });
      expect(socket.state).toBe("closed");
      await client.waitForEnd();
      client.destroy();
      return;
    }
    expect(result.wasClean).toBe(false);
    expect(socket.state).toBe("aborted");
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    client.destroy();
  });

  test.each([
    [999, ""],
    [1004, ""],
    // The "no status" values close with an empty Close frame, which has no room for a reason.
    [1005, "why"],
    [1006, "why"],
    [1015, "why"],
    [5000, ""],
    [1000, "x".repeat(124)],
    [1000, "é".repeat(62)],
  ])("CloseStatus_%i_OrLongReason_ThrowsInvalidCloseStatus", async (code, reason) => {
    const { socket, client } = await acceptOne();
    await expect(socket.close(code, reason)).rejects.toMatchObject({ code: "INVALID_CLOSE_STATUS" });
    await expect(socket.closeOutput(code, reason)).rejects.toMatchObject({ code: "INVALID_CLOSE_STATUS" });
    expect(socket.state).toBe("open");
    client.destroy();
  });

  test("CloseWithReasonNotAStringOrRefusedStatus_Rejects_NothingChanged_PeerCloseStaysThePeers", async () => {
    // For JavaScript callers (the types say string): Node's engine threw its own "Cannot read properties of null"
    // for null and sent an empty reason for a number; Deno and Bun sent "null" and "42".
    const { socket, client } = await acceptOne();
    const close = socket.close as (status: number, description: unknown) => Promise<unknown>;
    const closeOutput = socket.closeOutput as (status: number, description: unknown) => Promise<unknown>;
    await expect(close.call(socket, 1000, null)).rejects.toBeInstanceOf(TypeError);
    await expect(closeOutput.call(socket, 1000, 42)).rejects.toBeInstanceOf(TypeError);
    // Nor does a refused status or reason count as the application's close: the peer's close stays the peer's.
    await expect(socket.closeOutput(999)).rejects.toMatchObject({ code: "INVALID_CLOSE_STATUS" });
    expect(socket.state).toBe("open");
    client.sendClose(4000, "peer bye");
    expect(await socket.receive()).toMatchObject({ type: "close", closeStatus: 4000 });
    await expect(socket.send("late")).rejects.toMatchObject({ code: "CONNECTION_CLOSED" });
    expect(await client.readClose()).toEqual({ code: 4000, reason: "peer bye" });
    client.destroy();
  });

  test("CloseWithStatusNotANumber_RejectsTypeError_NothingChanged", async () => {
    // For JavaScript callers (the types say number): a status read from a query string or JSON ("4000", null) was
    // INVALID_CLOSE_STATUS "Close status 4000 may not be sent" on every runtime, which names a valid status as refused.
    const { socket, client, server } = await acceptOne();
    const close = socket.close as (status: unknown, description?: string) => Promise<unknown>;
    const closeOutput = socket.closeOutput as (status: unknown, description?: string) => Promise<unknown>;
    const shutdown = socket.shutdown as (status: unknown, description?: string) => Promise<unknown>;
    await expect(close.call(socket, "4000")).rejects.toThrow(TypeError);
    await expect(close.call(socket, "4000")).rejects.toThrow("A close status is a number, got string");
    await expect(closeOutput.call(socket, null)).rejects.toThrow("A close status is a number, got null");
    await expect(shutdown.call(socket, 4000n)).rejects.toThrow(TypeError);
    await expect(server.shutdown({ closeStatus: "1001" as unknown as number })).rejects.toThrow(TypeError);
    expect(socket.state).toBe("open");
    client.sendText("still open");
    expect(await socket.receive()).toEqual({ type: "text", data: "still open" });
    client.destroy();
  });

  test("CloseWithStatus1014_RejectsInvalidCloseStatus_NothingChanged_OtherRegisteredStatusesCloseCleanly", async () => {
    // 1014 (Bad Gateway, IANA's registry) went out on every runtime, but Deno's engine takes only 1000–1013 and
    // 3000–4999 and reads the peer's echo of 1014 as no Close at all: the socket ended `aborted` (1006,
    // CONNECTION_CLOSED) on Deno and closed cleanly with 1014 elsewhere. One answer everywhere: it is refused first.
    const { socket, client, server } = await acceptOne();
    await expect(socket.close(1014, "upstream down")).rejects.toMatchObject({ code: "INVALID_CLOSE_STATUS" });
    await expect(socket.closeOutput(1014)).rejects.toMatchObject({ code: "INVALID_CLOSE_STATUS" });
    await expect(server.shutdown({ closeStatus: 1014 })).rejects.toMatchObject({ code: "INVALID_CLOSE_STATUS" });
    expect(socket.state).toBe("open");
    client.sendText("still open");
    expect(await socket.receive()).toEqual({ type: "text", data: "still open" });
    // The registered statuses below it complete the close handshake the same way on every runtime.
    const closed = socket.close(1013, "try later");
    const close = await client.readClose();
    expect(close).toEqual({ code: 1013, reason: "try later" });
    client.sendClose(close.code!, close.reason);
    expect(await closed).toMatchObject({ closeStatus: 1013, closeStatusDescription: "try later", wasClean: true });
    client.destroy();
  });

  test("PeerClosesWith1014_SeedLoopAnswersWithThatStatus_NoError", async () => {
    // The README's loop answers the peer's Close with the status it received. 1014, which the core does not send
    // itself, still reaches the handler from `ws` and Bun (Deno's engine fails it with 1002 first): answering it
    // sends nothing (the engine echoed it already) and must not throw.
    const { socket, client } = await acceptOne();
    client.sendClose(1014, "bad gateway");
    if (runtime === "deno") {
      await expect(socket.receive()).rejects.toMatchObject({ code: "CONNECTION_CLOSED", closeStatus: 1002 });
      client.destroy();
      return;
    }
    const received = await socket.receive();
    expect(received).toEqual({ type: "close", closeStatus: 1014, closeStatusDescription: "bad gateway" });
    if (received.type !== "close") throw new Error("expected the peer's close");
    expect(await socket.close(received.closeStatus, received.closeStatusDescription)).toMatchObject({ closeStatus: 1014, wasClean: true });
    await expect(socket.closeOutput(received.closeStatus)).resolves.toBeUndefined();
    // Any other status it was not given still throws, the socket being closed or not.
    await expect(socket.close(1016)).rejects.toMatchObject({ code: "INVALID_CLOSE_STATUS" });
    expect(await client.readClose()).toEqual({ code: 1014, reason: "bad gateway" });
    client.destroy();
  });

  test("CloseReasonOf123Bytes_Allowed", async () => {
    const { socket, client } = await acceptOne();
    void socket.close(3000, "r".repeat(123));
    expect(await client.readClose()).toEqual({ code: 3000, reason: "r".repeat(123) });
    client.destroy();
  });
});

describe("handler lifetime", () => {
  test("HandlerReturns_OpenSocketClosedWith1000", async () => {
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      await socket.send("bye");
    });
    const { client } = await RawClient.open(server.port, "/ws");
    expect(await client.readText()).toBe("bye");
    expect((await client.readClose()).code).toBe(1000);
    client.destroy();
  });

  test("HandlerThrows_SocketClosedWith1011_ErrorReported", async () => {
    const reported: unknown[] = [];
    const server = await startServer(async (context) => {
      await context.accept();
      throw new Error("boom");
    }, { onError: (error) => reported.push(error) });
    const { client } = await RawClient.open(server.port, "/ws");
    expect((await client.readClose()).code).toBe(1011);
    expect(reported).toHaveLength(1);
    expect((reported[0] as Error).message).toBe("boom");
    client.destroy();
  });

  test("OnErrorThatThrows_GoesToTheConsoleWithTheError_ServerKeepsServing", async () => {
    // An application's onError that throws (a logger gone): thrown from the promise reaction that reports the
    // handler's error, it was an unhandled rejection, which ends a Node process.
    const logged: unknown[][] = [];
    const consoleError = console.error;
    console.error = (...args: unknown[]) => void logged.push(args);
    try {
      const server = await startServer(async (context) => {
        if (context.url.pathname === "/early") throw new Error("early");
        await context.accept();
        throw new Error("boom");
      }, { onError: () => {
        throw new Error("logger down");
      } });
      const { client } = await RawClient.open(server.port, "/ws");
      expect((await client.readClose()).code).toBe(1011);
      client.destroy();
      const early = await RawClient.connect(server.port);
      expect((await early.handshake("/early", handshakeHeaders(server.port))).status).toBe(500);
      early.destroy();
      const again = await RawClient.open(server.port, "/ws");
      expect((await again.client.readClose()).code).toBe(1011);
      again.client.destroy();
      const reported = logged.filter((args) => args.some((arg) => arg instanceof Error && arg.message === "logger down"));
      expect(reported.map((args) => (args.find((arg) => arg instanceof Error && arg.message !== "logger down") as Error).message))
        .toEqual(["boom", "early", "boom"]);
    } finally {
      console.error = consoleError;
    }
  });

  test("HandlerThrowsBeforeAccept_Answers500", async () => {
    const reported: unknown[] = [];
    const server = await startServer(() => {
      throw new Error("early");
    }, { onError: (error) => reported.push(error) });
    const client = await RawClient.connect(server.port);
    const answer = await client.handshake("/ws", handshakeHeaders(server.port));
    expect(answer.status).toBe(500);
    expect(reported).toHaveLength(1);
    client.destroy();
  });

  test("BackgroundWorker_AwaitsClosedPromise_HandlerLivesUntilSocketEnds", async () => {
    const workers: Array<(socket: UniWebSocket) => void> = [];
    let handlerReturned = false;
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      // The seed's background processor: hand the socket over, await its completion.
      queueMicrotask(() => workers.shift()!(socket));
      await socket.closed;
      handlerReturned = true;
    });
    let workerSocket: UniWebSocket | undefined;
    workers.push((socket) => {
      workerSocket = socket;
      void socket.send("from worker");
    });
    const { client } = await RawClient.open(server.port, "/ws");
    expect(await client.readText()).toBe("from worker");
    expect(handlerReturned).toBe(false);
    void workerSocket!.close(1000, "worker done");
    expect((await client.readClose()).code).toBe(1000);
    client.sendClose(1000);
    await workerSocket!.closed;
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(handlerReturned).toBe(true);
    client.destroy();
  });

  test("ConnectionsCount_DropsToZeroWhenSocketsEnd", async () => {
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      for await (const message of socket) await socket.send(message.data);
    });
    const clients = await Promise.all([1, 2, 3].map(() => RawClient.open(server.port, "/ws")));
    expect(server.connections()).toBe(3);
    for (const { client } of clients) client.sendClose(1000);
    for (const { client } of clients) await client.waitForEnd();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.connections()).toBe(0);
    for (const { client } of clients) client.destroy();
  });
});

describe("shutdown", () => {
  test("ServerClose_Sends1001ToEverySocket_AndWaits", async () => {
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      for await (const message of socket) await socket.send(message.data);
    });
    const clients = await Promise.all([1, 2].map(() => RawClient.open(server.port, "/ws")));
    const closing = server.close();
    for (const { client } of clients) {
      expect(await client.readClose()).toEqual({ code: 1001, reason: "Server shutting down" });
      client.sendClose(1001);
    }
    expect(await settlesWithin(closing, 3000)).toBe(true);
    expect(server.connections()).toBe(0);
    for (const { client } of clients) client.destroy();
  });

  test("ShutdownWhileHandlerYetToAccept_Answered503AsANewRequest_NotReportedToOnError", async () => {
    // A handler still deciding (authenticating, say) when the server starts shutting down: its accept() throws
    // SERVER_CLOSING. Left uncaught, that was a 500 and an application error in onError on every runtime; the server's
    // own shutdown answers the request as it answers one arriving now: 503.
    const reported: unknown[] = [];
    let release!: () => void;
    const decided = new Promise<void>((resolve) => (release = resolve));
    const seen: unknown[] = [];
    const server = await startServer(async (context) => {
      await decided;
      if (context.url.pathname === "/caught") {
        try {
          await context.accept();
        } catch (error) {
          seen.push(error);
          throw error;
        }
      }
      await context.accept();
    }, { onError: (error) => reported.push(error) });
    const uncaught = await RawClient.connect(server.port);
    const caught = await RawClient.connect(server.port);
    const answers = [uncaught.handshake("/ws", handshakeHeaders(server.port)), caught.handshake("/caught", handshakeHeaders(server.port))];
    // Both handlers are waiting once the server counts their handshakes.
    while (server.stats().pendingHandshakes < 2) await delay(10);
    await server.shutdown();
    release();
    for (const answer of await Promise.all(answers)) expect(answer).toMatchObject({ status: 503, body: "Server shutting down" });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeInstanceOf(WebSocketError);
    expect(seen[0]).toMatchObject({ code: "SERVER_CLOSING" });
    await delay(50);
    expect(reported).toEqual([]);
    expect(server.connections()).toBe(0);
    uncaught.destroy();
    caught.destroy();
  });

  test("ShutdownWithCloseTimeoutZero_WaitsForThePeersClose_AsCloseDoes", async () => {
    // closeTimeout 0 is "no limit", as every 0 in the options: close() waited for the peer for ever, but the server's
    // shutdown took the 0 as its own timeout and aborted every socket at once, before any peer could answer.
    const { socket, client, server } = await acceptOne({ closeTimeout: 0 });
    const shutdown = server.shutdown();
    expect(await client.readClose()).toEqual({ code: 1001, reason: "Server shutting down" });
    await delay(50);
    client.sendClose(1001);
    await shutdown;
    // Bun ends the connection with its own Close (docs/bun.md): the status it sent, clean, there too.
    expect(await socket.closed).toMatchObject({ closeStatus: 1001, wasClean: true });
    client.destroy();
  });

  test("ServerClose_PeerNeverAnswers_FinishesWithinTimeout", async () => {
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      await socket.closed;
    });
    const { client } = await RawClient.open(server.port, "/ws");
    client.socket.pause();
    const started = Date.now();
    await server.close(); // the test harness gives peers 2 s
    expect(Date.now() - started).toBeLessThan(4000);
    expect(server.connections()).toBe(0);
    client.destroy();
  });

  test("MessagesSentBeforeShutdown_DeliveredBeforeThe1001Close", async () => {
    let ready!: () => void;
    const sent = new Promise<void>((resolve) => (ready = resolve));
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      for (let i = 0; i < 100; i++) void socket.send(`message ${i}`);
      ready();
      await socket.closed;
    });
    const { client } = await RawClient.open(server.port, "/ws");
    await sent;
    const closing = server.close();
    const texts: string[] = [];
    for (;;) {
      const message = await client.readMessage();
      if (message.opcode === Opcode.close) break;
      texts.push(new TextDecoder().decode(message.data));
    }
    expect(texts).toHaveLength(100);
    expect(texts[99]).toBe("message 99");
    client.sendClose(1001);
    await closing;
    client.destroy();
  });
});
