"""Connects, sends N text messages "burst i" and closes at once, all between two frames
of the game. Usage: burst_client.py URL PROTOCOL N; exit 0 when the close completed."""
import asyncio
import sys

import websockets


async def main(url, protocol, n):
    async with websockets.connect(url, subprotocols=[protocol]) as ws:
        for i in range(n):
            await ws.send(f"burst {i}")
    print("burst client done")


asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2], int(sys.argv[3])), 20))
