/**
 * The Prometheus setup of docs/operations.md (examples/operations/metrics.ts) run as a user runs it:
 * traffic on its WebSocket shows in its `/metrics` scrape under the documented instrument names.
 */
import { afterEach, expect, test } from "vitest";
import { fileURLToPath } from "node:url";
import { handshakeHeaders, Opcode, RawClient } from "../support/raw-client.ts";
import { type RunningSample, startListening } from "../support/sample.ts";

const entry = fileURLToPath(new URL("../../examples/operations/dist/metrics.js", import.meta.url));

let running: RunningSample | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

test("PrometheusExample_ScrapeShowsEveryInstrument", async () => {
  running = await startListening("node", [entry, "--port", "0"]);
  const { client } = await RawClient.open(running.port, "/ws");
  client.sendText("héllo");
  expect(await client.readText()).toBe("héllo");
  client.send(Opcode.binary, new Uint8Array(10));
  await client.readMessage();
  const refused = await RawClient.connect(running.port);
  expect((await refused.handshake("/ws", handshakeHeaders(running.port, { "Sec-WebSocket-Version": "8" }))).status).toBe(426);
  refused.destroy();
  client.sendClose(1000);
  await client.readClose();
  client.destroy();
  // The close is recorded once the server has seen the connection end.
  let scrape = "";
  const deadline = Date.now() + 5000;
  while (!scrape.includes("uniws_server_connection_duration") && Date.now() < deadline) {
    scrape = await (await fetch(`${running.url}/metrics`)).text();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const line = (pattern: RegExp) => scrape.split("\n").find((text) => pattern.test(text));
  expect(line(/^uniws_server_active_connections\{.*uniws_runtime="node".*\} 0$/)).toBeDefined();
  expect(line(/^uniws_server_connection_duration_count\{.*uniws_close_code="1000".*\} 1$/)).toBeDefined();
  expect(line(/^uniws_server_rejected_handshakes_total\{.*http_response_status_code="426".*\} 1$/)).toBeDefined();
  expect(line(/^uniws_server_messages_total\{.*uniws_message_direction="receive".*uniws_message_type="text".*\} 1$/)).toBeDefined();
  expect(line(/^uniws_server_message_bytes_total\{.*uniws_message_direction="send".*\} 16$/)).toBeDefined();
}, 30_000);
