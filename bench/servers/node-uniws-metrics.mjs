// @uniws/node's echo (as node-uniws.mjs) for bench/metrics.ts, with BENCH_METRICS choosing the metrics:
// "off" (no meter), "noop" (a meter taken before any provider is registered: OpenTelemetry's no-op), or
// "on" (a MeterProvider registered first, read by a Prometheus exporter nobody scrapes during the run).
import { createServer } from "node:http";
import { metrics } from "@opentelemetry/api";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { NodeWebSocketServer } from "@uniws/node";
import { HOST, IDLE_TIMEOUT_MS, KEEP_ALIVE_INTERVAL_MS, KEEP_ALIVE_TIMEOUT_MS, ready } from "./settings.mjs";

const mode = process.env.BENCH_METRICS ?? "off";
if (mode === "on") metrics.setGlobalMeterProvider(new MeterProvider({ readers: [new PrometheusExporter({ preventServerStart: true })] }));
const meter = mode === "off" ? undefined : metrics.getMeter("uniws");

const sockets = new NodeWebSocketServer(
  async (context) => {
    if (!context.isWebSocketRequest) return context.reject(400);
    const socket = await context.accept();
    for await (const message of socket) await socket.send(message.data);
  },
  { keepAliveInterval: KEEP_ALIVE_INTERVAL_MS, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, idleTimeout: IDLE_TIMEOUT_MS, meter },
);
const server = createServer((_req, res) => res.writeHead(400).end("Expected a WebSocket request\n"));
sockets.attach(server);
server.listen(0, HOST, () => ready(server.address().port));
