/**
 * The edges where runtimes used to answer the same bytes differently (issue 12): the
 * core judges the whole handshake before the handler runs and every engine then
 * upgrades exactly what the core accepted; the close, shutdown, keep-alive, hub and
 * fragmentation edges behave the same on every runtime. docs/semantics.md has the table.
 */
import { afterEach, describe, expect, test } from "vitest";
import { WebSocketError, WebSocketHub, type UniWebSocket, type WebSocketContext } from "@uniws/core";
import { acceptOne } from "./support/accepted.ts";
import { encodeFrame, handshakeHeaders, Opcode, RawClient, type HttpAnswer } from "./support/raw-client.ts";
import { adapter, adapterCapabilities, closeServers, runtime, startServer, type TestServer } from "./support/runtime.ts";

afterEach(closeServers);

/** An echo server that records each handler run and every error reported to onError. */
async function echoServer(subProtocols: string[] = []) {
  const runs: boolean[] = [];
  const errors: unknown[] = [];
  const server = await startServer(async (context: WebSocketContext) => {
    runs.push(context.isWebSocketRequest);
    if (!context.isWebSocketRequest) return context.reject(400, "plain");
    const subProtocol = context.requestedProtocols.find((offered) => subProtocols.includes(offered));
    const socket = await context.accept({ subProtocol });
    for await (const message of socket) await socket.send(message.data);
  }, { onError: (error) => errors.push(error) });
  return { server, runs, errors };
}

/** Sends exactly `head` (a request line and headers) and reads the answer. */
async function exchange(server: TestServer, head: string): Promise<{ client: RawClient; answer: HttpAnswer }> {
  const client = await RawClient.connect(server.port);
  client.write(head + "\r\n\r\n");
  return { client, answer: await client.readHttpAnswer() };
}

function requestHead(server: TestServer, extra: Record<string, string | undefined> = {}, requestLine = "GET /ws HTTP/1.1"): string {
  return [requestLine, ...Object.entries(handshakeHeaders(server.port, extra)).map(([name, value]) => `${name}: ${value}`)].join("\r\n");
}

async function echoes(client: RawClient): Promise<void> {
  client.sendText("ping?");
  expect(await client.readText()).toBe("ping?");
}

describe(`handshake edges on ${runtime} (${adapter})`, async () => {
  // Deno.serve and Bun.serve do not tell a request's HTTP version (docs/semantics.md).
  const knowsHttpVersion = runtime === "node";

  if (knowsHttpVersion) test("Http10Handshake_Answered400_HandlerNeverRuns", async () => {
    const { server, runs } = await echoServer();
    const { client, answer } = await exchange(server, requestHead(server, {}, "GET /ws HTTP/1.0"));
    expect(answer.status).toBe(400);
    expect(answer.body).toContain("HTTP/1.1");
    expect(runs).toEqual([]);
    expect(server.connections()).toBe(0);
    client.destroy();
  });

  // Pins the documented gap (docs/semantics.md): if the runtime starts telling the version, this fails and the row changes.
  if (!knowsHttpVersion) test("Http10Handshake_RuntimeDoesNotTellTheVersion_Upgraded", async () => {
    const { server, runs } = await echoServer();
    const { client, answer } = await exchange(server, requestHead(server, {}, "GET /ws HTTP/1.0"));
    expect(answer.status).toBe(101);
    expect(runs).toEqual([true]);
    client.destroy();
  });

  // Pins the rows the runtimes' own HTTP servers decide (docs/semantics.md): if one changes, the row changes.
  test("ContentLengthZero_Upgraded_ExceptDenoServeAnswers400BeforeTheHandler", async () => {
    const { server, runs } = await echoServer();
    const { client, answer } = await exchange(server, requestHead(server, { "Content-Length": "0" }));
    if (runtime === "deno") {
      expect(answer.status).toBe(400);
      expect(runs).toEqual([]);
    } else {
      expect(answer.status).toBe(101);
      await echoes(client);
    }
    client.destroy();
  });

  test("Http11WithoutHost_UpgradedOnNodeAndDeno_BunServeAnswers400BeforeTheHandler", async () => {
    const { server, runs } = await echoServer();
    const { client, answer } = await exchange(server, requestHead(server, { Host: undefined }));
    if (runtime === "bun") {
      expect(answer.status).toBe(400);
      expect(runs).toEqual([]);
    } else {
      expect(answer.status).toBe(101);
      await echoes(client);
    }
    client.destroy();
  });

  test("Http10WithoutHost_ContextUrlOnLocalhost_HandlerAnswers", async () => {
    // HTTP/1.0 needs no Host. Bun then gives a relative request URL ("/page"), and reading context.url threw a
    // TypeError: the README's routing handler answered 500 and logged for any such request. The host falls back to
    // localhost, as Node's does (Deno names its own port).
    const errors: unknown[] = [];
    const seen: string[] = [];
    const server = await startServer((context: WebSocketContext) => {
      seen.push(`${context.url.hostname} ${context.url.pathname}${context.url.search}`);
      context.reject(418);
    }, { onError: (error) => errors.push(error) });
    for (const target of ["/page?q=1", "//other.example/page"]) {
      const client = await RawClient.connect(server.port);
      client.write(`GET ${target} HTTP/1.0\r\n\r\n`);
      expect((await client.readHttpAnswer()).status).toBe(418);
      client.destroy();
    }
    expect(errors).toEqual([]);
    expect(seen).toEqual(["localhost /page?q=1", "localhost //other.example/page"]);
  });

  test("TargetStartingWithTwoSlashes_IsThePath_HostStaysTheHostHeaders", async () => {
    // RFC 9112 §3.2.1: an origin-form target is the path (and query); "//other.example/ws" names no other host, as
    // Deno and Bun read it. Read as a URL reference it made the host the client's choice and the path "/ws".
    const seen: Array<{ host: string; pathname: string; search: string }> = [];
    const server = await startServer(async (context: WebSocketContext) => {
      seen.push({ host: context.url.host, pathname: context.url.pathname, search: context.url.search });
      const socket = await context.accept();
      await socket.close();
    });
    for (const target of ["//other.example/ws?room=1", "///ws"]) {
      const { client, answer } = await exchange(server, requestHead(server, {}, `GET ${target} HTTP/1.1`));
      expect(answer.status).toBe(101);
      client.destroy();
    }
    expect(seen).toEqual([
      { host: `127.0.0.1:${server.port}`, pathname: "//other.example/ws", search: "?room=1" },
      { host: `127.0.0.1:${server.port}`, pathname: "///ws", search: "" },
    ]);
  });

  test("AsteriskFormTarget_Answered400_HandlerNeverRuns", async () => {
    // RFC 9112 §3.2.4: "*" is the target of a server-wide OPTIONS only. Deno.serve and Bun.serve answer 400; Node's
    // parser took it, and the handler upgraded the path "/*".
    const { server, runs } = await echoServer();
    for (const head of [requestHead(server, {}, "GET * HTTP/1.1"), `GET * HTTP/1.1\r\nHost: 127.0.0.1:${server.port}`]) {
      const { client, answer } = await exchange(server, head);
      expect(answer.status, head.split("\r\n").length > 2 ? "upgrade" : "plain").toBe(400);
      client.destroy();
    }
    expect(runs).toEqual([]);
    expect(server.connections()).toBe(0);
  });

  test("AbsoluteFormTarget_Upgraded_ContextUrlIsTheTarget", async () => {
    // RFC 9112 §3.2.2: a server MUST accept the absolute form; the URL is the target (Bun builds it from Host, the same here).
    const seen: string[] = [];
    const server = await startServer(async (context: WebSocketContext) => {
      seen.push(context.url.href);
      if (!context.isWebSocketRequest) return context.reject(418);
      const socket = await context.accept();
      for await (const message of socket) await socket.send(message.data);
    });
    const target = `http://127.0.0.1:${server.port}/ws?room=1`;
    const { client, answer } = await exchange(server, requestHead(server, {}, `GET ${target} HTTP/1.1`));
    expect(answer.status).toBe(101);
    await echoes(client);
    client.destroy();
    const plain = await exchange(server, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}`);
    expect(plain.answer.status).toBe(418);
    plain.client.destroy();
    expect(seen).toEqual([target, target]);
  });

  // Pins the documented gap (docs/semantics.md): Bun.serve builds the request URL from Host and the target's path, and
  // shows JavaScript nothing else of an absolute-form target; RFC 9112 §3.2.2 says the target's authority wins.
  test("AbsoluteFormTargetNamingAnotherHost_TargetOnNodeAndDeno_BunReadsHost", async () => {
    const seen: string[] = [];
    const server = await startServer(async (context: WebSocketContext) => {
      seen.push(context.url.href);
      const socket = await context.accept();
      await socket.close();
    });
    const { client, answer } = await exchange(server, requestHead(server, {}, "GET http://other.example:81/ws?room=1 HTTP/1.1"));
    expect(answer.status).toBe(101);
    client.destroy();
    expect(seen).toEqual([runtime === "bun" ? `http://127.0.0.1:${server.port}/ws?room=1` : "http://other.example:81/ws?room=1"]);
  });

  test("AbsoluteFormTargetOfAnotherScheme_Answered400_HandlerNeverRuns", async () => {
    // RFC 9110 §4.2: an HTTP server serves http and https URIs. Bun.serve answers 400 to `GET ws://host/ws` before
    // any handler; Node's and Deno's servers took it and the handler saw a `ws:` URL. The core answers 400 everywhere,
    // upgrade or not (workerd answers every absolute-form target 500 itself: docs/semantics.md).
    const { server, runs } = await echoServer();
    const authority = `127.0.0.1:${server.port}`;
    for (const target of [`ws://${authority}/ws`, `wss://${authority}/ws`, `ftp://${authority}/ws`, `WS://${authority}/ws`]) {
      for (const head of [requestHead(server, {}, `GET ${target} HTTP/1.1`), `GET ${target} HTTP/1.1\r\nHost: ${authority}`]) {
        const { client, answer } = await exchange(server, head);
        expect(answer.status, `${target} ${head.includes("Upgrade") ? "upgrade" : "plain"}`).toBe(400);
        client.destroy();
      }
    }
    expect(runs).toEqual([]);
    expect(server.connections()).toBe(0);
    // Either case of http and https is still served (RFC 3986 §3.1: schemes are case-insensitive).
    const { client, answer } = await exchange(server, requestHead(server, {}, `GET HTTP://${authority}/ws HTTP/1.1`));
    expect(answer.status).toBe(101);
    await echoes(client);
    client.destroy();
  });

  test("UpgradeNamingMoreThanWebsocket_Answered400_HandlerNeverRuns", async () => {
    // RFC 6455 §4.2.1 asks only that Upgrade contain "websocket", but workerd upgrades nothing else: no runtime does.
    const { server, runs } = await echoServer();
    for (const upgrade of ["websocket, h2c", "h2c, WebSocket", "websocket,"]) {
      const { client, answer } = await exchange(server, requestHead(server, { Upgrade: upgrade }));
      expect(answer.status, upgrade).toBe(400);
      client.destroy();
    }
    expect(runs).toEqual([]);
    expect(server.connections()).toBe(0);
    // The token in any case is still a WebSocket request.
    const { client, answer } = await exchange(server, requestHead(server, { Upgrade: "WebSocket", Connection: "keep-alive, Upgrade" }));
    expect(answer.status).toBe(101);
    await echoes(client);
    client.destroy();
  });

  test("SubProtocolListWithEmptyElements_EmptiesIgnored_ChoiceAnswered", async () => {
    // RFC 9110 §5.6.1: empty list elements are ignored.
    const { server, errors } = await echoServer(["chat"]);
    for (const offer of ["chat, ", ", chat", "superchat,,chat"]) {
      const { client, answer } = await exchange(server, requestHead(server, { "Sec-WebSocket-Protocol": offer }));
      expect(answer.status).toBe(101);
      expect(answer.headers["sec-websocket-protocol"]).toBe("chat");
      await echoes(client);
      client.destroy();
    }
    expect(errors).toEqual([]);
  });

  test("SubProtocolListWithInvalidToken_Answered400_HandlerNeverRuns", async () => {
    const { server, runs } = await echoServer(["chat"]);
    const { client, answer } = await exchange(server, requestHead(server, { "Sec-WebSocket-Protocol": "chat, a b" }));
    expect(answer.status).toBe(400);
    expect(runs).toEqual([]);
    client.destroy();
  });

  test("NonGetMethodWithUpgradeHeaders_Answered400_HandlerNeverRuns", async () => {
    const { server, runs } = await echoServer();
    for (const method of ["POST", "PUT", "DELETE", "OPTIONS"]) {
      const { client, answer } = await exchange(server, requestHead(server, { "Content-Length": "0" }, `${method} /ws HTTP/1.1`));
      expect(answer.status, method).toBe(400);
      client.destroy();
    }
    expect(runs).toEqual([]);
    expect(server.connections()).toBe(0);
  });

  test("VersionListOrOtherVersion_Answered426WithVersion13", async () => {
    const { server, runs } = await echoServer();
    for (const version of ["13, 8", "8, 13", "14"]) {
      const { client, answer } = await exchange(server, requestHead(server, { "Sec-WebSocket-Version": version }));
      expect(answer.status, version).toBe(426);
      expect(answer.headers["sec-websocket-version"]).toBe("13");
      client.destroy();
    }
    expect(runs).toEqual([]);
  });

  test("KeyNotSixteenBytesOfBase64_Answered400_HandlerNeverRuns", async () => {
    const { server, runs } = await echoServer();
    for (const key of ["dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ==, dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="]) {
      const { client, answer } = await exchange(server, requestHead(server, { "Sec-WebSocket-Key": key }));
      expect(answer.status, key).toBe(400);
      client.destroy();
    }
    expect(runs).toEqual([]);
  });
});

describe(`close edges on ${runtime} (${adapter})`, () => {
  test("PeerCloseWithoutStatus_SeedLoopAnswersEmptyClose_NoError", async () => {
    // The README's seed loop: receive until Close, then close with the status received.
    const errors: unknown[] = [];
    const result: { status?: number } = {};
    let handlerDone!: () => void;
    const done = new Promise<void>((resolve) => (handlerDone = resolve));
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      const buffer = new Uint8Array(4096);
      let received = await socket.receive(buffer);
      while (received.type !== "close") {
        await socket.send(buffer.subarray(0, received.count), { type: received.type, endOfMessage: received.endOfMessage });
        received = await socket.receive(buffer);
      }
      result.status = received.closeStatus;
      try {
        await socket.close(received.closeStatus, received.closeStatusDescription);
      } finally {
        handlerDone();
      }
    }, { onError: (error) => errors.push(error) });
    const { client } = await RawClient.open(server.port, "/ws");
    client.sendText("hello");
    expect(await client.readText()).toBe("hello");
    client.sendClose(); // what a browser's plain ws.close() sends
    const close = await client.readFrame();
    expect(close.opcode).toBe(Opcode.close);
    expect(close.payload.byteLength).toBe(0);
    await client.waitForEnd();
    await done;
    expect(result.status).toBe(1005);
    // The handler's close resolved, and returning after it reported nothing.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(errors).toEqual([]);
  });

  test("CloseWithNoStatusValue_SendsCloseFrameWithoutBody", async () => {
    for (const status of [1005, 1006, 1015]) {
      const { socket, client } = await acceptOne();
      const closing = socket.close(status);
      const frame = await client.readFrame();
      expect(frame.opcode, String(status)).toBe(Opcode.close);
      expect(frame.payload.byteLength).toBe(0);
      client.sendClose();
      const result = await closing;
      expect(result.wasClean).toBe(true);
      client.destroy();
      await closeServers();
    }
  });

  test("CloseWithNoStatusValueAndReason_ThrowsInvalidCloseStatus", async () => {
    const { socket, client } = await acceptOne();
    await expect(socket.close(1005, "why")).rejects.toMatchObject({ code: "INVALID_CLOSE_STATUS" });
    await expect(socket.closeOutput(1004)).rejects.toMatchObject({ code: "INVALID_CLOSE_STATUS" });
    expect(socket.state).toBe("open");
    client.destroy();
  });

  test("ShutdownWithInvalidStatusOrLongDescription_RejectsTyped_SocketsUntouched", async () => {
    const { server, socket, client } = await acceptOne();
    for (const options of [{ statusDescription: "é".repeat(62) }, { closeStatus: 1005 as number, statusDescription: "x" }, { closeStatus: 999 }, { timeout: -1 }]) {
      const failure = await server.shutdown(options).then(() => undefined, (error: unknown) => error);
      expect(failure instanceof WebSocketError || failure instanceof RangeError, JSON.stringify(options)).toBe(true);
    }
    const typed = await server.shutdown({ statusDescription: "x".repeat(124) }).catch((error: unknown) => error);
    expect(typed).toBeInstanceOf(WebSocketError);
    expect(typed).toMatchObject({ code: "INVALID_CLOSE_STATUS" });
    // Nothing was touched: the socket still echoes, and new WebSocket requests are still accepted.
    expect(socket.state).toBe("open");
    await socket.send("still open");
    expect(await client.readText()).toBe("still open");
    const { client: second } = await RawClient.open(server.port, "/ws");
    second.destroy();
    client.destroy();
  });
});

describe(`keep-alive, hub and fragments on ${runtime} (${adapter})`, async () => {
  const capabilities = await adapterCapabilities();

  if (capabilities.pingControl) test("KeepAliveTimeoutAboveInterval_PingAfterEveryQuietInterval", async () => {
    const { client } = await acceptOne({ keepAliveInterval: 100, keepAliveTimeout: 1000 });
    let pings = 0;
    const until = Date.now() + 1250;
    for (;;) {
      const left = until - Date.now();
      if (left <= 0) break;
      const frame = await client.readFrame(left).catch(() => undefined);
      if (frame === undefined) break;
      if (frame.opcode === Opcode.ping) {
        pings++;
        client.send(Opcode.pong, frame.payload);
      }
    }
    // A Ping after every quiet interval: about 12 in 1.25 s, where one per timeout would give 1.
    expect(pings).toBeGreaterThanOrEqual(5);
    expect(pings).toBeLessThanOrEqual(13);
    client.destroy();
  });

  test("HubWithoutBackplane_ReadyAfterJoin_Resolves_SocketStaysOpen", async () => {
    const hub = new WebSocketHub();
    const joined: { socket?: UniWebSocket } = {};
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      hub.add(socket);
      await hub.join(socket, "room");
      await hub.ready();
      joined.socket = socket;
      hub.sendToGroup("room", "joined");
      await socket.closed;
    });
    const { client } = await RawClient.open(server.port, "/ws");
    expect(await client.readText()).toBe("joined");
    expect(joined.socket?.state).toBe("open");
    client.destroy();
    await hub.close();
  });

  test("MessageWithinMaxMessageSize_InManySmallFragments_ArrivesWhole", async () => {
    // 4 MiB in 64-byte frames: 65,536 fragments, past `ws`'s default limit of 16,384.
    const { socket, client } = await acceptOne({ maxMessageSize: 64 * 1024 * 1024 });
    const size = 4 * 1024 * 1024;
    const part = new Uint8Array(64).fill(7);
    const frames: Uint8Array[] = [];
    for (let offset = 0; offset < size; offset += 64) {
      frames.push(encodeFrame(offset === 0 ? Opcode.binary : Opcode.continuation, part, { fin: offset + 64 === size }));
    }
    const wire = new Uint8Array(frames.reduce((sum, frame) => sum + frame.byteLength, 0));
    let at = 0;
    for (const frame of frames) {
      wire.set(frame, at);
      at += frame.byteLength;
    }
    client.write(wire);
    const message = await socket.receive();
    expect(message.type).toBe("binary");
    expect(message.type === "binary" && message.data.byteLength).toBe(size);
    expect(socket.state).toBe("open");
    client.destroy();
  }, 30_000);
});
