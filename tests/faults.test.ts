/**
 * Faults a long-lived server meets: peers that vanish without a Close, consumers that stop reading,
 * handlers that stop reading, handshakes that never finish, and shutdown with messages in flight. Each is
 * contained: the faulty connection ends within a bound, everything held for it is released, and a bystander
 * on the same server keeps being served meanwhile. Figures and per-runtime differences: docs/reliability.md.
 */
import { afterEach, describe, expect, test } from "vitest";
import { resolveOptions, type UniWebSocket, type WebSocketContext, WebSocketError, type WebSocketOptions } from "@uniws/core";
import { delay } from "./support/accepted.ts";
import { handshakeHeaders, Opcode, RawClient } from "./support/raw-client.ts";
import { adapterCapabilities, closeServers, runtime, startServer, type TestServer } from "./support/runtime.ts";

afterEach(closeServers);

const capabilities = await adapterCapabilities();

/** A promise with its resolve function (Promise.withResolvers is not in Node 20). */
function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => (resolve = settle));
  return { promise, resolve };
}

/** Polls `condition` every 20 ms for up to `ms`. */
async function eventually(condition: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await delay(20);
  }
  return true;
}

/** A server whose handler echoes; `sockets` lists what it accepted, `calls` how often it ran. */
async function echoServer(options?: WebSocketOptions) {
  const sockets: UniWebSocket[] = [];
  let calls = 0;
  const server = await startServer(async (context: WebSocketContext) => {
    calls++;
    if (!context.isWebSocketRequest) return context.reject(400);
    const socket = await context.accept();
    sockets.push(socket);
    for await (const message of socket) await socket.send(message.data);
  }, { onError: () => {}, ...options });
  return { server, sockets, calls: () => calls };
}

/**
 * A client that keeps talking: one echo every `period` ms (answering pings on the way) until stopped.
 * Resolves with the number of round trips; throws if any fails.
 */
function chatter(client: RawClient, period = 100) {
  let stopped = false;
  const done = (async () => {
    let rounds = 0;
    while (!stopped) {
      client.sendText(`tick ${rounds}`);
      expect(await client.readText(5000)).toBe(`tick ${rounds}`);
      rounds++;
      await delay(period);
    }
    return rounds;
  })();
  return {
    stop: async () => {
      stopped = true;
      return await done;
    },
  };
}

/** Checks that nothing is left for ended sockets: the adapter's live count and its shared timer's tasks. */
async function expectReleased(server: TestServer, liveSockets: number): Promise<void> {
  expect(await eventually(() => server.connections() === liveSockets), `connections ${server.connections()}, want ${liveSockets}`).toBe(true);
  expect(server.scheduledTasks, `the ${runtime} adapter exposes scheduledTasks`).toBeDefined();
  if (liveSockets === 0) expect(await eventually(() => server.scheduledTasks!() === 0), `scheduledTasks ${server.scheduledTasks!()}`).toBe(true);
}

describe("vanished peer", () => {
  // Deno's engine pings on its own timer: Ping after keepAliveInterval of silence, failure after another
  // interval, whatever keepAliveTimeout is (docs/capabilities.md). The others ping from the core's timer.
  const interval = 1000;
  const timeout = 500;
  const bound = (capabilities.pingControl ? interval + timeout : 2 * interval) + 2000;

  test("SilentAndPausedPeers_AbortedWithinKeepAliveBound_ClosedSettles_BystanderServed", async () => {
    const { server, sockets } = await echoServer({ keepAliveInterval: interval, keepAliveTimeout: timeout });
    const { client: talker } = await RawClient.open(server.port, "/ws");
    const talking = chatter(talker);
    // One peer reads but never answers (a crashed app on a live host); one stops reading too (a paused process).
    const { client: silent } = await RawClient.open(server.port, "/ws");
    const { client: paused } = await RawClient.open(server.port, "/ws");
    paused.socket.pause();
    expect(await eventually(() => sockets.length === 3)).toBe(true);
    const started = Date.now();
    const [silentEnd, pausedEnd] = await Promise.all([sockets[1]!.closed, sockets[2]!.closed]);
    const elapsed = Date.now() - started;
    expect(elapsed, `detected after ${elapsed} ms`).toBeLessThan(bound);
    for (const end of [silentEnd, pausedEnd]) {
      expect(end.wasClean).toBe(false);
      expect(end.closeStatus).toBe(1006);
      expect(end.error).toMatchObject({ code: "CONNECTION_CLOSED" });
    }
    expect(sockets[1]!.state).toBe("aborted");
    expect(sockets[2]!.state).toBe("aborted");
    // The silent peer's TCP connection is ended by the server.
    await silent.waitForEnd(3000);
    expect((await talking.stop()) >= 5).toBe(true);
    expect(sockets[0]!.state).toBe("open");
    await expectReleased(server, 1);
    talker.sendClose(1000);
    await sockets[0]!.closed;
    await expectReleased(server, 0);
    for (const client of [talker, silent, paused]) client.destroy();
  });

  test("ManyPeersSomeVanish_OnlyTheyAreAborted_WithinBound_OthersStayOpen", async () => {
    const count = 300;
    const { server, sockets } = await echoServer({ keepAliveInterval: 500, keepAliveTimeout: 500 });
    const clients = await Promise.all(Array.from({ length: count }, async () => (await RawClient.open(server.port, "/ws")).client));
    expect(await eventually(() => sockets.length === count)).toBe(true);
    // Every fifth peer goes silent and stops reading; the others answer every Ping, as browsers do.
    const silent = (i: number) => i % 5 === 0;
    let pumping = true;
    const pumps = clients.map(async (client, i) => {
      if (silent(i)) return client.socket.pause();
      while (pumping && !client.ended) {
        const frame = await client.readFrame(200).catch(() => undefined);
        if (frame?.opcode === Opcode.ping) client.send(Opcode.pong, frame.payload);
      }
    });
    // The server's sockets are in accept order, which need not be the clients' order: match by count.
    const started = Date.now();
    const bound = (capabilities.pingControl ? 500 + 500 : 2 * 500) + 2000;
    expect(await eventually(() => server.connections() === count - count / 5, bound), `connections ${server.connections()}`).toBe(true);
    expect(Date.now() - started).toBeLessThan(bound);
    // Two more keep-alive rounds: the answering peers stay open.
    await delay(1200);
    expect(server.connections()).toBe(count - count / 5);
    const ended = sockets.filter((socket) => socket.state === "aborted");
    expect(ended).toHaveLength(count / 5);
    for (const socket of ended) expect((await socket.closed).error).toMatchObject({ code: "CONNECTION_CLOSED" });
    pumping = false;
    await Promise.all(pumps);
    const live = clients.filter((_, i) => !silent(i));
    for (const [i, client] of live.entries()) client.sendText(`still ${i}`);
    for (const [i, client] of live.entries()) expect(await client.readText()).toBe(`still ${i}`);
    for (const client of clients) client.destroy();
    await expectReleased(server, 0);
  });

  test("PeerResetsTcp_ClosedSettlesAtOnce_NothingLeft", async () => {
    const { server, sockets } = await echoServer({ keepAliveInterval: 60_000, keepAliveTimeout: 60_000, idleTimeout: 60_000 });
    const clients = await Promise.all(Array.from({ length: 10 }, () => RawClient.open(server.port, "/ws")));
    expect(await eventually(() => sockets.length === 10)).toBe(true);
    // A TCP reset where the runtime's node:net offers one, else a plain FIN: either way no Close frame.
    for (const { client } of clients) (client.socket.resetAndDestroy ?? client.socket.destroy).call(client.socket);
    const ends = await Promise.all(sockets.map((socket) => socket.closed));
    expect(ends.every((end) => !end.wasClean && end.closeStatus === 1006)).toBe(true);
    await expectReleased(server, 0);
  });
});

describe("slow consumer", () => {
  const chunk = new Uint8Array(64 * 1024);
  // Framing adds at most 14 bytes a frame; engines count their queue a little differently, so allow one frame more.
  const slack = chunk.byteLength + 64;

  test("AwaitingSender_PeerStopsReading_BufferStaysUnderHighWaterMark_BystanderKeepsThroughput", async () => {
    const highWaterMark = 256 * 1024;
    let slow: UniWebSocket | undefined;
    let sent = 0;
    let maxBuffered = 0;
    const sender = deferred<unknown>();
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      if (context.url.pathname === "/slow") {
        slow = socket;
        try {
          for (;;) {
            const sending = socket.send(chunk);
            // The peak: right after a message is queued, before its send resolves.
            maxBuffered = Math.max(maxBuffered, socket.bufferedAmount);
            await sending;
            sent++;
          }
        } catch (error) {
          sender.resolve(error);
        }
      } else {
        for await (const message of socket) await socket.send(message.data);
      }
    }, { sendHighWaterMark: highWaterMark, keepAliveInterval: 0, onError: () => {} });
    const { client: reader } = await RawClient.open(server.port, "/slow");
    reader.socket.pause();
    const { client: talker } = await RawClient.open(server.port, "/ws");
    // Kernel buffers take a few MiB first; then send() must wait, holding at most the high-water mark and a message
    // (on Node a write the kernel took only in part makes send() wait until it is flushed, well under the mark).
    expect(await eventually(() => slow !== undefined && slow.bufferedAmount > 0, 10_000)).toBe(true);
    // Deno counts a frame as buffered until its asynchronous write completes, so the mark is crossed before
    // the kernel buffers are full; they keep absorbing a while. Blocked means: no send for half a second.
    let last = sent;
    let stableSince = Date.now();
    expect(await eventually(() => {
      if (sent !== last) [last, stableSince] = [sent, Date.now()];
      return Date.now() - stableSince >= 500;
    }, 10_000)).toBe(true);
    const sentWhenBlocked = sent;
    const started = Date.now();
    let rounds = 0;
    while (rounds < 100) {
      talker.sendText(`echo ${rounds}`);
      expect(await talker.readText()).toBe(`echo ${rounds}`);
      rounds++;
    }
    const elapsed = Date.now() - started;
    expect(elapsed, `100 round trips took ${elapsed} ms`).toBeLessThan(10_000);
    // The sender waited instead of buffering (a paused peer's kernel buffer may still grow a little meanwhile).
    expect(sent - sentWhenBlocked).toBeLessThan(32);
    expect(slow!.bufferedAmount).toBeLessThanOrEqual(highWaterMark + slack);
    expect(maxBuffered).toBeLessThanOrEqual(highWaterMark + slack);
    // The peer goes away: the waiting send rejects and the handler ends.
    reader.destroy();
    const error = await sender.promise;
    expect(error).toBeInstanceOf(WebSocketError);
    expect(error).toMatchObject({ code: "CONNECTION_CLOSED" });
    await expectReleased(server, 1);
    talker.destroy();
  });

  test("SenderNotAwaiting_PastSendBufferLimit_SendRejectsAndConnectionAborted", async () => {
    // The documented choice past the high-water mark: a send that finds more than sendBufferLimit bytes still
    // buffered rejects with SEND_BUFFER_FULL and aborts the connection (a Close frame would queue behind them).
    const limit = 1024 * 1024;
    let slow: UniWebSocket | undefined;
    let maxBuffered = 0;
    let queued = 0;
    const failure = deferred<unknown>();
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      if (context.url.pathname !== "/slow") {
        for await (const message of socket) await socket.send(message.data);
        return;
      }
      slow = socket;
      // Fire and forget, as a broadcast loop that ignores backpressure would, bounded at 64 MiB.
      for (let i = 0; i < 1024; i++) {
        maxBuffered = Math.max(maxBuffered, socket.bufferedAmount);
        const sending = socket.send(chunk);
        sending.catch((error) => failure.resolve(error));
        queued++;
        if (socket.state !== "open") break;
        if (i % 16 === 15) await delay(5);
      }
      await socket.closed;
    }, { sendHighWaterMark: 256 * 1024, sendBufferLimit: limit, keepAliveInterval: 0, onError: () => {} });
    const { client: talker } = await RawClient.open(server.port, "/ws");
    const { client: reader } = await RawClient.open(server.port, "/slow");
    reader.socket.pause();
    const error = await failure.promise;
    expect(error).toBeInstanceOf(WebSocketError);
    expect(error).toMatchObject({ code: "SEND_BUFFER_FULL" });
    const end = await slow!.closed;
    expect(end.wasClean).toBe(false);
    expect(end.error).toBe(error);
    expect(slow!.state).toBe("aborted");
    expect(queued).toBeLessThan(1024);
    // The memory held for the socket never passed the limit and one message.
    expect(maxBuffered).toBeLessThanOrEqual(limit + slack);
    // Later sends reject at once; the bystander is unaffected.
    await expect(slow!.send("late")).rejects.toMatchObject({ code: "CONNECTION_CLOSED" });
    talker.sendText("still here");
    expect(await talker.readText()).toBe("still here");
    await expectReleased(server, 1);
    reader.destroy();
    talker.destroy();
  });
});

describe("handler that stops reading", () => {
  test("PeerKeepsSending_PastReceiveBufferLimit_ClosedWith1013_ReceivedMessagesStillRead", async () => {
    const limit = 256 * 1024;
    const size = 16 * 1024;
    const gate = deferred<void>();
    const received: number[] = [];
    const ended = deferred<unknown>();
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      if (context.url.pathname !== "/stalled") {
        for await (const message of socket) await socket.send(message.data);
        return;
      }
      await gate.promise; // a stalled dependency: nothing is read meanwhile
      for await (const message of socket) received.push((message.data as Uint8Array)[0]!);
      ended.resolve(await socket.closed);
    }, { receiveBufferLimit: limit, keepAliveInterval: 0, onError: () => {} });
    const { client: talker } = await RawClient.open(server.port, "/ws");
    const { client: flooder } = await RawClient.open(server.port, "/stalled");
    // 2 MiB in 16 KiB messages, each tagged with its number.
    for (let i = 0; i < 128; i++) flooder.send(Opcode.binary, new Uint8Array(size).fill(i));
    if (runtime === "deno") {
      // Documented difference (docs/deno.md): Deno stops reading after the server's Close and ends the
      // connection when more data arrives, so a flooding peer is dropped (a reset may discard the Close frame).
      await flooder.readClose(10_000).catch(() => {});
      await flooder.waitForEnd(10_000);
    } else {
      expect(await flooder.readClose(10_000)).toEqual({ code: 1013, reason: "Receive buffer full" });
      flooder.sendClose(1013);
    }
    talker.sendText("unaffected");
    expect(await talker.readText()).toBe("unaffected");
    gate.resolve();
    expect(await ended.promise).toMatchObject(runtime === "deno" ? { closeStatus: 1006, wasClean: false } : { closeStatus: 1013, wasClean: true });
    // Everything accepted before the bound is read, in order: at most the limit and one message more.
    expect(received.length).toBeGreaterThanOrEqual(limit / size);
    expect(received.length).toBeLessThanOrEqual(limit / size + 1);
    expect(received).toEqual(received.map((_, i) => i));
    await expectReleased(server, 1);
    talker.destroy();
    flooder.destroy();
  });
});

test("BufferLimits_Defaults_ZeroTurnsThemOff_InvalidValuesThrow", () => {
  expect(resolveOptions().sendBufferLimit).toBe(16 * 1024 * 1024);
  expect(resolveOptions({ sendHighWaterMark: 8 * 1024 * 1024 }).sendBufferLimit).toBe(32 * 1024 * 1024);
  expect(resolveOptions({ sendBufferLimit: 0 }).sendBufferLimit).toBe(0);
  expect(() => resolveOptions({ sendHighWaterMark: 1024, sendBufferLimit: 512 })).toThrow(RangeError);
  expect(() => resolveOptions({ sendBufferLimit: -1 })).toThrow(RangeError);
  expect(resolveOptions().receiveBufferLimit).toBe(16 * 1024 * 1024);
  expect(() => resolveOptions({ receiveBufferLimit: Number.NaN })).toThrow(RangeError);
});

describe("slow handshakes", () => {
  // The HTTP server owns the time before a request reaches uniws (docs/reliability.md). The test servers use:
  // Node, headersTimeout 5 s (checked every 0.5 s), answered 408; Bun, Bun.serve's idleTimeout (10 s, checked
  // on a 4 s tick), dropped without an answer. Deno.serve has no header timeout: such clients stay connected.
  const dropWithin = { node: 5000 + 500 + 2500, bun: 10_000 + 4000 + 2500, deno: undefined }[runtime];

  test("OneByteASecondAndNeverFinished_DroppedByServerDeadline_OthersServedMeanwhile", { timeout: 30_000 }, async () => {
    const { server, calls } = await echoServer({ keepAliveInterval: 0 });
    const { client: talker } = await RawClient.open(server.port, "/ws");
    const talking = chatter(talker, 200);
    const request = ["GET /ws HTTP/1.1", ...Object.entries(handshakeHeaders(server.port)).map(([name, value]) => `${name}: ${value}`)].join("\r\n") + "\r\n\r\n";
    const dripper = await RawClient.connect(server.port);
    const staller = await RawClient.connect(server.port);
    staller.write(request.slice(0, 40));
    const started = Date.now();
    let sentBytes = 0;
    const drip = setInterval(() => {
      if (!dripper.ended && sentBytes < request.length) dripper.write(request[sentBytes++]!);
    }, 1000);
    try {
      if (dropWithin === undefined) {
        await delay(3000);
        expect(dripper.ended).toBe(false);
        expect(staller.ended).toBe(false);
      } else {
        await Promise.all([dripper.waitForEnd(dropWithin), staller.waitForEnd(dropWithin)]);
        expect(Date.now() - started).toBeLessThan(dropWithin);
        expect(sentBytes).toBeLessThan(request.length);
        if (runtime === "node") {
          // Node answers before it closes; Bun closes without an answer.
          expect((await staller.readHttpAnswer(100)).status).toBe(408);
        }
      }
    } finally {
      clearInterval(drip);
    }
    // Neither handshake reached the handler, and the bystander never stalled.
    expect(calls()).toBe(1);
    expect(await talking.stop()).toBeGreaterThanOrEqual(5);
    // A new client is served as usual.
    const { client: late } = await RawClient.open(server.port, "/ws");
    late.sendText("late");
    expect(await late.readText()).toBe("late");
    for (const client of [talker, dripper, staller, late]) client.destroy();
  });
});

describe("shutdown with messages in flight", () => {
  test("EveryMessageSentBeforeClose_ArrivesBeforeThe1001_SilentPeerAbortedInTime", async () => {
    const perSocket = 200;
    const sockets: UniWebSocket[] = [];
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      sockets.push(socket);
      await socket.closed;
    }, { keepAliveInterval: 0, onError: () => {} });
    const readers = await Promise.all(Array.from({ length: 5 }, () => RawClient.open(server.port, "/ws")));
    const { client: silent } = await RawClient.open(server.port, "/ws");
    silent.socket.pause();
    expect(await eventually(() => sockets.length === 6)).toBe(true);
    // Without awaiting: the messages are still queued in the engine when the shutdown starts.
    for (const socket of sockets) {
      for (let i = 0; i < perSocket; i++) void socket.send(i % 2 === 0 ? `text ${i}` : new TextEncoder().encode(`binary ${i}`)).catch(() => {});
    }
    const started = Date.now();
    const closing = server.close(); // the harness gives peers 2 s to answer
    const received = await Promise.all(readers.map(async ({ client }) => {
      const texts: string[] = [];
      for (;;) {
        const message = await client.readMessage();
        if (message.opcode === Opcode.close) {
          expect(new DataView(message.data.buffer, message.data.byteOffset).getUint16(0)).toBe(1001);
          client.sendClose(1001);
          return texts;
        }
        texts.push(new TextDecoder().decode(message.data));
      }
    }));
    for (const texts of received) {
      expect(texts).toHaveLength(perSocket);
      expect(texts.every((text, i) => text === (i % 2 === 0 ? `text ${i}` : `binary ${i}`))).toBe(true);
    }
    await closing;
    expect(Date.now() - started).toBeLessThan(2000 + 2500);
    expect(server.connections()).toBe(0);
    const ends = await Promise.all(sockets.map((socket) => socket.closed));
    expect(ends.slice(0, 5).every((end) => end.wasClean && end.closeStatus === 1001)).toBe(true);
    if (runtime === "bun") {
      // Documented difference (docs/bun.md): Bun ends the connection right after its Close frame without
      // reading the peer's, so the silent peer's end reads as clean, with the status the server sent.
      expect(ends[5]).toMatchObject({ wasClean: true, closeStatus: 1001 });
    } else {
      expect(ends[5]).toMatchObject({ wasClean: false, closeStatus: 1006 });
    }
    await expectReleased(server, 0);
    for (const { client } of readers) client.destroy();
    silent.destroy();
  });
});
