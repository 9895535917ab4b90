"""Connects and waits for the server to close: every message that arrives before the
close frame must be the expected ones, then the close code and reason must match.
Godot's own WebSocketPeer drops a message that arrives together with the close frame,
so this client witnesses what the server really sent.
Usage: close_witness.py URL PROTOCOL CODE REASON MESSAGE...; exit 0 when all matched."""
import asyncio
import sys

import websockets


async def main(url, protocol, code, reason, expected):
    got = []
    async with websockets.connect(url, subprotocols=[protocol]) as ws:
        try:
            async for message in ws:
                got.append(message)
        except websockets.ConnectionClosed:
            pass
        close = (ws.close_code, ws.close_reason)
    if got != expected or close != (code, reason):
        print(f"close_witness: got {got} and close {close}; expected {expected} and {(code, reason)}")
        sys.exit(1)
    print(f"close_witness: {len(got)} messages, then close {close}")


asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:]), 20))
