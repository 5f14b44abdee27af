/**
 * WebSockets over HTTP/2 extended CONNECT (RFC 8441) on `@uniws/node`, driven by
 * Node's own `http2` client on real sockets. Node only: Deno and Bun have no
 * server-side RFC 8441 (their adapters declare `http2: false`), so this file lives
 * in tests/node/, which only the Node run includes (vitest.config.ts).
 */
import { createServer as createHttp2Server, constants } from "node:http2";
import { Duplex } from "node:stream";
import type { AddressInfo } from "node:net";
import type { UniWebSocket, WebSocketContext } from "@uniws/core";
import { type Http2ConnectRequest, type NodeRequest, NodeWebSocketServer } from "@uniws/node";
import { afterEach, describe, expect, test } from "vitest";
import { WebSocket as WsClient, WebSocketServer as WsServer } from "ws";
import { connectSession, H2WebSocket } from "../support/http2/client.ts";
import { type Http2TestServer, selfSignedCertificate, startHttp2 } from "../support/http2/server.ts";
import { Opcode } from "../support/raw-client.ts";

const servers: Http2TestServer[] = [];
const cleanups: Array<() => void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

type Seen = Pick<WebSocketContext, "method" | "httpVersion" | "isWebSocketRequest" | "url" | "requestedProtocols" | "origin">;

/** An echo server that records each request's context and hands out accepted sockets. */
async function echoServer(options: Parameters<typeof startHttp2>[1] = {}, pick?: (offered: readonly string[]) => string | undefined) {
  const seen: Seen[] = [];
  const natives: Http2ConnectRequest[] = [];
  const sockets: UniWebSocket[] = [];
  const ended: Array<Promise<unknown>> = [];
  const server = await startHttp2(async (context) => {
    const { method, httpVersion, isWebSocketRequest, url, requestedProtocols, origin } = context;
    seen.push({ method, httpVersion, isWebSocketRequest, url, requestedProtocols, origin });
    if (!isWebSocketRequest) return context.reject(400, "Expected a WebSocket request\n");
    if ("stream" in context.native) natives.push(context.native);
    const socket = await context.accept({ subProtocol: pick?.(requestedProtocols) });
    sockets.push(socket);
    ended.push(socket.closed);
    for await (const message of socket) await socket.send(message.data);
  }, options);
  servers.push(server);
  const url = `http://127.0.0.1:${server.port}`;
  return { server, seen, sockets, ended, natives, url };
}

async function session(url: string, options?: Parameters<typeof connectSession>[1]) {
  const connected = await connectSession(url, options);
  cleanups.push(() => connected.session.destroy());
  return connected;
}

describe("HTTP/2 extended CONNECT (RFC 8441) on Node", () => {
  test("Settings_EnableConnectProtocol_AdvertisedOnlyWhenAttached", async () => {
    // A bare HTTP/2 server does not advertise it: a browser would then never fall back to HTTP/1.1.
    const bare = createHttp2Server((_req, res) => res.end());
    await new Promise<void>((resolve) => bare.listen(0, "127.0.0.1", resolve));
    const port = (bare.address() as AddressInfo).port;
    const before = await session(`http://127.0.0.1:${port}`);
    expect(before.enableConnectProtocol).toBe(false);
    new NodeWebSocketServer(() => {}).attach(bare);
    const after = await session(`http://127.0.0.1:${port}`);
    expect(after.enableConnectProtocol).toBe(true);
    before.session.destroy();
    after.session.destroy();
    await new Promise((resolve) => bare.close(resolve));
  });

  test("ManyWebSockets_OneSession_EchoTextAndBinary", async () => {
    const { server, seen, url } = await echoServer();
    const { session: h2 } = await session(url);
    const sockets = await Promise.all([1, 2, 3, 4, 5].map(() => H2WebSocket.open(h2, "/ws")));
    for (const socket of sockets) {
      // RFC 8441 §5: 200, and none of HTTP/1.1's upgrade headers.
      expect(socket.answer.status).toBe(200);
      expect(socket.answer.headers["sec-websocket-accept"]).toBeUndefined();
      expect(socket.answer.headers["upgrade"]).toBeUndefined();
      expect(socket.answer.headers["connection"]).toBeUndefined();
    }
    await Promise.all(sockets.map(async (socket, i) => {
      for (let round = 0; round < 20; round++) {
        socket.send(Opcode.text, `text ${i}.${round}`);
        const bytes = Uint8Array.from({ length: 100 + round * 997 }, (_, k) => (k * (i + 3)) & 0xff);
        socket.send(Opcode.binary, bytes);
        expect(await socket.readText()).toBe(`text ${i}.${round}`);
        const echoed = await socket.readMessage();
        expect(echoed.opcode).toBe(Opcode.binary);
        expect(Buffer.from(echoed.data).equals(Buffer.from(bytes))).toBe(true);
      }
    }));
    expect(server.sessions).toHaveLength(1);
    expect(server.sockets.connections).toBe(5);
    expect(seen).toHaveLength(5);
    for (const context of seen) {
      expect(context).toMatchObject({ method: "CONNECT", httpVersion: "2", isWebSocketRequest: true });
      expect(context.url.pathname).toBe("/ws");
    }
  });

  test("CloseOne_OthersStayOpen_StreamEndsCleanly", async () => {
    const { server, url } = await echoServer();
    const { session: h2 } = await session(url);
    const [first, second, third] = await Promise.all([1, 2, 3].map(() => H2WebSocket.open(h2, "/ws")));
    first!.sendClose(1000, "done");
    expect(await first!.readClose()).toEqual({ code: 1000, reason: "done" });
    first!.end();
    await first!.closed();
    // A close handshake ends both sides with END_STREAM: no reset.
    expect(first!.rstCode).toBe(constants.NGHTTP2_NO_ERROR);
    for (const socket of [second!, third!]) {
      socket.send(Opcode.text, "still here");
      expect(await socket.readText()).toBe("still here");
    }
    await expect.poll(() => server.sockets.connections).toBe(2);
  });

  test("ClientResetsStream_AbnormalClosure1006_OthersStayOpen", async () => {
    const { server, sockets, ended, natives, url } = await echoServer();
    const { session: h2 } = await session(url);
    const [doomed, survivor] = [await H2WebSocket.open(h2, "/ws"), await H2WebSocket.open(h2, "/ws")];
    doomed.reset(constants.NGHTTP2_CANCEL);
    await ended[0];
    expect(sockets[0]!.state).toBe("aborted");
    expect(sockets[0]!.closeStatus).toBe(1006);
    survivor.send(Opcode.text, "after the reset");
    expect(await survivor.readText()).toBe("after the reset");
    expect(server.sockets.connections).toBe(1);
    // Nothing of the reset stream is left: the server's stream is destroyed, the session still open.
    expect(natives[0]!.stream.destroyed).toBe(true);
    expect(natives[1]!.stream.destroyed).toBe(false);
    expect(server.sessions[0]!.destroyed).toBe(false);
  });

  test("ServerAborts_StreamResetWithCancel", async () => {
    const { sockets, url } = await echoServer();
    const { session: h2 } = await session(url);
    const socket = await H2WebSocket.open(h2, "/ws");
    const sibling = await H2WebSocket.open(h2, "/ws");
    await expect.poll(() => sockets.length).toBe(2);
    sockets[0]!.abort();
    await socket.closed();
    // RFC 8441 §5: an abrupt end is RST_STREAM CANCEL.
    expect(socket.rstCode).toBe(constants.NGHTTP2_CANCEL);
    sibling.send(Opcode.text, "still open");
    expect(await sibling.readText()).toBe("still open");
    const other = await H2WebSocket.open(h2, "/ws");
    other.send(Opcode.text, "same session");
    expect(await other.readText()).toBe("same session");
  });

  test("ServerCloses_CloseFrameThenEndStream", async () => {
    const { sockets, url } = await echoServer();
    const { session: h2 } = await session(url);
    const socket = await H2WebSocket.open(h2, "/ws");
    await expect.poll(() => sockets.length).toBe(1);
    const closing = sockets[0]!.close(1001, "going away");
    expect(await socket.readClose()).toEqual({ code: 1001, reason: "going away" });
    socket.sendClose(1001);
    socket.end();
    await closing;
    await socket.closed();
    expect(socket.rstCode).toBe(constants.NGHTTP2_NO_ERROR);
    expect(sockets[0]!.state).toBe("closed");
  });

  test("NegotiateSubProtocol_AnsweredInHeaders", async () => {
    const { seen, url } = await echoServer({}, (offered) => offered.find((name) => name === "superchat"));
    const { session: h2 } = await session(url);
    const socket = await H2WebSocket.open(h2, "/ws", { "sec-websocket-protocol": "chat, superchat" });
    expect(socket.answer.headers["sec-websocket-protocol"]).toBe("superchat");
    expect(seen[0]!.requestedProtocols).toEqual(["chat", "superchat"]);
  });

  test("NegotiateCompression_AnsweredInHeaders", async () => {
    const server = await startHttp2(async (context) => {
      const socket = await context.accept({ dangerousEnableCompression: true });
      for await (const message of socket) await socket.send(message.data);
    });
    servers.push(server);
    const { session: h2 } = await session(`http://127.0.0.1:${server.port}`);
    const socket = await H2WebSocket.open(h2, "/ws", { "sec-websocket-extensions": "permessage-deflate; client_max_window_bits" });
    expect(socket.answer.headers["sec-websocket-extensions"]).toMatch(/^permessage-deflate/);
    const plain = await H2WebSocket.open(h2, "/ws");
    expect(plain.answer.headers["sec-websocket-extensions"]).toBeUndefined();
    plain.send(Opcode.text, "uncompressed");
    expect(await plain.readText()).toBe("uncompressed");
  });

  test("OriginNotAllowed_403Status_HandlerNotRun", async () => {
    const { seen, url } = await echoServer({ allowedOrigins: ["https://good.example"] });
    const { session: h2 } = await session(url);
    const refused = await H2WebSocket.connect(h2, "/ws", { origin: "https://evil.example" });
    expect(refused.answer.status).toBe(403);
    expect(refused.socket).toBeUndefined();
    expect(seen).toHaveLength(0);
    const allowed = await H2WebSocket.open(h2, "/ws", { origin: "https://good.example" });
    allowed.send(Opcode.text, "welcome");
    expect(await allowed.readText()).toBe("welcome");
  });

  test("MaxConnections_503WithRetryAfterOnTheStream_HandlerNotRun", async () => {
    const { seen, url } = await echoServer({ maxConnections: 1 });
    const { session: h2 } = await session(url);
    const first = await H2WebSocket.open(h2, "/ws");
    const refused = await H2WebSocket.connect(h2, "/ws");
    expect(refused.answer.status).toBe(503);
    expect(refused.answer.headers["retry-after"]).toBe("5");
    expect(seen).toHaveLength(1);
    first.send(Opcode.text, "still served");
    expect(await first.readText()).toBe("still served");
  });

  test("RemoteAddress_PeerOfTheSession_ExtendedConnectAndPlainRequest", async () => {
    const addresses: Array<string | undefined> = [];
    const server = await startHttp2(async (context) => {
      addresses.push(context.remoteAddress);
      if (!context.isWebSocketRequest) return context.reject(204);
      const socket = await context.accept();
      await socket.closed;
    });
    servers.push(server);
    const { session: h2 } = await session(`http://127.0.0.1:${server.port}`);
    const socket = await H2WebSocket.open(h2, "/ws");
    const plain = h2.request({ ":path": "/plain" });
    await new Promise((resolve) => plain.on("response", resolve));
    plain.close();
    expect(addresses).toEqual(["127.0.0.1", "127.0.0.1"]);
    socket.sendClose(1000);
  });

  test("OtherProtocol_NotWebSocketRequest_HandlerAnswers", async () => {
    const { seen, url } = await echoServer();
    const { session: h2 } = await session(url);
    const other = await H2WebSocket.connect(h2, "/ws", {}, "not-websocket");
    expect(other.answer.status).toBe(400);
    expect(other.answer.body).toBe("Expected a WebSocket request\n");
    expect(seen[0]).toMatchObject({ method: "CONNECT", httpVersion: "2", isWebSocketRequest: false });
  });

  test("UnsupportedVersion_426WithSupportedVersion", async () => {
    const { seen, url } = await echoServer();
    const { session: h2 } = await session(url);
    const refused = await H2WebSocket.connect(h2, "/ws", { "sec-websocket-version": "12" });
    expect(refused.answer.status).toBe(426);
    expect(refused.answer.headers["sec-websocket-version"]).toBe("13");
    expect(seen).toHaveLength(0);
  });

  test("WebSocketConnectAnsweredWithoutAccept_Never2xx_TunnelNotOpened", async () => {
    // RFC 9110 §9.3.6: a 2xx to CONNECT opens the tunnel. A handler's 2xx page (returned or through reject) becomes 400;
    // its other statuses are kept.
    const server = await startHttp2(async (context) => {
      if (context.url.pathname === "/page") return new Response("a page", { status: 200 });
      if (context.url.pathname === "/no-content") return context.reject(204);
      if (context.url.pathname === "/teapot") return context.reject(418, "short and stout");
    });
    servers.push(server);
    const { session: h2 } = await session(`http://127.0.0.1:${server.port}`);
    for (const path of ["/page", "/no-content"]) {
      const answer = await H2WebSocket.connect(h2, path);
      expect(answer.answer.status, path).toBe(400);
      expect(answer.socket).toBeUndefined();
    }
    const teapot = await H2WebSocket.connect(h2, "/teapot");
    expect(teapot.answer.status).toBe(418);
    expect(teapot.answer.body).toBe("short and stout");
    // A handler that answers nothing leaves the request to the adapter: 404.
    expect((await H2WebSocket.connect(h2, "/nothing")).answer.status).toBe(404);
  });

  test("PlainConnect_StillAnswered405", async () => {
    const { url } = await echoServer();
    const { session: h2 } = await session(url);
    const stream = h2.request({ ":method": "CONNECT", ":authority": "example.com:443" }, { endStream: false });
    const headers = await new Promise<Record<string, unknown>>((resolve) => stream.once("response", resolve));
    expect(headers[":status"]).toBe(405);
    stream.close();
  });

  test("PathNotAttached_404", async () => {
    const { seen, url } = await echoServer({ path: "/ws" });
    const { session: h2 } = await session(url);
    const elsewhere = await H2WebSocket.connect(h2, "/elsewhere");
    expect(elsewhere.answer.status).toBe(404);
    expect(seen).toHaveLength(0);
  });

  test("PlainHttp2Request_ReachesHandlerAsHttp2", async () => {
    const { seen, url } = await echoServer();
    const { session: h2 } = await session(url);
    const stream = h2.request({ ":method": "GET", ":path": "/ws" });
    const headers = await new Promise<Record<string, unknown>>((resolve) => stream.once("response", resolve));
    stream.resume();
    expect(headers[":status"]).toBe(400);
    expect(seen[0]).toMatchObject({ method: "GET", httpVersion: "2", isWebSocketRequest: false });
  });

  test("EngineOptions_SameAsHttp1_MaxMessageSizeCloses1009", async () => {
    const { url } = await echoServer({ maxMessageSize: 1024 });
    const { session: h2 } = await session(url);
    const socket = await H2WebSocket.open(h2, "/ws");
    socket.send(Opcode.binary, new Uint8Array(1025));
    expect((await socket.readClose()).code).toBe(1009);
  });

  test("EngineOptions_SameAsHttp1_PingAnsweredWithPong", async () => {
    const { url } = await echoServer();
    const { session: h2 } = await session(url);
    const socket = await H2WebSocket.open(h2, "/ws");
    const pong = new Promise<Buffer>((resolve) => {
      socket.stream.on("data", (chunk: Buffer) => {
        if ((chunk[0]! & 0x0f) === Opcode.pong) resolve(chunk.subarray(2));
      });
    });
    socket.send(Opcode.ping, "are you there");
    expect((await pong).toString()).toBe("are you there");
  });

  test("KeepAlive_FramesOverTheStream", async () => {
    // Without a keep-alive timeout the core sends unsolicited Pongs (as ASP.NET Core does).
    const { url } = await echoServer({ keepAliveInterval: 150 });
    const { session: h2 } = await session(url);
    const socket = await H2WebSocket.open(h2, "/ws");
    const kept = new Promise<void>((resolve) => {
      socket.stream.on("data", (chunk: Buffer) => {
        if ((chunk[0]! & 0x0f) === Opcode.pong) resolve();
      });
    });
    await kept;
  });

  test("KeepAliveTimeout_SilentPeerAborted_StreamCancelled", async () => {
    const { sockets, url } = await echoServer({ keepAliveInterval: 150, keepAliveTimeout: 150 });
    const { session: h2 } = await session(url);
    const socket = await H2WebSocket.open(h2, "/ws");
    // Never read: the Pings go unanswered.
    await socket.closed(10_000);
    expect(socket.rstCode).toBe(constants.NGHTTP2_CANCEL);
    expect(sockets[0]!.state).toBe("aborted");
  });

  test("Http1AndHttp2_SamePort_TlsAllowHttp1", async () => {
    const tls = selfSignedCertificate();
    const { seen, server } = await echoServer({ tls });
    const h1 = new WsClient(`wss://127.0.0.1:${server.port}/ws`, { rejectUnauthorized: false });
    cleanups.push(() => h1.terminate());
    await new Promise((resolve, reject) => h1.once("open", resolve).once("error", reject));
    h1.send("over http/1.1");
    expect(String(await new Promise((resolve) => h1.once("message", resolve)))).toBe("over http/1.1");
    const { session: h2, enableConnectProtocol } = await session(`https://127.0.0.1:${server.port}`, { ca: tls.cert });
    expect(enableConnectProtocol).toBe(true);
    const socket = await H2WebSocket.open(h2, "/ws");
    socket.send(Opcode.text, "over http/2");
    expect(await socket.readText()).toBe("over http/2");
    expect(seen.map((context) => `${context.method} ${context.httpVersion} ${context.url.protocol}`)).toEqual(["GET 1.1 https:", "CONNECT 2 https:"]);
  });

  test("HandlerNative_IsStreamAndHeaders", async () => {
    let native: NodeRequest | undefined;
    const server = await startHttp2(async (context) => {
      native = context.native;
      await context.accept();
    });
    servers.push(server);
    const { session: h2 } = await session(`http://127.0.0.1:${server.port}`);
    await H2WebSocket.open(h2, "/ws");
    expect(native).toMatchObject({ headers: { ":method": "CONNECT", ":protocol": "websocket", ":path": "/ws" } });
    expect("stream" in native!).toBe(true);
  });
});

describe("what the HTTP/2 path relies on in ws", () => {
  // http2.ts lets `ws` run on the stream by translating the HTTP/1.1 answer `ws` writes: it must come as one
  // write, before `handleUpgrade` calls back, on any Duplex (ws PR 2165).
  test("HandleUpgrade_WritesHandshakeAnswerOnceOnAnyDuplex", async () => {
    const writes: string[] = [];
    const duplex = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        writes.push(chunk.toString("latin1"));
        callback();
      },
    });
    const engine = new WsServer({ noServer: true, handleProtocols: () => "chat" });
    const request = {
      method: "GET",
      headers: { upgrade: "websocket", connection: "Upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13", "sec-websocket-protocol": "chat" },
    };
    const upgraded = await new Promise((resolve) => engine.handleUpgrade(request as never, duplex, Buffer.alloc(0), resolve));
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n[^]*Sec-WebSocket-Protocol: chat\r\n\r\n$/);
    (upgraded as WsClient).terminate();
  });
});
