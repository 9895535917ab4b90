"""Two users of the demo chat server (godot-project/demo/chat_server.gd), as a user would
try it with any WebSocket client: join, talk, /who, a binary echo, /quit.
Usage: demo_chat.py URL; exit 0 when everything the demo promises happened."""
import asyncio
import re
import sys

import websockets


async def recv_text(ws):
    msg = await asyncio.wait_for(ws.recv(), 5)
    assert isinstance(msg, str), msg
    return msg


async def main(url):
    a = await websockets.connect(url)
    joined = await recv_text(a)
    m = re.fullmatch(r"\* (\d+) joined", joined)
    assert m, joined
    id_a = int(m.group(1))

    b = await websockets.connect(url)
    joined_b = await recv_text(b)
    m = re.fullmatch(r"\* (\d+) joined", joined_b)
    assert m, joined_b
    id_b = int(m.group(1))
    assert await recv_text(a) == f"* {id_b} joined"

    await a.send("hello everyone")
    assert await recv_text(a) == f"[{id_a}] hello everyone"
    assert await recv_text(b) == f"[{id_a}] hello everyone"

    await b.send("/who")
    who = await recv_text(b)
    ids = sorted(int(x) for x in re.findall(r"\d+", who))
    assert who.startswith("here: ") and ids == sorted([id_a, id_b]), who

    await b.send("/ping")
    ping = await recv_text(b)
    assert ping.startswith("ping: "), ping

    await b.send(b"\x00\x01binary")
    assert await asyncio.wait_for(b.recv(), 5) == b"\x00\x01binary"

    await a.send("/quit")
    try:
        await asyncio.wait_for(a.recv(), 5)
        raise AssertionError("expected the server to close after /quit")
    except websockets.ConnectionClosedOK:
        pass
    assert (a.close_code, a.close_reason) == (1000, "bye"), (a.close_code, a.close_reason)
    assert await recv_text(b) == f"* {id_a} left"
    await b.close()
    print(f"demo chat ok: {id_a} and {id_b} talked, /who, binary echo, /quit")


asyncio.run(asyncio.wait_for(main(sys.argv[1]), 30))
