/** The echo sample on Node: `npm start -- [flags]`. */
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createSecureServer } from "node:https";
import type { AddressInfo } from "node:net";
import { NodeWebSocketServer, writeResponse } from "@uniws/node";
import { echoHandler, listeningLine, pageResponse, parseArgs, USAGE, UsageError } from "./app.ts";

function main(args: string[]): void {
  let config;
  try {
    config = parseArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (config === "help") {
    console.log(USAGE);
    return;
  }
  const sockets = new NodeWebSocketServer(echoHandler(config.subProtocols, config.accept), config.options);
  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path === "/ws" && (await sockets.handleRequest(req, res))) return;
    await writeResponse(res, pageResponse(path));
  };
  const secure = config.tlsCert !== undefined && config.tlsKey !== undefined;
  const server = secure
    ? createSecureServer({ cert: readFileSync(config.tlsCert!), key: readFileSync(config.tlsKey!) }, onRequest)
    : createServer(onRequest);
  sockets.attach(server, { path: "/ws" });
  server.listen(config.port, config.host, () => {
    console.log(listeningLine(secure, config.host, (server.address() as AddressInfo).port));
  });
  const stop = () => server.close(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

main(process.argv.slice(2));
