/**
 * The seed's sample, shared by every runtime: an echo endpoint at `/ws` and a page
 * at `/` to try it. Each runtime's entry (node.ts, deno.ts, bun.ts) only binds it.
 *
 * @module
 */
import { resolveOptions, type WebSocketAcceptContext, type WebSocketHandler, type WebSocketOptions } from "@uniws/core";
import { PAGE } from "./page.ts";

/** The sample's settings, from its command-line flags. */
export interface EchoConfig {
  port: number;
  host: string;
  options: WebSocketOptions;
  subProtocols: string[];
  /** Compression choices passed to every `accept` (the seed's accept context). */
  accept: WebSocketAcceptContext;
  tlsCert?: string;
  tlsKey?: string;
  /** Serve cleartext HTTP/2 with prior knowledge (Node only). */
  h2c?: boolean;
}

export const USAGE = `Usage: echo [options]
  --port N                    port to listen on (default 5000; 0 picks a free port)
  --host H                    address to listen on (default 127.0.0.1)
  --allowed-origin O          allow this Origin (repeatable; default: every origin)
  --keep-alive-interval MS    keep-alive period (default 120000; 0 = off)
  --keep-alive-timeout MS     abort a peer that does not answer a ping within MS (default off)
  --idle-timeout MS           close a peer that sends no message within MS (default off)
  --max-message-size BYTES    largest message accepted (default 16777216)
  --max-connections N         refuse WebSocket requests past N open sockets with 503 + Retry-After (default off)
  --max-messages-per-second N   close a peer sending more (1008), burst N (default off)
  --max-bytes-per-second N    close a peer sending more payload bytes (1008), burst N (default off)
  --subprotocol NAME          a sub-protocol the server speaks (repeatable)
  --compression               negotiate permessage-deflate when the client offers it (CRIME/BREACH: see docs)
  --server-max-window-bits N  largest window the server compresses with, 9-15 (default 15; needs --compression)
  --no-server-context-takeover  reset the server's compression context after each message (needs --compression)
  --tls-cert FILE --tls-key FILE   serve HTTPS (wss://); on Node, HTTP/1.1 and HTTP/2 on one port
  --h2c                       serve cleartext HTTP/2 with prior knowledge (Node only)
  --help                      show this help`;

/** A bad command line; the entry prints it with the usage and exits 2. */
export class UsageError extends Error {}

function number(flag: string, value: string | undefined): number {
  if (value === undefined || !/^\d+$/.test(value)) throw new UsageError(`${flag} needs a whole number, got ${value ?? "nothing"}`);
  return Number(value);
}

// A limit flag: a whole number of at least 1 (leave the flag out for no limit).
function positive(flag: string, value: string | undefined): number {
  const limit = number(flag, value);
  if (limit < 1) throw new UsageError(`${flag} must be at least 1 (leave it out for no limit)`);
  return limit;
}

/** Parses the sample's flags. Throws {@link UsageError} on anything it does not know. */
export function parseArgs(args: readonly string[]): EchoConfig | "help" {
  const config: EchoConfig = { port: 5000, host: "127.0.0.1", options: {}, subProtocols: [], accept: {} };
  const origins: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--help" || arg === "-h") return "help";
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const value = (): string => {
      const next = inline ?? args[++i];
      if (next === undefined) throw new UsageError(`${flag} needs a value`);
      return next;
    };
    switch (flag) {
      case "--port": {
        config.port = number(flag, value());
        if (config.port > 65535) throw new UsageError("--port must be at most 65535");
        break;
      }
      case "--host": config.host = value(); break;
      case "--allowed-origin": origins.push(value()); break;
      case "--keep-alive-interval": config.options.keepAliveInterval = number(flag, value()); break;
      case "--keep-alive-timeout": config.options.keepAliveTimeout = number(flag, value()); break;
      case "--idle-timeout": config.options.idleTimeout = number(flag, value()); break;
      case "--max-message-size": {
        config.options.maxMessageSize = number(flag, value());
        if (config.options.maxMessageSize < 1) throw new UsageError("--max-message-size must be at least 1");
        break;
      }
      case "--max-connections": config.options.maxConnections = positive(flag, value()); break;
      case "--max-messages-per-second": config.options.maxMessagesPerSecond = positive(flag, value()); break;
      case "--max-bytes-per-second": config.options.maxBytesPerSecond = positive(flag, value()); break;
      case "--subprotocol": config.subProtocols.push(value()); break;
      case "--compression": config.accept.dangerousEnableCompression = true; break;
      case "--server-max-window-bits": {
        config.accept.serverMaxWindowBits = number(flag, value());
        if (config.accept.serverMaxWindowBits < 9 || config.accept.serverMaxWindowBits > 15) throw new UsageError("--server-max-window-bits must be from 9 to 15");
        break;
      }
      case "--no-server-context-takeover": config.accept.disableServerContextTakeover = true; break;
      case "--tls-cert": config.tlsCert = value(); break;
      case "--tls-key": config.tlsKey = value(); break;
      case "--h2c": config.h2c = true; break;
      default: throw new UsageError(`Unknown option: ${arg}`);
    }
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) throw new UsageError("--tls-cert and --tls-key go together");
  if (config.h2c && config.tlsCert !== undefined) throw new UsageError("--h2c is cleartext: leave out --tls-cert/--tls-key (TLS already serves HTTP/2)");
  if (origins.length > 0) config.options.allowedOrigins = origins;
  try {
    resolveOptions(config.options); // the server's own checks (an --allowed-origin with a path), as a usage error
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { dangerousEnableCompression, serverMaxWindowBits, disableServerContextTakeover } = config.accept;
  if (!dangerousEnableCompression && (serverMaxWindowBits !== undefined || disableServerContextTakeover)) {
    throw new UsageError("--server-max-window-bits and --no-server-context-takeover need --compression");
  }
  return config;
}

/**
 * Reads the flags as every entry does: a bad flag prints its message and the usage and exits 2 through the
 * runtime's `exit`; `--help` prints the usage and gives `undefined`. Where the server cannot take cleartext
 * HTTP/2 WebSockets, `h2cUnsupported` names it and `--h2c` is a usage error.
 */
export function readConfig(args: readonly string[], exit: (code: number) => never, h2cUnsupported?: string): EchoConfig | undefined {
  try {
    const config = parseArgs(args);
    if (config === "help") {
      console.log(USAGE);
      return undefined;
    }
    if (config.h2c && h2cUnsupported !== undefined) throw new UsageError(`--h2c is not supported ${h2cUnsupported}`);
    return config;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return exit(2);
  }
}

/** The `Listening on …` line every entry prints when ready. */
export function listeningLine(secure: boolean, host: string, port: number): string {
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return `Listening on ${secure ? "https" : "http"}://${shownHost}:${port}`;
}

/**
 * The echo endpoint, as the seed's `Echo` method: receive into a 4 KiB buffer and
 * send each part straight back with its type and end-of-message flag, so text stays
 * text, binary stays binary, and large messages stream through. When the client
 * closes, the server answers with the same status and description. `accept` carries
 * the compression flags into every accept.
 */
export function echoHandler(subProtocols: readonly string[], accept: Omit<WebSocketAcceptContext, "subProtocol"> = {}): WebSocketHandler {
  return async (context) => {
    if (!context.isWebSocketRequest) return context.reject(400, "Expected a WebSocket request\n");
    // The first protocol in the client's list that the server speaks.
    const subProtocol = context.requestedProtocols.find((offered) => subProtocols.includes(offered));
    const socket = await context.accept({ ...accept, subProtocol });
    const buffer = new Uint8Array(4096);
    let result = await socket.receive(buffer);
    while (result.type !== "close") {
      await socket.send(buffer.subarray(0, result.count), { type: result.type, endOfMessage: result.endOfMessage });
      result = await socket.receive(buffer);
    }
    // A Close without a status (a browser's plain close()) is reported as 1005, which closes with an empty Close.
    await socket.close(result.closeStatus, result.closeStatusDescription);
  };
}

/** Routes a plain request: the page at `/`, 404 elsewhere. `/ws` goes to the echo handler. */
export function pageResponse(path: string): Response {
  if (path === "/" || path === "/index.html") {
    return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
  }
  return new Response("Not Found\n", { status: 404, headers: { "content-type": "text/plain; charset=utf-8" } });
}
