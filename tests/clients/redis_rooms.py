"""Players of one room on two server processes joined through Redis (tests/it/redis.rs).
Prints CROSSED when a message from a player on A reached every player on both; then
probes until a probe reaches only A's players (Redis is down: LOCAL ONLY), then until one
crosses again (CROSSED AGAIN) and exits 0. Usage: redis_rooms.py URL_A URL_B"""
import asyncio
import sys

import websockets


async def main(url_a, url_b):
    players = {}
    for name, url in [("a1", url_a), ("a2", url_a), ("b1", url_b), ("b2", url_b)]:
        ws = await websockets.connect(url)
        assert (await ws.recv()).startswith("welcome ")
        players[name] = ws
    heard = {name: [] for name in players}

    async def listen(name):
        async for message in players[name]:
            heard[name].append(message)

    tasks = [asyncio.create_task(listen(n)) for n in players]

    async def probe(text, wait=1.5):
        await players["a1"].send(text)
        await asyncio.sleep(wait)
        return {n: any(m.endswith(": " + text) for m in heard[n]) for n in players}

    got = await probe("hello")
    assert all(got.values()), got
    counts = {n: sum(m.endswith(": hello") for m in heard[n]) for n in players}
    assert set(counts.values()) == {1}, counts
    print("CROSSED", flush=True)
    n = 0
    while True:
        n += 1
        got = await probe(f"probe {n}")
        if got["a2"] and not got["b1"] and not got["b2"]:
            break
        assert got["a2"], got
    print("LOCAL ONLY", flush=True)
    while True:
        n += 1
        got = await probe(f"probe {n}")
        if got["b1"] and got["b2"]:
            break
    print("CROSSED AGAIN", flush=True)
    for t in tasks:
        t.cancel()
    for ws in players.values():
        await ws.close()


asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2]), 90))
