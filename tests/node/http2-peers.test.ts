/**
 * WebSockets over HTTP/2 (RFC 8441) against clients that share no code with Node or
 * `ws`' server: Debian's python3-h2 + python3-wsproto (tests/support/http2/ws_client.py)
 * and nghttpx, which carries HTTP/1.1 WebSocket clients to the server as extended
 * CONNECT streams. Node only (tests/node/): Deno and Bun have no server-side RFC 8441.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { WebSocketContext, WebSocketOptions } from "@uniws/core";
import { afterEach, describe, expect, test } from "vitest";
import { WebSocket as WsClient } from "ws";
import { type Http2TestServer, selfSignedCertificate, startHttp2 } from "../support/http2/server.ts";

const script = fileURLToPath(new URL("../support/http2/ws_client.py", import.meta.url));

const servers: Http2TestServer[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGTERM");
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function echoServer(tls?: { cert: string; key: string }, options: WebSocketOptions = {}) {
  const seen: Array<Pick<WebSocketContext, "method" | "httpVersion" | "isWebSocketRequest">> = [];
  const server = await startHttp2(async (context) => {
    seen.push({ method: context.method, httpVersion: context.httpVersion, isWebSocketRequest: context.isWebSocketRequest });
    if (!context.isWebSocketRequest) return context.reject(400);
    const socket = await context.accept();
    for await (const message of socket) await socket.send(message.data);
  }, { ...options, tls, path: "/ws" });
  servers.push(server);
  return { server, seen };
}

/** Runs the Python client (Debian's interpreter, where python3-h2 and python3-wsproto live). */
async function python(...args: string[]): Promise<any> {
  const { stdout } = await promisify(execFile)("/usr/bin/python3", [script, ...args], { encoding: "utf8", timeout: 15_000 });
  return JSON.parse(stdout);
}

describe("python3-h2 + wsproto as the HTTP/2 WebSocket client", () => {
  test("ManySockets_OneConnection_EchoTextAndBinary_h2c", async () => {
    const { server, seen } = await echoServer();
    const result = await python("echo", String(server.port), "--sockets", "4");
    expect(result.enableConnectProtocol).toBe(true);
    expect(result.streams).toHaveLength(4);
    for (const stream of result.streams) {
      expect(stream).toEqual({ stream: stream.stream, status: 200, accept: null, echoedText: true, echoedBinary: true, close: [1000, "python done"], reset: null });
    }
    expect(server.sessions).toHaveLength(1);
    expect(seen).toEqual(Array(4).fill({ method: "CONNECT", httpVersion: "2", isWebSocketRequest: true }));
    await expect.poll(() => server.sockets.connections).toBe(0);
  });

  test("ManySockets_OneConnection_EchoTextAndBinary_Tls", async () => {
    const { server } = await echoServer(selfSignedCertificate());
    const result = await python("echo", String(server.port), "--tls", "--sockets", "3");
    expect(result.enableConnectProtocol).toBe(true);
    expect(result.streams.map((stream: any) => [stream.status, stream.echoedText, stream.echoedBinary, stream.close])).toEqual(
      Array(3).fill([200, true, true, [1000, "python done"]]),
    );
  });

  test("MalformedExtendedConnect_StreamResetProtocolError", async () => {
    // RFC 8441 §4: :protocol needs :scheme and :path, and only goes with CONNECT. nghttp2 (under Node's http2)
    // resets such a stream before any listener runs; this pins that the adapter may rely on it.
    const { server, seen } = await echoServer();
    const result = await python("refusals", String(server.port));
    const reset = { reset: result.PROTOCOL_ERROR };
    expect(result.connectWithoutPath).toEqual(reset);
    expect(result.connectWithoutScheme).toEqual(reset);
    expect(result.protocolOnGet).toEqual(reset);
    expect(result.wellFormed).toEqual({ status: 200 });
    expect(seen).toHaveLength(1);
  });

  test("RepeatedFieldLines_ContextHeadersJoinedAsOverHttp1_CookieCrumbsWithSemicolons", async () => {
    // RFC 9110 §5.3, RFC 9113 §8.2.3: repeated fields are one list (", "), cookie crumbs one Cookie ("; "), as
    // HTTP/1.1 on every runtime gives them (Context_RepeatedHeaderLines_JoinedAsEveryRuntimeJoinsThem). Node's http2
    // headers object kept only the first of User-Agent, Authorization, Referer.
    const seen: Array<Record<string, string | null>> = [];
    const server = await startHttp2((context) => {
      const headers = context.headers;
      seen.push(Object.fromEntries(["x-t", "user-agent", "authorization", "referer", "cookie"].map((name) => [name, headers.get(name)])));
      context.reject(418);
    });
    servers.push(server);
    const result = await python("repeated", String(server.port));
    expect(result).toEqual({ connect: { status: 418 }, get: { status: 418 } });
    const joined = { "x-t": "t1, t2", "user-agent": "u1, u2", authorization: "a1, a2", referer: "r1, r2", cookie: "a=1; b=2" };
    expect(seen).toEqual([joined, joined]);
  });
});

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** nghttpx (Debian's nghttp2-proxy): HTTP/1.1 in front, the uniws server as its HTTP/2 backend. */
async function startNghttpx(backendPort: number): Promise<number> {
  const port = await freePort();
  // An empty configuration of our own, so no system-wide nghttpx.conf applies.
  const dir = mkdtempSync(join(tmpdir(), "uniws-nghttpx-"));
  writeFileSync(join(dir, "nghttpx.conf"), "");
  const child = spawn("nghttpx", [
    `--frontend=127.0.0.1,${port};no-tls`, `--backend=127.0.0.1,${backendPort};;proto=h2`, "--workers=1",
    `--conf=${join(dir, "nghttpx.conf")}`, `--pid-file=${join(dir, "nghttpx.pid")}`, "--errorlog-file=/dev/stderr",
  ], { stdio: ["ignore", "ignore", "pipe"] });
  children.push(child);
  child.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  let log = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nghttpx did not start:\n${log}`)), 10_000);
    child.stderr!.on("data", (chunk) => {
      log += chunk;
      if (log.includes("Worker process") || log.includes("Entering event loop")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => reject(new Error(`nghttpx exited with ${code}:\n${log}`)));
  });
  return port;
}

describe("nghttpx carrying HTTP/1.1 WebSocket clients as RFC 8441 streams", () => {
  test("SeveralClients_OneBackendConnection_Echo", async () => {
    const { server, seen } = await echoServer(undefined, { closeTimeout: 1000 });
    const port = await startNghttpx(server.port);
    const clients = [1, 2, 3].map(() => new WsClient(`ws://127.0.0.1:${port}/ws`));
    await Promise.all(clients.map((client) => new Promise((resolve, reject) => client.once("open", resolve).once("error", reject))));
    await Promise.all(clients.map(async (client, i) => {
      const answers: Array<Promise<[Buffer, boolean]>> = [];
      const next = () => new Promise<[Buffer, boolean]>((resolve) => client.once("message", (data: Buffer, binary) => resolve([data, binary])));
      answers.push(next());
      client.send(`text ${i}`);
      const [text, textIsBinary] = await answers[0]!;
      expect([text.toString(), textIsBinary]).toEqual([`text ${i}`, false]);
      const bytes = Buffer.alloc(70_000, i + 1);
      const echoed = next();
      client.send(bytes);
      const [data, isBinary] = await echoed;
      expect(isBinary).toBe(true);
      expect(data.equals(bytes)).toBe(true);
    }));
    // nghttpx multiplexes its clients onto one HTTP/2 connection.
    expect(server.sessions).toHaveLength(1);
    expect(seen).toEqual(Array(3).fill({ method: "CONNECT", httpVersion: "2", isWebSocketRequest: true }));
    const closed = clients.map((client) => new Promise<number>((resolve) => client.once("close", resolve)));
    clients[0]!.close(1000, "first done");
    expect(await closed[0]).toBe(1000);
    // The others still work after one closed.
    clients[1]!.send("still open");
    expect(String(await new Promise((resolve) => clients[1]!.once("message", resolve)))).toBe("still open");
    for (const client of clients.slice(1)) client.close(1000);
    expect(await Promise.all(closed.slice(1))).toEqual([1000, 1000]);
    // nghttpx leaves a backend stream half-open after its client's TCP connection has closed (nghttpx 1.52):
    // the server has sent its END_STREAM, and its close timeout ends the stream.
    await expect.poll(() => server.sockets.connections, { timeout: 10_000 }).toBe(0);
  });
});
