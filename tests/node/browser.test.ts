/**
 * The sample page in headless Chromium, against the sample app on every runtime: connect, send, see the echo in
 * the communication log, close, see the close logged. Runs from Node, which drives the browser and starts each
 * runtime's sample as a child process.
 */
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { launchChromium } from "../support/chromium.ts";
import type { RuntimeName } from "../support/runtime.ts";
import { startSample } from "../support/sample.ts";

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

const runtimes: RuntimeName[] = ["node", "deno", "bun"];

describe.each(runtimes)("sample page in Chromium, server on %s", (runtime) => {
  test("Connect_Send_EchoLogged_Close_CloseLogged", async () => {
    const sample = await startSample(runtime, ["--port", "0"]);
    const page = await browser.newPage();
    try {
      await page.goto(`${sample.url}/`);
      expect(await page.inputValue("#connectionUrl")).toBe(`ws://127.0.0.1:${sample.port}/ws`);
      await page.click("#connectButton");
      await page.waitForSelector("#commsLog tr.open");
      await page.fill("#sendMessage", "hello from chromium");
      await page.click("#sendButton");
      await page.waitForSelector("#commsLog tr.receive");
      const received = await page.textContent("#commsLog tr.receive td:last-child");
      expect(received).toBe("hello from chromium");
      await page.click("#closeButton");
      await page.waitForSelector("#commsLog tr.close");
      const closed = await page.textContent("#commsLog tr.close td:last-child");
      // The server answers the page's Close with the same status and reason.
      expect(closed).toBe("Code: 1000, Reason: Closing from client");
      const events = await page.$$eval("#commsLog tbody tr", (rows) => rows.map((row) => row.className));
      expect(events).toEqual(["open", "send", "receive", "closing", "close"]);
    } finally {
      await page.close();
      await sample.stop();
    }
  }, 60_000);

  test("BrowserPlainClose_SeedLoopAnswersEmptyClose_NothingLogged", async () => {
    // The README's seed loop (the sample's echo) against what a browser sends for ws.close(): a Close without a status.
    const sample = await startSample(runtime, ["--port", "0"]);
    const page = await browser.newPage();
    try {
      await page.goto(`${sample.url}/`);
      const closed = await page.evaluate(async (url) => {
        const socket = new WebSocket(url);
        await new Promise((resolve, reject) => {
          socket.onopen = resolve;
          socket.onerror = reject;
        });
        const echoed = new Promise<string>((resolve) => (socket.onmessage = (event) => resolve(String(event.data))));
        socket.send("hello");
        const echo = await echoed;
        const event = await new Promise<CloseEvent>((resolve) => {
          socket.onclose = resolve;
          socket.close();
        });
        return { echo, code: event.code, reason: event.reason, wasClean: event.wasClean };
      }, `ws://127.0.0.1:${sample.port}/ws`);
      // The server answered with a Close without a status too: the browser reports 1005, cleanly.
      expect(closed).toEqual({ echo: "hello", code: 1005, reason: "", wasClean: true });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(sample.output()).not.toMatch(/INVALID_CLOSE_STATUS|WebSocketError|Error/);
    } finally {
      await page.close();
      await sample.stop();
    }
  }, 60_000);
});
