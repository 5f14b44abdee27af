/**
 * The `uniws.server.*` instruments, recorded through the real OpenTelemetry API and metrics SDK
 * (a pull reader collecting on demand, as a Prometheus scrape does), on every adapter.
 */
import { afterAll, afterEach, describe, expect, test } from "vitest";
import { metrics } from "@opentelemetry/api";
import { type DataPoint, DataPointType, type MetricData, MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import type { UniWebSocket } from "@uniws/core";
import { handshakeHeaders, Opcode, RawClient } from "./support/raw-client.ts";
import { closeServers, runtime, startServer } from "./support/runtime.ts";

afterEach(closeServers);
afterAll(() => metrics.disable());

/** Collects when asked, like a Prometheus scrape. */
class CollectingReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  /** The uniws instruments collected now, by name. */
  async uniws(): Promise<Map<string, MetricData>> {
    const { resourceMetrics } = await this.collect();
    const found = new Map<string, MetricData>();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) if (metric.descriptor.name.startsWith("uniws.")) found.set(metric.descriptor.name, metric);
    }
    return found;
  }
}

const points = (metric: MetricData | undefined) => (metric?.dataPoints ?? []) as DataPoint<unknown>[];

/** An echo server with its sockets handed out, recording on `meter`. */
async function echoServer(meter: ReturnType<typeof metrics.getMeter>) {
  const sockets: UniWebSocket[] = [];
  const server = await startServer(async (context) => {
    const socket = await context.accept();
    sockets.push(socket);
    for await (const message of socket) await socket.send(message.data);
  }, { meter, allowedOrigins: ["https://allowed.example"] });
  return { server, sockets };
}

describe(`OpenTelemetry instruments (${runtime})`, () => {
  test("EveryInstrument_NamedUnitsAndAttributesAsDocumented_RuntimeOnEvery", async () => {
    const reader = new CollectingReader();
    const provider = new MeterProvider({ readers: [reader] });
    expect(metrics.setGlobalMeterProvider(provider)).toBe(true);
    const { server, sockets } = await echoServer(metrics.getMeter("uniws"));

    const refused = await RawClient.connect(server.port);
    expect((await refused.handshake("/ws", handshakeHeaders(server.port, { Origin: "https://evil.example" }))).status).toBe(403);
    refused.destroy();
    const { client } = await RawClient.open(server.port, "/ws");
    client.sendText("héllo"); // 6 bytes
    expect(await client.readText()).toBe("héllo");
    client.send(Opcode.binary, new Uint8Array([1, 2, 3]));
    await client.readMessage();

    const open = await reader.uniws();
    expect(open.get("uniws.server.active_connections")?.descriptor.unit).toBe("{connection}");
    expect(points(open.get("uniws.server.active_connections")).map((point) => point.value)).toEqual([1]);

    client.sendClose(4000, "bye");
    await client.readClose();
    client.destroy();
    await sockets[0]!.closed;
    const found = await reader.uniws();
    const attributes = { "uniws.runtime": runtime };

    const active = found.get("uniws.server.active_connections")!;
    // An UpDownCounter: a sum that may go down.
    expect(active).toMatchObject({ dataPointType: DataPointType.SUM, isMonotonic: false });
    expect(points(active).map(({ attributes, value }) => ({ attributes, value }))).toEqual([{ attributes, value: 0 }]);

    const duration = found.get("uniws.server.connection.duration")!;
    expect(duration.descriptor.unit).toBe("s");
    expect(duration.dataPointType).toBe(DataPointType.HISTOGRAM);
    expect(points(duration)).toHaveLength(1);
    expect(points(duration)[0]!.attributes).toEqual({ ...attributes, "uniws.close.code": 4000 });
    expect((points(duration)[0]!.value as { count: number }).count).toBe(1);

    const rejected = found.get("uniws.server.rejected_handshakes")!;
    expect(rejected.descriptor.unit).toBe("{handshake}");
    expect(rejected).toMatchObject({ dataPointType: DataPointType.SUM, isMonotonic: true });
    expect(points(rejected).map(({ attributes, value }) => ({ attributes, value }))).toEqual([
      { attributes: { ...attributes, "http.response.status_code": 403 }, value: 1 },
    ]);

    const messages = found.get("uniws.server.messages")!;
    // Observed at collection from the server's totals: exported as a monotonic sum, as any Counter.
    expect(messages.descriptor.unit).toBe("{message}");
    expect(messages).toMatchObject({ dataPointType: DataPointType.SUM, isMonotonic: true });
    const message = (direction: string, type: string) => ({
      attributes: { ...attributes, "uniws.message.direction": direction, "uniws.message.type": type },
      value: 1,
    });
    expect(points(messages).map(({ attributes, value }) => ({ attributes, value }))).toEqual(
      expect.arrayContaining([message("receive", "text"), message("receive", "binary"), message("send", "text"), message("send", "binary")]),
    );
    expect(points(messages)).toHaveLength(4);

    const bytes = found.get("uniws.server.message.bytes")!;
    expect(bytes.descriptor.unit).toBe("By");
    expect(bytes).toMatchObject({ dataPointType: DataPointType.SUM, isMonotonic: true });
    expect(points(bytes).map(({ attributes, value }) => ({ attributes, value }))).toEqual(
      expect.arrayContaining([
        { attributes: { ...attributes, "uniws.message.direction": "receive" }, value: 9 },
        { attributes: { ...attributes, "uniws.message.direction": "send" }, value: 9 },
      ]),
    );
    expect(points(bytes)).toHaveLength(2);

    // The same figures without OpenTelemetry.
    expect(server.stats()).toMatchObject({ rejectedHandshakes: { 403: 1 }, closedConnections: { 4000: 1 }, bytes: { receive: 9, send: 9 } });
    metrics.disable();
    await provider.shutdown();
  });

  test("TwoServersOneMeter_CountsAddUp", async () => {
    const reader = new CollectingReader();
    const provider = new MeterProvider({ readers: [reader] });
    const meter = provider.getMeter("uniws");
    const first = await echoServer(meter);
    const second = await echoServer(meter);
    for (const { server } of [first, second]) {
      const { client } = await RawClient.open(server.port, "/ws");
      client.sendText("hi");
      expect(await client.readText()).toBe("hi");
      client.destroy();
    }
    const received = points((await reader.uniws()).get("uniws.server.messages"))
      .find((point) => point.attributes["uniws.message.direction"] === "receive" && point.attributes["uniws.message.type"] === "text");
    expect(received?.value).toBe(2);
    expect(points((await reader.uniws()).get("uniws.server.active_connections")).length).toBe(1);
    await provider.shutdown();
  });

  test("RateLimitClose_RecordedAs1008Duration_DroppedMessageNotCounted", async () => {
    const reader = new CollectingReader();
    const provider = new MeterProvider({ readers: [reader] });
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      await socket.closed;
    }, { meter: provider.getMeter("uniws"), maxMessagesPerSecond: 1, messageBurst: 1 });
    const { client } = await RawClient.open(server.port, "/ws");
    client.sendText("one");
    client.sendText("two");
    expect((await client.readClose()).code).toBe(1008);
    client.sendClose(1008);
    await client.waitForEnd();
    client.destroy();
    const deadline = Date.now() + 5000;
    while (server.connections() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    const duration = (await reader.uniws()).get("uniws.server.connection.duration");
    expect(points(duration).map((point) => point.attributes["uniws.close.code"])).toEqual([1008]);
    // "two" was over the limit: dropped by policy, so not a received message.
    expect(server.stats().messages.receive.text).toBe(1);
    await provider.shutdown();
  });

  test("MessageTooBig_DurationRecordedWith1009TheServerSent", async () => {
    // Node's `ws` and Bun close with 1009 themselves, the core does elsewhere: one figure on every runtime.
    const reader = new CollectingReader();
    const provider = new MeterProvider({ readers: [reader] });
    const server = await startServer(async (context) => {
      const socket = await context.accept();
      await socket.closed;
    }, { meter: provider.getMeter("uniws"), maxMessageSize: 100 });
    const { client } = await RawClient.open(server.port, "/ws");
    client.send(Opcode.binary, new Uint8Array(200));
    expect((await client.readClose()).code).toBe(1009);
    client.sendClose(1009);
    client.destroy();
    const deadline = Date.now() + 5000;
    while (server.connections() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    const duration = (await reader.uniws()).get("uniws.server.connection.duration");
    expect(points(duration).map((point) => point.attributes["uniws.close.code"])).toEqual([1009]);
    expect(server.stats().closedConnections).toEqual({ 1009: 1 });
    await provider.shutdown();
  });

  test("MeterNotAMeter_TypeErrorAtConstruction_NamingTheMissingMethod", async () => {
    // A MeterProvider instead of its Meter: a common slip, caught before any socket exists.
    const provider = new MeterProvider();
    const handler = async () => {};
    await expect(startServer(handler, { meter: provider as never })).rejects.toThrow(/meter must be an OpenTelemetry Meter .*createCounter/);
    await expect(startServer(handler, { meter: {} as never })).rejects.toThrow(TypeError);
    await provider.shutdown();
  });

  test("NoProviderRegistered_NothingRecorded_ServerServes", async () => {
    // `getMeter` before any provider is registered gives OpenTelemetry's no-op meter, for good.
    const meter = metrics.getMeter("uniws");
    const { server } = await echoServer(meter);
    const { client } = await RawClient.open(server.port, "/ws");
    client.sendText("hi");
    expect(await client.readText()).toBe("hi");
    client.destroy();
    const reader = new CollectingReader();
    const provider = new MeterProvider({ readers: [reader] });
    expect(metrics.setGlobalMeterProvider(provider)).toBe(true);
    expect((await reader.uniws()).size).toBe(0);
    expect(server.stats().messages.receive.text).toBe(1);
    metrics.disable();
    await provider.shutdown();
  });
});
