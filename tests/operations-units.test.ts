/** The operations pieces of the core checked directly: the token bucket, UTF-8 sizes, the peer's address, the options. */
import { describe, expect, test } from "vitest";
import { type DispatchOutcome, type HandshakeRequest, resolveOptions, WebSocketHost } from "@uniws/core";
import { utf8Length } from "../packages/core/src/metrics.ts";
import { InboundRateLimit, TokenBucket } from "../packages/core/src/rate-limit.ts";

describe("token bucket", () => {
  test("StartsFull_RefillsAtRate_NeverPastBurst", () => {
    const bucket = new TokenBucket(10, 3, 0); // 10 a second: one every 100 ms
    expect([bucket.take(1, 0), bucket.take(1, 0), bucket.take(1, 0), bucket.take(1, 0)]).toEqual([true, true, true, false]);
    expect(bucket.take(1, 50)).toBe(false);
    expect(bucket.take(1, 100)).toBe(true);
    // A long quiet spell refills to the burst, not past it.
    expect([bucket.take(3, 10_000), bucket.take(1, 10_000)]).toEqual([true, false]);
  });

  test("CostLargerThanBurst_NeverFits", () => {
    const bucket = new TokenBucket(1000, 100, 0);
    expect(bucket.take(101, 1_000_000)).toBe(false);
    expect(bucket.take(100, 1_000_000)).toBe(true);
  });

  test("InboundRateLimit_NamesTheLimit_StaysOverOnceOver", () => {
    const limit = new InboundRateLimit({ maxMessagesPerSecond: 0, messageBurst: 1, maxBytesPerSecond: 100, byteBurst: 10 }, 0);
    expect(limit.admit(10, 0)).toBeUndefined();
    expect(limit.admit(1, 0)).toBe("maxBytesPerSecond");
    expect(limit.admit(0, 60_000)).toBe("maxBytesPerSecond");
    const messages = new InboundRateLimit({ maxMessagesPerSecond: 1, messageBurst: 1, maxBytesPerSecond: 0, byteBurst: 1 }, 0);
    expect([messages.admit(5, 0), messages.admit(5, 0)]).toEqual([undefined, "maxMessagesPerSecond"]);
  });

  test("Options_BurstDefaultsToOneSecondsWorth_AtLeastOne", () => {
    expect(resolveOptions({ maxMessagesPerSecond: 50, maxBytesPerSecond: 4096 })).toMatchObject({ messageBurst: 50, byteBurst: 4096 });
    expect(resolveOptions({ maxMessagesPerSecond: 0.5 }).messageBurst).toBe(1);
    expect(resolveOptions({ maxMessagesPerSecond: 2, messageBurst: 20 }).messageBurst).toBe(20);
    expect(resolveOptions()).toMatchObject({ maxConnections: 0, maxConnectionsRetryAfter: 5_000, maxMessagesPerSecond: 0, maxBytesPerSecond: 0 });
  });
});

describe("utf8Length", () => {
  test.each(["", "ascii", "héllo", "✓ check", "emoji 😀 pair", "lone \ud800 high", "lone \udc00 low", "end \ud83d", "ÿ".repeat(300), "a".repeat(40_000), `${"b".repeat(16_383)}😀${"c".repeat(20_000)}`, `${"€".repeat(30_000)}\ud800`])(
    "Utf8Length_MatchesTextEncoder_%#",
    (text) => expect(utf8Length(text)).toBe(new TextEncoder().encode(text).byteLength),
  );
});

describe("remoteAddress", () => {
  async function addressSeen(remoteAddress: string | undefined): Promise<string> {
    const host = new WebSocketHost((context) => new Response(String(context.remoteAddress)));
    const request: HandshakeRequest = { method: "GET", url: new URL("http://x/"), headers: new Headers(), httpVersion: "1.1", remoteAddress };
    const binding = {
      capabilities: { pingControl: true, fragmentedSend: true, compression: false, perMessageCompression: false, compressionParameters: "none", drainEvent: true, enforcesMaxMessageSize: false, http2: false } as const,
      upgrade: () => undefined,
    };
    const outcome: DispatchOutcome = await host.dispatch(request, undefined, binding);
    if (outcome.kind !== "response") throw new Error(`expected a response, got ${outcome.kind}`);
    return await outcome.response.text();
  }

  test("Ipv4MappedIpv6_ReadsAsIpv4_OthersAsGiven", async () => {
    expect(await addressSeen("::ffff:10.1.2.3")).toBe("10.1.2.3");
    expect(await addressSeen("::1")).toBe("::1");
    expect(await addressSeen("2001:db8::ffff:1")).toBe("2001:db8::ffff:1");
    expect(await addressSeen("192.0.2.7")).toBe("192.0.2.7");
    expect(await addressSeen(undefined)).toBe("undefined");
  });
});
