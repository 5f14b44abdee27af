/**
 * `@uniws/node`: uniws on Node's `http` and `https` servers, with `ws` as the
 * protocol engine.
 *
 * @module
 */
export { type AttachOptions, type NodeRequest, NodeWebSocketServer, type PathMatcher } from "./server.ts";
export { NODE_CAPABILITIES } from "./ws-engine.ts";
export { writeResponse } from "./http1.ts";
export * from "@uniws/core";
