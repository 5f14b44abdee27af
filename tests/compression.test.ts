/**
 * permessage-deflate (RFC 7692) on the adapter of the runtime under test, with real
 * clients: exact `Sec-WebSocket-Extensions` answers for a table of offers (the raw
 * client, the `ws` client, and Debian's python3-websockets), compressed round-trips
 * up to 16 MiB, and RSV1 clear on a `disableCompression` message. What is checked
 * follows the adapter's declared capability: per connection (Node), presets (Bun),
 * or none (Deno: the offer is declined and the connection opens uncompressed).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { constants, deflateRawSync, inflateRawSync } from "node:zlib";
import { afterEach, describe, expect, test } from "vitest";
import { type PerMessageDeflateOptions, WebSocket as WsClient } from "ws";
import type { UniWebSocket, WebSocketAcceptContext } from "@uniws/core";
import { acceptOne } from "./support/accepted.ts";
import { Opcode, RawClient } from "./support/raw-client.ts";
import { adapterCapabilities, closeServers, runtime, startServer } from "./support/runtime.ts";
import { runSample, startSample } from "./support/sample.ts";

afterEach(closeServers);

const capabilities = await adapterCapabilities();
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TRAILER = new Uint8Array([0x00, 0x00, 0xff, 0xff]);
const MiB = 1024 * 1024;
const ENABLED: WebSocketAcceptContext = { dangerousEnableCompression: true };

/** The parameters of a permessage-deflate answer, by name (`true` for a bare one). */
function answerParams(header: string): Map<string, string | true> {
  const [name, ...params] = header.split(";").map((part) => part.trim());
  expect(name).toBe("permessage-deflate");
  return new Map(params.map((param) => {
    const [key, value] = param.split("=");
    return [key!.trim(), value === undefined ? true : value.trim()];
  }));
}

/**
 * Inflates one server message compressed under `windowBits` with a fresh context (RFC 7692 §7.2.2).
 * Output comes in small chunks so that zlib only looks back through its `windowBits` window:
 * a message compressed with a larger window fails here ("invalid distance too far back").
 */
function inflateMessage(payload: Uint8Array, windowBits = 15): Uint8Array {
  const input = new Uint8Array(payload.byteLength + 4);
  input.set(payload);
  input.set(TRAILER, payload.byteLength);
  return new Uint8Array(inflateRawSync(input, { windowBits, chunkSize: 64, finishFlush: constants.Z_SYNC_FLUSH }));
}

/** Deflates one client message the way RFC 7692 §7.2.1 says: sync flush, trailing 0x00 0x00 0xff 0xff removed. */
function deflateMessage(data: Uint8Array, windowBits = 15): Uint8Array {
  const output = new Uint8Array(deflateRawSync(data, { windowBits, finishFlush: constants.Z_SYNC_FLUSH }));
  expect(output.subarray(-4)).toEqual(TRAILER);
  return output.subarray(0, -4);
}

/** Text that compresses well, with repeats further apart than a 10-bit window reaches. */
function compressibleText(size: number): string {
  const block = Array.from({ length: 200 }, (_, i) => `${i.toString(36)}-${((i * 7919) % 1013).toString(36)}`).join(",");
  return block.repeat(Math.ceil(size / block.length)).slice(0, size);
}

/** Starts a server that accepts with `acceptContext` and echoes every message; the accepted socket is handed over. */
async function echoServer(acceptContext: WebSocketAcceptContext | undefined) {
  const sockets: UniWebSocket[] = [];
  const server = await startServer(async (context) => {
    const socket = await context.accept(acceptContext);
    sockets.push(socket);
    for await (const message of socket) await socket.send(message.data);
  });
  return { server, sockets };
}

/** A raw handshake offering `offer`; resolves with the answer and the server's socket. */
async function offerRaw(acceptContext: WebSocketAcceptContext | undefined, offer: string | undefined) {
  const { server, sockets } = await echoServer(acceptContext);
  const { client, answer } = await RawClient.open(server.port, "/ws", { "Sec-WebSocket-Extensions": offer });
  const deadline = Date.now() + 5000;
  while (sockets.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return { client, answer: answer.headers["sec-websocket-extensions"], socket: sockets[0]! };
}

const PYTHON = "/usr/bin/python3";
const PYTHON_CLIENT = fileURLToPath(new URL("./support/python-deflate-client.py", import.meta.url));

interface PythonResult {
  answer: string | null;
  accepted: Array<Record<string, unknown>>;
  echoes: Array<{ type: string; size: number; equal: boolean }>;
}

/** Runs the python3-websockets client (bounded: killed after `timeoutMs`). */
async function python(config: { url: string; offers: object[]; messages?: object[] }, timeoutMs = 60_000): Promise<PythonResult> {
  expect(existsSync(PYTHON), "Debian python3 with python3-websockets is required").toBe(true);
  const child = spawn(PYTHON, [PYTHON_CLIENT, JSON.stringify(config)], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const timer = setTimeout(() => child.kill(), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`python client exited ${code}: ${stderr}`);
  return JSON.parse(stdout) as PythonResult;
}

/** A `ws` client connection; resolves with the server's raw answer and the client's view of the extensions. */
async function wsClient(url: string, perMessageDeflate: PerMessageDeflateOptions) {
  const client = new WsClient(url, { perMessageDeflate, maxPayload: 0 });
  let answer: string | undefined;
  client.on("upgrade", (response) => (answer = response.headers["sec-websocket-extensions"] as string | undefined));
  await new Promise<void>((resolve, reject) => {
    client.once("open", () => resolve());
    client.once("error", reject);
  });
  return { client, answer };
}

async function wsEcho(client: WsClient, data: string | Uint8Array): Promise<{ data: Buffer; binary: boolean }> {
  const echoed = new Promise<{ data: Buffer; binary: boolean }>((resolve) => client.once("message", (message: Buffer, binary: boolean) => resolve({ data: message, binary })));
  client.send(data, { binary: typeof data !== "string" });
  return await echoed;
}

describe("compression capability", () => {
  test("Capabilities_MatchTheDocumentedTable", () => {
    const documented = {
      node: { compression: true, perMessageCompression: true, compressionParameters: "per-connection" },
      deno: { compression: false, perMessageCompression: false, compressionParameters: "none" },
      bun: { compression: true, perMessageCompression: true, compressionParameters: "presets" },
    }[runtime];
    expect({
      compression: capabilities.compression,
      perMessageCompression: capabilities.perMessageCompression,
      compressionParameters: capabilities.compressionParameters,
    }).toEqual(documented);
  });

  test("Sample_CompressionFlags_PassedIntoAccept", async () => {
    const sample = await startSample(runtime, ["--port", "0", "--compression", "--server-max-window-bits", "11", "--no-server-context-takeover"]);
    try {
      const { client, answer } = await RawClient.open(sample.port, "/ws", { "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits" });
      const extensions = answer.headers["sec-websocket-extensions"];
      if (capabilities.compressionParameters === "per-connection") {
        expect(extensions).toBe("permessage-deflate; client_max_window_bits=15; server_no_context_takeover; server_max_window_bits=11");
      } else if (capabilities.compressionParameters === "presets") {
        // Bun cannot limit its context-free compressor's window: asked for both, it declines (docs/bun.md).
        expect(extensions).toBeUndefined();
      } else {
        expect(extensions).toBeUndefined();
      }
      client.sendText("hello");
      const echoed = await client.readMessage();
      expect(decoder.decode(echoed.frames[0]!.rsv1 ? inflateMessage(echoed.data) : echoed.data)).toBe("hello");
      client.destroy();
    } finally {
      await sample.stop();
    }
    const misuse = await runSample(runtime, ["--server-max-window-bits", "11"]);
    expect(misuse.code).toBe(2);
    expect(misuse.output).toContain("need --compression");
  }, 60_000);

  test("CompressionNotEnabled_OfferIgnored_NoExtensionsAnswered", async () => {
    const { client, answer, socket } = await offerRaw(undefined, "permessage-deflate; client_max_window_bits");
    expect(answer).toBeUndefined();
    expect(socket.extensions).toBe("");
    client.sendText("x".repeat(4096));
    const echoed = await client.readMessage();
    expect(echoed.frames[0]!.rsv1).toBe(false);
    expect(echoed.data.byteLength).toBe(4096);
    client.destroy();
  });
});

if (capabilities.compressionParameters === "per-connection") {
  // ASP.NET Core's HandshakeTests and WebSocketCompressionMiddlewareTests vectors, on a live server.
  // Adapted to RFC 7692: a bare server_max_window_bits declines the offer (ASP.NET Core answers =15).
  const TABLE: Array<[string, WebSocketAcceptContext, string, string | undefined]> = [
    ["Default_Plain", ENABLED, "permessage-deflate", "permessage-deflate"],
    ["Default_ServerNoContextTakeover", ENABLED, "permessage-deflate; server_no_context_takeover", "permessage-deflate; server_no_context_takeover"],
    ["Default_ClientNoContextTakeover", ENABLED, "permessage-deflate; client_no_context_takeover", "permessage-deflate; client_no_context_takeover"],
    ["Default_ClientWindow9", ENABLED, "permessage-deflate; client_max_window_bits=9", "permessage-deflate; client_max_window_bits=9"],
    ["Default_ClientWindowQuoted", ENABLED, 'permessage-deflate; client_max_window_bits="9"', "permessage-deflate; client_max_window_bits=9"],
    ["Default_ClientWindowBare", ENABLED, "permessage-deflate; client_max_window_bits", "permessage-deflate; client_max_window_bits=15"],
    ["Default_ServerWindowBare_Declined", ENABLED, "permessage-deflate; server_max_window_bits", undefined],
    ["Default_ServerWindow10", ENABLED, "permessage-deflate; server_max_window_bits=10", "permessage-deflate; server_max_window_bits=10"],
    [
      "Default_ServerWindow10NoTakeover",
      ENABLED,
      "permessage-deflate; server_max_window_bits=10; server_no_context_takeover",
      "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
    ],
    [
      "Default_Everything",
      ENABLED,
      "permessage-deflate; server_max_window_bits=10; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=12",
      "permessage-deflate; client_no_context_takeover; client_max_window_bits=12; server_no_context_takeover; server_max_window_bits=10",
    ],
    [
      "Custom_Plain",
      { dangerousEnableCompression: true, disableServerContextTakeover: true, serverMaxWindowBits: 14 },
      "permessage-deflate",
      "permessage-deflate; server_no_context_takeover; server_max_window_bits=14",
    ],
    [
      "Custom_ClientWindow9",
      { dangerousEnableCompression: true, disableServerContextTakeover: true, serverMaxWindowBits: 14 },
      "permessage-deflate; client_max_window_bits=9",
      "permessage-deflate; client_max_window_bits=9; server_no_context_takeover; server_max_window_bits=14",
    ],
    [
      "Custom_ServerWindow10",
      { dangerousEnableCompression: true, disableServerContextTakeover: true, serverMaxWindowBits: 14 },
      "permessage-deflate; server_max_window_bits=10",
      "permessage-deflate; server_no_context_takeover; server_max_window_bits=10",
    ],
    ["ServerChoosesNoContextTakeover", { dangerousEnableCompression: true, disableServerContextTakeover: true }, "permessage-deflate", "permessage-deflate; server_no_context_takeover"],
    ["NotEnabled", {}, "permessage-deflate", undefined],
    [
      "ChooseExtension_SmallerServerWindow",
      { dangerousEnableCompression: true, serverMaxWindowBits: 13 },
      "permessage-deflate; server_max_window_bits=14, permessage-deflate; server_max_window_bits=13",
      "permessage-deflate; server_max_window_bits=13",
    ],
    [
      "ChooseExtension_FirstDeclinedSecondAccepted",
      { dangerousEnableCompression: true, serverMaxWindowBits: 13 },
      "permessage-deflate; client_max_window_bits=8, permessage-deflate; client_max_window_bits=13",
      "permessage-deflate; client_max_window_bits=13; server_max_window_bits=13",
    ],
    ["Declined_ServerWindow8", ENABLED, "permessage-deflate; server_max_window_bits=8", undefined],
    ["Declined_ClientWindow8", ENABLED, "permessage-deflate; client_max_window_bits=8", undefined],
    ["Declined_ClientWindow16", ENABLED, "permessage-deflate; client_max_window_bits=16", undefined],
    ["Declined_UnbalancedQuote", ENABLED, 'permessage-deflate; client_max_window_bits="15', undefined],
    ["Declined_EmptyValue", ENABLED, "permessage-deflate; client_max_window_bits=", undefined],
    ["Declined_EmptyQuotes", ENABLED, 'permessage-deflate; client_max_window_bits=""', undefined],
    ["Declined_Duplicate", ENABLED, "permessage-deflate; client_no_context_takeover; client_no_context_takeover", undefined],
    ["Declined_UnknownParameter", ENABLED, "permessage-deflate; x_max_memory=1", undefined],
    ["OtherExtensionFirst", ENABLED, "x-webkit-deflate-frame, permessage-deflate", "permessage-deflate"],
  ];

  describe("compression per connection", () => {
    test.each(TABLE)("Handshake_%s_AnswersExactly", async (_name, acceptContext, offer, expected) => {
      const { client, answer, socket } = await offerRaw(acceptContext, offer);
      expect(answer).toBe(expected);
      expect(socket.extensions).toBe(expected ?? "");
      // An echo of compressible text: compressed (RSV1) with the answered window and context, or plain when declined.
      const text = compressibleText(8193);
      client.sendText(text);
      const echoed = await client.readMessage();
      expect(echoed.opcode).toBe(Opcode.text);
      expect(echoed.frames[0]!.rsv1).toBe(expected !== undefined);
      if (expected === undefined) {
        expect(decoder.decode(echoed.data)).toBe(text);
      } else {
        const bits = answerParams(expected).get("server_max_window_bits");
        const inflated = inflateMessage(echoed.data, bits === undefined || bits === true ? 15 : Number(bits));
        expect(decoder.decode(inflated)).toBe(text);
        expect(echoed.data.byteLength).toBeLessThan(text.length);
      }
      client.destroy();
    });

    test("ServerWindow10_MessagesInflateWithA10BitWindow", async () => {
      // The control: text with repeats 2 KiB apart needs more than a 10-bit window when deflated by default.
      const text = compressibleText(16_384);
      expect(() => inflateMessage(deflateMessage(encoder.encode(text)), 10)).toThrow();
      const { client, answer } = await offerRaw({ dangerousEnableCompression: true, serverMaxWindowBits: 10 }, "permessage-deflate");
      expect(answer).toBe("permessage-deflate; server_max_window_bits=10");
      client.sendText(text);
      const echoed = await client.readMessage();
      expect(echoed.frames[0]!.rsv1).toBe(true);
      expect(decoder.decode(inflateMessage(echoed.data, 10))).toBe(text);
      client.destroy();
    });

    test("ServerNoContextTakeover_EachMessageInflatesAlone", async () => {
      const { client } = await offerRaw({ dangerousEnableCompression: true, disableServerContextTakeover: true }, "permessage-deflate");
      const text = compressibleText(4096);
      for (let i = 0; i < 3; i++) {
        client.sendText(text);
        const echoed = await client.readMessage();
        expect(echoed.frames[0]!.rsv1).toBe(true);
        expect(decoder.decode(inflateMessage(echoed.data))).toBe(text);
      }
      client.destroy();
    });

    test("ClientCompressedMessages_Inflated_TextAndBinary", async () => {
      const { client } = await offerRaw(ENABLED, "permessage-deflate; client_no_context_takeover; client_max_window_bits=9");
      const text = compressibleText(5000);
      client.send(Opcode.text, deflateMessage(encoder.encode(text), 9), { rsv1: true });
      expect(decoder.decode(inflateMessage((await client.readMessage()).data))).toBe(text);
      const binary = crypto.getRandomValues(new Uint8Array(3000));
      client.send(Opcode.binary, deflateMessage(binary, 9), { rsv1: true });
      const echoed = await client.readMessage();
      expect(echoed.opcode).toBe(Opcode.binary);
      expect(inflateMessage(echoed.data)).toEqual(binary);
      client.destroy();
    });

    test("DisableCompression_MessageGoesOutWithRsv1Clear", async () => {
      const { socket, client } = await acceptOne(undefined, ENABLED, { "Sec-WebSocket-Extensions": "permessage-deflate" });
      const text = compressibleText(4096);
      await socket.send(text, { disableCompression: true });
      const plain = await client.readMessage();
      expect(plain.frames[0]!.rsv1).toBe(false);
      expect(decoder.decode(plain.data)).toBe(text);
      await socket.send(text);
      const compressed = await client.readMessage();
      expect(compressed.frames[0]!.rsv1).toBe(true);
      expect(decoder.decode(inflateMessage(compressed.data))).toBe(text);
      await socket.send(encoder.encode(text), { disableCompression: true });
      const binary = await client.readMessage();
      expect(binary.opcode).toBe(Opcode.binary);
      expect(binary.frames[0]!.rsv1).toBe(false);
      expect(decoder.decode(binary.data)).toBe(text);
      client.destroy();
    });

    test("DisableCompression_FragmentedMessage_EveryFrameRsv1Clear", async () => {
      const { socket, client } = await acceptOne(undefined, ENABLED, { "Sec-WebSocket-Extensions": "permessage-deflate" });
      const part = compressibleText(2000);
      await socket.send(part, { endOfMessage: false, disableCompression: true });
      await expect(socket.send(part, { endOfMessage: false })).rejects.toThrow(TypeError);
      await socket.send(part, { disableCompression: true });
      const message = await client.readMessage();
      // Parts sent back to back may leave as one frame (the core gathers them); none is compressed.
      expect(message.frames.length).toBeGreaterThanOrEqual(1);
      expect(message.frames.every((frame) => !frame.rsv1)).toBe(true);
      expect(decoder.decode(message.data)).toBe(part + part);
      client.destroy();
    });

    test("Declined_ClientRsv1_IsAProtocolError", async () => {
      const { client, answer } = await offerRaw(ENABLED, "permessage-deflate; server_max_window_bits=8");
      expect(answer).toBeUndefined();
      client.send(Opcode.text, deflateMessage(encoder.encode("hello")), { rsv1: true });
      expect((await client.readClose()).code).toBe(1002);
      client.destroy();
    });

    describe("ws client", () => {
      test.each([
        ["Defaults", ENABLED, {}, "permessage-deflate; client_max_window_bits=15"],
        [
          "EverythingOffered",
          { dangerousEnableCompression: true, serverMaxWindowBits: 12 },
          { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 11, clientMaxWindowBits: 10 },
          "permessage-deflate; client_no_context_takeover; client_max_window_bits=10; server_no_context_takeover; server_max_window_bits=11",
        ],
        [
          "ServerNoTakeoverWindow9",
          { dangerousEnableCompression: true, disableServerContextTakeover: true, serverMaxWindowBits: 9 },
          {},
          "permessage-deflate; client_max_window_bits=15; server_no_context_takeover; server_max_window_bits=9",
        ],
        ["NotEnabled", {}, {}, undefined],
      ] as const)("WsClient_%s_AnswerAndRoundTrip", async (_name, acceptContext, offer, expected) => {
        const { server, sockets } = await echoServer(acceptContext);
        const { client, answer } = await wsClient(`ws://127.0.0.1:${server.port}/ws`, { ...offer });
        expect(answer).toBe(expected);
        // The ws client reports the names of the extensions in force.
        expect(client.extensions).toBe(expected === undefined ? "" : "permessage-deflate");
        expect(sockets[0]!.extensions).toBe(expected ?? "");
        const text = compressibleText(100_000);
        const echoedText = await wsEcho(client, text);
        expect(echoedText.binary).toBe(false);
        expect(echoedText.data.toString("utf8")).toBe(text);
        const binary = crypto.getRandomValues(new Uint8Array(8193));
        const echoedBinary = await wsEcho(client, binary);
        expect(echoedBinary.binary).toBe(true);
        expect(new Uint8Array(echoedBinary.data)).toEqual(binary);
        client.close();
      });

      test("WsClient_16MiBTextAndBinary_RoundTripCompressed", async () => {
        const { server } = await echoServer({ dangerousEnableCompression: true, serverMaxWindowBits: 12 });
        const { client, answer } = await wsClient(`ws://127.0.0.1:${server.port}/ws`, { clientMaxWindowBits: 11 });
        expect(answer).toBe("permessage-deflate; client_max_window_bits=11; server_max_window_bits=12");
        const text = compressibleText(16 * MiB);
        const echoedText = await wsEcho(client, text);
        expect(echoedText.binary).toBe(false);
        expect(echoedText.data.byteLength).toBe(16 * MiB);
        expect(echoedText.data.toString("utf8") === text).toBe(true);
        // Half random, half repeated: some of it compresses, some does not.
        const binary = new Uint8Array(16 * MiB);
        const random = crypto.getRandomValues(new Uint8Array(65_536));
        for (let offset = 0; offset < binary.byteLength; offset += random.byteLength) {
          binary.set(offset % (2 * random.byteLength) === 0 ? random : random.subarray(0, 4096).map((byte) => byte & 0x0f), offset);
        }
        const echoedBinary = await wsEcho(client, binary);
        expect(echoedBinary.binary).toBe(true);
        expect(Buffer.compare(echoedBinary.data, binary)).toBe(0);
        client.close();
      }, 120_000);
    });

    describe("python3-websockets client", () => {
      test.each([
        ["Defaults", ENABLED, [{}], "permessage-deflate; client_max_window_bits=15"],
        ["NoClientWindowOffered", ENABLED, [{ client_max_window_bits: null }], "permessage-deflate"],
        [
          "EverythingOffered",
          { dangerousEnableCompression: true, serverMaxWindowBits: 13 },
          [{ server_no_context_takeover: true, client_no_context_takeover: true, server_max_window_bits: 10, client_max_window_bits: 12 }],
          "permessage-deflate; client_no_context_takeover; client_max_window_bits=12; server_no_context_takeover; server_max_window_bits=10",
        ],
        [
          "ServerLimitsItsWindow",
          { dangerousEnableCompression: true, serverMaxWindowBits: 11, disableServerContextTakeover: true },
          [{ server_max_window_bits: 14 }],
          "permessage-deflate; client_max_window_bits=15; server_no_context_takeover; server_max_window_bits=11",
        ],
        [
          "SecondOfferTaken",
          { dangerousEnableCompression: true, serverMaxWindowBits: 13 },
          [{ server_max_window_bits: 8 }, { server_max_window_bits: 9, client_max_window_bits: 9 }],
          "permessage-deflate; client_max_window_bits=9; server_max_window_bits=9",
        ],
        ["NotEnabled", {}, [{}], null],
      ] as const)("PythonClient_%s_AnswerAndRoundTrip", async (_name, acceptContext, offers, expected) => {
        const { server } = await echoServer(acceptContext);
        const result = await python({
          url: `ws://127.0.0.1:${server.port}/ws`,
          offers: [...offers],
          messages: [{ type: "text", size: 8193 }, { type: "binary", size: 70_000 }],
        });
        expect(result.answer).toBe(expected);
        expect(result.accepted.length).toBe(expected === null ? 0 : 1);
        expect(result.echoes).toEqual([{ type: "text", size: 8193, equal: true }, { type: "binary", size: 70_000, equal: true }]);
      }, 60_000);

      test("PythonClient_16MiBTextAndBinary_RoundTripCompressed", async () => {
        const { server } = await echoServer({ dangerousEnableCompression: true, disableServerContextTakeover: true });
        const result = await python({
          url: `ws://127.0.0.1:${server.port}/ws`,
          offers: [{ client_max_window_bits: 10 }],
          messages: [{ type: "text", size: 16 * MiB }, { type: "binary", size: 16 * MiB }],
        }, 110_000);
        expect(result.answer).toBe("permessage-deflate; client_max_window_bits=10; server_no_context_takeover");
        expect(result.echoes).toEqual([{ type: "text", size: 16 * MiB, equal: true }, { type: "binary", size: 16 * MiB, equal: true }]);
      }, 120_000);
    });
  });
} else if (capabilities.compression) {
  // Presets (Bun): the engine answers from server-wide presets; the answer must still be one the offer allows.
  describe("compression with presets", () => {
    test("Presets_Answer_OnlyParametersTheOfferAllows", async () => {
      const offer = "permessage-deflate; client_max_window_bits; server_max_window_bits=12";
      const { client, answer, socket } = await offerRaw({ dangerousEnableCompression: true, serverMaxWindowBits: 12 }, offer);
      expect(answer).toBeDefined();
      const params = answerParams(answer!);
      for (const [name, value] of params) {
        expect(["server_no_context_takeover", "client_no_context_takeover", "server_max_window_bits", "client_max_window_bits"]).toContain(name);
        if (name.endsWith("_max_window_bits")) expect(Number(value)).toBeGreaterThanOrEqual(9);
      }
      expect(Number(params.get("server_max_window_bits") ?? 15)).toBeLessThanOrEqual(12);
      expect(socket.extensions).toBe(answer);
      client.destroy();
    });

    test("Presets_DisableCompression_MessageGoesOutWithRsv1Clear", async () => {
      const { socket, client } = await acceptOne(undefined, ENABLED, { "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits" });
      const text = compressibleText(4096);
      await socket.send(text, { disableCompression: true });
      const plain = await client.readMessage();
      expect(plain.frames[0]!.rsv1).toBe(false);
      expect(decoder.decode(plain.data)).toBe(text);
      client.destroy();
    });

    test("Presets_CompressedRoundTrip_1MiB", async () => {
      const { client, answer } = await offerRaw(ENABLED, "permessage-deflate");
      expect(answer).toBeDefined();
      const bits = answerParams(answer!).get("server_max_window_bits");
      const text = compressibleText(MiB);
      client.sendText(text);
      const echoed = await client.readMessage(30_000);
      const data = echoed.frames[0]!.rsv1 ? inflateMessage(echoed.data, bits === undefined || bits === true ? 15 : Number(bits)) : echoed.data;
      expect(decoder.decode(data) === text).toBe(true);
      client.destroy();
    });
  });
} else {
  // No permessage-deflate on this runtime (Deno): negotiation declines and the connection opens uncompressed.
  describe("compression unsupported", () => {
    test("Unsupported_EnabledAndOffered_DeclinedOpensUncompressed", async () => {
      expect(capabilities.compressionParameters).toBe("none");
      const { client, answer, socket } = await offerRaw(
        { dangerousEnableCompression: true, serverMaxWindowBits: 12, disableServerContextTakeover: true },
        "permessage-deflate; client_max_window_bits",
      );
      expect(answer).toBeUndefined();
      expect(socket.extensions).toBe("");
      const text = compressibleText(4096);
      client.sendText(text);
      const echoed = await client.readMessage();
      expect(echoed.frames[0]!.rsv1).toBe(false);
      expect(decoder.decode(echoed.data)).toBe(text);
      client.destroy();
    });

    test("Unsupported_DisableCompressionStillAccepted", async () => {
      const { socket, client } = await acceptOne(undefined, ENABLED, { "Sec-WebSocket-Extensions": "permessage-deflate" });
      await socket.send("secret", { disableCompression: true });
      const message = await client.readMessage();
      expect(message.frames[0]!.rsv1).toBe(false);
      expect(decoder.decode(message.data)).toBe("secret");
      client.destroy();
    });
  });
}
