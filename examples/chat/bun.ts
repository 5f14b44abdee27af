/** The chat sample on Bun: `bun examples/chat/bun.ts [flags]`. */
import { BunWebSocketServer } from "@uniws/bun";
import { chatHandler, chatHub, listeningLine, pageResponse, readConfig } from "./app.ts";

function main(args: string[]): void {
  const config = readConfig(args, (code) => process.exit(code));
  if (config === undefined) return;
  const chat = chatHub(config.redis);
  const handler = chatHandler(chat.hub, "bun");
  // Only /ws reaches the chat handler; every other path falls through to the page routes.
  const sockets = new BunWebSocketServer((context) => (context.url.pathname === "/ws" ? handler(context) : undefined), config.options);
  const server = Bun.serve({
    hostname: config.host,
    port: config.port,
    ...sockets.serveOptions((request) => pageResponse(new URL(request.url).pathname)),
  });
  console.log(listeningLine(config.host, server.port!));
  const stop = async () => {
    await sockets.close({ timeout: 2000 });
    await chat.close();
    await server.stop(true);
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

main(process.argv.slice(2));
