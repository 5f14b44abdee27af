/**
 * `@uniws/hono` on Cloudflare's runtime for real: the Worker in tests/workerd/worker.ts,
 * bundled with rolldown and served by workerd through Miniflare, driven over TCP by the
 * raw client. Keep-alive there is what workerd allows (docs/hono.md): the Worker cannot
 * send Ping or Pong frames; workerd answers the client's Pings itself. Miniflare runs
 * under Node, Deno and Bun alike, so every runtime's run of the suite runs these.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { handshakeHeaders, type HttpAnswer, Opcode, RawClient } from "./support/raw-client.ts";
import { runtime } from "./support/runtime.ts";

describe(`hono on workerd (Miniflare launched from ${runtime})`, () => {
  let port = 0;
  let directPort = 0;
  let dispose: () => Promise<void> = async () => {};

  beforeAll(async () => {
    const { bundleWorker } = await import("./workerd/bundle.ts");
    const { Miniflare } = await import("miniflare");
    const contents = await bundleWorker();
    const miniflare = new Miniflare({
      modules: [{ type: "ESModule", path: "worker.mjs", contents }],
      compatibilityDate: "2024-09-23",
      host: "127.0.0.1",
      port: 0,
      // The Worker on workerd's own HTTP server, without Miniflare's entry Worker in front (see the POST test).
      unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
    });
    port = Number((await miniflare.ready).port);
    directPort = Number((await miniflare.unsafeGetDirectURL()).port);
    dispose = () => miniflare.dispose();
  }, 60_000);

  afterAll(() => dispose());

  async function open(path = "/ws", extra: Record<string, string | undefined> = {}) {
    return await RawClient.open(port, path, extra);
  }

  /** A route's `stats()`, as its `/stats` route answers them. */
  async function stats(route: string) {
    return await (await fetch(`http://127.0.0.1:${port}${route}/stats`)).json();
  }

  /** A route's `stats()` once its sockets have all ended (or 5 s have passed). */
  async function statsOnceEnded(route: string) {
    const deadline = Date.now() + 5000;
    while ((await stats(route)).activeConnections > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return await stats(route);
  }

  async function answer(path: string, extra: Record<string, string | undefined> = {}) {
    const client = await RawClient.connect(port);
    try {
      return await client.handshake(path, handshakeHeaders(port, extra));
    } finally {
      client.destroy();
    }
  }

  // Pins a documented difference (docs/semantics.md): workerd's HTTP server answers an absolute-form target
  // (RFC 9112 §3.2.2) 500 itself, whatever its scheme, before any Worker runs; Node, Deno and Bun serve http(s) ones.
  test("AbsoluteFormTarget_WorkerdAnswers500Itself", async () => {
    for (const target of [`http://127.0.0.1:${directPort}/ws`, `ws://127.0.0.1:${directPort}/ws`]) {
      const client = await RawClient.connect(directPort);
      const { status } = await client.handshake(target, handshakeHeaders(directPort, {}));
      expect(status, target).toBe(500);
      client.destroy();
    }
  });

  test("Upgrade_Answers101WithAcceptKey_NoSubProtocolUnlessChosen", async () => {
    const { client, answer } = await open("/ws", { "Sec-WebSocket-Protocol": "graphql-ws" });
    expect(answer.headers["sec-websocket-accept"]).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    expect(answer.headers["sec-websocket-protocol"]).toBeUndefined();
    client.destroy();
  });

  test("SubProtocol_ChosenFromClientList_Answered", async () => {
    const { client, answer } = await open("/ws", { "Sec-WebSocket-Protocol": "graphql-ws,superchat , chat" });
    expect(answer.headers["sec-websocket-protocol"]).toBe("superchat");
    client.destroy();
  });

  test("Echo_TextStaysTextBinaryStaysBinary", async () => {
    const { client } = await open();
    client.sendText("héllo");
    const text = await client.readMessage();
    expect(text.opcode).toBe(Opcode.text);
    expect(new TextDecoder().decode(text.data)).toBe("héllo");
    client.send(Opcode.binary, new Uint8Array([0, 1, 2, 255]));
    const binary = await client.readMessage();
    expect(binary.opcode).toBe(Opcode.binary);
    expect([...binary.data]).toEqual([0, 1, 2, 255]);
    client.destroy();
  });

  test("TypedContext_VariableFromEarlierMiddlewareReachesHandler", async () => {
    const { client } = await open("/greet");
    expect(await client.readText()).toBe("hello from workerd");
    client.destroy();
  });

  test("PlainRequests_HandlerAnswers400_OtherRoutesUntouched", async () => {
    const plain = await fetch(`http://127.0.0.1:${port}/ws`);
    expect(plain.status).toBe(400);
    expect(await plain.text()).toBe("Expected a WebSocket request\n");
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("plain route");
    expect((await fetch(`http://127.0.0.1:${port}/nowhere`)).status).toBe(404);
  });

  test("DisallowedOrigin_Answers403_AllowedOriginUpgrades", async () => {
    expect((await answer("/ws", { Origin: "https://evil.example" })).status).toBe(403);
    const { client } = await open("/ws", { Origin: "https://ALLOWED.example" });
    client.destroy();
  });

  test("BadHandshakes_Answered400And426", async () => {
    expect((await answer("/ws", { "Sec-WebSocket-Key": "AAAAAAAAAAAAAAAAAAAA" })).status).toBe(400);
    const wrongVersion = await answer("/ws", { "Sec-WebSocket-Version": "8" });
    expect(wrongVersion.status).toBe(426);
    expect(wrongVersion.headers["sec-websocket-version"]).toBe("13");
  });

  test("ServerClose_SendsStatusAndReason", async () => {
    const { client } = await open();
    client.sendText("close 4000 server bye");
    expect(await client.readClose()).toEqual({ code: 4000, reason: "server bye" });
    client.sendClose(4000);
    client.destroy();
  });

  test("PeerClose_AnsweredWithSameStatus", async () => {
    const { client } = await open();
    client.sendClose(4001, "client bye");
    expect((await client.readClose()).code).toBe(4001);
    client.destroy();
  });

  test("MessageOverMaxMessageSize_FailedWith1009_SocketEndsAsOnEveryRuntime", async () => {
    const { client } = await open("/limited");
    client.sendText("x".repeat(16));
    expect(await client.readText()).toBe("x".repeat(16));
    client.sendText("x".repeat(17));
    expect((await client.readClose()).code).toBe(1009);
    client.sendClose(1009);
    // Answered or not, the connection was failed: the socket ends as `ws` and Bun end it (tests/messages.test.ts).
    let report = "";
    for (let i = 0; i < 150 && report === ""; i++) {
      report = await (await fetch(`http://127.0.0.1:${port}/limited-report`)).text();
      if (report === "") await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(report).toBe("1006 false CONNECTION_CLOSED 1009");
    client.destroy();
  });

  test("HandlerThrows_ClosedWith1011", async () => {
    const { client } = await open("/throws");
    expect((await client.readClose()).code).toBe(1011);
    client.destroy();
  });

  test("IdleTimeout_TwoSocketsAtOnce_EachClosedWith1001", async () => {
    // Two requests' sockets share the middleware's timer: each is closed from its own deadline.
    const [first, second] = await Promise.all([open("/idle"), open("/idle")]);
    expect(await first.client.readClose(5000)).toEqual({ code: 1001, reason: "Idle timeout" });
    expect(await second.client.readClose(5000)).toEqual({ code: 1001, reason: "Idle timeout" });
    first.client.destroy();
    second.client.destroy();
  });

  test("KeepAliveTimeout_NeedsPings_UpgradeFailsWithUnsupported", async () => {
    // The handler's accept() rejects (UPGRADE_FAILED caused by UNSUPPORTED); the client is answered 500.
    expect((await answer("/keepalive-timeout")).status).toBe(500);
    expect(await (await fetch(`http://127.0.0.1:${port}/last-accept-error`)).text()).toBe("UPGRADE_FAILED caused by UNSUPPORTED");
  });

  test("Hub_OnPlainWorker_AddFailsAtOnceWithRequestScopedIo", async () => {
    const { client } = await open("/hub");
    expect(await client.readText()).toBe("REQUEST_SCOPED_IO");
    client.sendText("still served");
    expect(await client.readText()).toBe("still served");
    client.destroy();
  });

  test("SocketUsedFromAnotherRequest_TypedError_SocketStaysOpenAndCounted", async () => {
    const { client } = await open("/closable");
    const text = (path: string) => fetch(`http://127.0.0.1:${port}${path}`).then((response) => response.text());
    expect(await text("/closable/send")).toBe("REQUEST_SCOPED_IO");
    // close() from another request rejects at once; the socket is neither closed nor forgotten.
    expect(await text("/closable/close")).toBe("REQUEST_SCOPED_IO 1");
    client.sendText("after the failed shutdown");
    expect(await client.readText()).toBe("after the failed shutdown");
    expect(await text("/closable/connections")).toBe("1");
    // The socket's own request still closes it normally.
    client.sendClose(1000);
    expect((await client.readClose()).code).toBe(1000);
    client.destroy();
    // bun test has no expect.poll: wait for the count by hand.
    const deadline = Date.now() + 5000;
    while ((await text("/closable/connections")) !== "0" && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(await text("/closable/connections")).toBe("0");
  });

  test("MaxConnections_SecondSocketGets503WithRetryAfter_PlaceFreedWhenFirstEnds", async () => {
    const first = await open("/limited-connections");
    const refused = await answer("/limited-connections");
    expect(refused.status).toBe(503);
    expect(refused.headers["retry-after"]).toBe("5");
    first.client.sendClose(1000);
    await first.client.readClose();
    first.client.destroy();
    expect(await statsOnceEnded("/limited-connections")).toMatchObject({ activeConnections: 0, acceptedConnections: 1, rejectedHandshakes: { 503: 1 }, closedConnections: { 1000: 1 } });
    const next = await open("/limited-connections");
    next.client.destroy();
  });

  test("MessageOverWorkerdOwnLimit_Closed1009_SocketEndsAndItsPlaceIsFreed", async () => {
    const first = await open("/platform-limit");
    first.client.send(Opcode.binary, new Uint8Array(2 * 1024 * 1024));
    // workerd ends the TCP connection right after its Close while the 2 MiB is still arriving: the kernel may then
    // answer with a reset that discards the Close before the client reads it (the race RFC 6455 §7.1.1 avoids by
    // having the server close TCP last). Either way the server's figures below must record the 1009 it sent.
    const close: { code: number } | Error = await first.client.readClose().catch((error: Error) => error);
    if (close instanceof Error) expect(close.message).toBe("connection ended");
    else expect(close.code).toBe(1009);
    first.client.destroy();
    // The figures record the Close workerd sent (1009), as every runtime does for a connection the server closed.
    expect(await statsOnceEnded("/platform-limit")).toMatchObject({ activeConnections: 0, closedConnections: { 1009: 1 } });
    const next = await open("/platform-limit");
    next.client.sendText("still served");
    expect(await next.client.readText()).toBe("still served");
    next.client.destroy();
  });

  test("PeerCloseWithUnsendableStatus_Answered1002_SocketEndsAbnormally", async () => {
    for (const code of [999, 1004, 1006, 2999, 5000]) {
      const { client } = await open("/strict-close");
      client.sendClose(code);
      expect(await client.readClose(), `peer's Close ${code}`).toEqual({ code: 1002, reason: "Invalid close status" });
      client.destroy();
      expect((await statsOnceEnded("/strict-close")).activeConnections).toBe(0);
    }
    // Recorded with the 1002 the middleware sent, as Node and Bun record theirs.
    expect(await stats("/strict-close")).toMatchObject({ closedConnections: { 1002: 5 } });
  });

  test("ContentLengthZero_Upgraded_Http11WithoutHost_Answered400", async () => {
    // docs/semantics.md's rows that each runtime's HTTP server decides: workerd's.
    expect((await answer("/ws", { "Content-Length": "0" })).status).toBe(101);
    expect((await answer("/ws", { Host: undefined })).status).toBe(400);
  });

  test("RateLimit_OverBurst_Closed1008NamingTheLimit", async () => {
    const { client } = await open("/rate");
    for (let i = 0; i < 3; i++) client.sendText(`m${i}`);
    expect(await client.readClose()).toEqual({ code: 1008, reason: "maxMessagesPerSecond exceeded" });
    client.destroy();
  });

  test("RemoteAddress_FromCfConnectingIp", async () => {
    // Miniflare, like Cloudflare's edge, sets CF-Connecting-IP to the client's address.
    const direct = await open("/address");
    expect(await direct.client.readText()).toBe("127.0.0.1");
    direct.client.destroy();
    // What the binding reads is that header: an edge that names another client is believed.
    const named = await open("/address", { "CF-Connecting-IP": "203.0.113.9" });
    expect(await named.client.readText()).toBe("203.0.113.9");
    named.client.destroy();
  });

  test("KeepAlive_WorkerdAnswersClientPing_WorkerSendsNone", async () => {
    const { client } = await open();
    client.send(Opcode.ping, "are you there");
    const pong = await client.readFrame();
    expect(pong.opcode).toBe(Opcode.pong);
    expect(new TextDecoder().decode(pong.payload)).toBe("are you there");
    client.destroy();
  });

  async function exchange(head: string, to = port): Promise<{ client: RawClient; answer: HttpAnswer }> {
    const client = await RawClient.connect(to);
    client.write(head + "\r\n\r\n");
    return { client, answer: await client.readHttpAnswer() };
  }

  function requestHead(requestLine: string, extra: Record<string, string | undefined> = {}): string {
    return [requestLine, ...Object.entries(handshakeHeaders(port, extra)).map(([name, value]) => `${name}: ${value}`)].join("\r\n");
  }

  test("NonGetMethodWithUpgradeHeaders_Answered400_NoConnectionCounted", async () => {
    // On workerd's own server. Miniflare's entry Worker (wrangler dev) forwards such a request with fetch(),
    // which throws for a non-GET WebSocket: 500 before this Worker runs (docs/semantics.md).
    for (const method of ["POST", "PUT", "DELETE"]) {
      const { client, answer } = await exchange(requestHead(`${method} /any HTTP/1.1`, { "Content-Length": "0" }), directPort);
      expect(answer.status, method).toBe(400);
      client.destroy();
    }
    expect(await (await fetch(`http://127.0.0.1:${port}/any-connections`)).text()).toBe("0");
  });

  test("UpgradeNamingMoreThanWebsocket_Answered400_NoConnectionCounted", async () => {
    for (const upgrade of ["websocket, h2c", "h2c, websocket", "websocket,"]) {
      const { client, answer } = await exchange(requestHead("GET /any HTTP/1.1", { Upgrade: upgrade }));
      expect(answer.status, upgrade).toBe(400);
      client.destroy();
    }
    expect(await (await fetch(`http://127.0.0.1:${port}/any-connections`)).text()).toBe("0");
  });

  test("SubProtocolListWithEmptyElements_EmptiesIgnored_ChoiceAnswered", async () => {
    const { client, answer } = await open("/ws", { "Sec-WebSocket-Protocol": "chat, " });
    expect(answer.headers["sec-websocket-protocol"]).toBe("chat");
    client.destroy();
  });

  test("HeaderSetByMiddlewareAfterNext_OnThe101", async () => {
    const { client, answer } = await open("/cookie");
    expect(answer.headers["set-cookie"]).toBe("session=abc; Path=/");
    client.destroy();
  });

  test("AfterAccept_ContextStillReadable_StringSentAsBinaryIsBinary", async () => {
    const { client } = await open("/after-accept", { Origin: "https://site.example", "Sec-WebSocket-Protocol": "chat, other", "X-Custom": "a value" });
    expect(JSON.parse(await client.readText())).toEqual(["https://site.example", ["chat", "other"], "a value", "/after-accept", "INVALID_STATE", "none"]);
    const binary = await client.readMessage();
    expect([binary.opcode, new TextDecoder().decode(binary.data)]).toEqual([Opcode.binary, "héllo"]);
    client.destroy();
  });

  test("SendTextBytesNotUtf8_RejectsTypeErrorBeforeAnythingIsSent_SocketStaysOpen", async () => {
    const { client } = await open("/invalid-text");
    // The first frame is the handler's report: the invalid message never went out.
    expect(await client.readText()).toBe("TypeError (UTF-8) open");
    client.sendText("still served");
    expect(await client.readText()).toBe("still served");
    client.destroy();
  });

  test("PeerCloseWithoutStatus_SeedLoopAnswersEmptyClose_NoError", async () => {
    const { client } = await open("/seed");
    client.sendText("hello");
    expect(await client.readText()).toBe("hello");
    client.sendClose();
    const close = await client.readFrame();
    expect(close.opcode).toBe(Opcode.close);
    expect(close.payload.byteLength).toBe(0);
    client.destroy();
    let report = "";
    for (let tries = 0; tries < 50 && !report.startsWith("1005"); tries++) {
      report = await (await fetch(`http://127.0.0.1:${port}/seed-report`)).text();
      if (!report.startsWith("1005")) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(report).toBe("1005 0");
  });

  test("ServerClosesWithStatus_PeerVanishesWithoutItsClose_EndsAbnormallyWith1006", async () => {
    // As on Node, Deno and Bun (tests/close.test.ts): a connection that ends without the peer's Close is 1006, not clean.
    const { client } = await open("/close-then-vanish");
    expect(await client.readClose()).toEqual({ code: 4000, reason: "bye" });
    client.socket.destroy();
    let report = "";
    for (let i = 0; i < 150 && report === ""; i++) {
      report = await (await fetch(`http://127.0.0.1:${port}/close-then-vanish-report`)).text();
      if (report === "") await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(report).toBe("1006 false CONNECTION_CLOSED");
  });
});
