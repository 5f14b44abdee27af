/** The core's pure parts, checked directly: options, handshake reading, close statuses, the scheduler, purity. */
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import {
  DEFAULT_OPTIONS,
  isOriginAllowed,
  isSendableCloseStatus,
  readHandshake,
  requestedProtocols,
  resolveOptions,
  validateCloseStatus,
} from "@uniws/core";
import { isForeignSchemeTarget } from "../packages/core/src/handshake.ts";
import { Scheduler } from "../packages/core/src/scheduler.ts";

function h1(headers: Record<string, string>, method = "GET") {
  return readHandshake({ method, url: new URL("http://x/ws"), headers: new Headers(headers), httpVersion: "1.1" });
}

const valid = {
  upgrade: "websocket",
  connection: "Upgrade",
  "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  "sec-websocket-version": "13",
};

describe("options", () => {
  test("Defaults_AreTheDocumentedOnes", () => {
    const options = resolveOptions();
    expect(options.keepAliveInterval).toBe(120_000);
    expect(options.keepAliveTimeout).toBe(0);
    expect(options.idleTimeout).toBe(0);
    expect(options.allowedOrigins).toBeUndefined();
    expect(options.maxMessageSize).toBe(16 * 1024 * 1024);
    expect(options.closeTimeout).toBe(30_000);
    expect(DEFAULT_OPTIONS.sendHighWaterMark).toBe(1024 * 1024);
  });

  test.each(["keepAliveInterval", "keepAliveTimeout", "idleTimeout", "closeTimeout", "maxMessageSize", "sendHighWaterMark"])(
    "%s_NegativeOrNaN_ThrowsRangeError",
    (name) => {
      expect(() => resolveOptions({ [name]: -1 })).toThrow(RangeError);
      expect(() => resolveOptions({ [name]: Number.NaN })).toThrow(RangeError);
      expect(() => resolveOptions({ [name]: Infinity })).toThrow(RangeError);
    },
  );

  test("AllowedOrigins_LowerCasedOnce_WildcardMeansAll", () => {
    expect([...resolveOptions({ allowedOrigins: ["http://ExAmPLE.cOm"] }).allowedOrigins!]).toEqual(["http://example.com"]);
    expect(resolveOptions({ allowedOrigins: ["http://a.test", "*"] }).allowedOrigins).toBeUndefined();
    expect(resolveOptions({ allowedOrigins: [] }).allowedOrigins).toBeUndefined();
  });

  test("AllowedOrigins_EntryThatNoBrowserSends_ThrowsRangeErrorNamingIt", () => {
    // A browser's Origin is scheme://host[:port] with nothing after it (RFC 6454 §6.2), no default port and the host in
    // ASCII: "https://a.test/" (copied from the address bar), one with a path or ":443" never matched, and every
    // browser got 403 with nothing to say why.
    for (const entry of ["https://a.test/", "https://a.test/app", "https://a.test?x", "a.test", "", " https://a.test", "https://a.test:443", "http://a.test:80", "https://bücher.example"]) {
      expect(() => resolveOptions({ allowedOrigins: [entry] }), entry).toThrow(RangeError);
    }
    expect(() => resolveOptions({ allowedOrigins: ["https://a.test/"] })).toThrow(/https:\/\/a\.test\//);
    for (const entry of ["https://a.test", "http://127.0.0.1:8080", "HTTPS://A.TEST", "chrome-extension://abcdef", "null", "*", "http://[::1]:3000", "https://xn--bcher-kva.example:8443"]) {
      expect(() => resolveOptions({ allowedOrigins: [entry] }), entry).not.toThrow();
    }
  });

  test("AllowedOriginsOrOnErrorOfTheWrongType_ThrowTypeError", () => {
    // For JavaScript callers: a lone string was refused with "origins.map is not a function", an onError that is not
    // a function was taken, to throw only when the first error came.
    expect(() => resolveOptions({ allowedOrigins: "https://a.test" as unknown as string[] })).toThrow(/allowedOrigins/);
    expect(() => resolveOptions({ allowedOrigins: "https://a.test" as unknown as string[] })).toThrow(TypeError);
    expect(() => resolveOptions({ onError: 5 as unknown as () => void })).toThrow(TypeError);
  });

  test("Origin_MatchedCaseInsensitively_MissingAllowed_SeveralValuesRefused", () => {
    const allowed = new Set(["http://example.com"]);
    expect(isOriginAllowed("HTTP://Example.COM", allowed)).toBe(true);
    expect(isOriginAllowed(null, allowed)).toBe(true);
    expect(isOriginAllowed("http://example.com, http://example.com", allowed)).toBe(false);
    expect(isOriginAllowed("http://evil.test", allowed)).toBe(false);
    expect(isOriginAllowed("http://evil.test", undefined)).toBe(true);
  });
});

describe("readHandshake", () => {
  test("ValidHttp11_IsWebSocket", () => {
    expect(h1(valid)).toEqual({ kind: "websocket" });
  });

  test("NoUpgradeHeader_IsPlain", () => {
    expect(h1({ connection: "keep-alive" })).toEqual({ kind: "plain" });
    expect(h1({ ...valid, upgrade: "h2c" })).toEqual({ kind: "plain" });
  });

  test.each([
    ["key decodes to 17 bytes", { "sec-websocket-key": "AAAAAAAAAAAAAAAAAAAAAAA=" }],
    ["empty key", { "sec-websocket-key": "" }],
    ["Connection without upgrade", { connection: "keep-alive" }],
    ["a body", { "content-length": "5" }],
    ["chunked body", { "transfer-encoding": "chunked" }],
    ["invalid protocol token", { "sec-websocket-protocol": "a/b" }],
  ])("Invalid_%s_Is400", (_name, change) => {
    expect(h1({ ...valid, ...change })).toMatchObject({ kind: "invalid", status: 400 });
  });

  test("NonGet_Is400", () => {
    expect(h1(valid, "POST")).toMatchObject({ kind: "invalid", status: 400 });
  });

  test("Version8_Is426WithVersionHeader", () => {
    expect(h1({ ...valid, "sec-websocket-version": "8" })).toEqual({
      kind: "invalid",
      status: 426,
      reason: "Only WebSocket version 13 is supported",
      headers: { "sec-websocket-version": "13" },
    });
  });

  test("ConnectionListInAnyCaseAndPosition_Accepted", () => {
    expect(h1({ ...valid, connection: "keep-alive, UPGRADE", upgrade: "WebSocket" })).toEqual({ kind: "websocket" });
  });

  test("UpgradeNamingMoreThanWebsocket_Invalid400", () => {
    // workerd upgrades only `Upgrade: websocket`, so no runtime upgrades a longer list (docs/semantics.md).
    for (const upgrade of ["WebSocket, example", "h2c, websocket", "websocket,"]) {
      expect(h1({ ...valid, upgrade })).toMatchObject({ kind: "invalid", status: 400 });
    }
    expect(h1({ ...valid, upgrade: "h2c" })).toEqual({ kind: "plain" });
  });

  test("Http10WithUpgradeHeaders_Invalid400", () => {
    const headers = new Headers({ ...valid });
    expect(readHandshake({ method: "GET", url: new URL("http://x/ws"), headers, httpVersion: "1.0" })).toMatchObject({ kind: "invalid", status: 400 });
  });

  test("Http2ExtendedConnect_IsWebSocketWithoutKey", () => {
    const request = (method: string, protocol: string | undefined, version = "13") =>
      readHandshake({ method, url: new URL("https://x/ws"), headers: new Headers({ "sec-websocket-version": version }), httpVersion: "2", protocol });
    expect(request("CONNECT", "websocket")).toEqual({ kind: "websocket" });
    expect(request("CONNECT", "WebSocket")).toEqual({ kind: "websocket" });
    expect(request("CONNECT", "foo")).toEqual({ kind: "plain" });
    expect(request("GET", undefined)).toEqual({ kind: "plain" });
    expect(request("CONNECT", "websocket", "8")).toMatchObject({ kind: "invalid", status: 426 });
  });

  test("RequestedProtocols_TrimmedDeduplicatedInOrder", () => {
    expect(requestedProtocols(new Headers({ "sec-websocket-protocol": "p1, p2,p3 , p1" }))).toEqual(["p1", "p2", "p3"]);
    expect(requestedProtocols(new Headers())).toEqual([]);
  });
});

describe("request targets", () => {
  // RFC 9112 §3.2: only an absolute-form target of another scheme than http(s) is refused; the other forms are not.
  test.each([
    ["ws://host/ws", true],
    ["WSS://host:443/ws?x=1", true],
    ["ftp://host/ws", true],
    ["http://host/ws", false],
    ["HTTPS://host/ws", false],
    ["/ws?room=1", false],
    ["//other.example/ws", false],
    ["*", false],
    ["host.example:443", false],
    ["[::1]:443", false],
    ["urn:ws", false],
    ["1ws://host/", false],
  ])("IsForeignSchemeTarget_%s_%s", (target, foreign) => {
    expect(isForeignSchemeTarget(target)).toBe(foreign);
  });
});

describe("close statuses", () => {
  test("SendableRanges_FollowRfc6455Section7_4", () => {
    const sendable = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000, 4999];
    // 1014 is registered, but Deno's engine cannot read a peer's echo of it (CloseWithStatus1014_RejectsInvalidCloseStatus_…).
    const reserved = [0, 999, 1004, 1005, 1006, 1014, 1015, 1016, 2000, 2999, 5000, 1000.5];
    for (const code of sendable) expect(isSendableCloseStatus(code), String(code)).toBe(true);
    for (const code of reserved) expect(isSendableCloseStatus(code), String(code)).toBe(false);
  });

  test("Reason_CountedInUtf8Bytes", () => {
    expect(() => validateCloseStatus(1000, "€".repeat(41))).not.toThrow(); // 123 bytes
    expect(() => validateCloseStatus(1000, "€".repeat(41) + "x")).toThrow(/123/);
  });
});

describe("scheduler", () => {
  test("Tasks_RunInDeadlineOrder_AndRefileThemselves", async () => {
    const scheduler = new Scheduler(5, (error) => {
      throw error;
    });
    const order: string[] = [];
    const start = performance.now();
    let repeats = 0;
    scheduler.schedule({ onDue: () => void order.push("late") }, start + 60);
    scheduler.schedule({ onDue: () => void order.push("early") }, start + 10);
    scheduler.schedule({
      onDue: (now) => {
        order.push("repeat");
        return ++repeats < 3 ? now + 10 : undefined;
      },
    }, start + 20);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(order).toEqual(["early", "repeat", "repeat", "repeat", "late"]);
    expect(scheduler.size).toBe(0);
  });

  test("Cancel_RemovesTask_EarlierDeadlineMovesIt", async () => {
    const scheduler = new Scheduler(5, () => {});
    const fired: string[] = [];
    const cancelled = { onDue: () => void fired.push("cancelled") };
    const moved = { onDue: () => void fired.push("moved") };
    const now = performance.now();
    scheduler.schedule(cancelled, now + 20);
    scheduler.schedule(moved, now + 500);
    scheduler.schedule(moved, now + 30); // earlier: moved up
    scheduler.schedule(moved, now + 900); // later: stays at 30 (the task re-files itself)
    scheduler.cancel(cancelled);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(fired).toEqual(["moved"]);
    scheduler.clear();
  });

  test("MovedTask_FiledAgainInTheBucketItLeft_RunsOncePerFiling", async () => {
    const scheduler = new Scheduler(5, (error) => {
      throw error;
    });
    const start = performance.now();
    const runs: number[] = [];
    const task = {
      onDue: (now: number) => {
        runs.push(now);
        // The first run files it again for the bucket it was moved out of.
        return runs.length === 1 ? start + 60 : undefined;
      },
    };
    scheduler.schedule(task, start + 60);
    scheduler.schedule(task, start + 10);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(runs).toHaveLength(2);
    expect(runs[1]! - start).toBeGreaterThanOrEqual(59);
    expect(scheduler.size).toBe(0);
  });

  test("ManyCancelledTasksInOneBucket_NeverRun_TheRestRunOnce", async () => {
    const scheduler = new Scheduler(5, (error) => {
      throw error;
    });
    const start = performance.now();
    const ran = new Map<number, number>();
    const tasks = Array.from({ length: 300 }, (_, i) => ({ onDue: () => void ran.set(i, (ran.get(i) ?? 0) + 1) }));
    for (const task of tasks) scheduler.schedule(task, start + 30);
    // Cancelled, and moved out and back again, in an order that leaves most of the bucket's list behind.
    for (let i = 0; i < 300; i += 3) scheduler.cancel(tasks[i]!);
    for (let i = 1; i < 300; i += 3) scheduler.cancel(tasks[i]!);
    for (let i = 1; i < 300; i += 6) scheduler.schedule(tasks[i]!, start + 30);
    expect(scheduler.size).toBe(150);
    await new Promise((resolve) => setTimeout(resolve, 120));
    const expected = new Map<number, number>();
    for (let i = 0; i < 300; i++) if (i % 3 === 2 || i % 6 === 1) expected.set(i, 1);
    expect(ran).toEqual(expected);
    expect(scheduler.size).toBe(0);
  });

  test("EmptiedBucket_FiledAgain_RunsItsNewTaskOnly", async () => {
    const scheduler = new Scheduler(5, (error) => {
      throw error;
    });
    const start = performance.now();
    const fired: string[] = [];
    const gone = { onDue: () => void fired.push("gone") };
    const fresh = { onDue: () => void fired.push("fresh") };
    scheduler.schedule(gone, start + 20);
    scheduler.cancel(gone);
    scheduler.schedule(fresh, start + 20);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(fired).toEqual(["fresh"]);
  });

  test("Clear_WithMovedTasks_RunsNothing_AndLetsEachBeFiledAgain", async () => {
    const scheduler = new Scheduler(5, () => {});
    const start = performance.now();
    const fired: string[] = [];
    const task: { onDue: () => undefined; scheduledBucket?: number } = { onDue: () => void fired.push("task") };
    scheduler.schedule(task, start + 40);
    scheduler.schedule(task, start + 20);
    scheduler.clear();
    expect(task.scheduledBucket).toBeUndefined();
    expect(scheduler.size).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(fired).toEqual([]);
    scheduler.schedule(task, performance.now() + 10);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(fired).toEqual(["task"]);
  });

  test("ThrowingTask_ReportedAndOthersStillRun", async () => {
    const errors: unknown[] = [];
    const scheduler = new Scheduler(5, (error) => errors.push(error));
    let ran = false;
    const now = performance.now();
    scheduler.schedule({ onDue: () => { throw new Error("task failed"); } }, now + 5);
    scheduler.schedule({ onDue: () => void (ran = true) }, now + 5);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(ran).toBe(true);
    expect(errors).toHaveLength(1);
  });
});

describe("core purity", () => {
  test("Core_ImportsNothingRuntimeSpecific", () => {
    const dir = new URL("../packages/core/src/", import.meta.url);
    const files = readdirSync(dir).filter((name) => name.endsWith(".ts"));
    expect(files.length).toBeGreaterThan(5);
    for (const name of files) {
      // Code only: comments may name runtimes.
      const source = readFileSync(new URL(name, dir), "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
      const imports = [...source.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].map((match) => match[1]!);
      for (const specifier of imports) expect(specifier, `${name} imports ${specifier}`).toMatch(/^\.\//);
      // Globals of one runtime: Deno is only feature-tested through globalThis, never called directly.
      expect(source, name).not.toMatch(/(?<![\w."'])(?:Deno|Bun)\./);
      expect(source, name).not.toMatch(/\bprocess\.|\brequire\(|\bBuffer\b/);
    }
  });
});
