/**
 * The chat sample as separate processes — Node, Deno and Bun instances behind one real
 * redis-server — with `ws` clients and with the page in headless Chromium: members on
 * different instances see each other's messages. Runs from Node, which starts every
 * runtime's chat as a child process the way a user does.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import WebSocket from "ws";
import { launchChromium } from "../support/chromium.ts";
import { RedisServer } from "../support/redis.ts";
import type { RuntimeName } from "../support/runtime.ts";
import { type RunningSample, startListening } from "../support/sample.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));

function chatCommand(runtime: RuntimeName): [string, string[]] {
  switch (runtime) {
    case "node": {
      const entry = `${root}examples/chat/dist/node.js`;
      if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first (npm test does)`);
      return ["node", [entry]];
    }
    case "deno":
      return [`${root}node_modules/.bin/deno`, ["run", "-A", `${root}examples/chat/deno.ts`]];
    case "bun":
      return [`${root}node_modules/.bin/bun`, [`${root}examples/chat/bun.ts`]];
  }
}

interface ChatInstance {
  readonly runtime: RuntimeName;
  readonly url: string;
  stop(): Promise<void>;
}

const running = new Set<RunningSample>();
// Starts not yet settled: an instance that comes up after a sibling's start failed the test is still stopped.
const starting = new Set<Promise<unknown>>();

/** Starts the chat sample on `runtime` and resolves once it prints its `Listening on` line. */
async function startChat(runtime: RuntimeName, redisUrl: string): Promise<ChatInstance> {
  const [command, args] = chatCommand(runtime);
  const start = startListening(command, [...args, "--port", "0", "--redis", redisUrl], 30_000).then((started) => {
    running.add(started);
    return started;
  });
  starting.add(start.catch(() => {}));
  const sample = await start;
  return {
    runtime,
    url: sample.url,
    stop: async () => {
      running.delete(sample);
      await sample.stop();
    },
  };
}

async function member(instance: ChatInstance, name: string) {
  const socket = new WebSocket(`${instance.url.replace("http", "ws")}/ws?name=${name}&room=lobby`);
  const events: ChatEvent[] = [];
  socket.on("message", (data) => events.push(JSON.parse(String(data))));
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  await until(() => events.some((event) => event.type === "welcome"), 10_000, `${name}'s welcome`);
  return { socket, events, messages: () => events.filter((event) => event.type === "message").map((event) => `${event.from}: ${event.text}`) };
}

async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

let redis: RedisServer;
let browser: Browser | undefined;
beforeAll(async () => {
  redis = await RedisServer.start();
}, 30_000);
afterAll(async () => {
  await browser?.close();
  await Promise.all(starting);
  await Promise.all([...running].map((sample) => sample.stop()));
  await redis?.stop();
});

describe("chat sample across instances", () => {
  test("NodeDenoBunInstances_OneRedis_EveryMemberSeesEveryMessage", async () => {
    const instances = await Promise.all((["node", "deno", "bun"] as const).map((runtime) => startChat(runtime, redis.url)));
    try {
      const members = await Promise.all(instances.map((instance) => member(instance, instance.runtime)));
      // Three instances, so three instance ids.
      const welcomes = members.map(({ events }) => events.find((event) => event.type === "welcome")!);
      expect(new Set(welcomes.map((welcome) => welcome.instance)).size).toBe(3);
      expect(welcomes.map((welcome) => welcome.runtime)).toEqual(["node", "deno", "bun"]);
      for (const [i, { socket }] of members.entries()) {
        for (let n = 0; n < 5; n++) socket.send(`line ${n} from ${instances[i]!.runtime}`);
      }
      const expected = instances.flatMap(({ runtime }) => Array.from({ length: 5 }, (_, n) => `${runtime}: line ${n} from ${runtime}`));
      for (const { messages } of members) {
        await until(() => messages().length >= expected.length, 15_000, "every message on every instance");
        expect([...messages()].sort()).toEqual([...expected].sort());
        // In order per sender.
        for (const { runtime } of instances) {
          expect(messages().filter((line) => line.startsWith(`${runtime}:`))).toEqual(expected.filter((line) => line.startsWith(`${runtime}:`)));
        }
      }
      for (const { socket } of members) socket.close(1000);
    } finally {
      await Promise.all(instances.map((instance) => instance.stop()));
    }
  }, 90_000);

  test("RedisRestart_EachInstanceServesItsOwnMeanwhile_ThenMessagesCrossAgain", async () => {
    const [one, two] = await Promise.all([startChat("bun", redis.url), startChat("node", redis.url)]);
    try {
      const alice = await member(one!, "alice");
      const bob = await member(two!, "bob");
      alice.socket.send("before");
      await until(() => bob.messages().includes("alice: before"), 10_000, "the message before the restart");
      await redis.stop();
      // Local members are still served: alice sees her own line, bob (another instance) does not.
      await new Promise((resolve) => setTimeout(resolve, 500));
      alice.socket.send("during");
      await until(() => alice.messages().includes("alice: during"), 10_000, "local delivery during the outage");
      await redis.restart();
      // Each instance reconnects on its own backoff (at most 2 s apart): say "after" until bob hears one.
      const deadline = Date.now() + 20_000;
      for (let n = 0; !bob.messages().some((line) => line.startsWith("alice: after")); n++) {
        if (Date.now() > deadline) throw new Error("the instances did not reconnect through the restarted Redis");
        alice.socket.send(`after ${n}`);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      expect(bob.messages()).not.toContain("alice: during");
      bob.socket.send("back");
      await until(() => alice.messages().includes("bob: back"), 10_000, "the other direction after the restart");
      alice.socket.close(1000);
      bob.socket.close(1000);
    } finally {
      await one!.stop();
      await two!.stop();
    }
  }, 90_000);

  test("TwoPagesInChromium_OnTwoInstances_SeeEachOthersMessages", async () => {
    browser ??= await launchChromium();
    const [one, two] = await Promise.all([startChat("node", redis.url), startChat("deno", redis.url)]);
    const alice = await browser.newPage();
    const bob = await browser.newPage();
    try {
      for (const [page, instance, name] of [[alice, one!, "alice"], [bob, two!, "bob"]] as const) {
        await page.goto(`${instance.url}/`);
        await page.fill("#name", name);
        await page.click("#connectButton");
        await page.waitForSelector("#text:not([disabled])");
      }
      const aliceInstance = await alice.getAttribute("#status", "data-instance");
      const bobInstance = await bob.getAttribute("#status", "data-instance");
      expect(aliceInstance).not.toBe(bobInstance);
      await alice.fill("#text", "hello from alice on node");
      await alice.click("#sendButton");
      await bob.waitForSelector("#log li.message");
      expect(await bob.textContent("#log li.message .text")).toBe("hello from alice on node");
      expect(await bob.textContent("#log li.message .from")).toBe("alice");
      await bob.fill("#text", "hi alice, bob on deno here");
      await bob.press("#text", "Enter");
      for (const page of [alice, bob]) {
        await page.waitForFunction(() => document.querySelectorAll("#log li.message").length >= 2, undefined, { timeout: 10_000 });
      }
      const aliceSees = await alice.$$eval("#log li.message", (items) => items.map((item) => `${item.querySelector(".from")!.textContent}: ${item.querySelector(".text")!.textContent}`));
      expect(aliceSees).toEqual(["alice: hello from alice on node", "bob: hi alice, bob on deno here"]);
      const bobSees = await bob.$$eval("#log li.message", (items) => items.map((item) => `${item.querySelector(".from")!.textContent}: ${item.querySelector(".text")!.textContent}`));
      expect(bobSees).toEqual(["alice: hello from alice on node", "bob: hi alice, bob on deno here"]);
    } finally {
      await alice.close();
      await bob.close();
      await one!.stop();
      await two!.stop();
    }
  }, 90_000);
});
