/** The echo sample app on this runtime, run as a user runs it. */
import { afterEach, describe, expect, test } from "vitest";
import { handshakeHeaders, Opcode, randomBytes, RawClient } from "./support/raw-client.ts";
import { runtime } from "./support/runtime.ts";
import { expectLimitFlagsApplied, LIMIT_FLAGS, type RunningSample, runSample, startSample } from "./support/sample.ts";

let sample: RunningSample | undefined;
afterEach(async () => {
  await sample?.stop();
  sample = undefined;
});

describe(`echo sample on ${runtime}`, () => {
  test("StartsOnAFreePort_PrintsListeningLine", async () => {
    sample = await startSample(runtime, ["--port", "0"]);
    expect(sample.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(sample.port).toBeGreaterThan(0);
  });

  test("Routes_PageAtRoot_400ForPlainWs_404Elsewhere", async () => {
    sample = await startSample(runtime, ["--port", "0"]);
    const page = await fetch(`${sample.url}/`);
    expect(page.status).toBe(200);
    const html = await page.text();
    for (const id of ["connectionUrl", "connectButton", "sendMessage", "sendButton", "closeButton", "commsLog"]) expect(html).toContain(`id="${id}"`);
    expect((await fetch(`${sample.url}/ws`)).status).toBe(400);
    expect((await fetch(`${sample.url}/nowhere`)).status).toBe(404);
  });

  test("Echo_TypesPreserved_LargeMessageStreamsThrough_CloseEchoed", async () => {
    sample = await startSample(runtime, ["--port", "0", "--subprotocol", "chat", "--subprotocol", "superchat"]);
    const { client, answer } = await RawClient.open(sample.port, "/ws", { "Sec-WebSocket-Protocol": "other, superchat, chat" });
    expect(answer.headers["sec-websocket-protocol"]).toBe("superchat");
    client.sendText("hello");
    expect(await client.readText()).toBe("hello");
    const big = randomBytes(100_000);
    client.send(Opcode.binary, big);
    const echoed = await client.readMessage();
    expect(echoed.opcode).toBe(Opcode.binary);
    expect(echoed.data).toEqual(big);
    client.sendClose(4321, "see you");
    expect(await client.readClose()).toEqual({ code: 4321, reason: "see you" });
    client.destroy();
  });

  test("Flags_OriginAndSizeLimitApplied", async () => {
    sample = await startSample(runtime, ["--port", "0", "--allowed-origin", "http://good.test", "--max-message-size", "10"]);
    const refused = await RawClient.connect(sample.port);
    expect((await refused.handshake("/ws", handshakeHeaders(sample.port, { Origin: "http://evil.test" }))).status).toBe(403);
    refused.destroy();
    const { client } = await RawClient.open(sample.port, "/ws", { Origin: "http://GOOD.test" });
    client.sendText("this is longer than ten bytes");
    expect((await client.readClose()).code).toBe(1009);
    client.destroy();
  });

  test("Flags_ConnectionLimitAndRateLimitsApplied", async () => {
    sample = await startSample(runtime, ["--port", "0", ...LIMIT_FLAGS]);
    await expectLimitFlagsApplied(sample.port);
  });

  test("Help_ListsTheLimitFlags_BadLimitExits2", async () => {
    const help = await runSample(runtime, ["--help"]);
    expect(help.code).toBe(0);
    for (const flag of ["--max-connections N", "--max-messages-per-second N", "--max-bytes-per-second N"]) expect(help.output).toContain(flag);
    const zero = await runSample(runtime, ["--max-connections", "0"]);
    expect(zero.code).toBe(2);
    expect(zero.output).toContain("--max-connections must be at least 1");
  });

  test("BadFlag_PrintsUsageAndExits2", async () => {
    const result = await runSample(runtime, ["--no-such-flag"]);
    expect(result.code).toBe(2);
    expect(result.output).toContain("Usage:");
    const missing = await runSample(runtime, ["--port"]);
    expect(missing.code).toBe(2);
    if (runtime !== "node") {
      // HTTP/2 WebSockets are Node's: the other runtimes refuse the flag rather than ignore it.
      const h2c = await runSample(runtime, ["--h2c"]);
      expect(h2c.code).toBe(2);
      expect(h2c.output).toContain("--h2c is not supported");
    }
  });
});
