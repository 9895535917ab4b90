"""A Python `websockets` client for the compression engine test: checks that the server
agreed permessage-deflate, waits for the broadcast world state, sends it back, then
closes with 1000. Usage: compressed_client.py URL; exit 0 on success."""
import asyncio
import sys

import websockets

AGREED = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"


async def main(url):
    async with websockets.connect(url, max_size=None) as ws:
        ext = ws.response.headers.get("Sec-WebSocket-Extensions")
        assert ext == AGREED, ext
        await ws.send("ready")
        state = await ws.recv()
        assert isinstance(state, str) and state.startswith("{"), state[:40]
        await ws.send(state)
        assert await ws.recv() == "bye"
    print("python compressed client ok")


asyncio.run(asyncio.wait_for(main(sys.argv[1]), 20))
