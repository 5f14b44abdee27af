/**
 * `@uniws/redis`: a Redis pub/sub {@link RedisBackplane} for `@uniws/core`'s
 * `WebSocketHub`, so hubs on several server processes — Node, Deno and Bun in any
 * mix — deliver group messages and broadcasts to every member on every instance.
 *
 * @example
 * ```ts
 * import { WebSocketHub } from "@uniws/core";
 * import { RedisBackplane } from "@uniws/redis";
 *
 * const hub = new WebSocketHub({ backplane: new RedisBackplane({ url: "redis://127.0.0.1:6379" }) });
 * ```
 *
 * @module
 */
export { RedisBackplane, type RedisBackplaneOptions } from "./backplane.ts";
