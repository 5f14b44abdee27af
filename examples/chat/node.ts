/** The chat sample on Node: `npm run start:chat -- [flags]`. Run several on different ports behind one Redis. */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { NodeWebSocketServer, writeResponse } from "@uniws/node";
import { chatHandler, chatHub, listeningLine, pageResponse, readConfig } from "./app.ts";

function main(args: string[]): void {
  const config = readConfig(args, (code) => process.exit(code));
  if (config === undefined) return;
  const chat = chatHub(config.redis);
  const sockets = new NodeWebSocketServer(chatHandler(chat.hub, "node"), config.options);
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path === "/ws" && (await sockets.handleRequest(req, res))) return;
    await writeResponse(res, pageResponse(path));
  });
  sockets.attach(server, { path: "/ws" });
  server.listen(config.port, config.host, () => {
    console.log(listeningLine(config.host, (server.address() as AddressInfo).port));
  });
  const stop = async () => {
    await sockets.close({ timeout: 2000 });
    await chat.close();
    server.close(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

main(process.argv.slice(2));
