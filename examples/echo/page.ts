/** The sample's web page: connect, send, close, and a log of every event. */
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>uniws echo</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem; max-width: 50rem; }
  input { font: inherit; padding: .2rem .4rem; }
  #connectionUrl { width: 22rem; }
  #commsLog { border-collapse: collapse; width: 100%; margin-top: 1rem; }
  #commsLog td, #commsLog th { border: 1px solid #ccc; padding: .2rem .5rem; text-align: left; }
  .close, .error { color: #a00; }
</style>
</head>
<body>
<h1>uniws echo</h1>
<p id="stateLabel">Ready to connect…</p>
<p>
  <label for="connectionUrl">WebSocket server URL:</label>
  <input id="connectionUrl">
  <button id="connectButton" type="button">Connect</button>
</p>
<p>
  <label for="sendMessage">Message to send:</label>
  <input id="sendMessage" disabled>
  <button id="sendButton" type="button" disabled>Send</button>
  <button id="closeButton" type="button" disabled>Close Socket</button>
</p>
<h2>Communication log</h2>
<table id="commsLog">
  <thead><tr><th>From</th><th>To</th><th>Event</th><th>Data</th></tr></thead>
  <tbody></tbody>
</table>
<script>
  const $ = (id) => document.getElementById(id);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  $("connectionUrl").value = scheme + "://" + location.host + "/ws";
  let socket;

  function log(from, to, event, data) {
    const row = document.createElement("tr");
    row.className = event;
    for (const text of [from, to, event, data ?? ""]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      row.appendChild(cell);
    }
    document.querySelector("#commsLog tbody").appendChild(row);
  }

  function update() {
    const open = socket !== undefined && socket.readyState === WebSocket.OPEN;
    $("sendMessage").disabled = $("sendButton").disabled = $("closeButton").disabled = !open;
    $("connectButton").disabled = $("connectionUrl").disabled = open;
    const states = ["Connecting…", "Open", "Closing…", "Closed"];
    $("stateLabel").textContent = socket === undefined ? "Ready to connect…" : states[socket.readyState];
  }

  $("connectButton").onclick = () => {
    const url = $("connectionUrl").value;
    socket = new WebSocket(url);
    $("stateLabel").textContent = "Connecting…";
    socket.onopen = () => { log("Client", "Server", "open", url); update(); };
    socket.onclose = (event) => {
      log("Server", "Client", "close", "Code: " + event.code + ", Reason: " + event.reason + (event.wasClean ? "" : " (not clean)"));
      update();
    };
    socket.onerror = () => { log("Server", "Client", "error", "WebSocket error"); update(); };
    socket.onmessage = (event) => log("Server", "Client", "receive", event.data);
  };

  $("sendButton").onclick = () => {
    const data = $("sendMessage").value;
    socket.send(data);
    log("Client", "Server", "send", data);
  };

  $("closeButton").onclick = () => {
    socket.close(1000, "Closing from client");
    log("Client", "Server", "closing", "Code: 1000, Reason: Closing from client");
    update();
  };
</script>
</body>
</html>
`;
