/**
 * The echo sample through Hono, started as a user starts it: `node examples/echo/start-hono.mjs --runtime R`,
 * on the runtime this suite runs on and on workerd (Miniflare from Node).
 */
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, test } from "vitest";
import { handshakeHeaders, Opcode, randomBytes, RawClient } from "./support/raw-client.ts";
import { runtime } from "./support/runtime.ts";
import { expectLimitFlagsApplied, LIMIT_FLAGS, type RunningSample, runToEnd, startListening } from "./support/sample.ts";

const root = fileURLToPath(new URL("../", import.meta.url));
const script = `${root}examples/echo/start-hono.mjs`;

let running: RunningSample | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

/** Starts the sample through Hono and resolves at its `Listening on` line. */
const start = (target: string, flags: string[]) => startListening("node", [script, "--runtime", target, ...flags]);

/** Runs the script to completion. */
const exitCode = (args: string[]) => runToEnd("node", [script, ...args]);

for (const target of [runtime, "workerd"]) {
  describe(`echo sample through Hono on ${target}`, () => {
    test("Starts_PrintsListeningLine_PageAt_Root_400ForPlainWs_404Elsewhere", async () => {
      running = await start(target, ["--port", "0"]);
      expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const page = await fetch(`${running.url}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('id="commsLog"');
      expect((await fetch(`${running.url}/ws`)).status).toBe(400);
      expect((await fetch(`${running.url}/nowhere`)).status).toBe(404);
    }, 90_000);

    test("Echo_SubProtocolChosen_TypesPreserved_CloseEchoed", async () => {
      running = await start(target, ["--port", "0", "--subprotocol", "chat", "--subprotocol", "superchat"]);
      const { client, answer } = await RawClient.open(running.port, "/ws", { "Sec-WebSocket-Protocol": "other, superchat, chat" });
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
    }, 90_000);

    test("Flags_OriginAndSizeLimitApplied", async () => {
      running = await start(target, ["--port", "0", "--allowed-origin", "http://good.test", "--max-message-size", "10"]);
      const refused = await RawClient.connect(running.port);
      expect((await refused.handshake("/ws", handshakeHeaders(running.port, { Origin: "http://evil.test" }))).status).toBe(403);
      refused.destroy();
      const { client } = await RawClient.open(running.port, "/ws", { Origin: "http://GOOD.test" });
      client.sendText("this is longer than ten bytes");
      expect((await client.readClose()).code).toBe(1009);
      client.destroy();
    }, 90_000);

    test("Flags_ConnectionLimitAndRateLimitsApplied", async () => {
      running = await start(target, ["--port", "0", ...LIMIT_FLAGS]);
      await expectLimitFlagsApplied(running.port);
    }, 90_000);

    test("BadFlag_PrintsUsageAndExits2", async () => {
      const result = await exitCode(["--runtime", target, "--no-such-flag"]);
      expect(result.code).toBe(2);
      expect(result.output).toContain("Usage:");
    }, 90_000);
  });
}

test("UnknownRuntime_Exits2", async () => {
  const result = await exitCode(["--runtime", "lambda"]);
  expect(result.code).toBe(2);
  expect(result.output).toContain("--runtime must be one of node, deno, bun, workerd");
});
