#!/usr/bin/python3
"""An independent RFC 8441 client for the tests: Debian's python3-h2 speaks HTTP/2
(extended CONNECT) and python3-wsproto speaks RFC 6455 on each stream. Run with
/usr/bin/python3. Prints one JSON object on stdout.

  ws_client.py echo PORT [--tls] [--sockets N]   open N WebSockets on one connection,
                                                echo text and binary, close each
  ws_client.py refusals PORT                    malformed extended CONNECTs (RFC 8441 §4)
  ws_client.py repeated PORT                    an extended CONNECT and a GET, each with repeated
                                                field lines (two x-t, user-agent, authorization,
                                                referer; two cookie crumbs, RFC 9113 §8.2.3)
"""
import json
import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.events
import h2.settings
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, TextMessage
from wsproto.frame_protocol import CloseReason


def open_connection(port, tls, validate=True):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["h2"])
        sock = context.wrap_socket(sock, server_hostname="localhost")
        assert sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol()
    config = h2.config.H2Configuration(client_side=True, validate_outbound_headers=validate, normalize_outbound_headers=validate)
    conn = h2.connection.H2Connection(config)
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return sock, conn


def pump(sock, conn):
    """Reads once from the socket; returns the h2 events."""
    data = sock.recv(65536)
    if not data:
        raise EOFError("connection closed")
    events = conn.receive_data(data)
    out = conn.data_to_send()
    if out:
        sock.sendall(out)
    return events


def first_outcome(sock, conn, classify):
    """Reads until `classify` names an event; returns the first it names. A refused CONNECT's response may come in
    one read with the RST_STREAM (NO_ERROR) that ends the request the client left open (RFC 9113 §8.1), which is
    not the answer."""
    while True:
        for event in pump(sock, conn):
            outcome = classify(event)
            if outcome is not None:
                return outcome


def echo(port, tls, count):
    sock, conn = open_connection(port, tls)
    settings = None
    while settings is None:
        for event in pump(sock, conn):
            if isinstance(event, h2.events.RemoteSettingsChanged):
                settings = conn.remote_settings
    enable = settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL, 0) == 1
    scheme = "https" if tls else "http"
    streams = {}
    for _ in range(count):
        stream_id = conn.get_next_available_stream_id()
        conn.send_headers(stream_id, [
            (":method", "CONNECT"), (":protocol", "websocket"), (":scheme", scheme),
            (":path", "/ws"), (":authority", f"127.0.0.1:{port}"),
            ("sec-websocket-version", "13"), ("origin", f"{scheme}://127.0.0.1:{port}"),
        ])
        streams[stream_id] = {"ws": Connection(ConnectionType.CLIENT), "status": None, "headers": {}, "got": [], "closed": None, "ended": False}
    sock.sendall(conn.data_to_send())

    def send_ws(stream_id, event):
        conn.send_data(stream_id, streams[stream_id]["ws"].send(event))

    expected = {}
    while any(s["closed"] is None or not s["ended"] for s in streams.values()):
        for event in pump(sock, conn):
            if isinstance(event, h2.events.ResponseReceived):
                s = streams[event.stream_id]
                s["headers"] = {k.decode(): v.decode() for k, v in event.headers}
                s["status"] = int(s["headers"][":status"])
                if s["status"] == 200:
                    n = event.stream_id
                    expected[n] = [f"hello from stream {n}", bytes(range(n % 7, 256)) * 3]
                    send_ws(n, TextMessage(data=expected[n][0]))
                    send_ws(n, BytesMessage(data=expected[n][1]))
            elif isinstance(event, h2.events.DataReceived):
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                s = streams[event.stream_id]
                if s["closed"] is not None:
                    continue  # RFC 6455 §5.5.1: nothing follows a Close
                s["ws"].receive_data(event.data)
                for ws_event in s["ws"].events():
                    if isinstance(ws_event, Message):
                        s["got"].append(ws_event.data)
                        if len(s["got"]) == 2:
                            send_ws(event.stream_id, CloseConnection(code=1000, reason="python done"))
                    elif isinstance(ws_event, Ping):
                        send_ws(event.stream_id, ws_event.response())
                    elif isinstance(ws_event, CloseConnection):
                        s["closed"] = [ws_event.code, ws_event.reason]
                        conn.end_stream(event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                streams[event.stream_id]["ended"] = True
            elif isinstance(event, h2.events.StreamReset):
                streams[event.stream_id]["ended"] = True
                streams[event.stream_id]["reset"] = event.error_code
                if streams[event.stream_id]["closed"] is None:
                    streams[event.stream_id]["closed"] = "reset"
        out = conn.data_to_send()
        if out:
            sock.sendall(out)
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    sock.close()
    result = []
    for stream_id, s in streams.items():
        text, binary = expected.get(stream_id, [None, None])
        result.append({
            "stream": stream_id,
            "status": s["status"],
            "accept": s["headers"].get("sec-websocket-accept"),
            "echoedText": s["got"][0] == text if len(s["got"]) > 0 else False,
            "echoedBinary": s["got"][1] == binary if len(s["got"]) > 1 else False,
            "close": s["closed"],
            "reset": s.get("reset"),
        })
    return {"enableConnectProtocol": enable, "streams": result}


def refusal_outcome(event):
    if isinstance(event, h2.events.StreamReset):
        return {"reset": int(event.error_code)}
    if isinstance(event, h2.events.ResponseReceived):
        return {"status": int(dict(event.headers)[b":status"])}
    if isinstance(event, h2.events.ConnectionTerminated):
        return {"goaway": int(event.error_code)}
    return None


def refusals(port):
    base = [(":authority", f"127.0.0.1:{port}"), ("sec-websocket-version", "13")]
    cases = {
        "connectWithoutPath": [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http")] + base,
        "connectWithoutScheme": [(":method", "CONNECT"), (":protocol", "websocket"), (":path", "/ws")] + base,
        "protocolOnGet": [(":method", "GET"), (":protocol", "websocket"), (":scheme", "http"), (":path", "/ws")] + base,
        "wellFormed": [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"), (":path", "/ws")] + base,
    }
    result = {}
    for name, headers in cases.items():
        sock, conn = open_connection(port, False, validate=False)
        conn.send_headers(1, headers)
        sock.sendall(conn.data_to_send())
        result[name] = first_outcome(sock, conn, refusal_outcome)
        sock.close()
    result["PROTOCOL_ERROR"] = int(h2.errors.ErrorCodes.PROTOCOL_ERROR)
    return result


def answer_outcome(event):
    if isinstance(event, h2.events.ResponseReceived):
        return {"status": int(dict(event.headers)[b":status"])}
    if isinstance(event, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
        return {"error": int(event.error_code)}
    return None


def repeated(port):
    fields = [("x-t", "t1"), ("x-t", "t2"), ("user-agent", "u1"), ("user-agent", "u2"), ("authorization", "a1"),
              ("authorization", "a2"), ("referer", "r1"), ("referer", "r2"), ("cookie", "a=1"), ("cookie", "b=2")]
    base = [(":scheme", "http"), (":path", "/ws"), (":authority", f"127.0.0.1:{port}")]
    cases = {
        "connect": [(":method", "CONNECT"), (":protocol", "websocket")] + base + [("sec-websocket-version", "13")] + fields,
        "get": [(":method", "GET")] + base + fields,
    }
    result = {}
    for name, headers in cases.items():
        sock, conn = open_connection(port, False, validate=False)
        conn.send_headers(1, headers, end_stream=name == "get")
        sock.sendall(conn.data_to_send())
        result[name] = first_outcome(sock, conn, answer_outcome)
        sock.close()
    return result


def main(argv):
    mode, port = argv[1], int(argv[2])
    if mode == "echo":
        count = int(argv[argv.index("--sockets") + 1]) if "--sockets" in argv else 3
        print(json.dumps(echo(port, "--tls" in argv, count)))
    elif mode == "refusals":
        print(json.dumps(refusals(port)))
    elif mode == "repeated":
        print(json.dumps(repeated(port)))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
