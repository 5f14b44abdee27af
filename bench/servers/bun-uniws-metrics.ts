// @uniws/bun's echo (as bun-uniws.ts) for bench/metrics.ts, with BENCH_METRICS as in node-uniws-metrics.mjs.
import { metrics } from "@opentelemetry/api";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { BunWebSocketServer } from "@uniws/bun";
import { HOST, IDLE_TIMEOUT_MS, KEEP_ALIVE_INTERVAL_MS, KEEP_ALIVE_TIMEOUT_MS, ready } from "./settings.mjs";

const mode = process.env.BENCH_METRICS ?? "off";
if (mode === "on") metrics.setGlobalMeterProvider(new MeterProvider({ readers: [new PrometheusExporter({ preventServerStart: true })] }));
const meter = mode === "off" ? undefined : metrics.getMeter("uniws");

const sockets = new BunWebSocketServer(
  async (context) => {
    if (!context.isWebSocketRequest) return context.reject(400);
    const socket = await context.accept();
    for await (const message of socket) await socket.send(message.data);
  },
  { keepAliveInterval: KEEP_ALIVE_INTERVAL_MS, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, idleTimeout: IDLE_TIMEOUT_MS, meter },
);
const server = Bun.serve({ hostname: HOST, port: 0, ...sockets.serveOptions() });
ready(server.port);
