/**
 * The recipe for a server behind proxies you run: believe the `Forwarded` (RFC 7239)
 * or `X-Forwarded-For` header only when the connection comes from one of them, and
 * read it from the right, skipping your own proxies, so a client cannot name itself.
 *
 * @module
 */
import type { WebSocketContext } from "@uniws/core";

/** The `for=` node of each element of a `Forwarded` header (RFC 7239 §4), first hop first. */
function forwardedFor(header: string): string[] {
  const nodes: string[] = [];
  for (const element of header.split(",")) {
    const pair = element.split(";").map((part) => part.trim()).find((part) => part.toLowerCase().startsWith("for="));
    if (pair === undefined) {
      nodes.push("unknown");
      continue;
    }
    nodes.push(withoutPort(pair.slice(4).replace(/^"|"$/g, "")));
  }
  return nodes;
}

/** A node's address alone: "[2001:db8::1]:4711" (RFC 7239 §6) and "192.0.2.7:4711" carry ports, which some proxies add to `X-Forwarded-For` too. */
function withoutPort(node: string): string {
  if (node.startsWith("[")) return node.slice(1, node.indexOf("]"));
  return /^[\d.]+:\d+$/.test(node) ? node.slice(0, node.indexOf(":")) : node;
}

/**
 * The client's address as your own proxies saw it: `context.remoteAddress` unless
 * that is one of `trustedProxies`, else the right-most address in `Forwarded` (or,
 * without it, `X-Forwarded-For`) that is not a trusted proxy. `undefined` when the
 * proxies name no address (`unknown`, an obfuscated node, or no header at all).
 */
export function clientAddress(context: WebSocketContext, trustedProxies: ReadonlySet<string>): string | undefined {
  const peer = context.remoteAddress;
  if (peer === undefined || !trustedProxies.has(peer)) return peer;
  const forwarded = context.headers.get("forwarded");
  const chain = forwarded !== null
    ? forwardedFor(forwarded)
    : (context.headers.get("x-forwarded-for") ?? "").split(",").map((node) => withoutPort(node.trim())).filter((node) => node !== "");
  for (let i = chain.length - 1; i >= 0; i--) {
    const node = chain[i]!;
    if (trustedProxies.has(node)) continue;
    // RFC 7239 §6: "unknown" and obfuscated identifiers ("_hidden") are not addresses.
    return node === "unknown" || node.startsWith("_") ? undefined : node;
  }
  return undefined;
}
