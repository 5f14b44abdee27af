/** The chat sample on Deno: `deno run -A examples/chat/deno.ts [flags]`. */
import { DenoWebSocketServer } from "@uniws/deno";
import { chatHandler, chatHub, listeningLine, pageResponse, readConfig } from "./app.ts";

function main(args: string[]): void {
  const config = readConfig(args, (code) => Deno.exit(code));
  if (config === undefined) return;
  const chat = chatHub(config.redis);
  const handler = chatHandler(chat.hub, "deno");
  // Only /ws reaches the chat handler; every other path falls through to the page routes.
  const sockets = new DenoWebSocketServer((context) => (context.url.pathname === "/ws" ? handler(context) : undefined), config.options);
  const server = Deno.serve({
    hostname: config.host,
    port: config.port,
    onListen: ({ port }) => console.log(listeningLine(config.host, port)),
  }, sockets.fetch((request) => pageResponse(new URL(request.url).pathname)));
  const stop = async () => {
    await sockets.close({ timeout: 2000 });
    await chat.close();
    await server.shutdown();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}

main(Deno.args);
