/**
 * A raw TCP WebSocket client for tests (node:net works on Node, Deno and Bun): it
 * sends exactly the bytes a test asks for — custom handshakes, fragments, bad
 * frames — and reads back the server's frames as they are on the wire, so tests
 * can check FIN and RSV bits, opcodes and close payloads. Test support only: the
 * product's framing is done by each runtime's engine.
 */
import { connect, type Socket } from "node:net";

export const Opcode = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

export interface Frame {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  payload: Uint8Array;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Headers of a valid opening handshake, to be overridden per test. */
export function handshakeHeaders(port: number, extra: Record<string, string | undefined> = {}): Record<string, string> {
  const headers: Record<string, string | undefined> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: "websocket",
    Connection: "Upgrade",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version": "13",
    ...extra,
  };
  return Object.fromEntries(Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/** Encodes one client frame (masked unless `mask` is false). */
/** Sends a valid handshake for `/ws` and leaves at once, before the server can answer it. */
export async function handshakeAndLeave(port: number): Promise<void> {
  const client = await RawClient.connect(port);
  const headers = Object.entries(handshakeHeaders(port)).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  client.write(`GET /ws HTTP/1.1\r\n${headers}\r\n`);
  client.destroy();
}

export function encodeFrame(opcode: number, payload: Uint8Array | string, options: { fin?: boolean; rsv1?: boolean; mask?: boolean } = {}): Uint8Array {
  const data = typeof payload === "string" ? encoder.encode(payload) : payload;
  const mask = options.mask ?? true;
  const length = data.byteLength;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const frame = new Uint8Array(2 + lengthBytes + (mask ? 4 : 0) + length);
  frame[0] = ((options.fin ?? true) ? 0x80 : 0) | (options.rsv1 ? 0x40 : 0) | opcode;
  const view = new DataView(frame.buffer);
  if (lengthBytes === 0) frame[1] = length;
  else if (lengthBytes === 2) {
    frame[1] = 126;
    view.setUint16(2, length);
  } else {
    frame[1] = 127;
    view.setBigUint64(2, BigInt(length));
  }
  let offset = 2 + lengthBytes;
  if (mask) {
    frame[1]! |= 0x80;
    const key = crypto.getRandomValues(new Uint8Array(4));
    frame.set(key, offset);
    offset += 4;
    for (let i = 0; i < length; i++) frame[offset + i] = data[i]! ^ key[i & 3]!;
  } else {
    frame.set(data, offset);
  }
  return frame;
}

/** A Close frame's payload: the code, big-endian, then the reason (RFC 6455 §5.5.1). */
export function closePayload(code: number, reason = ""): Uint8Array {
  const reasonBytes = encoder.encode(reason);
  const payload = new Uint8Array(2 + reasonBytes.byteLength);
  new DataView(payload.buffer).setUint16(0, code);
  payload.set(reasonBytes, 2);
  return payload;
}

export function parseClose(payload: Uint8Array): { code: number | undefined; reason: string } {
  if (payload.byteLength < 2) return { code: undefined, reason: "" };
  return { code: new DataView(payload.buffer, payload.byteOffset).getUint16(0), reason: decoder.decode(payload.subarray(2)) };
}

/** A raw connection to a test server. */
export class RawClient {
  readonly socket: Socket;
  #buffer = new Uint8Array(0);
  #waiters: Array<() => void> = [];
  #ended = false;
  /** Whether the server ended the TCP connection. */
  get ended(): boolean {
    return this.#ended;
  }

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Uint8Array) => {
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
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  /** `halfOpen`: the client never ends its side of the TCP connection by itself, even after the server ended its own. */
  static async connect(port: number, halfOpen = false): Promise<RawClient> {
    const socket = connect({ port, host: "127.0.0.1", allowHalfOpen: halfOpen });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("error", reject);
    });
    socket.setNoDelay(true);
    return new RawClient(socket);
  }

  /** Connects and completes a handshake; throws unless the answer is 101. */
  static async open(port: number, path = "/", extra: Record<string, string | undefined> = {}): Promise<{ client: RawClient; answer: HttpAnswer }> {
    const client = await RawClient.connect(port);
    const answer = await client.handshake(path, handshakeHeaders(port, extra));
    if (answer.status !== 101) throw new Error(`expected 101, got ${answer.status}: ${answer.body}`);
    return { client, answer };
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
      if (this.#ended) throw new Error("connection ended");
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

  write(bytes: Uint8Array | string): void {
    this.socket.write(typeof bytes === "string" ? encoder.encode(bytes) : bytes);
  }

  /** Sends a request line and headers; resolves with the status line's answer (body read for non-101). */
  async handshake(path: string, headers: Record<string, string>, method = "GET"): Promise<HttpAnswer> {
    const lines = [`${method} ${path} HTTP/1.1`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`)];
    this.write(lines.join("\r\n") + "\r\n\r\n");
    return await this.readHttpAnswer();
  }

  async readHttpAnswer(timeoutMs = 5000): Promise<HttpAnswer> {
    const headEnd = await this.#waitFor(() => {
      const text = decoder.decode(this.#buffer);
      const index = text.indexOf("\r\n\r\n");
      return index === -1 ? undefined : index;
    }, timeoutMs);
    const head = decoder.decode(this.#buffer.subarray(0, headEnd));
    const [statusLine, ...headerLines] = head.split("\r\n");
    const status = Number(statusLine!.split(" ")[1]);
    const headers: Record<string, string> = {};
    for (const line of headerLines) {
      const colon = line.indexOf(":");
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    this.#buffer = this.#buffer.subarray(headEnd + 4);
    let body = "";
    if (status !== 101) {
      const length = Number(headers["content-length"] ?? "0");
      if (length > 0) {
        await this.#waitFor(() => (this.#buffer.byteLength >= length ? true : undefined), timeoutMs);
        body = decoder.decode(this.#buffer.subarray(0, length));
        this.#buffer = this.#buffer.subarray(length);
      }
    }
    return { status, headers, body };
  }

  send(opcode: number, payload: Uint8Array | string, options?: { fin?: boolean; rsv1?: boolean; mask?: boolean }): void {
    this.write(encodeFrame(opcode, payload, options));
  }

  sendText(text: string): void {
    this.send(Opcode.text, text);
  }

  sendClose(code?: number, reason = ""): void {
    this.send(Opcode.close, code === undefined ? new Uint8Array(0) : closePayload(code, reason));
  }

  /** Reads the next frame from the server. */
  async readFrame(timeoutMs = 5000): Promise<Frame> {
    return await this.#waitFor(() => this.#takeFrame(), timeoutMs);
  }

  /** Reads frames until a data frame ends a message; answers pings on the way unless told not to. */
  async readMessage(timeoutMs = 5000): Promise<{ opcode: number; data: Uint8Array; frames: Frame[] }> {
    const frames: Frame[] = [];
    for (;;) {
      const frame = await this.readFrame(timeoutMs);
      if (frame.opcode === Opcode.ping) {
        this.send(Opcode.pong, frame.payload);
        continue;
      }
      if (frame.opcode === Opcode.pong) continue;
      frames.push(frame);
      if (frame.opcode === Opcode.close) return { opcode: Opcode.close, data: frame.payload, frames };
      if (frame.fin) {
        const total = frames.reduce((sum, f) => sum + f.payload.byteLength, 0);
        const data = new Uint8Array(total);
        let offset = 0;
        for (const f of frames) {
          data.set(f.payload, offset);
          offset += f.payload.byteLength;
        }
        return { opcode: frames[0]!.opcode, data, frames };
      }
    }
  }

  async readText(timeoutMs = 5000): Promise<string> {
    const message = await this.readMessage(timeoutMs);
    if (message.opcode !== Opcode.text) throw new Error(`expected text, got opcode ${message.opcode}`);
    return decoder.decode(message.data);
  }

  /** Waits for the server's Close frame (skipping data) and returns its code and reason. */
  async readClose(timeoutMs = 5000): Promise<{ code: number | undefined; reason: string }> {
    for (;;) {
      const frame = await this.readFrame(timeoutMs);
      if (frame.opcode === Opcode.close) return parseClose(frame.payload);
    }
  }

  /** Resolves when the server ends the TCP connection. */
  async waitForEnd(timeoutMs = 5000): Promise<void> {
    await this.#waitFor(() => (this.#ended ? true : undefined), timeoutMs).catch((error: Error) => {
      if (error.message !== "connection ended") throw error;
    });
  }

  /** Bytes received and not yet parsed as frames. */
  get pendingBytes(): number {
    return this.#buffer.byteLength;
  }

  destroy(): void {
    this.socket.destroy();
  }

  #takeFrame(): Frame | undefined {
    const buffer = this.#buffer;
    if (buffer.byteLength < 2) return undefined;
    const first = buffer[0]!;
    const second = buffer[1]!;
    let length = second & 0x7f;
    let offset = 2;
    const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    if (length === 126) {
      if (buffer.byteLength < 4) return undefined;
      length = view.getUint16(2);
      offset = 4;
    } else if (length === 127) {
      if (buffer.byteLength < 10) return undefined;
      length = Number(view.getBigUint64(2));
      offset = 10;
    }
    if (second & 0x80) offset += 4; // servers never mask, but tolerate it
    if (buffer.byteLength < offset + length) return undefined;
    const payload = buffer.slice(offset, offset + length);
    this.#buffer = buffer.subarray(offset + length);
    return { fin: (first & 0x80) !== 0, rsv1: (first & 0x40) !== 0, opcode: first & 0x0f, payload };
  }
}

/** `n` random bytes (getRandomValues fills at most 64 KiB at a time). */
export function randomBytes(n: number): Uint8Array {
  const bytes = new Uint8Array(n);
  for (let offset = 0; offset < n; offset += 65536) crypto.getRandomValues(bytes.subarray(offset, Math.min(n, offset + 65536)));
  return bytes;
}
