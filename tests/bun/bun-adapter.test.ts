/**
 * What only `@uniws/bun` does: its `Bun.serve` shape, and each documented difference
 * or workaround of Bun's engine (docs/bun.md) pinned against the real Bun, so that a
 * Bun upgrade that changes one is noticed. Bun only (`npm run test:bun`).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { constants, inflateRawSync } from "node:zlib";
import { afterEach, describe, expect, test } from "vitest";
import { BUN_CAPABILITIES, type BunRequest, BunWebSocketServer, type UniWebSocket, type WebSocketAcceptContext, type WebSocketContext } from "@uniws/bun";
import { acceptOne } from "../support/accepted.ts";
import { Opcode, RawClient } from "../support/raw-client.ts";
import { closeServers } from "../support/runtime.ts";
import { runSample, startSample } from "../support/sample.ts";

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  await closeServers();
  for (const stop of stops.splice(0)) await stop();
});

/** Serves `sockets` on a free port with `Bun.serve`. */
function serve(sockets: BunWebSocketServer, fallback?: (request: Request) => Response): number {
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, ...sockets.serveOptions(fallback) });
  stops.push(async () => {
    await sockets.close({ timeout: 1000 });
    await server.stop(true);
  });
  return server.port!;
}

/** A server that accepts with `acceptContext`, echoes, and hands each socket over. */
function echo(acceptContext?: (context: WebSocketContext<BunRequest>) => WebSocketAcceptContext) {
  const sockets: UniWebSocket[] = [];
  const server = new BunWebSocketServer(async (context) => {
    const socket = await context.accept(acceptContext?.(context));
    sockets.push(socket);
    for await (const message of socket) await socket.send(message.data);
  });
  return { port: serve(server), sockets, server };
}

async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const TRAILER = new Uint8Array([0x00, 0x00, 0xff, 0xff]);

/** Inflates a server message with a fresh context and at most a `windowBits` window (small output chunks keep zlib honest). */
function inflate(payload: Uint8Array, windowBits: number): string {
  const input = new Uint8Array(payload.byteLength + 4);
  input.set(payload);
  input.set(TRAILER, payload.byteLength);
  return new TextDecoder().decode(inflateRawSync(input, { windowBits, chunkSize: 64, finishFlush: constants.Z_SYNC_FLUSH }));
}

/** Text that compresses well, with repeats further apart than a 10-bit window reaches. */
function compressibleText(size: number): string {
  const block = Array.from({ length: 200 }, (_, i) => `${i.toString(36)}-${((i * 7919) % 1013).toString(36)}`).join(",");
  return block.repeat(Math.ceil(size / block.length)).slice(0, size);
}

describe("Bun adapter", () => {
  test("Capabilities_AsDocumented", () => {
    expect(BUN_CAPABILITIES).toEqual({
      pingControl: true,
      fragmentedSend: false,
      compression: true,
      perMessageCompression: true,
      compressionParameters: "presets",
      drainEvent: true,
      enforcesMaxMessageSize: true,
      http2: false,
    });
  });

  test("ServeOptions_RequestsTheHandlerLeaves_FallThroughToTheApp_NativeIsRequestAndServer", async () => {
    let native: BunRequest | undefined;
    let address: string | undefined;
    const sockets = new BunWebSocketServer(async (context) => {
      if (context.url.pathname !== "/ws") return;
      native = context.native;
    address = context.native.server.requestIP(context.native.request)?.address;
      if (!context.isWebSocketRequest) return context.reject(400, "ws only");
      const socket = await context.accept();
      await socket.closed;
    });
    const port = serve(sockets, (request) => new Response(`app: ${new URL(request.url).pathname}`));
    expect(await (await fetch(`http://127.0.0.1:${port}/page`)).text()).toBe("app: /page");
    const plain = await fetch(`http://127.0.0.1:${port}/ws`);
    expect(plain.status).toBe(400);
    expect(native?.request).toBeInstanceOf(Request);
    expect(address).toBe("127.0.0.1");
    const { client } = await RawClient.open(port, "/ws");
    await until(() => sockets.connections === 1, 5000, "the socket to be counted");
    client.destroy();
  });

  test("Fetch_InsideTheAppsOwnFetch_UpgradesAndAnswers", async () => {
    const sockets = new BunWebSocketServer(async (context) => {
      if (!context.isWebSocketRequest) return context.reject(400);
      const socket = await context.accept();
      for await (const message of socket) await socket.send(message.data);
    });
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (request, bun) => (new URL(request.url).pathname === "/ws" ? sockets.fetch(request, bun) : new Response("home")),
      websocket: sockets.websocket,
    });
    stops.push(async () => {
      await sockets.close({ timeout: 1000 });
      await server.stop(true);
    });
    expect(await (await fetch(`http://127.0.0.1:${server.port}/`)).text()).toBe("home");
    const { client } = await RawClient.open(server.port!, "/ws");
    client.sendText("hi");
    expect(await client.readText()).toBe("hi");
    client.destroy();
  });

  // Bun echoes the client's first sub-protocol unless the upgrade names one: the adapter always names it.
  test.each([
    ["NoneSelected_NoHeader", undefined, undefined],
    ["SecondSelected_Answered", "b", "b"],
  ])("SubProtocol_%s_NeverBunsEcho", async (_name, chosen, answered) => {
    const { port } = echo(() => ({ subProtocol: chosen }));
    const { client, answer } = await RawClient.open(port, "/ws", { "Sec-WebSocket-Protocol": "a, b" });
    expect(answer.headers["sec-websocket-protocol"]).toBe(answered);
    client.destroy();
  });

  test("Abort_EndsTheConnectionWithoutACloseFrame", async () => {
    const { socket, client } = await acceptOne();
    void socket.send("before");
    socket.abort();
    expect(await client.readText()).toBe("before");
    await expect(client.readFrame(1000)).rejects.toThrow("connection ended");
    expect(await socket.closed).toMatchObject({ closeStatus: 1006, wasClean: false });
    client.destroy();
  });

  test("ServerClose_BunEndsTheConnectionAfterItsClose_ReportsTheStatusItSent", async () => {
    const { socket, client } = await acceptOne();
    const closing = socket.close(4000, "bye");
    expect(socket.state).toBe("closeSent");
    expect(await client.readClose()).toEqual({ code: 4000, reason: "bye" });
    // Bun does not wait for the peer's Close: the TCP connection ends right after its own.
    await client.waitForEnd(2000);
    expect(await closing).toEqual({ closeStatus: 4000, closeStatusDescription: "bye", wasClean: true });
    client.destroy();
  });

  test("MaxMessageSize_BunClosesWith1009", async () => {
    const { socket, client } = await acceptOne({ maxMessageSize: 100 });
    client.sendText("x".repeat(101));
    expect((await client.readClose()).code).toBe(1009);
    // Bun ends the connection after its Close without waiting for the peer's: 1006, with Bun's reason as the error.
    const result = await socket.closed;
    expect(result).toMatchObject({ closeStatus: 1006, wasClean: false, error: { code: "CONNECTION_CLOSED", closeStatus: 1009 } });
    expect(String(result.error)).toContain("Received too big message");
    client.destroy();
  });

  // Protocol errors from the peer: Bun sends the Close the RFC asks for, then ends the connection
  // without waiting for the peer's; the socket reports 1006 with Bun's reason as the error.
  test.each([
    ["InvalidUtf8Text", Opcode.text, new Uint8Array([0xc3, 0x28]), undefined, 1007],
    ["ReservedOpcode", 3, new Uint8Array([0x3f]), undefined, 1002],
    ["UnmaskedFrame", Opcode.text, new TextEncoder().encode("hi"), false, 1002],
  ] as const)("ProtocolError_%s_CloseFrameThenEnd", async (_name, opcode, payload, mask, code) => {
    const { socket, client } = await acceptOne();
    client.send(opcode, payload, mask === undefined ? {} : { mask });
    expect((await client.readClose()).code).toBe(code);
    const result = await socket.closed;
    expect(result).toMatchObject({ closeStatus: 1006, wasClean: false });
    expect(result.error).toMatchObject({ code: "CONNECTION_CLOSED", closeStatus: code });
    await client.waitForEnd();
    client.destroy();
  });

  test("PeerPing_BunAnswersPong_AndItCountsAsLife", async () => {
    // keepAliveTimeout is short: the peer's own Ping must keep the socket from being aborted.
    const { socket, client } = await acceptOne({ keepAliveInterval: 150, keepAliveTimeout: 150 });
    const deadline = Date.now() + 1000;
    while (Date.now() < deadline) {
      client.send(Opcode.ping, "are you there");
      let frame = await client.readFrame();
      while (frame.opcode === Opcode.ping) frame = await client.readFrame(); // the server's own keep-alive
      expect(frame.opcode).toBe(Opcode.pong);
      expect(new TextDecoder().decode(frame.payload)).toBe("are you there");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(socket.state).toBe("open");
    client.destroy();
  });

  test("BunsOwnIdleTimeoutAndPingsAreOff_SilentPeerStaysOpen", async () => {
    // Bun's shortest idle timeout is 8 s; past it, a silent peer with keep-alive off must still be open.
    const { socket, client } = await acceptOne({ keepAliveInterval: 0 });
    await expect(client.readFrame(9000)).rejects.toThrow();
    expect(client.ended).toBe(false);
    expect(socket.state).toBe("open");
    client.sendText("still here");
    expect((await socket.receive()).type).toBe("text");
    client.destroy();
  }, 20_000);

  test("Backpressure_NothingDropped_SendWaitsForDrain", async () => {
    // 64 MiB to a client that reads nothing: Bun (no backpressure limit) queues it all, and the
    // core's send() waits for Bun's drain event past the high-water mark.
    const chunk = new Uint8Array(1024 * 1024);
    const { socket, client } = await acceptOne({ sendHighWaterMark: 4 * 1024 * 1024 });
    client.socket.pause();
    let sent = 0;
    let waited = false;
    const sending = (async () => {
      for (let i = 0; i < 64; i++) {
        chunk[0] = i;
        const pending = socket.send(chunk.slice());
        const settled = await Promise.race([pending.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 50))]);
        if (!settled) waited = true;
        await pending;
        sent++;
      }
    })();
    await until(() => waited, 10_000, "a send to wait for the buffer to drain");
    expect(socket.bufferedAmount).toBeGreaterThan(4 * 1024 * 1024);
    client.socket.resume();
    const seen: number[] = [];
    for (let i = 0; i < 64; i++) {
      const message = await client.readMessage(20_000);
      expect(message.opcode).toBe(Opcode.binary);
      expect(message.data.byteLength).toBe(chunk.byteLength);
      seen.push(message.data[0]!);
    }
    await sending;
    expect(sent).toBe(64);
    expect(seen).toEqual(Array.from({ length: 64 }, (_, i) => i));
    client.destroy();
  }, 60_000);
});

describe("Bun adapter compression", () => {
  const enabled = (extra: WebSocketAcceptContext = {}) => () => ({ dangerousEnableCompression: true, ...extra });
  // [name, accept context, client offer, Bun's answer (undefined: declined)]
  const TABLE: Array<[string, () => WebSocketAcceptContext, string, string | undefined]> = [
    ["NotEnabled_Declined", () => ({}), "permessage-deflate", undefined],
    ["Plain", enabled(), "permessage-deflate", "permessage-deflate"],
    ["ClientWindowBare", enabled(), "permessage-deflate; client_max_window_bits", "permessage-deflate"],
    ["ClientWindow12", enabled(), "permessage-deflate; client_max_window_bits=12", "permessage-deflate; client_max_window_bits=12"],
    ["ClientNoContextTakeover", enabled(), "permessage-deflate; client_no_context_takeover", "permessage-deflate; client_no_context_takeover"],
    ["ServerWindowOffered10", enabled(), "permessage-deflate; server_max_window_bits=10", "permessage-deflate; server_max_window_bits=10"],
    ["AcceptWindow11_NotOffered_AddedByServer", enabled({ serverMaxWindowBits: 11 }), "permessage-deflate", "permessage-deflate; server_max_window_bits=11"],
    ["AcceptNoTakeover_AddedByServer", enabled({ disableServerContextTakeover: true }), "permessage-deflate", "permessage-deflate; server_no_context_takeover"],
    // The seed's rules, which Bun alone does not apply: an 8-bit window and unknown parameters are declined.
    ["ServerWindow8_Declined", enabled(), "permessage-deflate; server_max_window_bits=8", undefined],
    ["UnknownParameter_Declined", enabled(), "permessage-deflate; x_max_memory=1", undefined],
    // Bun's context-free compressor has a 15-bit window: both together cannot be applied, so compression is declined.
    ["AcceptWindow12AndNoTakeover_DeclinedBunCannotApplyBoth", enabled({ serverMaxWindowBits: 12, disableServerContextTakeover: true }), "permessage-deflate", undefined],
    ["OfferedWindow12AndNoTakeover_DeclinedBunCannotApplyBoth", enabled(), "permessage-deflate; server_no_context_takeover; server_max_window_bits=12", undefined],
    ["SecondOfferTaken", enabled(), "permessage-deflate; client_max_window_bits=8, permessage-deflate; server_max_window_bits=12", "permessage-deflate; server_max_window_bits=12"],
  ];

  test.each(TABLE)("Handshake_%s_AnsweredAsPredicted_WindowHonoured", async (_name, acceptContext, offer, expected) => {
    const { port, sockets } = echo(acceptContext);
    const { client, answer } = await RawClient.open(port, "/ws", { "Sec-WebSocket-Extensions": offer });
    expect(answer.headers["sec-websocket-extensions"]).toBe(expected);
    await until(() => sockets.length === 1, 5000, "the socket");
    expect(sockets[0]!.extensions).toBe(expected ?? "");
    const text = compressibleText(16_384);
    client.sendText(text);
    const echoed = await client.readMessage();
    expect(echoed.frames[0]!.rsv1).toBe(expected !== undefined);
    if (expected === undefined) {
      expect(new TextDecoder().decode(echoed.data)).toBe(text);
    } else {
      const bits = /server_max_window_bits=(\d+)/.exec(expected)?.[1];
      expect(inflate(echoed.data, bits === undefined ? 15 : Number(bits))).toBe(text);
    }
    client.destroy();
  });

  test("ServerNoContextTakeover_EachMessageInflatesAlone", async () => {
    const { port } = echo(enabled({ disableServerContextTakeover: true }));
    const { client } = await RawClient.open(port, "/ws", { "Sec-WebSocket-Extensions": "permessage-deflate" });
    const text = compressibleText(4096);
    for (let i = 0; i < 3; i++) {
      client.sendText(text);
      const echoed = await client.readMessage();
      expect(echoed.frames[0]!.rsv1).toBe(true);
      expect(inflate(echoed.data, 15)).toBe(text);
    }
    client.destroy();
  });

  test("HandlerSeesTheClientsOwnOffer", async () => {
    let seen: string | null = null;
    const sockets = new BunWebSocketServer(async (context) => {
      const headers = context.headers;
      const socket = await context.accept({ dangerousEnableCompression: true, serverMaxWindowBits: 11 });
      // Read before accept(), the headers are a copy: the upgrade's rewrite of Bun's request does not reach it.
      seen = headers.get("sec-websocket-extensions");
      await socket.closed;
    });
    const port = serve(sockets);
    const { client } = await RawClient.open(port, "/ws", { "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits" });
    await until(() => seen !== null, 5000, "the handler");
    expect(seen).toBe("permessage-deflate; client_max_window_bits");
    client.destroy();
  });

  test("OfferDeclined_HandlerStillSeesTheClientsOfferAfterAccept", async () => {
    // Without compression the upgrade strips the offer from the request Bun sees; the headers read before keep it.
    let seen: [string | null, string | null] | undefined;
    const sockets = new BunWebSocketServer(async (context) => {
      const headers = context.headers;
      const socket = await context.accept();
      seen = [headers.get("sec-websocket-extensions"), new Headers(context.headers).get("sec-websocket-extensions")];
      await socket.closed;
    });
    const port = serve(sockets);
    const { client } = await RawClient.open(port, "/ws", { "Sec-WebSocket-Extensions": "permessage-deflate" });
    await until(() => seen !== undefined, 5000, "the handler");
    expect(seen).toEqual(["permessage-deflate", "permessage-deflate"]);
    client.destroy();
  });
});

/** A self-signed leaf certificate for 127.0.0.1, in a temporary directory. */
function leafCertificate() {
  const dir = mkdtempSync(join(tmpdir(), "uniws-bun-tls-"));
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-addext", "basicConstraints=critical,CA:FALSE", "-keyout", keyFile, "-out", certFile,
  ], { stdio: "ignore" });
  return { cert: readFileSync(certFile, "utf8"), certFile, keyFile, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

describe("echo sample on Bun", () => {
  test("Tls_ServesPageAndEchoOverWss", async () => {
    const certificate = leafCertificate();
    stops.push(async () => certificate.dispose());
    const sample = await startSample("bun", ["--port", "0", "--tls-cert", certificate.certFile, "--tls-key", certificate.keyFile]);
    stops.push(() => sample.stop());
    expect(sample.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    // Without trusting the test certificate the connection is refused: TLS really is in force.
    await expect(fetch(`${sample.url}/`)).rejects.toThrow();
    const tls = { ca: certificate.cert };
    const page = await fetch(`${sample.url}/`, { tls } as RequestInit);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('id="commsLog"');
    // Bun's WebSocket client takes `tls` options (a Bun extension) to trust the test certificate.
    const ws = new WebSocket(`${sample.url.replace("https", "wss")}/ws`, { tls } as unknown as string[]);
    const echoed = new Promise<string>((resolve, reject) => {
      ws.onmessage = (event) => resolve(String(event.data));
      ws.onerror = () => reject(new Error("WebSocket error"));
    });
    ws.onopen = () => ws.send("over tls");
    expect(await echoed).toBe("over tls");
    const closed = new Promise<CloseEvent>((resolve) => (ws.onclose = resolve));
    ws.close(1000, "bye");
    expect((await closed).code).toBe(1000);
  });

  test("H2cFlag_RefusedWithUsage", async () => {
    const result = await runSample("bun", ["--h2c"]);
    expect(result.code).toBe(2);
    expect(result.output).toContain("--h2c is not supported on Bun");
  });
});
