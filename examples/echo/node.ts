/** The echo sample on Node: `npm start -- [flags]`. */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createSecureServer, createServer as createH2cServer, type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from "node:http2";
import type { AddressInfo } from "node:net";
import { NodeWebSocketServer, writeResponse } from "@uniws/node";
import { echoHandler, listeningLine, pageResponse, readConfig } from "./app.ts";

function main(args: string[]): void {
  const config = readConfig(args, (code) => process.exit(code));
  if (config === undefined) return;
  const sockets = new NodeWebSocketServer(echoHandler(config.subProtocols, config.accept), config.options);
  const onRequest = async (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path === "/ws" && (await sockets.handleRequest(req, res))) return;
    await writeResponse(res, pageResponse(path));
  };
  const secure = config.tlsCert !== undefined && config.tlsKey !== undefined;
  // With TLS, one port serves HTTP/1.1 and HTTP/2 (ALPN); browsers then open wss:// as an extended CONNECT
  // stream on the page's own HTTP/2 connection (RFC 8441). --h2c serves cleartext HTTP/2 with prior knowledge.
  const server = secure
    ? createSecureServer({ cert: readFileSync(config.tlsCert!), key: readFileSync(config.tlsKey!), allowHTTP1: true }, onRequest)
    : config.h2c
      ? createH2cServer(onRequest)
      : createServer(onRequest);
  sockets.attach(server, { path: "/ws" });
  // Closing the server waits for its connections: end HTTP/2 sessions (GOAWAY) once their streams are done.
  const sessions = new Set<Http2Session>();
  server.on("session", (session: Http2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
  });
  server.listen(config.port, config.host, () => {
    console.log(listeningLine(secure, config.host, (server.address() as AddressInfo).port));
  });
  const stop = () => {
    server.close(() => process.exit(0));
    for (const session of sessions) session.close();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

main(process.argv.slice(2));
