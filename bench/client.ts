/**
 * The load client, run by Bun on its own core: Bun's WebSocket client is native
 * code, so the server under test, not the client, is the bottleneck.
 *
 * `bun bench/client.ts '<json>'` takes a {@link LoadJob} or an {@link IdleJob}
 * and prints one JSON line with its result. The client reads the server's CPU time
 * and memory from /proc itself, at the exact edges of the measured window.
 *
 * @module
 */
import { cpuTicks, rssBytes } from "./proc.ts";

/** Echo load: `connections` sockets, each keeping `inflight` messages in flight. */
export interface LoadJob {
  mode: "load";
  url: string;
  serverPid: number;
  connections: number;
  size: number;
  /** Text frames (a string of `size` ASCII bytes) or binary frames. */
  text: boolean;
  inflight: number;
  warmupMs: number;
  durationMs: number;
  /** Offer permessage-deflate (Bun's client offers it when asked). */
  deflate?: boolean;
  /** "json": compressible JSON-like text instead of one repeated byte (for the compressed echo). */
  pattern?: "json";
}

/** Idle sockets: open `steps` connections in turn (each sends one message), and read the server's RSS after each. */
export interface IdleJob {
  mode: "idle";
  url: string;
  serverPid: number;
  steps: number[];
  settleMs: number;
}

/** Handshakes: `parallel` clients each open a socket, wait for "open", close it with 1000, wait for "close", repeat. */
export interface HandshakeJob {
  mode: "handshake";
  url: string;
  serverPid: number;
  parallel: number;
  warmupMs: number;
  durationMs: number;
}

/** Many idle sockets over several URLs (ports) of one server; then the server's CPU over an idle window. */
export interface ScaleJob {
  mode: "scale";
  urls: string[];
  serverPid: number;
  connections: number;
  windowMs: number;
}

export interface HandshakeResult {
  handshakes: number;
  seconds: number;
  serverCpuSeconds: number;
  failed: number;
}

export interface ScaleResult {
  open: number;
  failed: number;
  rssFirst: number;
  rssAll: number;
  idleCpuSeconds: number;
  windowSeconds: number;
  openSeconds: number;
}

export interface LoadResult {
  messages: number;
  seconds: number;
  serverCpuSeconds: number;
  clientCpuSeconds: number;
  wrongEchoes: number;
  /** Sockets that closed or failed before the window ended. */
  lost: number;
  extensions: string;
}

export interface IdleResult {
  /** Server RSS in bytes after each step, with that many sockets open. */
  rss: number[];
  open: number;
  failed: number;
}

const OPEN_TIMEOUT_MS = 20_000;

function jsonText(size: number): string {
  let text = "[";
  for (let i = 0; text.length < size; i++) text += `{"id":${i},"name":"item-${(i * 7919) % 1000}","price":${((i * 37) % 1000) / 10}},`;
  return text.slice(0, size);
}

function payload(size: number, text: boolean, pattern?: "json"): string | Uint8Array {
  if (pattern === "json") return jsonText(size);
  if (text) return "x".repeat(size);
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes;
}

function connect(url: string, deflate: boolean): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    // Bun's client takes `perMessageDeflate` beside the standard arguments.
    const ws = deflate ? new WebSocket(url, { perMessageDeflate: true } as unknown as string[]) : new WebSocket(url);
    ws.binaryType = "arraybuffer";
    const timer = setTimeout(() => reject(new Error("open timed out")), OPEN_TIMEOUT_MS);
    ws.onopen = () => {
      clearTimeout(timer);
      resolve(ws);
    };
    ws.onerror = () => {
      clearTimeout(timer);
      reject(new Error(`connection to ${url} failed`));
    };
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function clientCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

async function load(job: LoadJob): Promise<LoadResult> {
  const data = payload(job.size, job.text, job.pattern);
  const sockets = await Promise.all(Array.from({ length: job.connections }, () => connect(job.url, job.deflate ?? false)));
  let received = 0;
  let wrong = 0;
  let lost = 0;
  let running = true;
  for (const ws of sockets) {
    ws.onmessage = (event) => {
      const echo = event.data;
      const ok = job.text ? typeof echo === "string" && echo.length === job.size : echo instanceof ArrayBuffer && echo.byteLength === job.size;
      if (!ok) wrong++;
      received++;
      if (running) ws.send(data);
    };
    ws.onclose = () => {
      if (running) lost++;
    };
    for (let i = 0; i < job.inflight; i++) ws.send(data);
  }
  await sleep(job.warmupMs);
  const start = { messages: received, server: cpuTicks(job.serverPid), client: clientCpuSeconds(), time: performance.now() };
  await sleep(job.durationMs);
  const end = { messages: received, server: cpuTicks(job.serverPid), client: clientCpuSeconds(), time: performance.now() };
  running = false;
  const extensions = sockets[0]?.extensions ?? "";
  for (const ws of sockets) ws.close(1000);
  await sleep(100);
  return {
    messages: end.messages - start.messages,
    seconds: (end.time - start.time) / 1000,
    serverCpuSeconds: (end.server - start.server) / 100,
    clientCpuSeconds: end.client - start.client,
    wrongEchoes: wrong,
    lost,
    extensions,
  };
}

/** Opens a socket, sends one small text message and waits for its echo. */
async function openIdle(url: string): Promise<WebSocket> {
  const ws = await connect(url, false);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("echo timed out")), OPEN_TIMEOUT_MS);
    ws.onmessage = () => {
      clearTimeout(timer);
      resolve();
    };
    ws.send("x".repeat(64));
  });
  return ws;
}

async function idle(job: IdleJob): Promise<IdleResult> {
  const sockets: WebSocket[] = [];
  const rss: number[] = [];
  let failed = 0;
  // A bounded number of handshakes in flight, so the server's accept queue never overflows.
  const parallel = 200;
  for (const target of job.steps) {
    while (sockets.length < target && failed < 100) {
      const batch = Math.min(parallel, target - sockets.length);
      const opened = await Promise.allSettled(Array.from({ length: batch }, () => openIdle(job.url)));
      for (const result of opened) {
        if (result.status === "fulfilled") sockets.push(result.value);
        else failed++;
      }
    }
    // For bench/heap.ts, which snapshots the server while the sockets are held.
    console.error(`OPEN ${sockets.length}`);
    await sleep(job.settleMs);
    rss.push(rssBytes(job.serverPid));
  }
  const open = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;
  for (const ws of sockets) ws.close(1000);
  await sleep(200);
  return { rss, open, failed };
}

/** One complete handshake and close: open, wait for "open", Close 1000, wait for the connection to end. */
function openAndClose(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => reject(new Error("handshake timed out")), OPEN_TIMEOUT_MS);
    ws.onopen = () => ws.close(1000);
    ws.onclose = (event) => {
      clearTimeout(timer);
      if (event.code === 1000) resolve();
      else reject(new Error(`closed with ${event.code}`));
    };
  });
}

async function handshakes(job: HandshakeJob): Promise<HandshakeResult> {
  let done = 0;
  let failed = 0;
  let running = true;
  const worker = async () => {
    while (running) {
      try {
        await openAndClose(job.url);
        done++;
      } catch {
        failed++;
        if (failed > 100) running = false;
      }
    }
  };
  const workers = Array.from({ length: job.parallel }, worker);
  await sleep(job.warmupMs);
  const start = { done, server: cpuTicks(job.serverPid), time: performance.now() };
  await sleep(job.durationMs);
  const end = { done, server: cpuTicks(job.serverPid), time: performance.now() };
  running = false;
  await Promise.all(workers);
  return { handshakes: end.done - start.done, seconds: (end.time - start.time) / 1000, serverCpuSeconds: (end.server - start.server) / 100, failed };
}

async function scale(job: ScaleJob): Promise<ScaleResult> {
  const sockets: WebSocket[] = [];
  let failed = 0;
  let rssFirst = 0;
  const started = performance.now();
  while (sockets.length < job.connections && failed < 100) {
    const batch = Math.min(200, job.connections - sockets.length);
    // Alternate the ports, so neither runs out of ephemeral ports on the client's side.
    const opened = await Promise.allSettled(Array.from({ length: batch }, (_, i) => openIdle(job.urls[(sockets.length + i) % job.urls.length]!)));
    for (const result of opened) {
      if (result.status === "fulfilled") sockets.push(result.value);
      else failed++;
    }
    if (rssFirst === 0 && sockets.length >= 1000) rssFirst = rssBytes(job.serverPid);
  }
  const openSeconds = (performance.now() - started) / 1000;
  console.error(`OPEN ${sockets.length}`);
  // Let the opening burst settle (GC, JIT) before the idle window.
  await sleep(3000);
  const rssAll = rssBytes(job.serverPid);
  const start = { server: cpuTicks(job.serverPid), time: performance.now() };
  await sleep(job.windowMs);
  const end = { server: cpuTicks(job.serverPid), time: performance.now() };
  const open = sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;
  for (const ws of sockets) ws.close(1000);
  await sleep(500);
  return { open, failed, rssFirst, rssAll, idleCpuSeconds: (end.server - start.server) / 100, windowSeconds: (end.time - start.time) / 1000, openSeconds };
}

const job = JSON.parse(process.argv[2] ?? "{}") as (LoadJob | IdleJob | HandshakeJob | ScaleJob) & { maxSeconds?: number };
// Bounded whatever happens: the orchestrator also kills the client, but never rely on it.
const maxSeconds = job.maxSeconds ?? 120;
setTimeout(() => {
  console.error(`client: gave up after ${maxSeconds} s`);
  process.exit(3);
}, maxSeconds * 1000).unref();
const result = job.mode === "load"
  ? await load(job)
  : job.mode === "idle"
  ? await idle(job)
  : job.mode === "handshake"
  ? await handshakes(job)
  : await scale(job);
console.log(JSON.stringify(result));
process.exit(0);
