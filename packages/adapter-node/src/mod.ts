/**
 * `@uniws/node`: uniws on Node's `http`, `https` and `http2` servers, with `ws` as the
 * protocol engine.
 *
 * @module
 */
export { type AttachOptions, type NodeRequest, NodeWebSocketServer, type PathMatcher } from "./server.ts";
export { NODE_CAPABILITIES } from "./ws-engine.ts";
export { DEFAULT_DEFLATE_OPTIONS, type NodeDeflateOptions } from "./compression.ts";
// The `ws` engine on its own, for other bindings of Node servers (`@uniws/hono/node`).
export { defaultMaxFragments, guardUpgrade, WsEngines, type WsLimits } from "./ws-upgrade.ts";
export { wsDeflateOptions, type WsPerMessageDeflateOptions } from "./compression.ts";
export { asteriskFormRefusal, isAsteriskFormMisuse, nodeHttpVersion, rawHeader, requestUrl, toHandshakeRequest, toHeaders, upgradeRequest, writeRawResponse } from "./http1.ts";
export type { NodeWebSocketOptions } from "./server.ts";
export { writeResponse } from "./http1.ts";
export type { AnyHttp2Server, Http2ConnectRequest } from "./http2.ts";
export * from "@uniws/core";
