/**
 * `@uniws/core`: the runtime-neutral WebSocket policy of uniws — options, the
 * request and accept contexts, the awaitable socket, keep-alive and timeouts — and
 * the contract adapters implement. Imports nothing runtime-specific.
 *
 * Applications use an adapter (`@uniws/node`, `@uniws/deno`, `@uniws/bun`,
 * `@uniws/hono`); this module gives them the shared types.
 *
 * @example
 * ```ts
 * import type { WebSocketHandler } from "@uniws/core";
 *
 * const echo: WebSocketHandler = async (context) => {
 *   if (!context.isWebSocketRequest) return context.reject(400);
 *   const socket = await context.accept();
 *   for await (const message of socket) await socket.send(message.data);
 * };
 * ```
 *
 * @module
 */
export { CloseStatus, isEmptyCloseStatus, isSendableCloseStatus, MAX_CLOSE_REASON_BYTES, validateCloseStatus } from "./close-status.ts";
export type {
  CompressionRequest,
  EngineCapabilities,
  EngineEvents,
  EngineSendOptions,
  EngineSocket,
  EngineTopics,
  UpgradeBinding,
  UpgradePlan,
} from "./engine.ts";
export { WebSocketError, type WebSocketErrorCode } from "./errors.ts";
export {
  type AnsweredHandshake,
  AnsweredRequest,
  type HandshakeRequest,
  type HandshakeVerdict,
  headerList,
  headersOnThe101,
  type HeaderReader,
  type HttpVersion,
  isOriginAllowed,
  isToken,
  type LazyHeaders,
  readHandshake,
  requestedProtocols,
  WebHandshakeRequest,
  type WebHandshakeRequestInit,
  type WebRequestLike,
  webRequestUrl,
} from "./handshake.ts";
export {
  type DispatchOutcome,
  type ResponseBody,
  type ResponseHeaders,
  type ShutdownOptions,
  type WebSocketContext,
  type WebSocketHandler,
  WebSocketHost,
} from "./host.ts";
export { RepeatedText } from "./repeated-text.ts";
export { type Backplane, type FanOutOptions, type HubMessage, type HubOptions, type SlowConsumerPolicy, WebSocketHub } from "./hub.ts";
export type {
  MessageCounts,
  MetricsAttributes,
  MetricsCounter,
  MetricsHistogram,
  MetricsInstrumentOptions,
  MetricsMeter,
  MetricsObservable,
  MetricsObservableResult,
  WebSocketServerStats,
} from "./metrics.ts";
export { negotiatePerMessageDeflate, PERMESSAGE_DEFLATE, type PerMessageDeflateDeclineReason, type PerMessageDeflateNegotiation, type PerMessageDeflateParameters } from "./permessage-deflate.ts";
export {
  DEFAULT_OPTIONS,
  type ResolvedWebSocketOptions,
  resolveOptions,
  type WebSocketAcceptContext,
  type WebSocketOptions,
} from "./options.ts";
export {
  bindWebSocket,
  type BindWebSocketOptions,
  type WebCloseReport,
  WebEngineLink,
  type WebEngineOptions,
  WebEngineSocket,
  type WebSocketLike,
  type WebSocketLikeCloseEvent,
  type WebSocketLikeEvent,
  type WebSocketLikeMessageEvent,
} from "./web-socket-engine.ts";
export {
  type CloseResult,
  type DataMessage,
  type MessageType,
  type ReceiveResult,
  type SendData,
  type SendOptions,
  UniWebSocket,
  type WebSocketMessage,
  type WebSocketState,
} from "./socket.ts";
