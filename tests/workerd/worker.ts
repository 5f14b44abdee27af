/**
 * The Worker the workerd tests run (bundled by ./bundle.ts, served by Miniflare):
 * `@uniws/hono` on Cloudflare's runtime, one route per behaviour under test.
 */
import { Hono } from "hono";
import { createWebSocket, type HonoWebSocketHandler, type UniWebSocket, WebSocketError, WebSocketHub } from "@uniws/hono";
import { cloudflareWorkersRuntime } from "@uniws/hono/cloudflare-workers";

type AppEnv = { Variables: { greeting: string } };

const app = new Hono<AppEnv>();
const webSocket = createWebSocket(cloudflareWorkersRuntime());

/** Echoes every message with its type; a text "close CODE REASON" makes the server close. */
const echo: HonoWebSocketHandler<AppEnv> = async (context) => {
  if (!context.isWebSocketRequest) return context.reject(400, "Expected a WebSocket request\n");
  const subProtocol = context.requestedProtocols.find((offered) => offered === "chat" || offered === "superchat");
  const socket = await context.accept({ subProtocol });
  for await (const message of socket) {
    const command = typeof message.data === "string" ? /^close (\d+) ?(.*)$/.exec(message.data) : null;
    if (command !== null) {
      await socket.close(Number(command[1]), command[2]);
      return;
    }
    await socket.send(message.data);
  }
};

// Typed variables from earlier middleware reach the handler through `context.native`.
app.use("*", async (c, next) => {
  c.set("greeting", "hello from workerd");
  await next();
});

app.get("/ws", webSocket(echo, { allowedOrigins: ["https://allowed.example"] }));
// How the socket ended after a message over maxMessageSize: failed, as on every runtime (docs/semantics.md).
let tooBig = "";
app.get("/limited", webSocket(async (context) => {
  const socket = await context.accept();
  for await (const message of socket) await socket.send(message.data);
  const { closeStatus, wasClean, error } = await socket.closed;
  tooBig = `${closeStatus} ${wasClean} ${error instanceof WebSocketError ? `${error.code} ${error.closeStatus}` : String(error)}`;
}, { maxMessageSize: 16 }));
app.get("/limited-report", (c) => c.text(tooBig));
app.get("/idle", webSocket(echo, { idleTimeout: 300 }));
app.get("/greet", webSocket<AppEnv>(async (context) => {
  // Read before accept(): the request (and with it the route's Context) is the handshake's.
  const greeting = context.native.get("greeting");
  const socket = await context.accept();
  await socket.send(greeting);
  await socket.closed;
}));
app.get("/throws", webSocket(async (context) => {
  await context.accept();
  throw new Error("handler failed on purpose");
}, { onError: () => {} }));
// What the last failed accept() threw, for the test to read back.
let lastAcceptError = "";
app.get("/keepalive-timeout", webSocket(async (context) => {
  try {
    await context.accept();
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    lastAcceptError = `${(error as { code?: string }).code} caused by ${cause?.code}`;
    throw error;
  }
}, { keepAliveTimeout: 1000, onError: () => {} }));
app.get("/last-accept-error", (c) => c.text(lastAcceptError));
// Every method reaches this one, so that the core (not the router) answers a POST with upgrade headers.
const anyMethod = webSocket(echo);
app.all("/any", anyMethod);
app.get("/any-connections", (c) => c.text(String(anyMethod.connections)));
// A header set after next() reaches the 101, as on every runtime.
app.use("/cookie", async (c, next) => {
  await next();
  c.header("Set-Cookie", "session=abc; Path=/");
});
app.get("/cookie", webSocket(echo));
// Text bytes that are not UTF-8: the send rejects before anything is sent; the socket says how, then stays in use.
app.get("/invalid-text", webSocket(async (context) => {
  const socket = await context.accept();
  const outcome = await socket.send(new Uint8Array([0x68, 0xff]), { type: "text" }).then(() => "sent", (error: Error) => `${error.name}${/valid UTF-8/.test(error.message) ? " (UTF-8)" : ""}`);
  await socket.send(`${outcome} ${socket.state}`);
  for await (const message of socket) await socket.send(message.data);
}));
// After accept: what the context still reads, then a string sent as binary (the type option decides the opcode).
app.get("/after-accept", webSocket(async (context) => {
  const headers = context.headers;
  const socket = await context.accept({ subProtocol: "chat" });
  // The request is the handshake's: after the answer the route's Context is let go of; headers read before stay.
  const late = [await codeOf(() => context.native), await codeOf(() => context.headers.get("x-custom"))];
  await socket.send(JSON.stringify([context.origin, context.requestedProtocols, headers.get("x-custom"), context.url.pathname, ...late]));
  await socket.send("héllo", { type: "binary" });
  for await (const message of socket) await socket.send(message.data);
}));
// The README's seed loop: receive into a buffer until Close, then close with the status received.
let seedErrors = 0;
let seedStatus = 0;
app.get("/seed", webSocket(async (context) => {
  const socket = await context.accept();
  const buffer = new Uint8Array(4096);
  let result = await socket.receive(buffer);
  while (result.type !== "close") {
    await socket.send(buffer.subarray(0, result.count), { type: result.type, endOfMessage: result.endOfMessage });
    result = await socket.receive(buffer);
  }
  seedStatus = result.closeStatus ?? 0;
  await socket.close(result.closeStatus, result.closeStatusDescription);
}, { onError: () => void seedErrors++ }));
app.get("/seed-report", (c) => c.text(`${seedStatus} ${seedErrors}`));
// The server closes with a status; the peer reads the Close and vanishes without answering it.
let vanished = "";
app.get("/close-then-vanish", webSocket(async (context) => {
  const socket = await context.accept();
  await socket.close(4000, "bye");
  const result = await socket.closed;
  vanished = `${result.closeStatus} ${result.wasClean} ${result.error instanceof WebSocketError ? result.error.code : String(result.error)}`;
}, { closeTimeout: 2000 }));
app.get("/close-then-vanish-report", (c) => c.text(vanished));
// Operations (docs/operations.md): the connection limit, the inbound rate limit, the peer's address.
const limited = webSocket(async (context) => {
  const socket = await context.accept();
  await socket.closed;
}, { maxConnections: 1 });
app.get("/limited-connections", limited);
app.get("/limited-connections/stats", (c) => c.json(limited.stats()));
// A message over workerd's own limit (1 MiB): workerd answers 1009 and reports an error, no close event.
const platformLimited = webSocket(echo, { maxConnections: 1 });
app.get("/platform-limit", platformLimited);
app.get("/platform-limit/stats", (c) => c.json(platformLimited.stats()));
// A peer's Close with a status no endpoint may send: answered 1002 by the middleware (workerd passes it on as clean).
const strictClose = webSocket(echo, { maxConnections: 1 });
app.get("/strict-close", strictClose);
app.get("/strict-close/stats", (c) => c.json(strictClose.stats()));
app.get("/rate", webSocket(echo, { maxMessagesPerSecond: 1, messageBurst: 2, onError: () => {} }));
app.get("/address", webSocket(async (context) => {
  const socket = await context.accept();
  await socket.send(String(context.remoteAddress));
  await socket.closed;
}));

/** The code of what `run` throws or rejects with, or "none". */
async function codeOf(run: () => unknown): Promise<string> {
  try {
    await run();
    return "none";
  } catch (error) {
    return error instanceof WebSocketError ? error.code : `plain ${String(error)}`;
  }
}

// A plain Worker cannot share sockets between requests: the hub and close() say so at once.
const hub = new WebSocketHub();
app.get("/hub", webSocket(async (context) => {
  const socket = await context.accept();
  await socket.send(await codeOf(() => hub.add(socket)));
  for await (const message of socket) await socket.send(message.data);
}));
let shared: UniWebSocket | undefined;
const closable = webSocket(async (context) => {
  const socket = await context.accept();
  shared = socket;
  for await (const message of socket) await socket.send(message.data);
});
app.get("/closable", closable);
app.get("/closable/send", async (c) => c.text(await codeOf(() => shared?.send("from another request"))));
app.get("/closable/close", async (c) => c.text(`${await codeOf(() => closable.close({ timeout: 1000 }))} ${closable.connections}`));
app.get("/closable/connections", (c) => c.text(String(closable.connections)));
app.get("/", (c) => c.text("plain route"));

export default app;
