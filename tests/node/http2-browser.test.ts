/**
 * The sample page in headless Chromium over https, where Chromium speaks HTTP/2 and,
 * seeing SETTINGS_ENABLE_CONNECT_PROTOCOL, opens the page's `wss://` socket as an
 * extended CONNECT stream on the page's own connection (RFC 8441). And the sample
 * app itself (`--tls-cert/--tls-key`, `--h2c`) serving HTTP/1.1 and HTTP/2 WebSockets.
 * Node only (tests/node/): Deno and Bun have no server-side RFC 8441.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { WebSocket as WsClient } from "ws";
import { echoHandler, pageResponse } from "../../examples/echo/app.ts";
import { launchChromium } from "../support/chromium.ts";
import { connectSession, H2WebSocket } from "../support/http2/client.ts";
import { type Http2TestServer, selfSignedCertificate, startHttp2 } from "../support/http2/server.ts";
import { Opcode } from "../support/raw-client.ts";
import { type RunningSample, startSample } from "../support/sample.ts";

const tls = selfSignedCertificate();
let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium(["--ignore-certificate-errors"]);
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

const servers: Http2TestServer[] = [];
const samples: RunningSample[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
  await Promise.all(samples.splice(0).map((sample) => sample.stop()));
});

describe("sample page in Chromium over HTTP/2", () => {
  test("PageWebSocket_ArrivesAsExtendedConnectStream_OnPageConnection", async () => {
    const arrivals: string[] = [];
    const pages: string[] = [];
    const echo = echoHandler([]);
    const server = await startHttp2(async (context) => {
      arrivals.push(`${context.method} HTTP/${context.httpVersion} ${context.url.pathname} websocket=${context.isWebSocketRequest}`);
      return await echo(context);
    }, { tls, path: "/ws", pages: pageResponse });
    servers.push(server);
    server.server.prependListener("request", (req) => pages.push(`${req.method} HTTP/${req.httpVersion} ${req.url}`));
    const page = await browser.newPage();
    try {
      await page.goto(`https://127.0.0.1:${server.port}/`);
      expect(await page.inputValue("#connectionUrl")).toBe(`wss://127.0.0.1:${server.port}/ws`);
      await page.click("#connectButton");
      await page.waitForSelector("#commsLog tr.open");
      await page.fill("#sendMessage", "hello over http/2");
      await page.click("#sendButton");
      await page.waitForSelector("#commsLog tr.receive");
      expect(await page.textContent("#commsLog tr.receive td:last-child")).toBe("hello over http/2");
      await page.click("#closeButton");
      await page.waitForSelector("#commsLog tr.close");
      expect(await page.textContent("#commsLog tr.close td:last-child")).toBe("Code: 1000, Reason: Closing from client");
    } finally {
      await page.close();
    }
    expect(pages[0]).toBe("GET HTTP/2.0 /");
    expect(arrivals).toEqual(["CONNECT HTTP/2 /ws websocket=true"]);
    // The page and its WebSocket shared one HTTP/2 connection.
    expect(server.sessions).toHaveLength(1);
  });
});

describe("the sample app serving HTTP/2 WebSockets", () => {
  test("TlsFlags_Http1AndHttp2OnOnePort_PageInChromium", async () => {
    const dir = mkdtempSync(join(tmpdir(), "uniws-sample-tls-"));
    try {
      writeFileSync(join(dir, "cert.pem"), tls.cert);
      writeFileSync(join(dir, "key.pem"), tls.key);
      const sample = await startSample("node", ["--port", "0", "--tls-cert", join(dir, "cert.pem"), "--tls-key", join(dir, "key.pem")]);
      samples.push(sample);
      expect(sample.url).toBe(`https://127.0.0.1:${sample.port}`);
      // HTTP/2: the setting is advertised and an extended CONNECT echoes.
      const { session, enableConnectProtocol } = await connectSession(sample.url, { ca: tls.cert });
      try {
        expect(enableConnectProtocol).toBe(true);
        const socket = await H2WebSocket.open(session, "/ws");
        socket.send(Opcode.binary, new Uint8Array([1, 2, 3]));
        expect(Array.from((await socket.readMessage()).data)).toEqual([1, 2, 3]);
      } finally {
        session.destroy();
      }
      // HTTP/1.1 on the same port.
      const h1 = new WsClient(`wss://127.0.0.1:${sample.port}/ws`, { ca: tls.cert });
      await new Promise((resolve, reject) => h1.once("open", resolve).once("error", reject));
      h1.send("over http/1.1");
      expect(String(await new Promise((resolve) => h1.once("message", resolve)))).toBe("over http/1.1");
      h1.close();
      // And the page in Chromium.
      const page = await browser.newPage();
      try {
        await page.goto(`${sample.url}/`);
        await page.click("#connectButton");
        await page.waitForSelector("#commsLog tr.open");
        await page.fill("#sendMessage", "sample over https");
        await page.click("#sendButton");
        await page.waitForSelector("#commsLog tr.receive");
        expect(await page.textContent("#commsLog tr.receive td:last-child")).toBe("sample over https");
      } finally {
        await page.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("H2cFlag_CleartextHttp2_PriorKnowledge", async () => {
    const sample = await startSample("node", ["--port", "0", "--h2c"]);
    samples.push(sample);
    expect(sample.url).toBe(`http://127.0.0.1:${sample.port}`);
    const { session, enableConnectProtocol } = await connectSession(sample.url);
    try {
      expect(enableConnectProtocol).toBe(true);
      const sockets = await Promise.all([1, 2].map(() => H2WebSocket.open(session, "/ws")));
      for (const [i, socket] of sockets.entries()) {
        socket.send(Opcode.text, `h2c ${i}`);
        expect(await socket.readText()).toBe(`h2c ${i}`);
      }
      // A plain request to /ws gets the sample's 400.
      const stream = session.request({ ":path": "/ws" });
      const headers = await new Promise<Record<string, unknown>>((resolve) => stream.once("response", resolve));
      stream.resume();
      expect(headers[":status"]).toBe(400);
    } finally {
      session.destroy();
    }
  });
});
