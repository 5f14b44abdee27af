"""An independent permessage-deflate client for the compression tests: Debian's
python3-websockets (run with /usr/bin/python3). It offers the given permessage-deflate
configurations in order, sends each message, checks the echo, and prints one JSON
line: the server's Sec-WebSocket-Extensions answer, what the client accepted, and
the result of every echo.

Usage: python-deflate-client.py '{"url": "ws://...", "offers": [{...}], "messages": [{"type": "text", "size": 1000}]}'
An offer's keys are ClientPerMessageDeflateFactory's: server_no_context_takeover,
client_no_context_takeover, server_max_window_bits, client_max_window_bits.
"""
import asyncio
import hashlib
import json
import random
import sys

import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory


def payload(kind, size, seed):
    """Compressible but not trivial: words from a small vocabulary, in a seeded order."""
    rng = random.Random(seed)
    words = [b"alpha", b"bravo", b"charlie", b"delta", b"echo", b"foxtrot", b"\xc3\xa9t\xc3\xa9", b"\xe2\x9c\x93"]
    chunks, length = [], 0
    # Up to 1 MiB of seeded words (and random bytes in binary), then repeated: quick to make at 16 MiB.
    while length < min(size, 1 << 20):
        word = rng.choice(words) + b" "
        if kind == "binary" and rng.random() < 0.2:
            word = rng.randbytes(8)
        chunks.append(word)
        length += len(word)
    block = b"".join(chunks)
    data = block * (size // max(len(block), 1) + 1)
    if kind == "text":
        # Cut on a character boundary (every multi-byte word starts after a space).
        data = data[:size]
        while True:
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                data = data[:-1]
    return data[:size]


async def main(config):
    factories = [ClientPerMessageDeflateFactory(**offer) for offer in config["offers"]]
    async with websockets.connect(config["url"], extensions=factories, compression=None, max_size=None,
                                  ping_interval=None, open_timeout=30, close_timeout=30) as ws:
        accepted = [
            {
                "name": extension.name,
                "server_no_context_takeover": extension.remote_no_context_takeover,
                "client_no_context_takeover": extension.local_no_context_takeover,
                "server_max_window_bits": extension.remote_max_window_bits,
                "client_max_window_bits": extension.local_max_window_bits,
            }
            for extension in ws.extensions
        ]
        echoes = []
        for index, message in enumerate(config.get("messages", [])):
            data = payload(message["type"], message["size"], index)
            await ws.send(data)
            echoed = await asyncio.wait_for(ws.recv(), 120)
            raw = echoed.encode("utf-8") if isinstance(echoed, str) else echoed
            sent = data.encode("utf-8") if isinstance(data, str) else data
            echoes.append({
                "type": "text" if isinstance(echoed, str) else "binary",
                "size": len(raw),
                "equal": hashlib.sha256(raw).digest() == hashlib.sha256(sent).digest(),
            })
        answer = ws.response_headers.get("Sec-WebSocket-Extensions")
        await ws.close()
    print(json.dumps({"answer": answer, "accepted": accepted, "echoes": echoes}))


asyncio.run(main(json.loads(sys.argv[1])))
