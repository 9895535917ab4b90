"""Connects and writes every text message it receives to OUTFILE, one per line, until the
server closes. Usage: group_listener.py URL OUTFILE"""
import asyncio
import sys

import websockets


async def main(url, path):
    with open(path, "w", encoding="utf-8") as out:
        async with websockets.connect(url) as ws:
            async for message in ws:
                out.write((message if isinstance(message, str) else message.hex()) + "\n")
                out.flush()


asyncio.run(main(sys.argv[1], sys.argv[2]))
