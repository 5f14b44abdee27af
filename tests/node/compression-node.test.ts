/**
 * permessage-deflate on Node only (tests/node/): the adapter's zlib tuning, and
 * WebSockets over HTTP/2 (RFC 8441) getting the same negotiation answers as over
 * HTTP/1.1, carried in the 200's headers, with the echo compressed with exactly the
 * answered window.
 */
import { constants, inflateRawSync } from "node:zlib";
import { afterEach, describe, expect, test } from "vitest";
import type { WebSocketAcceptContext } from "@uniws/core";
import { DEFAULT_DEFLATE_OPTIONS, NodeWebSocketServer } from "@uniws/node";
import { connectSession, H2WebSocket } from "../support/http2/client.ts";
import { type Http2TestServer, startHttp2 } from "../support/http2/server.ts";
import { Opcode } from "../support/raw-client.ts";

const servers: Http2TestServer[] = [];
const sessions: Array<{ destroy(): void }> = [];
afterEach(async () => {
  for (const session of sessions.splice(0)) session.destroy();
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function open(acceptContext: WebSocketAcceptContext, offer: string | undefined): Promise<H2WebSocket> {
  const server = await startHttp2(async (context) => {
    const socket = await context.accept(acceptContext);
    for await (const message of socket) await socket.send(message.data);
  });
  servers.push(server);
  const { session } = await connectSession(`http://127.0.0.1:${server.port}`);
  sessions.push(session);
  return await H2WebSocket.open(session, "/ws", offer === undefined ? {} : { "sec-websocket-extensions": offer });
}

function inflate(payload: Uint8Array, windowBits: number): string {
  const input = Buffer.concat([payload, Buffer.from([0x00, 0x00, 0xff, 0xff])]);
  return inflateRawSync(input, { windowBits, chunkSize: 64, finishFlush: constants.Z_SYNC_FLUSH }).toString("utf8");
}

const TEXT = Array.from({ length: 400 }, (_, i) => `${i.toString(36)}:${((i * 7919) % 1013).toString(36)}`).join(",").repeat(4);

describe("Node zlib tuning", () => {
  test("DeflateOptions_Defaults_KeepMemorySane", () => {
    expect(DEFAULT_DEFLATE_OPTIONS).toEqual({ memLevel: 4, level: 6, threshold: 1024, concurrencyLimit: 10 });
  });

  test.each([{ memLevel: 0 }, { memLevel: 10 }, { level: -1 }, { level: 10 }, { threshold: -1 }, { concurrencyLimit: 0 }, { memLevel: 4.5 }])(
    "DeflateOptions_OutOfRange_%o_ThrowsRangeError",
    (deflate) => {
      expect(() => new NodeWebSocketServer(() => {}, { deflate })).toThrow(RangeError);
    },
  );
});

describe("permessage-deflate over HTTP/2 on Node", () => {
  test("Http2_Offer_ExactAnswerAndCompressedEcho", async () => {
    const socket = await open(
      { dangerousEnableCompression: true, serverMaxWindowBits: 11, disableServerContextTakeover: true },
      "permessage-deflate; client_max_window_bits; server_max_window_bits=12",
    );
    expect(socket.answer.status).toBe(200);
    expect(socket.answer.headers["sec-websocket-extensions"]).toBe(
      "permessage-deflate; client_max_window_bits=15; server_no_context_takeover; server_max_window_bits=11",
    );
    socket.send(Opcode.text, TEXT);
    const echoed = await socket.readMessage();
    expect(echoed.opcode).toBe(Opcode.text);
    expect(echoed.data.byteLength).toBeLessThan(TEXT.length);
    expect(inflate(echoed.data, 11)).toBe(TEXT);
  });

  test("Http2_DeclinedOffer_NoAnswerPlainEcho", async () => {
    const socket = await open({ dangerousEnableCompression: true }, "permessage-deflate; client_max_window_bits=8");
    expect(socket.answer.headers["sec-websocket-extensions"]).toBeUndefined();
    socket.send(Opcode.text, TEXT);
    expect(await socket.readText()).toBe(TEXT);
  });

  test("Http2_NotEnabled_NoAnswerPlainEcho", async () => {
    const socket = await open({}, "permessage-deflate");
    expect(socket.answer.headers["sec-websocket-extensions"]).toBeUndefined();
    socket.send(Opcode.text, TEXT);
    expect(await socket.readText()).toBe(TEXT);
  });
});
