/**
 * uniws's metrics exported for Prometheus, on Node: `node examples/operations/dist/metrics.js
 * [--port N]` serves an echo WebSocket at `/ws` and the scrape endpoint at `/metrics`.
 *
 * @module
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { metrics } from "@opentelemetry/api";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { NodeWebSocketServer } from "@uniws/node";

// 1. Register a MeterProvider first; its reader here is the Prometheus exporter, served at /metrics below.
const exporter = new PrometheusExporter({ preventServerStart: true });
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [exporter] }));

// 2. Then give uniws a meter from it, with the limits of a production server.
const sockets = new NodeWebSocketServer(async (context) => {
  if (!context.isWebSocketRequest) return context.reject(400);
  const socket = await context.accept();
  for await (const message of socket) await socket.send(message.data);
}, { meter: metrics.getMeter("uniws"), maxConnections: 10_000, maxMessagesPerSecond: 100, maxBytesPerSecond: 1_048_576 });

const server = createServer((req, res) => {
  if (req.url === "/metrics") return exporter.getMetricsRequestHandler(req, res);
  res.writeHead(404).end();
});
sockets.attach(server, { path: "/ws" });

const portFlag = process.argv.indexOf("--port");
const port = portFlag === -1 ? 5000 : Number(process.argv[portFlag + 1]);
server.listen(port, "127.0.0.1", () => console.log(`Listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`));
process.once("SIGTERM", () => server.close(() => process.exit(0)));
