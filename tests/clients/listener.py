"""Connects and prints every text message it receives, one per line, until the server
closes or stdin is closed. Usage: listener.py URL"""
import asyncio
import sys

import websockets


async def main(url):
    async with websockets.connect(url) as ws:
        print("OPEN", flush=True)
        async for message in ws:
            print(message if isinstance(message, str) else "BINARY " + message.hex(), flush=True)


asyncio.run(main(sys.argv[1]))
