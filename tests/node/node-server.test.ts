/** @uniws/node on real node:http and node:https servers, with the `ws` package as an independent client. */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from "node:http";
import { createServer as createSecureServer } from "node:https";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import WebSocket from "ws";
import { NodeWebSocketServer, type WebSocketHandler } from "@uniws/node";
import { handshakeHeaders, RawClient } from "../support/raw-client.ts";
import { makeCertificate } from "../support/tls.ts";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const echo: WebSocketHandler = async (context) => {
  if (!context.isWebSocketRequest) return context.reject(400);
  const socket = await context.accept();
  for await (const message of socket) await socket.send(message.data);
};

async function listen(server: Server | ReturnType<typeof createSecureServer>): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

function open(url: string, options?: WebSocket.ClientOptions): Promise<WebSocket> {
  const client = new WebSocket(url, options);
  cleanups.push(() => client.terminate());
  return new Promise((resolve, reject) => {
    client.once("open", () => resolve(client));
    client.once("error", reject);
  });
}

function nextMessage(client: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => client.once("message", (data: Buffer, isBinary: boolean) => resolve({ data, isBinary })));
}

describe("@uniws/node on an existing server", () => {
  test("Attach_OtherRoutesUntouched_UpgradesOnPathOnly", async () => {
    const server = createServer((_req, res) => res.end("app route"));
    new NodeWebSocketServer(echo).attach(server, { path: "/ws" });
    const port = await listen(server);
    expect(await (await fetch(`http://127.0.0.1:${port}/anything`)).text()).toBe("app route");
    const client = await open(`ws://127.0.0.1:${port}/ws`);
    client.send("via ws client");
    expect((await nextMessage(client)).data.toString()).toBe("via ws client");
    // Another path, and no other upgrade listener: answered 404 instead of hanging.
    const raw = await RawClient.connect(port);
    expect((await raw.handshake("/elsewhere", handshakeHeaders(port))).status).toBe(404);
    raw.destroy();
  });

  test("Attach_OtherUpgradeListenerKeepsItsPaths", async () => {
    const server = createServer();
    new NodeWebSocketServer(echo).attach(server, { path: "/ws" });
    server.on("upgrade", (req, socket) => {
      if (req.url === "/legacy") socket.end("HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\n\r\n");
    });
    const port = await listen(server);
    const raw = await RawClient.connect(port);
    expect((await raw.handshake("/legacy", handshakeHeaders(port))).status).toBe(418);
    raw.destroy();
  });

  test("HandleRequest_HandlerDoesNotAnswer_ReturnsFalseForAppRouting", async () => {
    const sockets = new NodeWebSocketServer(() => {});
    const server = createServer(async (req, res) => {
      if (!(await sockets.handleRequest(req, res))) res.end("fell through");
    });
    const port = await listen(server);
    expect(await (await fetch(`http://127.0.0.1:${port}/ws`)).text()).toBe("fell through");
  });

  test("ServerClose_ClosesSocketsWith1001_CallbackAfterTheyEnd", async () => {
    const server = createServer();
    const sockets = new NodeWebSocketServer(echo).attach(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const clients = await Promise.all([1, 2, 3].map(() => open(`ws://127.0.0.1:${port}/`)));
    const codes = clients.map((client) => new Promise<number>((resolve) => client.once("close", (code: number) => resolve(code))));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    expect(await Promise.all(codes)).toEqual([1001, 1001, 1001]);
    await closed;
    expect(sockets.connections).toBe(0);
  });

  test("WsClientFragments_AndBinary_EchoedWhole", async () => {
    const server = createServer();
    new NodeWebSocketServer(echo).attach(server);
    const port = await listen(server);
    const client = await open(`ws://127.0.0.1:${port}/`);
    client.send("frag", { fin: false });
    client.send("mented", { fin: true });
    expect((await nextMessage(client)).data.toString()).toBe("fragmented");
    client.send(Buffer.from([9, 8, 7]));
    const binary = await nextMessage(client);
    expect(binary.isBinary).toBe(true);
    expect([...binary.data]).toEqual([9, 8, 7]);
  });

  test("RepeatedHeaders_ReadAsNodeJoinsThem", async () => {
    // The core reads an upgrade's headers from `rawHeaders`, so that Node never builds its header object for the
    // core's few reads: a repeated header must still read as Node's own `req.headers` gives it.
    let seen: { origin?: string; protocols?: readonly string[]; host?: string } = {};
    let nodes: IncomingHttpHeaders = {};
    const server = createServer();
    new NodeWebSocketServer(async (context) => {
      seen = { origin: context.origin, protocols: context.requestedProtocols, host: context.url.host };
      nodes = (context.native as IncomingMessage).headers;
      const socket = await context.accept({ subProtocol: "b" });
      await socket.close();
    }).attach(server);
    const port = await listen(server);
    const raw = await RawClient.connect(port);
    cleanups.push(() => raw.destroy());
    const lines = [
      "GET /ws HTTP/1.1",
      `Host: 127.0.0.1:${port}`,
      "Host: elsewhere.example",
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
      "Origin: https://a.example",
      "origin: https://b.example",
      "Sec-WebSocket-Protocol: a",
      "sec-websocket-protocol: b, c",
    ];
    raw.write(lines.join("\r\n") + "\r\n\r\n");
    const answer = await raw.readHttpAnswer();
    expect(answer.status).toBe(101);
    expect(answer.headers["sec-websocket-protocol"]).toBe("b");
    expect(seen).toEqual({ origin: "https://a.example, https://b.example", protocols: ["a", "b", "c"], host: `127.0.0.1:${port}` });
    // Node's own reading: Origin joined, Host's first value kept.
    expect(nodes.origin).toBe(seen.origin);
    expect(nodes.host).toBe(seen.host);
  });

  test("Https_WssEcho", async () => {
    const certificate = makeCertificate();
    cleanups.push(() => certificate.dispose());
    const server = createSecureServer({ cert: certificate.cert, key: certificate.key });
    new NodeWebSocketServer(echo).attach(server);
    const port = await listen(server);
    let secure: boolean | undefined;
    const sockets = new NodeWebSocketServer(async (context) => {
      secure = context.url.protocol === "https:";
      await echo(context);
    });
    const secureServer = createSecureServer({ cert: certificate.cert, key: certificate.key });
    sockets.attach(secureServer);
    const securePort = await listen(secureServer);
    const client = await open(`wss://127.0.0.1:${securePort}/ws`, { rejectUnauthorized: false });
    client.send("over tls");
    expect((await nextMessage(client)).data.toString()).toBe("over tls");
    expect(secure).toBe(true);
    expect(port).toBeGreaterThan(0);
  });

  test("Https_UrlFirstReadAfterAccept_HttpsWithTheHostSent", async () => {
    const certificate = makeCertificate();
    cleanups.push(() => certificate.dispose());
    const sockets = new NodeWebSocketServer(async (context) => {
      // Nothing read before the answer: the answered request builds the URL from what it kept.
      const socket = await context.accept();
      await socket.send(`${context.method} ${context.httpVersion} ${context.url.href} ${context.remoteAddress}`);
      await socket.close();
    });
    const secureServer = createSecureServer({ cert: certificate.cert, key: certificate.key });
    sockets.attach(secureServer);
    const port = await listen(secureServer);
    const client = await open(`wss://127.0.0.1:${port}/ws?room=7`, { rejectUnauthorized: false, headers: { host: `example.test:${port}` } });
    expect((await nextMessage(client)).data.toString()).toBe(`GET 1.1 https://example.test:${port}/ws?room=7 127.0.0.1`);
  });
});
