/**
 * What only `@uniws/deno` does: its `Deno.serve` handler shape, and each documented
 * difference of Deno's engine (docs/deno.md) pinned against the real Deno, so that a
 * Deno upgrade that changes one is noticed. Deno only (vitest.config.ts).
 */
import { afterEach, describe, expect, test } from "vitest";
import { DENO_CAPABILITIES, type DenoRequest, DenoWebSocketServer, idleTimeoutSeconds, type UniWebSocket, type WebSocketContext } from "@uniws/deno";
import { acceptOne, lateAccept } from "../support/accepted.ts";
import { handshakeAndLeave, handshakeHeaders, Opcode, RawClient } from "../support/raw-client.ts";
import { closeServers } from "../support/runtime.ts";
import { startSample, type RunningSample } from "../support/sample.ts";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  await closeServers();
  for (const stop of stops.splice(0)) await stop();
});

/** Serves `sockets.fetch(fallback)` on a free port. */
async function serve(sockets: DenoWebSocketServer, fallback?: (request: Request) => Response): Promise<number> {
  const { promise, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const stop = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: resolve, signal: stop.signal }, sockets.fetch(fallback));
  stops.push(async () => {
    await sockets.close({ timeout: 1000 });
    // Not shutdown(): it never resolves after a client left during an upgrade (Deno 2.9; docs/deno.md).
    stop.abort();
    await server.finished;
  });
  return (await promise).port;
}

describe("Deno adapter", () => {
  test("ClientGoneBeforeThe101_AcceptRejectsUpgradeFailed_NotCounted", async () => {
    // Deno drops the 101 of a client that already left and reports nothing; the adapter gives up after a grace.
    const { handler, outcome } = lateAccept();
    const sockets = new DenoWebSocketServer(handler, { onError: () => {} });
    const port = await serve(sockets);
    await handshakeAndLeave(port);
    expect(await outcome).toMatchObject({ code: "UPGRADE_FAILED" });
    expect(sockets.connections).toBe(0);
  });

  test("HandleRequest_CallerReturnsThe101AfterTheGrace_SocketStillOpens", async () => {
    // handleRequest's caller decides when Deno gets the 101: the opening grace runs from Deno's `completed`, not
    // from the answer, so a caller slower than the grace (2 s) loses no socket.
    const { promise: opened, resolve } = Promise.withResolvers<string>();
    const sockets = new DenoWebSocketServer(async (context) => {
      const socket = await context.accept();
      resolve(socket.state);
      for await (const message of socket) await socket.send(message.data);
    });
    const { promise: listening, resolve: listen } = Promise.withResolvers<Deno.NetAddr>();
    const stop = new AbortController();
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: listen, signal: stop.signal }, async (request, info) => {
      const response = await sockets.handleRequest(request, info);
      await new Promise((wait) => setTimeout(wait, 2500));
      return response ?? new Response(null, { status: 404 });
    });
    stops.push(async () => {
      await sockets.close({ timeout: 1000 });
      stop.abort();
      await server.finished;
    });
    const { port } = await listening;
    const client = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    const echoed = new Promise<unknown>((done, fail) => {
      client.onopen = () => client.send("late 101");
      client.onmessage = (event) => done(event.data);
      client.onclose = (event) => fail(new Error(`closed ${event.code}`));
    });
    expect(await opened).toBe("open");
    expect(await echoed).toBe("late 101");
    client.close();
  });

  test("Capabilities_AsDocumented", () => {
    expect(DENO_CAPABILITIES).toEqual({
      pingControl: false,
      fragmentedSend: false,
      compression: false,
      perMessageCompression: false,
      compressionParameters: "none",
      drainEvent: false,
      enforcesMaxMessageSize: false,
      http2: false,
    });
  });

  test("KeepAliveInterval_MapsOntoTwiceAsLongIdleTimeout", () => {
    expect(idleTimeoutSeconds(120_000)).toBe(240);
    expect(idleTimeoutSeconds(100)).toBe(0.2);
    expect(idleTimeoutSeconds(0)).toBe(0);
  });

  test("Fetch_RequestsTheHandlerLeaves_FallThroughToTheApp", async () => {
    const sockets = new DenoWebSocketServer(async (context) => {
      if (context.url.pathname !== "/ws") return;
      if (!context.isWebSocketRequest) return context.reject(400, "ws only");
      const socket = await context.accept();
      await socket.closed;
    });
    const port = await serve(sockets, (request) => new Response(`app: ${new URL(request.url).pathname}`, { status: 404 }));
    const page = await fetch(`http://127.0.0.1:${port}/page`);
    expect([page.status, await page.text()]).toEqual([404, "app: /page"]);
    const plain = await fetch(`http://127.0.0.1:${port}/ws`);
    expect([plain.status, await plain.text()]).toEqual([400, "ws only"]);
    // A WebSocket handshake the handler leaves goes to the app as well.
    const client = await RawClient.connect(port);
    expect((await client.handshake("/elsewhere", handshakeHeaders(port))).status).toBe(404);
    client.destroy();
    const { client: upgraded } = await RawClient.open(port, "/ws");
    upgraded.destroy();
  });

  test("HandleRequest_Unhandled_ResolvesUndefined", async () => {
    const sockets = new DenoWebSocketServer(() => {});
    expect(await sockets.handleRequest(new Request("http://127.0.0.1/x"))).toBeUndefined();
  });

  test("Native_IsTheRequestAndDenoServeInfo", async () => {
    let seen: { url: string; hostname: string } | undefined;
    const sockets = new DenoWebSocketServer((context: WebSocketContext<DenoRequest>) => {
      // Deno's Request is only readable while its response is pending.
      seen = { url: context.native.request.url, hostname: (context.native.info?.remoteAddr as Deno.NetAddr).hostname };
      return new Response("seen");
    });
    const port = await serve(sockets);
    expect(await (await fetch(`http://127.0.0.1:${port}/who`)).text()).toBe("seen");
    expect(seen).toEqual({ url: `http://127.0.0.1:${port}/who`, hostname: "127.0.0.1" });
  });

  test("SubProtocol_ListWithoutSpaces_AnsweredThoughDenosOwnOptionThrows", async () => {
    // Why the adapter sets the header itself: Deno's `protocol` option splits on ", " only.
    const request = new Request("http://127.0.0.1/ws", { headers: handshakeHeaders(1, { "Sec-WebSocket-Protocol": "superchat,chat" }) });
    expect(() => Deno.upgradeWebSocket(request, { protocol: "chat" })).toThrow(TypeError);
    const { client, answer } = await acceptOne({}, { subProtocol: "chat" }, { "Sec-WebSocket-Protocol": "superchat,chat" });
    expect(answer.headers["sec-websocket-protocol"]).toBe("chat");
    client.destroy();
  });

  test.each([1001, 1009, 1011])("ServerClose_%i_ReachesTheWire", async (code) => {
    // Deno's server-side close() takes every code a server may send (the browser's 1000/3000–4999 rule is client-only).
    const { socket, client } = await acceptOne();
    const closing = socket.close(code, "why");
    expect(await client.readClose()).toEqual({ code, reason: "why" });
    client.sendClose(code);
    expect(await closing).toMatchObject({ wasClean: true, closeStatus: code });
    client.destroy();
  });

  test("Abort_EndsTheTcpConnectionAtOnce", async () => {
    // Deno has no public terminate(): the adapter closes the socket's resource (src/terminate.ts).
    const { socket, client } = await acceptOne();
    socket.abort();
    await client.waitForEnd(2000);
    await expect(client.readFrame(300)).rejects.toThrow("connection ended");
  });

  test("InvalidUtf8Text_DenoDropsTheConnectionWithoutClose1007", async () => {
    const { socket, client } = await acceptOne();
    client.send(Opcode.text, new Uint8Array([0xff, 0xfe]));
    const result = await socket.closed;
    expect(result).toMatchObject({ wasClean: false, closeStatus: 1006, error: { code: "CONNECTION_CLOSED" } });
    expect(String((result.error as Error).message)).toContain("Invalid UTF-8");
    await client.waitForEnd();
    await expect(client.readFrame(300)).rejects.toThrow("connection ended");
  });

  test("ReservedOpcode_DenoDropsTheConnectionWithoutClose1002", async () => {
    const { socket, client } = await acceptOne();
    client.send(3, "?");
    expect(await socket.closed).toMatchObject({ wasClean: false, closeStatus: 1006 });
    await client.waitForEnd();
    await expect(client.readFrame(300)).rejects.toThrow("connection ended");
  });

  test("UnmaskedClientFrame_DenoAcceptsIt", async () => {
    // RFC 6455 §5.1 wants the server to close; Deno's engine (fastwebsockets) reads it as any frame.
    const { socket, client } = await acceptOne();
    client.send(Opcode.text, "bare", { mask: false });
    expect(await socket.receive()).toEqual({ type: "text", data: "bare" });
    client.destroy();
  });

  test("CompressionAsked_ClientOffers_OpensUncompressed", async () => {
    const { socket, client, answer } = await acceptOne({}, { dangerousEnableCompression: true }, { "Sec-WebSocket-Extensions": "permessage-deflate" });
    expect(answer.headers["sec-websocket-extensions"]).toBeUndefined();
    expect((socket as UniWebSocket).extensions).toBe("");
    client.destroy();
  });
});

/**
 * A self-signed certificate that is not a CA: Deno's TLS (rustls) refuses a CA
 * certificate as the server's own ("CaUsedAsEndEntity"), which openssl's default is.
 */
function leafCertificate() {
  const dir = mkdtempSync(join(tmpdir(), "uniws-deno-tls-"));
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-addext", "basicConstraints=critical,CA:FALSE", "-keyout", keyFile, "-out", certFile,
  ], { stdio: "ignore" });
  return { cert: readFileSync(certFile, "utf8"), certFile, keyFile, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

describe("documentation", () => {
  test("Examples_InJsDocAndDocsDenoMd_TypeCheck", async () => {
    // As Deno's standard library does: the examples a user copies must compile against the real API.
    const root = new URL("../../", import.meta.url);
    const check = new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--doc", "packages/adapter-deno/src/mod.ts", "packages/adapter-deno/src/server.ts", "examples/echo/deno.ts"],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    });
    const code = await check.output();
    expect(code.success, new TextDecoder().decode(code.stderr)).toBe(true);
    const markdown = await new Deno.Command(Deno.execPath(), { args: ["check", "--quiet", "--doc-only", "docs/deno.md"], cwd: root, stderr: "piped" }).output();
    expect(markdown.success, new TextDecoder().decode(markdown.stderr)).toBe(true);
  }, 60_000);
});

describe("echo sample on Deno", () => {
  let sample: RunningSample | undefined;
  afterEach(async () => {
    await sample?.stop();
    sample = undefined;
  });

  test("Tls_ServesPageAndEchoOverWss", async () => {
    const certificate = leafCertificate();
    stops.push(async () => certificate.dispose());
    sample = await startSample("deno", ["--port", "0", "--tls-cert", certificate.certFile, "--tls-key", certificate.keyFile]);
    expect(sample.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const client = Deno.createHttpClient({ caCerts: [certificate.cert] });
    stops.push(async () => client.close());
    const page = await fetch(`${sample.url}/`, { client });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('id="commsLog"');
    // Deno's WebSocket client takes an HttpClient (a Deno extension) to trust the test certificate.
    const ws = new WebSocket(`${sample.url.replace("https", "wss")}/ws`, { client } as unknown as string[]);
    const echoed = new Promise<string>((resolve, reject) => {
      ws.onmessage = (event) => resolve(String(event.data));
      ws.onerror = (event) => reject(new Error((event as ErrorEvent).message));
    });
    ws.onopen = () => ws.send("over tls");
    expect(await echoed).toBe("over tls");
    const closed = new Promise<CloseEvent>((resolve) => (ws.onclose = resolve));
    ws.close(1000, "bye");
    expect((await closed).code).toBe(1000);
  });
});
