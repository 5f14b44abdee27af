/**
 * Load, bounded for `npm test`: two thousand concurrent connections (keep-alive and idle timeout on) open,
 * echo and close cleanly; thousands of connect/disconnect cycles, clean and abrupt, leave no socket, timer
 * or handle behind. The soak script (tests/soak/soak.ts) runs the same at 10,000 and 20,000;
 * docs/reliability.md records its figures.
 */
import process from "node:process";
import { afterEach, describe, expect, test } from "vitest";
import type { CloseResult, WebSocketContext, WebSocketOptions } from "@uniws/core";
import { delay } from "./support/accepted.ts";
import { Opcode, RawClient } from "./support/raw-client.ts";
import { closeServers, runtime, startServer, type TestServer } from "./support/runtime.ts";

afterEach(closeServers);

// Keep-alive and idle timeout on, long enough not to fire during a run.
const options: WebSocketOptions = { keepAliveInterval: 10_000, keepAliveTimeout: 10_000, idleTimeout: 30_000, onError: () => {} };

/** Open TCP handles of this process (client and server ends alike), where the runtime lists them; Bun's list is always empty. */
function tcpHandles(): number | undefined {
  if (runtime === "bun") return undefined;
  return process.getActiveResourcesInfo().filter((name) => name.startsWith("TCP") && name !== "TCPServerWrap").length;
}

async function eventually(condition: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await delay(25);
  }
  return true;
}

/** An echo server that records how every socket ended. */
async function echoServer() {
  const ends: CloseResult[] = [];
  let handlersRunning = 0;
  const server = await startServer(async (context: WebSocketContext) => {
    handlersRunning++;
    try {
      const socket = await context.accept();
      for await (const message of socket) await socket.send(message.data);
      ends.push(await socket.closed);
    } finally {
      handlersRunning--;
    }
  }, options);
  return { server, ends, handlersRunning: () => handlersRunning };
}

/** Runs `task` for 0…count-1 with at most `width` at once. */
async function inWaves(count: number, width: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < count) await task(next++);
  }));
}

/** A clean close from the client: Close 1000, the server's answer, then the end of TCP. */
async function closeCleanly(client: RawClient): Promise<void> {
  client.sendClose(1000, "bye");
  const frame = await client.readMessage(10_000);
  expect(frame.opcode).toBe(Opcode.close);
  await client.waitForEnd(10_000);
  client.destroy();
}

async function expectNothingLeft(server: TestServer, handlersRunning: () => number, handlesBefore: number | undefined): Promise<void> {
  expect(await eventually(() => server.connections() === 0), `connections ${server.connections()}`).toBe(true);
  expect(await eventually(() => handlersRunning() === 0), `handlers running ${handlersRunning()}`).toBe(true);
  expect(server.scheduledTasks, `the ${runtime} adapter exposes scheduledTasks`).toBeDefined();
  expect(await eventually(() => server.scheduledTasks!() === 0), `scheduledTasks ${server.scheduledTasks!()}`).toBe(true);
  if (handlesBefore !== undefined) {
    expect(await eventually(() => tcpHandles()! <= handlesBefore), `TCP handles ${tcpHandles()}, before ${handlesBefore}`).toBe(true);
  }
}

describe("load", () => {
  test("TwoThousandConcurrentConnections_OpenEchoCloseCleanly_NothingLeft", { timeout: 60_000 }, async () => {
    const count = 2000;
    const { server, ends, handlersRunning } = await echoServer();
    const handlesBefore = tcpHandles();
    const clients: RawClient[] = [];
    await inWaves(count, 50, async () => {
      clients.push((await RawClient.open(server.port, "/ws")).client);
    });
    expect(server.connections()).toBe(count);
    // Every client echoes at once, then again: all stay open together.
    for (const round of [0, 1]) {
      for (const [i, client] of clients.entries()) client.sendText(`${round}:${i}`);
      const echoes = await Promise.all(clients.map((client) => client.readText(20_000)));
      expect(echoes.every((text, i) => text === `${round}:${i}`)).toBe(true);
    }
    expect(server.connections()).toBe(count);
    await inWaves(count, 100, (i) => closeCleanly(clients[i]!));
    expect(await eventually(() => ends.length === count)).toBe(true);
    expect(ends.every((end) => end.wasClean && end.closeStatus === 1000 && end.closeStatusDescription === "bye")).toBe(true);
    await expectNothingLeft(server, handlersRunning, handlesBefore);
  });

  test("ThousandsOfConnectDisconnectCycles_CleanAndAbrupt_NothingLeft", { timeout: 60_000 }, async () => {
    const cycles = 5000;
    const { server, ends, handlersRunning } = await echoServer();
    const handlesBefore = tcpHandles();
    let clean = 0;
    await inWaves(cycles, 50, async (i) => {
      const { client } = await RawClient.open(server.port, "/ws");
      client.sendText(`cycle ${i}`);
      expect(await client.readText(10_000)).toBe(`cycle ${i}`);
      // Two in three close cleanly; the rest vanish mid-connection (no Close frame).
      if (i % 3 !== 2) {
        await closeCleanly(client);
        clean++;
      } else {
        client.destroy();
      }
    });
    expect(await eventually(() => ends.length === cycles), `ends ${ends.length}`).toBe(true);
    expect(ends.filter((end) => end.wasClean && end.closeStatus === 1000)).toHaveLength(clean);
    expect(ends.filter((end) => !end.wasClean && end.closeStatus === 1006)).toHaveLength(cycles - clean);
    await expectNothingLeft(server, handlersRunning, handlesBefore);
    // The server still serves after the churn.
    const { client } = await RawClient.open(server.port, "/ws");
    client.sendText("after");
    expect(await client.readText()).toBe("after");
    client.destroy();
  });
});
