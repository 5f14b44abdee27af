/**
 * `@uniws/hono/deno`'s two ways of serving an app, on the real `Deno.serve`: `runtime.fetch(app)`, where the
 * opening grace runs from the app's answer and Deno's `ServeHandlerInfo.completed` is never read (Deno keeps it
 * with the upgraded request, ≈ 250 B per connection), and a bare `app.fetch`, where it runs from `completed`.
 * Either way a socket opens however late the app answers, and a client that left before the 101 fails its
 * upgrade (docs/deno.md, item 8). Deno only (vitest.config.ts).
 */
import { afterEach, describe, expect, test } from "vitest";
import { Hono } from "hono";
import { createWebSocket, type WebSocketMiddleware } from "@uniws/hono";
import { denoRuntime } from "@uniws/hono/deno";
import { lateAccept } from "../support/accepted.ts";
import { handshakeAndLeave, RawClient } from "../support/raw-client.ts";

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

type Serving = "runtime.fetch(app)" | "app.fetch";

/**
 * Serves a Hono app with one uniws route built by `build`, the way `serving` says, on 127.0.0.1. The app gets
 * Deno's handler info through a stand-in that counts reads of `completed` (and passes them on).
 */
async function serve(serving: Serving, build: (app: Hono, webSocket: ReturnType<typeof createWebSocket>) => WebSocketMiddleware) {
  const runtime = denoRuntime();
  const app = new Hono();
  const middleware = build(app, createWebSocket(runtime));
  const handler = serving === "app.fetch" ? app.fetch : runtime.fetch(app);
  let completedReads = 0;
  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const stop = new AbortController();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: resolve, signal: stop.signal }, (request, info) =>
    handler(request, {
      remoteAddr: info.remoteAddr,
      get completed() {
        completedReads++;
        return info.completed;
      },
    }),
  );
  stops.push(async () => {
    await middleware.close({ timeout: 1000 });
    // Not shutdown(): it never resolves after a client left during an upgrade (Deno 2.9; docs/deno.md).
    stop.abort();
    await server.finished;
  });
  return { port: (await listening).port, completedReads: () => completedReads, middleware };
}

describe("Hono on Deno", () => {
  test("RuntimeFetch_SocketOpens_PeerAddressInEnv_CompletedNeverRead", async () => {
    const { promise: peer, resolve } = Promise.withResolvers<string | undefined>();
    const { port, completedReads } = await serve("runtime.fetch(app)", (app, webSocket) => {
      const echo = webSocket(async (context) => {
        resolve(context.remoteAddress);
        const socket = await context.accept();
        for await (const message of socket) await socket.send(message.data);
      });
      app.get("/ws", echo);
      return echo;
    });
    const { client, answer } = await RawClient.open(port, "/ws");
    expect(answer.status).toBe(101);
    client.sendText("through runtime.fetch");
    expect(await client.readText()).toBe("through runtime.fetch");
    expect(await peer).toBe("127.0.0.1");
    expect(completedReads()).toBe(0);
    client.destroy();
  });

  test("RuntimeFetch_PlainRequests_AnsweredByTheApp", async () => {
    const { port } = await serve("runtime.fetch(app)", (app, webSocket) => {
      const route = webSocket((context) => context.reject(400, "ws only"));
      app.get("/ws", route);
      app.get("/page", (c) => c.text("page"));
      return route;
    });
    const page = await fetch(`http://127.0.0.1:${port}/page`);
    expect([page.status, await page.text()]).toEqual([200, "page"]);
    const plain = await fetch(`http://127.0.0.1:${port}/ws`);
    expect([plain.status, await plain.text()]).toEqual([400, "ws only"]);
  });

  test("RuntimeFetch_AppThrows_RejectsAsTheApp", async () => {
    const runtime = denoRuntime();
    const failing = { fetch: () => Promise.reject(new Error("app failed")) };
    await expect(runtime.fetch(failing)(new Request("http://127.0.0.1/x"), {})).rejects.toThrow("app failed");
  });

  for (const serving of ["runtime.fetch(app)", "app.fetch"] as const) {
    test(`${serving}_AppAnswersAfterTheGrace_SocketStillOpens`, async () => {
      // Middleware that holds the 101 past the opening grace (2 s): the grace runs from the answer (or from
      // `completed`), not from the upgrade, so no socket is lost.
      const { promise: opened, resolve } = Promise.withResolvers<string>();
      const { port, completedReads } = await serve(serving, (app, webSocket) => {
        app.use("/ws", async (_c, next) => {
          await next();
          await new Promise((wait) => setTimeout(wait, 2500));
        });
        const echo = webSocket(async (context) => {
          const socket = await context.accept();
          resolve(socket.state);
          for await (const message of socket) await socket.send(message.data);
        });
        app.get("/ws", echo);
        return echo;
      });
      const { client, answer } = await RawClient.open(port, "/ws");
      expect(answer.status).toBe(101);
      expect(await opened).toBe("open");
      client.sendText("late 101");
      expect(await client.readText()).toBe("late 101");
      expect(completedReads()).toBe(serving === "app.fetch" ? 1 : 0);
      client.destroy();
    });

    test(`${serving}_ClientGoneBeforeThe101_AcceptRejectsUpgradeFailed_NotCounted`, async () => {
      // Deno drops the 101 of a client that already left and reports nothing; the binding gives up after the grace.
      const { handler, outcome } = lateAccept();
      const { port, middleware } = await serve(serving, (app, webSocket) => {
        const route = webSocket(handler, { onError: () => {} });
        app.get("/ws", route);
        return route;
      });
      await handshakeAndLeave(port);
      expect(await outcome).toMatchObject({ code: "UPGRADE_FAILED" });
      expect(middleware.connections).toBe(0);
    });
  }
});
