/** The echo sample on Bun: `npm run start:bun -- [flags]`. */
import { BunWebSocketServer } from "@uniws/bun";
import { echoHandler, listeningLine, pageResponse, readConfig } from "./app.ts";

function main(args: string[]): void {
  const config = readConfig(args, (code) => process.exit(code), "on Bun");
  if (config === undefined) return;
  const echo = echoHandler(config.subProtocols, config.accept);
  // Only /ws reaches the echo handler; every other path falls through to the page routes.
  const sockets = new BunWebSocketServer((context) => (context.url.pathname === "/ws" ? echo(context) : undefined), config.options);
  const secure = config.tlsCert !== undefined && config.tlsKey !== undefined;
  const server = Bun.serve({
    hostname: config.host,
    port: config.port,
    ...(secure ? { tls: { cert: Bun.file(config.tlsCert!), key: Bun.file(config.tlsKey!) } } : {}),
    ...sockets.serveOptions((request) => pageResponse(new URL(request.url).pathname)),
  });
  console.log(listeningLine(secure, config.host, server.port!));
  const stop = async () => {
    await sockets.close();
    await server.stop(true);
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

main(process.argv.slice(2));
