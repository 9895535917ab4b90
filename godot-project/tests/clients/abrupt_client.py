"""Connects, sends one message and exits without closing the WebSocket (the process
ends; the OS closes the TCP connection). Usage: abrupt_client.py URL PROTOCOL"""
import asyncio
import os
import sys

import websockets


async def main(url, protocol):
    ws = await websockets.connect(url, subprotocols=[protocol])
    await ws.send("about to vanish")
    await asyncio.sleep(0.3)
    os._exit(0)


asyncio.run(main(sys.argv[1], sys.argv[2]))
