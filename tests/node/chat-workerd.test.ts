/**
 * The chat sample on workerd, started as a user does (`examples/chat/start.mjs
 * --runtime workerd --port 0`, what `npm run start:chat -- --runtime workerd` runs
 * after building): each room a Durable Object on the Hibernation API, the same wire
 * protocol and page as on Node, Deno and Bun, driven by `ws` clients and by the page
 * in headless Chromium.
 */
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import WebSocket from "ws";
import { launchChromium } from "../support/chromium.ts";
import { type RunningSample, startListening } from "../support/sample.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));

interface ChatEvent {
  type: string;
  [key: string]: unknown;
}

let chat: RunningSample;
let browser: Browser | undefined;

beforeAll(async () => {
  chat = await startListening("node", [`${root}examples/chat/start.mjs`, "--runtime", "workerd", "--port", "0"], 60_000);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await chat?.stop();
});

async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function member(name: string, room: string) {
  const socket = new WebSocket(`${chat.url.replace("http", "ws")}/ws?name=${name}&room=${room}`);
  const events: ChatEvent[] = [];
  socket.on("message", (data) => events.push(JSON.parse(String(data))));
  await new Promise<void>((resolve, reject) => {
    socket.once("open", () => resolve());
    socket.once("error", reject);
  });
  await until(() => events.some((event) => event.type === "welcome"), 10_000, `${name}'s welcome`);
  const lines = () => events.filter((event) => event.type === "message").map((event) => `${event.from}: ${event.text}`);
  return { socket, events, lines };
}

describe("chat sample on workerd (a Durable Object per room)", () => {
  test("ListeningLine_PageServed_PlainWsRequestAnswered400", async () => {
    expect(chat.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const page = await fetch(`${chat.url}/`);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(await page.text()).toContain("<title>uniws chat</title>");
    expect((await fetch(`${chat.url}/ws?room=lobby`)).status).toBe(400);
    expect((await fetch(`${chat.url}/nowhere`)).status).toBe(404);
  });

  test("TwoRooms_Isolated_EveryMemberGetsEachMessage_JoinedAndLeft", async () => {
    const ada = await member("ada", "north");
    const bob = await member("bob", "north");
    const cy = await member("cy", "south");
    const welcome = ada.events.find((event) => event.type === "welcome")!;
    expect(welcome).toMatchObject({ runtime: "workerd", room: "north" });
    expect(cy.events.find((event) => event.type === "welcome")!.instance).not.toBe(welcome.instance);
    await until(() => ada.events.some((event) => event.type === "joined" && event.name === "bob"), 5000, "bob's joined");
    for (let n = 0; n < 3; n++) ada.socket.send(`line ${n}`);
    bob.socket.send("hi ada");
    cy.socket.send("alone in the south");
    const north = ["ada: line 0", "ada: line 1", "ada: line 2", "bob: hi ada"];
    for (const { lines } of [ada, bob]) {
      await until(() => lines().length >= north.length, 10_000, "every line of the north room");
      expect([...lines()].sort()).toEqual([...north].sort());
      expect(lines().filter((line) => line.startsWith("ada:"))).toEqual(north.slice(0, 3));
    }
    await until(() => cy.lines().length >= 1, 10_000, "the south room's line");
    expect(cy.lines()).toEqual(["cy: alone in the south"]);
    bob.socket.close(1000);
    await until(() => ada.events.some((event) => event.type === "left" && event.name === "bob"), 5000, "bob's left");
    expect(cy.events.some((event) => event.type === "joined" || event.type === "left")).toBe(false);
    ada.socket.close(1000);
    cy.socket.close(1000);
  });

  test("BinaryMessage_ClosedWith1003", async () => {
    const { socket } = await member("bits", "binary");
    const closed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
    socket.send(new Uint8Array([1, 2, 3]));
    expect(await closed).toBe(1003);
  });

  test("TwoPagesInChromium_SameRoom_SeeEachOthersMessages", async () => {
    browser ??= await launchChromium();
    const alice = await browser.newPage();
    const bob = await browser.newPage();
    try {
      for (const [page, name] of [[alice, "alice"], [bob, "bob"]] as const) {
        await page.goto(`${chat.url}/`);
        await page.fill("#name", name);
        await page.click("#connectButton");
        await page.waitForSelector("#text:not([disabled])");
      }
      await alice.fill("#text", "hello from alice on workerd");
      await alice.click("#sendButton");
      await bob.waitForSelector("#log li.message");
      expect(await bob.textContent("#log li.message .text")).toBe("hello from alice on workerd");
      expect(await bob.textContent("#log li.message .from")).toBe("alice");
    } finally {
      await alice.close();
      await bob.close();
    }
  }, 60_000);
});
