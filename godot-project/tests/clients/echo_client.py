"""A Python `websockets` client for the engine tests: expects every message echoed,
then closes with 4000 "done". Usage: echo_client.py URL PROTOCOL; exit 0 on success."""
import asyncio
import sys

import websockets


async def main(url, protocol):
    async with websockets.connect(url, subprotocols=[protocol]) as ws:
        assert ws.subprotocol == protocol, ws.subprotocol
        await ws.send("hello from python")
        assert await ws.recv() == "hello from python"
        await ws.send(b"\x00\xffbinary")
        assert await ws.recv() == b"\x00\xffbinary"
        for i in range(100):
            await ws.send(f"n{i}")
        for i in range(100):
            assert await ws.recv() == f"n{i}"
        await ws.close(code=4000, reason="done")
    print("python echo client ok")


asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2]), 20))
