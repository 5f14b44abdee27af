/** Keep-alive (interval and timeout) and the application idle timeout, with short intervals. */
import { afterEach, describe, expect, test } from "vitest";
import { acceptOne, delay } from "./support/accepted.ts";
import { Opcode, type RawClient } from "./support/raw-client.ts";
import { adapterCapabilities, closeServers, runtime } from "./support/runtime.ts";

afterEach(closeServers);

/** Collects the control frames a client sees during `ms`, answering pings if asked. */
async function watch(client: RawClient, ms: number, answerPings: boolean): Promise<number[]> {
  const opcodes: number[] = [];
  const until = Date.now() + ms;
  for (;;) {
    const left = until - Date.now();
    if (left <= 0) return opcodes;
    let frame;
    try {
      frame = await client.readFrame(left);
    } catch (error) {
      if ((error as Error).message.startsWith("timed out")) return opcodes;
      throw error;
    }
    opcodes.push(frame.opcode);
    if (frame.opcode === Opcode.ping && answerPings) client.send(Opcode.pong, frame.payload);
    if (frame.opcode === Opcode.close) return opcodes;
  }
}

describe("keep-alive", async () => {
  const capabilities = await adapterCapabilities();

  if (capabilities.pingControl) {
    test("KeepAliveWithoutTimeout_SendsUnsolicitedPongs", async () => {
      const { client } = await acceptOne({ keepAliveInterval: 100 });
      const opcodes = await watch(client, 650, false);
      // RFC 6455 §5.5.3: an unsolicited Pong is a heartbeat that needs no answer.
      expect(opcodes.filter((opcode) => opcode === Opcode.pong).length).toBeGreaterThanOrEqual(2);
      expect(opcodes).not.toContain(Opcode.ping);
      client.destroy();
    });

    test("KeepAliveWithTimeout_PeerAnswers_StaysOpen", async () => {
      const { socket, client } = await acceptOne({ keepAliveInterval: 100, keepAliveTimeout: 300 });
      const opcodes = await watch(client, 900, true);
      expect(opcodes.filter((opcode) => opcode === Opcode.ping).length).toBeGreaterThanOrEqual(2);
      expect(socket.state).toBe("open");
      client.destroy();
    });

    test("KeepAliveTimeout_PeerSilent_AbortedWithinIntervalPlusTimeout", async () => {
      const { socket, client } = await acceptOne({ keepAliveInterval: 100, keepAliveTimeout: 200 });
      const started = Date.now();
      const result = await socket.closed;
      const elapsed = Date.now() - started;
      expect(result.wasClean).toBe(false);
      expect(result.error).toMatchObject({ code: "CONNECTION_CLOSED" });
      expect(socket.state).toBe("aborted");
      expect(elapsed).toBeLessThan(100 + 200 + 1500);
      // Aborted: the TCP connection ends without a Close frame.
      const opcodes = await watch(client, 300, false).catch(() => [] as number[]);
      expect(opcodes).not.toContain(Opcode.close);
      await client.waitForEnd();
      client.destroy();
    });

    test("AcceptContextKeepAlive_OverridesOptions", async () => {
      const { client } = await acceptOne({ keepAliveInterval: 0 }, { keepAliveInterval: 100, keepAliveTimeout: 1000 });
      const opcodes = await watch(client, 500, true);
      expect(opcodes).toContain(Opcode.ping);
      client.destroy();
    });

    test("InboundTraffic_PushesNextPingBack", async () => {
      const { client } = await acceptOne({ keepAliveInterval: 250, keepAliveTimeout: 1000 });
      const pinging = watch(client, 700, true);
      for (let i = 0; i < 6; i++) {
        client.send(Opcode.pong, new Uint8Array(0));
        await delay(100);
      }
      expect(await pinging).not.toContain(Opcode.ping);
      client.destroy();
    });
  } else if (runtime === "deno") {
    // Documented mapping (docs/deno.md): Deno's idleTimeout = 2 × keepAliveInterval. Deno pings after
    // half of it without a frame from the peer, and closes with 1001 when the next half passes silent.
    test("DenoKeepAlive_PingsEveryInterval_PeerAnswers_StaysOpen", async () => {
      const { socket, client } = await acceptOne({ keepAliveInterval: 100 });
      const opcodes = await watch(client, 700, true);
      expect(opcodes.filter((opcode) => opcode === Opcode.ping).length).toBeGreaterThanOrEqual(2);
      expect(opcodes).not.toContain(Opcode.close);
      expect(socket.state).toBe("open");
      client.destroy();
    });

    test("DenoKeepAlive_PeerSilent_Close1001AfterTwoIntervals_SocketAborted", async () => {
      // keepAliveTimeout cannot be honoured apart from the interval: Deno waits one more interval.
      const { socket, client } = await acceptOne({ keepAliveInterval: 150, keepAliveTimeout: 5000 });
      const started = Date.now();
      expect((await client.readFrame(3000)).opcode).toBe(Opcode.ping);
      expect(await client.readClose(3000)).toEqual({ code: 1001, reason: "No response from ping frame." });
      const result = await socket.closed;
      expect(Date.now() - started).toBeLessThan(300 + 1500);
      // The socket ends as on every runtime when a keep-alive goes unanswered: aborted, not clean.
      expect(result).toMatchObject({ wasClean: false, closeStatus: 1006, error: { code: "CONNECTION_CLOSED" } });
      expect(socket.state).toBe("aborted");
      await client.waitForEnd();
      client.destroy();
    });

    test("DenoKeepAliveOff_NoPings", async () => {
      const { socket, client } = await acceptOne({ keepAliveInterval: 0 });
      expect(await watch(client, 500, false)).toEqual([]);
      expect(socket.state).toBe("open");
      client.destroy();
    });
  } else {
    test("NoPingControl_CoreSendsNoPingsOfItsOwn_EngineTimerUsed", async () => {
      // Documented difference (docs/capabilities.md): keep-alive is mapped onto the engine's own timer,
      // which counts whole seconds, so a 100 ms interval yields no frames within half a second.
      const { socket, client } = await acceptOne({ keepAliveInterval: 100 });
      const opcodes = await watch(client, 500, true);
      expect(opcodes).toEqual([]);
      expect(socket.state).toBe("open");
      client.destroy();
    });
  }

  test("KeepAliveTimeoutNegative_ServerRefusesOptionsWithRangeError", async () => {
    await expect(acceptOne({ keepAliveTimeout: -1 })).rejects.toBeInstanceOf(RangeError);
    // In the accept context the RangeError is thrown by accept(); the handler did not catch it: 500.
    await expect(acceptOne({ onError: () => {} }, { keepAliveInterval: -5 })).rejects.toThrow("expected 101, got 500");
  });

  // Every runtime's timers hold at most 2^31 - 1 ms: a longer delay fires at once (Node and Bun warn and take 1 ms,
  // Deno's idleTimeout pinged and aborted a silent peer within 300 ms). Refused where it is given, the same everywhere.
  test("DurationPastTheTimerLimit_RefusedWithRangeError_TheLimitItselfServes", async () => {
    const limit = 2 ** 31 - 1;
    for (const name of ["keepAliveInterval", "keepAliveTimeout", "idleTimeout", "closeTimeout"] as const) {
      await expect(acceptOne({ [name]: limit + 1 })).rejects.toThrow(RangeError);
      await expect(acceptOne({ [name]: limit + 1 })).rejects.toThrow(`${name} must be at most ${limit}`);
    }
    // In the accept context the RangeError is thrown by accept(); the handler did not catch it: 500.
    await expect(acceptOne({ onError: () => {} }, { keepAliveInterval: limit + 1 })).rejects.toThrow("expected 101, got 500");
    // A timer past the limit shows as a TimeoutOverflowWarning (Node, and Deno's and Bun's `process`).
    const overflows: string[] = [];
    const onWarning = (warning: Error) => {
      if (warning.name === "TimeoutOverflowWarning") overflows.push(warning.message);
    };
    process.on("warning", onWarning);
    const { server, socket, client } = await acceptOne({ keepAliveInterval: limit, keepAliveTimeout: limit, idleTimeout: limit, closeTimeout: limit });
    // A shutdown's own timeout is a timer too: refused before any socket is touched.
    await expect(server.shutdown({ timeout: limit + 1 })).rejects.toThrow(RangeError);
    // No heartbeat, no abort: the deadlines are 24.8 days away, not due at once.
    await delay(300);
    expect(client.pendingBytes).toBe(0);
    client.sendText("still here");
    expect(await socket.receive()).toEqual({ type: "text", data: "still here" });
    expect(socket.state).toBe("open");
    // The close's deadline too: its timer is armed, not fired.
    void socket.close();
    expect(await client.readClose()).toEqual({ code: 1000, reason: "" });
    await delay(100);
    // Not aborted. Bun ends the connection right after its Close (docs/bun.md): clean at once there.
    expect(socket.state).toBe(runtime === "bun" ? "closed" : "closeSent");
    process.off("warning", onWarning);
    expect(overflows).toEqual([]);
    client.destroy();
  });
});

describe("idle timeout", () => {
  test("IdleTimeout_NoMessages_ClosedWith1001", async () => {
    const { socket, client } = await acceptOne({ idleTimeout: 300, keepAliveInterval: 0 });
    const close = await client.readClose(3000);
    expect(close).toEqual({ code: 1001, reason: "Idle timeout" });
    client.sendClose(1001);
    const result = await socket.closed;
    expect(result.wasClean).toBe(true);
    client.destroy();
  });

  test("IdleTimeout_MessagesKeepItOpen", async () => {
    const { socket, client } = await acceptOne({ idleTimeout: 400, keepAliveInterval: 0 });
    for (let i = 0; i < 8; i++) {
      client.sendText(`tick ${i}`);
      await delay(100);
    }
    expect(socket.state).toBe("open");
    client.destroy();
  });

  test("IdleTimeout_PongsDoNotCount", async () => {
    const { client } = await acceptOne({ idleTimeout: 300, keepAliveInterval: 0 });
    const pongs = (async () => {
      for (let i = 0; i < 10 && !client.ended; i++) {
        client.send(Opcode.pong, new Uint8Array(0));
        await delay(50);
      }
    })();
    expect((await client.readClose(3000)).code).toBe(1001);
    await pongs;
    client.destroy();
  });
});
