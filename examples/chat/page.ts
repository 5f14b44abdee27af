/** The chat page: pick a name, connect, and talk to everyone in the room on every instance. */
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>uniws chat</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem; max-width: 46rem; }
  input { font: inherit; padding: .2rem .4rem; }
  #text { width: 28rem; }
  #log { list-style: none; padding: .5rem; border: 1px solid #ccc; min-height: 12rem; }
  #log .notice { color: #666; font-style: italic; }
  #log .via { color: #888; font-size: 80%; }
</style>
</head>
<body>
<h1>uniws chat</h1>
<p id="status">Not connected.</p>
<p>
  <label for="name">Name:</label> <input id="name" value="guest">
  <label for="room">Room:</label> <input id="room" value="lobby">
  <button id="connectButton" type="button">Connect</button>
</p>
<ul id="log"></ul>
<p>
  <input id="text" disabled placeholder="Say something">
  <button id="sendButton" type="button" disabled>Send</button>
</p>
<script>
  const $ = (id) => document.getElementById(id);
  let socket;

  function add(className, parts) {
    const item = document.createElement("li");
    item.className = className;
    for (const [tag, cls, text] of parts) {
      const part = document.createElement(tag);
      part.className = cls;
      part.textContent = text;
      item.appendChild(part);
      item.appendChild(document.createTextNode(" "));
    }
    $("log").appendChild(item);
  }

  function enable(connected) {
    $("text").disabled = !connected;
    $("sendButton").disabled = !connected;
    $("connectButton").disabled = connected;
  }

  $("connectButton").onclick = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = new URLSearchParams({ name: $("name").value, room: $("room").value });
    socket = new WebSocket(scheme + "://" + location.host + "/ws?" + query);
    $("status").textContent = "Connecting…";
    socket.onmessage = (event) => {
      const data = JSON.parse(event.data);
      if (data.type === "welcome") {
        $("status").textContent = "Connected to room " + data.room + " on instance " + data.instance + " (" + data.runtime + ")";
        $("status").dataset.instance = data.instance;
        enable(true);
      } else if (data.type === "message") {
        add("message", [["b", "from", data.from], ["span", "text", data.text], ["span", "via", "via " + data.runtime + " " + data.instance]]);
      } else if (data.type === "joined" || data.type === "left") {
        add("notice", [["span", "text", data.name + " " + data.type]]);
      }
    };
    socket.onclose = (event) => {
      $("status").textContent = "Disconnected (" + event.code + ").";
      enable(false);
    };
  };

  function send() {
    if (!socket || socket.readyState !== WebSocket.OPEN || $("text").value.trim() === "") return;
    socket.send($("text").value);
    $("text").value = "";
  }
  $("sendButton").onclick = send;
  $("text").onkeydown = (event) => { if (event.key === "Enter") send(); };
</script>
</body>
</html>
`;

/** Routes a plain request: the page at `/`, 404 elsewhere. `/ws` goes to the chat handler. */
export function pageResponse(path: string): Response {
  if (path === "/" || path === "/index.html") {
    return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
  }
  return new Response("Not Found\n", { status: 404, headers: { "content-type": "text/plain; charset=utf-8" } });
}
