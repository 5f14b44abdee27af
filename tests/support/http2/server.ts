/**
 * HTTP/2 test servers with `@uniws/node` attached: cleartext (h2c, prior knowledge)
 * or TLS with `allowHTTP1`, each with a `request` listener (so Node's compatibility
 * layer is active, as in a real app that also serves pages), on 127.0.0.1.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createSecureServer, createServer, type Http2SecureServer, type Http2Server, type Http2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeWebSocketServer, type NodeRequest, type WebSocketHandler, type WebSocketOptions, writeResponse } from "@uniws/node";

export interface Http2TestServer {
  readonly server: Http2Server | Http2SecureServer;
  readonly sockets: NodeWebSocketServer;
  readonly port: number;
  /** HTTP/2 sessions the server has seen. */
  readonly sessions: Http2Session[];
  close(): Promise<void>;
}

/** A self-signed certificate for 127.0.0.1 and localhost, made with openssl for this run. */
export function selfSignedCertificate(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "uniws-h2-"));
  try {
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
      "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    ], { stdio: "ignore" });
    return { cert: readFileSync(join(dir, "cert.pem"), "utf8"), key: readFileSync(join(dir, "key.pem"), "utf8") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Starts `handler` on an HTTP/2 server: `tls` gives an `allowHTTP1` TLS server,
 * otherwise h2c. Plain requests go to `handleRequest`, then 404.
 */
export async function startHttp2(
  handler: WebSocketHandler<NodeRequest>,
  options: WebSocketOptions & {
    tls?: { cert: string; key: string };
    path?: string;
    /** Answers plain requests to other paths than `path` (the sample's page). */
    pages?: (path: string) => Response;
  } = {},
): Promise<Http2TestServer> {
  const { tls, path, pages, ...socketOptions } = options;
  const sockets = new NodeWebSocketServer(handler, socketOptions);
  const server = tls ? createSecureServer({ ...tls, allowHTTP1: true }) : createServer();
  server.on("request", async (req, res) => {
    const url = new URL(req.url, "http://localhost");
    if (pages !== undefined && url.pathname !== path) await writeResponse(res, pages(url.pathname));
    else if (!(await sockets.handleRequest(req, res))) res.writeHead(404).end();
  });
  sockets.attach(server, { path });
  const sessions: Http2Session[] = [];
  server.on("session", (session) => sessions.push(session));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    server,
    sockets,
    port: (server.address() as AddressInfo).port,
    sessions,
    close: async () => {
      await sockets.close({ timeout: 2000 });
      for (const session of sessions) session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
