/**
 * What only the Hono middleware adds, on the runtime the suite runs on (the shared suite runs through it with
 * `UNIWS_ADAPTER=hono`): the route's typed `Context` in the handler, `next()` for requests the handler leaves,
 * any method registration, the middleware's own connection count and shutdown, and, on Bun, sockets of Hono's
 * own `upgradeWebSocket` served beside uniws ones.
 */
import { afterEach, describe, expect, test } from "vitest";
import type { MiddlewareHandler } from "hono";
import { WebSocketError } from "@uniws/core";
import { handshakeHeaders, Opcode, RawClient } from "./support/raw-client.ts";
import { runtime } from "./support/runtime.ts";
import { type HonoTestApp, serveHonoApp } from "./support/servers/hono.ts";

const apps: HonoTestApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function serve(build: Parameters<typeof serveHonoApp>[1]) {
  const app = await serveHonoApp(runtime, build);
  apps.push(app);
  return app;
}

type UserEnv = { Variables: { user: string } };

describe(`hono middleware on ${runtime}`, () => {
  test("TypedContext_VariablesFromEarlierMiddleware_ReachTheHandler", async () => {
    const app = await serve((webSocket, hono) => {
      const authenticate: MiddlewareHandler<UserEnv> = async (c, next) => {
        c.set("user", c.req.query("name") ?? "anonymous");
        await next();
      };
      hono.get("/ws", authenticate, webSocket<UserEnv>(async (context) => {
        // `native` is the route's Context<UserEnv>: get("user") is a string.
        const user: string = context.native.get("user");
        const socket = await context.accept();
        await socket.send(`hello ${user}`);
        await socket.closed;
      }));
    });
    const { client } = await RawClient.open(app.port, "/ws?name=ada");
    expect(await client.readText()).toBe("hello ada");
    client.destroy();
  });

  test("UpgradeRequest_IsAWebRequest_ToMiddlewareAndTheHandler", async () => {
    const app = await serve((webSocket, hono) => {
      const readRequest: MiddlewareHandler<UserEnv> = async (c, next) => {
        // Middleware sees the upgrade as a web Request: headers, URL, method, clone, a Request made from it.
        const raw = c.req.raw;
        const seen = [
          raw instanceof Request,
          raw.method,
          new URL(raw.url).pathname + new URL(raw.url).search,
          raw.headers.get("x-user"),
          c.req.header("x-user"),
          raw.clone().headers.get("x-user"),
          new Request(raw, { headers: { "x-copy": "1" } }).headers.get("x-copy"),
          new Request(raw).url === raw.url,
        ];
        c.set("user", JSON.stringify(seen));
        await next();
      };
      hono.get("/ws", readRequest, webSocket<UserEnv>(async (context) => {
        // The request is the handshake's: read before accept(), what the handler took stays its own; after, the
        // context has let go of the route's Context (INVALID_STATE, as on every adapter).
        const c = context.native;
        const headers = context.headers;
        const seen = `${c.req.raw.headers.get("x-user")} ${headers.get("x-user")} ${c.req.url.endsWith("/ws?room=1")}`;
        const socket = await context.accept();
        await socket.send(c.get("user"));
        await socket.send(`${seen} ${headers.get("x-user")} ${c.get("user") !== undefined}`);
        let late: unknown;
        try {
          late = context.native;
        } catch (error) {
          late = error instanceof WebSocketError ? error.code : error;
        }
        await socket.send(String(late));
        await socket.closed;
      }));
    });
    const { client } = await RawClient.open(app.port, "/ws?room=1", { "X-User": "ada" });
    expect(JSON.parse(await client.readText())).toEqual([true, "GET", "/ws?room=1", "ada", "ada", "ada", "1", true]);
    expect(await client.readText()).toBe("ada ada true ada true");
    expect(await client.readText()).toBe("INVALID_STATE");
    client.destroy();
  });

  test("HandlerLeavesRequest_NextHandlerAnswers", async () => {
    const app = await serve((webSocket, hono) => {
      hono.get("/ws", webSocket(async (context) => {
        if (context.isWebSocketRequest) await (await context.accept()).closed;
        // A plain request is left alone: the next handler on the route answers.
      }), (c) => c.text("the page", 200));
    });
    const response = await fetch(`${app.url}/ws`);
    expect(await response.text()).toBe("the page");
    const { client } = await RawClient.open(app.port, "/ws");
    client.destroy();
  });

  test("RegisteredForGetAndConnect_UpgradesTheGet", async () => {
    const app = await serve((webSocket, hono) => {
      hono.on(["GET", "CONNECT"], "/ws", webSocket(async (context) => {
        const socket = await context.accept({ subProtocol: context.requestedProtocols.includes("chat") ? "chat" : undefined });
        for await (const message of socket) await socket.send(message.data);
      }));
    });
    const { client, answer } = await RawClient.open(app.port, "/ws", { "Sec-WebSocket-Protocol": "superchat, chat" });
    expect(answer.headers["sec-websocket-protocol"]).toBe("chat");
    client.sendText("ping?");
    expect(await client.readText()).toBe("ping?");
    client.destroy();
  });

  test("MiddlewareClose_Sends1001_CountsConnections_LaterUpgradesGet503", async () => {
    const app = await serve((webSocket, hono) => {
      hono.get("/ws", webSocket(async (context) => void (await (await context.accept()).closed)));
    });
    const middleware = app.middlewares[0]!;
    const { client } = await RawClient.open(app.port, "/ws");
    expect(middleware.connections).toBe(1);
    const closing = middleware.close();
    expect(await client.readClose()).toEqual({ code: 1001, reason: "Server shutting down" });
    client.sendClose(1001);
    await closing;
    expect(middleware.connections).toBe(0);
    const late = await RawClient.connect(app.port);
    expect((await late.handshake("/ws", handshakeHeaders(app.port))).status).toBe(503);
    late.destroy();
    client.destroy();
  });

  test("HeadersSetByMiddlewareAfterNext_OnThe101", async () => {
    const app = await serve((webSocket, hono) => {
      hono.use("/ws", async (c, next) => {
        await next();
        c.header("Set-Cookie", "session=abc; Path=/; HttpOnly");
        c.header("X-After", "set after next()");
      });
      hono.get("/ws", webSocket(async (context) => {
        const socket = await context.accept({ subProtocol: "chat" });
        for await (const message of socket) await socket.send(message.data);
      }));
    });
    const { client, answer } = await RawClient.open(app.port, "/ws", { "Sec-WebSocket-Protocol": "chat" });
    expect(answer.headers["x-after"]).toBe("set after next()");
    expect(answer.headers["set-cookie"]).toBe("session=abc; Path=/; HttpOnly");
    // The handshake's own headers are the engine's, not copies.
    expect(answer.headers["sec-websocket-protocol"]).toBe("chat");
    expect(answer.headers["sec-websocket-accept"]).toBe("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    client.sendText("after the 101");
    expect(await client.readText()).toBe("after the 101");
    client.destroy();
  });

  test("TwoRoutes_EachItsOwnOptions", async () => {
    const app = await serve((webSocket, hono) => {
      const echo = async (context: Parameters<Parameters<typeof webSocket>[0]>[0]) => {
        const socket = await context.accept();
        for await (const message of socket) await socket.send(message.data);
      };
      hono.get("/small", webSocket(echo, { maxMessageSize: 4 }));
      hono.get("/large", webSocket(echo, { maxMessageSize: 1024 }));
    });
    const large = (await RawClient.open(app.port, "/large")).client;
    large.sendText("hello");
    expect(await large.readText()).toBe("hello");
    const small = (await RawClient.open(app.port, "/small")).client;
    small.sendText("hello");
    expect((await small.readClose()).code).toBe(1009);
    large.destroy();
    small.destroy();
  });

  if (runtime === "node") {
    test("Node_HonoNodeServer1x_ServesTheSameWay_HeadersAfterNextOnThe101", async () => {
      // The suite serves on @hono/node-server 2.x; the binding imports nothing from it, and 1.x's serve() works alike.
      const { serve } = await import("@hono/node-server-v1");
      const { nodeRuntime } = await import("@uniws/hono/node");
      const { createWebSocket } = await import("@uniws/hono");
      const { Hono } = await import("hono");
      const app = new Hono();
      const binding = nodeRuntime({ app });
      const webSocket = createWebSocket(binding);
      app.use("/ws", async (c, next) => {
        await next();
        c.header("Set-Cookie", "v=1");
      });
      const middleware = webSocket(async (context) => {
        const socket = await context.accept();
        for await (const message of socket) await socket.send(message.data);
      });
      app.get("/ws", middleware);
      const server = await new Promise<import("node:http").Server>((resolve) => {
        const listening = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(listening as import("node:http").Server));
      });
      binding.injectWebSocket(server);
      try {
        const port = (server.address() as import("node:net").AddressInfo).port;
        const { client, answer } = await RawClient.open(port, "/ws");
        expect(answer.headers["set-cookie"]).toBe("v=1");
        client.sendText("one");
        expect(await client.readText()).toBe("one");
        client.destroy();
      } finally {
        await middleware.close({ timeout: 1000 });
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });
  }

  if (runtime === "bun") {
    test("Bun_HonoUpgradeWebSocketRoute_ServedBesideUniwsRoute", async () => {
      const { upgradeWebSocket } = await import("hono/bun");
      const app = await serve((webSocket, hono) => {
        hono.get("/hono", upgradeWebSocket(() => ({ onMessage: (event, ws) => ws.send(`hono: ${String(event.data)}`) })));
        hono.get("/uniws", webSocket(async (context) => {
          const socket = await context.accept();
          for await (const message of socket) await socket.send(`uniws: ${String(message.data)}`);
        }));
      });
      const hono = (await RawClient.open(app.port, "/hono")).client;
      const uniws = (await RawClient.open(app.port, "/uniws")).client;
      hono.sendText("a");
      uniws.sendText("b");
      expect(await hono.readText()).toBe("hono: a");
      expect(await uniws.readText()).toBe("uniws: b");
      hono.destroy();
      uniws.destroy();
    });
  }

  test("PeerPing_AnsweredByEngine_CountsAsLife", async () => {
    const app = await serve((webSocket, hono) => {
      hono.get("/ws", webSocket(async (context) => void (await (await context.accept()).closed)));
    });
    const { client } = await RawClient.open(app.port, "/ws");
    client.send(Opcode.ping, "hi");
    const pong = await client.readFrame();
    expect(pong.opcode).toBe(Opcode.pong);
    client.destroy();
  });
});
