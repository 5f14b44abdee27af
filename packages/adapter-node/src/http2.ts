/**
 * WebSockets over HTTP/2 (RFC 8441) on Node's `node:http2` servers: advertising
 * `SETTINGS_ENABLE_CONNECT_PROTOCOL`, finding extended CONNECT streams, describing
 * them to the core, and letting `ws` run on the `Http2Stream` as on a socket.
 *
 * What nghttp2 (under Node) already does, so nothing here repeats it: a CONNECT
 * with `:protocol` but no `:scheme`, `:path` or `:authority`, and `:protocol` on
 * another method, are reset with PROTOCOL_ERROR before Node sees a stream (RFC 8441
 * §4), and so is any `:protocol` when the setting was not sent.
 *
 * @module
 */
import {
  constants,
  type Http2SecureServer,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import type { IncomingMessage } from "node:http";
import { type AnsweredHandshake, AnsweredRequest, type EngineEvents, type EngineSocket, type HandshakeRequest } from "@uniws/core";
import { headersOfLines, requestUrl, toHeaders } from "./http1.ts";

/**
 * The adapter's request object for a WebSocket that arrived as an HTTP/2 extended
 * CONNECT stream, seen as `context.native` (HTTP/1.1 upgrades get the `IncomingMessage`).
 */
export interface Http2ConnectRequest {
  /** The stream the WebSocket runs on once accepted. */
  readonly stream: ServerHttp2Stream;
  /** The request's headers, pseudo-headers (`:method`, `:protocol`, `:path` …) included. */
  readonly headers: IncomingHttpHeaders;
}

/** An HTTP/2 server, cleartext or TLS (with or without `allowHTTP1`). */
export type AnyHttp2Server = Http2Server | Http2SecureServer;

/** Whether `server` is a `node:http2` server (only those can carry extended CONNECT). */
export function isHttp2Server(server: object): server is AnyHttp2Server {
  return typeof (server as Partial<Http2Server>).updateSettings === "function";
}

/** Whether the stream is an extended CONNECT (RFC 8441 §4) — for the core to judge, whatever its `:protocol`. */
export function isExtendedConnect(headers: IncomingHttpHeaders): boolean {
  return headers[":method"] === "CONNECT" && headers[":protocol"] !== undefined;
}

/**
 * Advertises `SETTINGS_ENABLE_CONNECT_PROTOCOL` on `server`'s new sessions and hands
 * each extended CONNECT stream that `wanted` accepts to `onStream`. Only called when a
 * handler is attached: a browser that sees the setting will not fall back to HTTP/1.1.
 */
export function listenForConnect(
  server: AnyHttp2Server,
  wanted: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => boolean,
  onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: readonly string[] | undefined) => void,
): void {
  server.updateSettings({ enableConnectProtocol: true });
  server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders?: readonly string[]) => {
    if (isExtendedConnect(headers) && wanted(stream, headers)) onStream(stream, headers, rawHeaders);
  });
  // Node's compatibility layer (active once a `request` listener exists, as with
  // `allowHTTP1`) answers every CONNECT stream 405 unless a `connect` listener takes it.
  // Ours lets the `stream` listener above have the WebSocket ones and, when no one
  // else listens, answers the others as Node would have.
  const onConnect = (req: Http2ServerRequest, res: Http2ServerResponse) => {
    if (isExtendedConnect(req.headers) && wanted(req.stream, req.headers)) return;
    if (server.listeners("connect").length > 1) return;
    res.statusCode = isExtendedConnect(req.headers) ? 404 : 405;
    res.end();
  };
  server.on("connect", onConnect);
}

/** The URL of an HTTP/2 request, from `:authority` and `:path`; https when the connection is TLS (as for HTTP/1.1). */
export function connectUrl(headers: IncomingHttpHeaders, secure: boolean): URL {
  return requestUrl(headers[":path"] ?? "/", headers[":authority"] ?? headers.host, secure);
}

/**
 * An extended CONNECT stream in the core's terms (`method: "CONNECT"`, `protocol` from `:protocol`). Its headers are
 * read from the stream's `rawHeaders` when given: Node's header object keeps only the first of a repeated
 * User-Agent, Authorization, Referer… (docs/semantics.md).
 */
export function toConnectRequest(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders?: readonly string[]): HandshakeRequest {
  const url = connectUrl(headers, stream.session?.encrypted === true);
  const fields = rawHeaders === undefined ? toHeaders(headers) : headersOfLines(rawHeaders);
  return new Http2HandshakeRequest("CONNECT", url, fields, stream.session?.socket?.remoteAddress, headers[":protocol"] as string);
}

/** Whether a request handed to `handleRequest` came through Node's HTTP/2 compatibility layer. */
export function isCompatRequest(req: IncomingMessage | Http2ServerRequest): req is Http2ServerRequest {
  return req.httpVersionMajor === 2;
}

/** A plain HTTP/2 request (from the compatibility layer) in the core's terms. */
export function toCompatRequest(req: Http2ServerRequest): HandshakeRequest {
  const url = connectUrl(req.headers, req.stream.session?.encrypted === true);
  return new Http2HandshakeRequest(req.method, url, headersOfLines(req.rawHeaders), req.socket?.remoteAddress, undefined);
}

// An HTTP/2 request, read at once (Node gives its headers as one object). Once answered, the context keeps its
// method, URL, version and address only: not the copy of the headers, which a WebSocket's stream would otherwise
// keep for its whole life.
class Http2HandshakeRequest implements HandshakeRequest {
  readonly httpVersion = "2";

  constructor(
    readonly method: string,
    readonly url: URL,
    readonly headers: Headers,
    readonly remoteAddress: string | undefined,
    readonly protocol: string | undefined,
  ) {}

  answering(): AnsweredHandshake {
    return new AnsweredRequest(this.method, this.url, "2", this.remoteAddress);
  }
}

// RFC 8441 §5: no Upgrade, Connection or Sec-WebSocket-Accept on HTTP/2, and HTTP/2
// forbids connection-specific headers (RFC 9113 §8.2.2).
const NOT_ON_HTTP2 = new Set(["upgrade", "connection", "keep-alive", "transfer-encoding", "sec-websocket-accept", "content-length"]);

/** Answers a stream that is not upgraded with `response`, then ends it. */
export async function respondOnStream(stream: ServerHttp2Stream, response: Response): Promise<void> {
  const body = Buffer.from(await response.arrayBuffer());
  if (stream.destroyed || stream.headersSent) return;
  const headers: Record<string, string | number | string[]> = { ":status": response.status };
  response.headers.forEach((value, name) => {
    if (!NOT_ON_HTTP2.has(name)) headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers["set-cookie"] = cookies;
  stream.respond(headers, { endStream: body.byteLength === 0 });
  if (body.byteLength > 0) stream.end(body);
  // The answer is complete: tell a client that keeps its side open to stop sending
  // (RST_STREAM NO_ERROR, RFC 9113 §8.1) rather than hold the stream for it.
  stream.once("finish", () => stream.close(constants.NGHTTP2_NO_ERROR));
  stream.resume();
}

/** An extended CONNECT stream as the `ws` engine is shown it (ws-upgrade.ts restates the handshake). */
export function streamRequest(headers: IncomingHttpHeaders): Pick<IncomingMessage, "headers" | "url"> {
  return { url: headers[":path"], headers: { ...headers, host: headers[":authority"] ?? headers.host } };
}

/**
 * Turns the HTTP/1.1 answer `ws` writes on its transport into HTTP/2 HEADERS: its
 * `101` becomes `:status 200` with the negotiated `Sec-WebSocket-Protocol` and
 * `-Extensions` (RFC 8441 §5), a refusal keeps its status and body. `ws` writes that
 * answer once, with `write` (or `end` for a refusal), before any frame; the two
 * methods are shadowed on this stream only until then.
 */
export function answerHandshakeOnStream(stream: ServerHttp2Stream): void {
  const restore = () => {
    Reflect.deleteProperty(stream, "write");
    Reflect.deleteProperty(stream, "end");
  };
  const answer = (chunk: unknown): Buffer => {
    restore();
    const text = Buffer.isBuffer(chunk) ? chunk.toString("latin1") : String(chunk ?? "");
    const split = text.indexOf("\r\n\r\n");
    const [statusLine = "", ...lines] = (split === -1 ? text : text.slice(0, split)).split("\r\n");
    const status = Number(statusLine.split(" ")[1]);
    const headers: Record<string, string | number> = { ":status": status === 101 ? 200 : status };
    for (const line of lines) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).trim().toLowerCase();
      if (colon > 0 && !NOT_ON_HTTP2.has(name)) headers[name] = line.slice(colon + 1).trim();
    }
    if (!stream.destroyed) stream.respond(headers);
    return Buffer.from(split === -1 ? "" : text.slice(split + 4), "latin1");
  };
  Object.assign(stream, {
    write(chunk: unknown) {
      answer(chunk);
      return true;
    },
    end(chunk?: unknown) {
      const body = answer(chunk);
      return body.byteLength > 0 ? stream.end(body) : stream.end();
    },
  });
}

/**
 * RFC 8441 §5: an abrupt end of a WebSocket over HTTP/2 is an RST_STREAM with
 * CANCEL. `ws` destroys its transport, which Node resets with NO_ERROR; this makes
 * the core's `abort` (and keep-alive timeout) reset the stream with CANCEL first.
 */
export function cancelOnAbort(stream: ServerHttp2Stream, events: EngineEvents): EngineEvents {
  // Delegate each event: the core's events object keeps its methods on a prototype, which a spread would drop.
  return {
    failed: (error) => events.failed(error),
    message: (data, binary) => events.message(data, binary),
    pong: () => events.pong(),
    drained: () => events.drained(),
    closeSent: (code) => events.closeSent(code),
    closed: (code, reason, error) => events.closed(code, reason, error),
    opened: (socket: EngineSocket) =>
      events.opened({
        extensions: socket.extensions,
        get bufferedAmount() {
          return socket.bufferedAmount;
        },
        send: (data, options) => socket.send(data, options),
        ...(socket.isUtf8 === undefined ? {} : { isUtf8: (bytes: Uint8Array) => socket.isUtf8!(bytes) }),
        ...(socket.decodeText === undefined ? {} : { decodeText: (bytes: Uint8Array) => socket.decodeText!(bytes) }),
        ping: (payload) => socket.ping(payload),
        pong: (payload) => socket.pong(payload),
        close: (code, reason) => socket.close(code, reason),
        terminate: () => {
          if (!stream.closed) stream.close(constants.NGHTTP2_CANCEL);
          socket.terminate();
        },
      }),
  };
}
