/** The echo sample on Deno: `npm run start:deno -- [flags]`. */
import { DenoWebSocketServer } from "@uniws/deno";
import { echoHandler, listeningLine, pageResponse, readConfig } from "./app.ts";

function main(args: string[]): void {
  const config = readConfig(args, (code) => Deno.exit(code), "on Deno");
  if (config === undefined) return;
  const echo = echoHandler(config.subProtocols);
  // Only /ws reaches the echo handler; every other path falls through to the page routes.
  const sockets = new DenoWebSocketServer((context) => (context.url.pathname === "/ws" ? echo(context) : undefined), config.options);
  const secure = config.tlsCert !== undefined && config.tlsKey !== undefined;
  const tls = secure ? { cert: Deno.readTextFileSync(config.tlsCert!), key: Deno.readTextFileSync(config.tlsKey!) } : {};
  const server = Deno.serve({
    hostname: config.host,
    port: config.port,
    ...tls,
    onListen: ({ port }) => console.log(listeningLine(secure, config.host, port)),
  }, sockets.fetch((request) => pageResponse(new URL(request.url).pathname)));
  const stop = async () => {
    await sockets.close();
    // Bounded: Deno 2.9's shutdown() never resolves once a client has left during an upgrade.
    await Promise.race([server.shutdown(), new Promise((resolve) => setTimeout(resolve, 2000))]);
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
}

main(Deno.args);
