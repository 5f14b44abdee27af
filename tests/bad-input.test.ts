/**
 * Bad input from raw TCP clients: malformed handshakes and frames that break RFC 6455. Each gets its stated
 * answer — an HTTP status, or a Close code — and a well-behaved client connected to the same server at the
 * same time keeps being served. Where an engine answers differently, the difference is asserted here and
 * listed in docs/reliability.md.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { UniWebSocket, WebSocketContext, WebSocketOptions } from "@uniws/core";
import { closePayload, encodeFrame, handshakeHeaders, Opcode, RawClient } from "./support/raw-client.ts";
import { adapterCapabilities, closeServers, runtime, startServer, type TestServer } from "./support/runtime.ts";

afterEach(closeServers);

interface EchoServer {
  server: TestServer;
  /** Every socket the handler accepted, in order. */
  sockets: UniWebSocket[];
  /** How many times the handler ran. */
  calls(): number;
}

async function echoServer(options?: WebSocketOptions): Promise<EchoServer> {
  const sockets: UniWebSocket[] = [];
  let calls = 0;
  const server = await startServer(async (context: WebSocketContext) => {
    calls++;
    if (!context.isWebSocketRequest) return context.reject(400, "not a WebSocket request");
    const socket = await context.accept();
    sockets.push(socket);
    for await (const message of socket) await socket.send(message.data);
  }, { onError: () => {}, ...options });
  return { server, sockets, calls: () => calls };
}

/** A well-behaved client, open before the bad input arrives; `check` proves it is still served afterwards. */
async function bystander(server: TestServer) {
  const { client } = await RawClient.open(server.port, "/ws");
  client.sendText("before");
  expect(await client.readText()).toBe("before");
  return {
    client,
    async check(): Promise<void> {
      for (let i = 0; i < 3; i++) {
        client.sendText(`after ${i}`);
        expect(await client.readText()).toBe(`after ${i}`);
      }
      expect(client.ended).toBe(false);
    },
  };
}

/** Polls `condition` every 20 ms for up to `ms`. */
async function eventually(condition: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/**
 * How the server ended a connection: the code of its Close frame (answered, as a client does), or
 * `"dropped"` when it closed the TCP connection without one.
 */
async function serverAnswer(client: RawClient): Promise<number | "dropped"> {
  for (;;) {
    let frame;
    try {
      frame = await client.readFrame(5000);
    } catch (error) {
      if ((error as Error).message === "connection ended") return "dropped";
      throw error;
    }
    if (frame.opcode === Opcode.close) {
      const code = frame.payload.byteLength >= 2 ? new DataView(frame.payload.buffer, frame.payload.byteOffset).getUint16(0) : 1005;
      if (!client.ended) client.sendClose(code);
      await client.waitForEnd(5000);
      return code;
    }
  }
}

/**
 * The answer to a protocol error. Deno's engine fails the connection without a Close frame (RFC 6455 §7.1.7
 * says it SHOULD send one); `ws` on Node and Bun's engine send the Close frame with the code, then end TCP.
 */
const failWith = (code: number): number | "dropped" => (runtime === "deno" ? "dropped" : code);

describe("bad handshakes", () => {
  const cases: Array<[string, Record<string, string | undefined>, string, number]> = [
    ["MissingKey", { "Sec-WebSocket-Key": undefined }, "GET", 400],
    ["KeyNotSixteenBytes", { "Sec-WebSocket-Key": "c2hvcnQ=" }, "GET", 400],
    ["KeyNotBase64", { "Sec-WebSocket-Key": "!!!!!!!!!!!!!!!!!!!!!!==" }, "GET", 400],
    ["Post", {}, "POST", 400],
    ["ConnectionWithoutUpgrade", { Connection: "keep-alive" }, "GET", 400],
    ["ConnectionMissing", { Connection: undefined }, "GET", 400],
  ];

  test.each(cases)("%s_Answers400_BeforeHandler_OthersServed", async (_name, headers, method, status) => {
    const { server, calls } = await echoServer();
    const other = await bystander(server);
    const client = await RawClient.connect(server.port);
    const answer = await client.handshake("/ws", handshakeHeaders(server.port, headers), method);
    expect(answer.status).toBe(status);
    // Only the bystander's handshake reached the handler.
    expect(calls()).toBe(1);
    await other.check();
    client.destroy();
    other.client.destroy();
  });

  test("WrongVersion_Answers426WithVersion13_OthersServed", async () => {
    const { server, calls } = await echoServer();
    const other = await bystander(server);
    const client = await RawClient.connect(server.port);
    const answer = await client.handshake("/ws", handshakeHeaders(server.port, { "Sec-WebSocket-Version": "12" }));
    expect(answer.status).toBe(426);
    expect(answer.headers["sec-websocket-version"]).toBe("13");
    expect(calls()).toBe(1);
    await other.check();
    client.destroy();
    other.client.destroy();
  });

  test("MissingUpgrade_IsAPlainRequest_HandlerAnswers400", async () => {
    // Without `Upgrade: websocket` the request is no upgrade attempt: the application answers it (here 400).
    const { server, calls } = await echoServer();
    const other = await bystander(server);
    const client = await RawClient.connect(server.port);
    const answer = await client.handshake("/ws", handshakeHeaders(server.port, { Upgrade: undefined }));
    expect(answer.status).toBe(400);
    expect(calls()).toBe(2);
    await other.check();
    client.destroy();
    other.client.destroy();
  });

  test("DisallowedOrigin_Answers403_OthersServed", async () => {
    const { server, calls } = await echoServer({ allowedOrigins: ["http://good.test"] });
    const other = await bystander(server);
    const client = await RawClient.connect(server.port);
    const answer = await client.handshake("/ws", handshakeHeaders(server.port, { Origin: "http://evil.test" }));
    expect(answer.status).toBe(403);
    expect(calls()).toBe(1);
    await other.check();
    client.destroy();
    other.client.destroy();
  });

  test("OversizedHeaders_Answers431_OthersServed", async () => {
    // The HTTP server refuses before any WebSocket code runs: Node's and Bun's answer 431 (RFC 6585 §5), Deno's 400.
    const { server, calls } = await echoServer();
    const other = await bystander(server);
    const client = await RawClient.connect(server.port);
    const answer = await client.handshake("/ws", handshakeHeaders(server.port, { "X-Padding": "a".repeat(128 * 1024) }))
      .catch((error: Error) => ({ status: 0, error }));
    expect(answer.status).toBe(runtime === "deno" ? 400 : 431);
    expect(calls()).toBe(1);
    await other.check();
    client.destroy();
    other.client.destroy();
  });
});

/**
 * Frames sent after a valid handshake; the server's answer (a Close code, a drop, or — Deno, unmasked — an echo);
 * and whether the server's socket then ends cleanly (a close handshake) rather than failed with the engine's error.
 */
type FrameCase = [name: string, frames: () => Uint8Array[], expected: number | "dropped" | "accepted", clean?: boolean];

const bytes = (...values: number[]) => new Uint8Array(values);
const withBits = (frame: Uint8Array, bits: number) => {
  frame[0]! |= bits;
  return frame;
};
const closeWithCode = (code: number) => {
  const payload = new Uint8Array(2);
  new DataView(payload.buffer).setUint16(0, code);
  return encodeFrame(Opcode.close, payload);
};

// RFC 6455 §7.4.1: 1002 for a protocol error, 1007 for data inconsistent with its type, 1009 for a message too big.
const frameCases: FrameCase[] = [
  // §5.1: a server MUST close the connection on an unmasked client frame.
  // Deno's engine accepts unmasked client frames (a documented gap: it does not check the mask bit).
  ["UnmaskedClientFrame", () => [encodeFrame(Opcode.text, "hello", { mask: false })], runtime === "deno" ? "accepted" : 1002],
  // §5.2: a nonzero RSV bit with no extension negotiated that defines it.
  ["Rsv1WithoutExtension", () => [encodeFrame(Opcode.text, "hello", { rsv1: true })], failWith(1002)],
  ["Rsv2WithoutExtension", () => [withBits(encodeFrame(Opcode.text, "hello"), 0x20)], failWith(1002)],
  ["Rsv3WithoutExtension", () => [withBits(encodeFrame(Opcode.binary, bytes(1, 2)), 0x10)], failWith(1002)],
  // §5.2: reserved opcodes.
  ["ReservedDataOpcode", () => [encodeFrame(0x3, "x")], failWith(1002)],
  ["ReservedControlOpcode", () => [encodeFrame(0xb, "x")], failWith(1002)],
  // §5.5: control frames are never fragmented and carry at most 125 bytes.
  ["FragmentedPing", () => [encodeFrame(Opcode.ping, "a", { fin: false })], failWith(1002)],
  ["PingOf126Bytes", () => [encodeFrame(Opcode.ping, new Uint8Array(126))], failWith(1002)],
  // Deno's engine takes a 126-byte Close as a valid one (code 1000 here) and completes the close handshake.
  ["CloseOf126Bytes", () => [encodeFrame(Opcode.close, closePayload(1000, "A".repeat(124)))], runtime === "deno" ? 1000 : 1002, runtime === "deno"],
  // §5.4: a continuation with no message started, and a new message while one is unfinished.
  ["ContinuationWithoutStart", () => [encodeFrame(Opcode.continuation, "orphan")], failWith(1002)],
  ["NewMessageInsideFragmentedOne", () => [encodeFrame(Opcode.text, "a", { fin: false }), encodeFrame(Opcode.text, "b")], failWith(1002)],
  // §8.1: text must be valid UTF-8, checked over the whole message, however it is fragmented.
  ["InvalidUtf8Text", () => [encodeFrame(Opcode.text, bytes(0x68, 0x69, 0xff, 0xfe))], failWith(1007)],
  ["InvalidUtf8SplitAcrossFragments", () => [encodeFrame(Opcode.text, bytes(0xe2, 0x82), { fin: false }), encodeFrame(Opcode.continuation, bytes(0x28))], failWith(1007)],
  ["OverlongUtf8Encoding", () => [encodeFrame(Opcode.text, bytes(0xc0, 0xaf))], failWith(1007)],
  ["Utf16Surrogate", () => [encodeFrame(Opcode.text, bytes(0xed, 0xa0, 0x80))], failWith(1007)],
  // §5.5.1 / §7.4: a Close body is empty or at least a 2-byte code; the code must be one allowed on the wire.
  ["CloseWithOneBytePayload", () => [encodeFrame(Opcode.close, bytes(0x03))], failWith(1002)],
  ["CloseWithCode999", () => [closeWithCode(999)], 1002],
  ["CloseWithCode1004", () => [closeWithCode(1004)], 1002],
  ["CloseWithCode1005", () => [closeWithCode(1005)], 1002],
  ["CloseWithCode1006", () => [closeWithCode(1006)], 1002],
  ["CloseWithCode1015", () => [closeWithCode(1015)], 1002],
  ["CloseWithCode5000", () => [closeWithCode(5000)], 1002],
  // 1014 is in IANA's registry: `ws` and Bun answer it and close cleanly; Deno's engine takes only 1000–1013 and
  // 3000–4999 (docs/reliability.md). The core no longer sends it itself (close(1014) is INVALID_CLOSE_STATUS).
  ["CloseWithCode1014", () => [closeWithCode(1014)], runtime === "deno" ? 1002 : 1014, runtime !== "deno"],
  ["CloseWithInvalidUtf8Reason", () => [encodeFrame(Opcode.close, bytes(0x03, 0xe8, 0xff))], failWith(1007)],
  // The server's maxMessageSize (1,000 bytes here), whole or in fragments: Close 1009 and a failed connection on
  // every runtime, whether the engine enforces the limit (`ws`, Bun) or the core does (Deno; Bun under Hono, whose
  // limit is per route).
  ["MessageOverSizeLimit", () => [encodeFrame(Opcode.binary, new Uint8Array(1001))], 1009],
  ["FragmentedMessageOverSizeLimit", () => [
    encodeFrame(Opcode.text, "a".repeat(600), { fin: false }),
    encodeFrame(Opcode.continuation, "b".repeat(600)),
  ], 1009],
];

describe("bad frames", () => {
  test.each(frameCases)("%s_FailsThatConnectionOnly", async (_name, frames, expected, clean = false) => {
    const { server, sockets } = await echoServer({ maxMessageSize: 1000, keepAliveInterval: 0 });
    const other = await bystander(server);
    const { client } = await RawClient.open(server.port, "/ws");
    await eventually(() => sockets.length === 2);
    for (const frame of frames()) client.write(frame);
    if (expected === "accepted") {
      expect(await client.readText()).toBe("hello");
    } else {
      expect(await serverAnswer(client)).toBe(expected);
      // The failed socket ends on the server too: its `closed` settles with the engine's error, and it stops being counted.
      const result = await sockets[1]!.closed;
      if (clean) {
        expect(result).toMatchObject({ closeStatus: expected, wasClean: true });
      } else {
        expect(result.wasClean).toBe(false);
        expect(result.error).toMatchObject({ code: "CONNECTION_CLOSED" });
        // The error names the Close the server sent when it failed the connection.
        if (typeof expected === "number") expect(result.error).toMatchObject({ closeStatus: expected });
      }
      expect(await eventually(() => server.connections() === 1)).toBe(true);
    }
    await other.check();
    client.destroy();
    other.client.destroy();
  });

  test("ValidUtf8SplitInsideACharacter_Accepted", async () => {
    // The counterpart of InvalidUtf8SplitAcrossFragments: "€" (E2 82 AC) split inside the character is fine.
    const { server } = await echoServer();
    const { client } = await RawClient.open(server.port, "/ws");
    client.write(encodeFrame(Opcode.text, bytes(0x20, 0xe2, 0x82), { fin: false }));
    client.write(encodeFrame(Opcode.continuation, bytes(0xac, 0x21)));
    expect(await client.readText()).toBe(" €!");
    client.destroy();
  });

  test("ManyBadClientsAtOnce_EveryOneFailed_BystanderServed", async () => {
    const { server } = await echoServer({ keepAliveInterval: 0 });
    const other = await bystander(server);
    const bad = await Promise.all(Array.from({ length: 20 }, () => RawClient.open(server.port, "/ws")));
    bad.forEach(({ client }, i) => {
      // The 1002 cases after the first (unmasked, which Deno accepts), up to the 126-byte Close.
      const frame = frameCases[1 + (i % 7)]![1]();
      for (const part of frame) client.write(part);
    });
    const answers = await Promise.all(bad.map(({ client }) => serverAnswer(client)));
    expect(answers).toEqual(bad.map(() => failWith(1002)));
    await other.check();
    expect(await eventually(() => server.connections() === 1)).toBe(true);
    for (const { client } of bad) client.destroy();
    other.client.destroy();
  });
});
