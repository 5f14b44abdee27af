/**
 * A WebSocket client over one HTTP/2 stream (RFC 8441), on Node's `http2` client:
 * it opens an extended CONNECT on a shared session and speaks RFC 6455 frames on the
 * stream with the raw client's encoder, so tests see the server's frames as sent.
 * Test support only.
 */
import { type ClientHttp2Session, type ClientHttp2Stream, connect, constants, type IncomingHttpHeaders } from "node:http2";
import { encodeFrame, type Frame, Opcode, parseClose } from "../raw-client.ts";

const decoder = new TextDecoder();

/** Connects an HTTP/2 session and waits for the server's SETTINGS. */
export async function connectSession(url: string, options: { ca?: string | Buffer; rejectUnauthorized?: boolean } = {}): Promise<{ session: ClientHttp2Session; enableConnectProtocol: boolean }> {
  const session = connect(url, options);
  const settings = await new Promise<{ enableConnectProtocol?: boolean }>((resolve, reject) => {
    session.once("remoteSettings", resolve);
    session.once("error", reject);
  });
  session.on("error", () => {});
  return { session, enableConnectProtocol: settings.enableConnectProtocol === true };
}

/** The server's answer to an extended CONNECT. */
export interface ConnectAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A WebSocket on an HTTP/2 stream. */
export class H2WebSocket {
  readonly stream: ClientHttp2Stream;
  readonly answer: ConnectAnswer;
  #buffer = new Uint8Array(0);
  #waiters: Array<() => void> = [];
  #ended = false;
  /** The RST_STREAM code when the stream closed (0 for a clean end of both sides). */
  rstCode: number | undefined;

  private constructor(stream: ClientHttp2Stream, answer: ConnectAnswer) {
    this.stream = stream;
    this.answer = answer;
    stream.on("data", (chunk: Uint8Array) => {
      const next = new Uint8Array(this.#buffer.byteLength + chunk.byteLength);
      next.set(this.#buffer);
      next.set(chunk, this.#buffer.byteLength);
      this.#buffer = next;
      this.#notify();
    });
    const end = () => {
      this.#ended = true;
      this.#notify();
    };
    stream.on("end", end);
    stream.on("close", () => {
      this.rstCode = stream.rstCode;
      end();
    });
    stream.on("error", end);
  }

  /**
   * Sends `:method CONNECT`, `:protocol websocket` on `session` and resolves with the
   * answer; `socket` is set only for a 2xx (the stream stays open).
   */
  static async connect(
    session: ClientHttp2Session,
    path: string,
    headers: Record<string, string> = {},
    protocol = "websocket",
  ): Promise<{ answer: ConnectAnswer; socket?: H2WebSocket }> {
    const stream = session.request(
      { ":method": "CONNECT", ":protocol": protocol, ":path": path, ":scheme": session.encrypted ? "https" : "http", "sec-websocket-version": "13", ...headers },
      { endStream: false },
    );
    const response = await new Promise<IncomingHttpHeaders>((resolve, reject) => {
      stream.once("response", resolve);
      stream.once("error", reject);
      stream.once("close", () => reject(new Error(`stream closed before a response (RST code ${stream.rstCode})`)));
    });
    const answer: ConnectAnswer = { status: Number(response[":status"]), headers: response, body: "" };
    if (answer.status >= 200 && answer.status < 300) return { answer, socket: new H2WebSocket(stream, answer) };
    let body = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => (body += chunk));
    // A refused client stops sending; the stream then closes on both sides.
    stream.end();
    await new Promise((resolve) => stream.once("close", resolve));
    answer.body = body;
    return { answer };
  }

  /** Like `connect`, but throws unless the server accepted. */
  static async open(session: ClientHttp2Session, path: string, headers: Record<string, string> = {}): Promise<H2WebSocket> {
    const { answer, socket } = await H2WebSocket.connect(session, path, headers);
    if (socket === undefined) throw new Error(`expected 200, got ${answer.status}: ${answer.body}`);
    return socket;
  }

  send(opcode: number, payload: Uint8Array | string): void {
    this.stream.write(encodeFrame(opcode, payload));
  }

  sendClose(code: number, reason = ""): void {
    const bytes = new TextEncoder().encode(reason);
    const payload = new Uint8Array(2 + bytes.byteLength);
    new DataView(payload.buffer).setUint16(0, code);
    payload.set(bytes, 2);
    this.send(Opcode.close, payload);
  }

  /** Resets the stream (RST_STREAM CANCEL), as a browser does when a tab goes away. */
  reset(code = constants.NGHTTP2_CANCEL): void {
    this.stream.close(code);
  }

  /** Ends this side of the stream (END_STREAM). */
  end(): void {
    this.stream.end();
  }

  /** Reads the next message (answering Pings). */
  async readMessage(timeoutMs = 5000): Promise<{ opcode: number; data: Uint8Array }> {
    const parts: Uint8Array[] = [];
    let opcode = -1;
    for (;;) {
      const frame = await this.#waitFor(() => this.#takeFrame(), timeoutMs);
      if (frame.opcode === Opcode.ping) {
        this.send(Opcode.pong, frame.payload);
        continue;
      }
      if (frame.opcode === Opcode.pong) continue;
      if (frame.opcode === Opcode.close) return { opcode: Opcode.close, data: frame.payload };
      if (opcode === -1) opcode = frame.opcode;
      parts.push(frame.payload);
      if (frame.fin) return { opcode, data: Buffer.concat(parts) };
    }
  }

  async readText(timeoutMs = 5000): Promise<string> {
    const message = await this.readMessage(timeoutMs);
    if (message.opcode !== Opcode.text) throw new Error(`expected text, got opcode ${message.opcode}`);
    return decoder.decode(message.data);
  }

  /** Waits for the server's Close frame. */
  async readClose(timeoutMs = 5000): Promise<{ code: number | undefined; reason: string }> {
    for (;;) {
      const message = await this.readMessage(timeoutMs);
      if (message.opcode === Opcode.close) return parseClose(message.data);
    }
  }

  /** Resolves once the stream has closed (both sides ended, or reset). */
  async closed(timeoutMs = 5000): Promise<void> {
    if (this.stream.closed && this.rstCode !== undefined) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("stream did not close in time")), timeoutMs);
      this.stream.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
  }

  async #waitFor<T>(take: () => T | undefined, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = take();
      if (value !== undefined) return value;
      if (this.#ended) throw new Error("stream ended");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for the server");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  #takeFrame(): Frame | undefined {
    const buffer = this.#buffer;
    if (buffer.byteLength < 2) return undefined;
    const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    let length = buffer[1]! & 0x7f;
    let offset = 2;
    if (length === 126) {
      if (buffer.byteLength < 4) return undefined;
      length = view.getUint16(2);
      offset = 4;
    } else if (length === 127) {
      if (buffer.byteLength < 10) return undefined;
      length = Number(view.getBigUint64(2));
      offset = 10;
    }
    if (buffer[1]! & 0x80) throw new Error("the server masked a frame (RFC 6455 §5.1)");
    if (buffer.byteLength < offset + length) return undefined;
    const payload = buffer.slice(offset, offset + length);
    this.#buffer = buffer.subarray(offset + length);
    return { fin: (buffer[0]! & 0x80) !== 0, rsv1: (buffer[0]! & 0x40) !== 0, opcode: buffer[0]! & 0x0f, payload };
  }
}
