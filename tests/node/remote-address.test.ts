/**
 * `context.remoteAddress` on a dual-stack Node listener (`::`): an IPv4 client reads as plain IPv4, the
 * same string a `127.0.0.1` listener and the other runtimes give; an IPv6 client as IPv6.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, expect, test } from "vitest";
import { NodeWebSocketServer } from "@uniws/node";

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

test("DualStackListener_Ipv4PeerReadsAsIpv4_Ipv6PeerAsIpv6", async () => {
  const sockets = new NodeWebSocketServer((context) => new Response(String(context.remoteAddress)));
  const server = createServer(async (req, res) => void (await sockets.handleRequest(req, res)));
  await new Promise<void>((resolve) => server.listen(0, "::", resolve));
  stops.push(() => new Promise((resolve) => server.close(() => resolve())));
  const { port } = server.address() as AddressInfo;
  expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("127.0.0.1");
  expect(await (await fetch(`http://[::1]:${port}/`)).text()).toBe("::1");
});
