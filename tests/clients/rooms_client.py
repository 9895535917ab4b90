"""Many players over several rooms behind nginx's room routing (tests/it/deploy.rs).
Phase 1: N clients over R rooms; every room's clients land on one server and hear each
other. Phase 2: the file STOP_FILE is created, which stops server A: its clients are closed
with 1001, reconnect to the same URL and land on the other server, and talk again.
Usage: rooms_client.py URL N R STOP_FILE; prints JSON lines; exit 0 when all passed."""
import asyncio
import collections
import json
import pathlib
import sys

import websockets


class Player:
    def __init__(self, base, i, rooms):
        self.i = i
        self.room = i % rooms
        self.url = f"{base}?room={self.room}"

    async def join(self):
        self.ws = await websockets.connect(self.url)
        welcome = await self.ws.recv()
        _, self.server, self.id = welcome.split()

    async def talk(self, members, tag):
        await self.ws.send(f"{tag} {self.i}")
        heard = set()
        while len(heard) < members:
            msg = await self.ws.recv()
            room, _, text = msg.partition(" ")
            assert room == str(self.room), msg
            if text.split(": ", 1)[1].startswith(tag):
                heard.add(text)
        return heard


async def chat(players, rooms, tag):
    per_room = collections.Counter(p.room for p in players)
    await asyncio.gather(*(p.talk(per_room[p.room], tag) for p in players))


async def main(base, n, rooms, stop_file):
    players = [Player(base, i, rooms) for i in range(n)]
    await asyncio.gather(*(p.join() for p in players))
    servers = collections.defaultdict(set)
    for p in players:
        servers[p.room].add(p.server)
    assert all(len(s) == 1 for s in servers.values()), dict(servers)
    spread = collections.Counter(p.server for p in players)
    assert set(spread) == {"A", "B"}, spread
    await chat(players, rooms, "hello")
    print(json.dumps({"phase": 1, "spread": spread}), flush=True)

    on_a = [p for p in players if p.server == "A"]
    pathlib.Path(stop_file).touch()
    codes = collections.Counter()

    async def reconnect(p):
        try:
            await asyncio.wait_for(p.ws.recv(), 20)
        except websockets.ConnectionClosed:
            pass
        codes[p.ws.close_code] += 1
        for _ in range(50):
            try:
                await p.join()
                return
            except (OSError, websockets.InvalidStatus, websockets.InvalidMessage):
                await asyncio.sleep(0.1)
        raise AssertionError(f"player {p.i} could not reconnect")

    await asyncio.gather(*(reconnect(p) for p in on_a))
    assert codes == {1001: len(on_a)}, codes
    assert all(p.server == "B" for p in players), collections.Counter(p.server for p in players)
    await chat(players, rooms, "again")
    print(json.dumps({"phase": 2, "moved": len(on_a), "close_codes": codes}), flush=True)
    for p in players:
        await p.ws.close()


asyncio.run(asyncio.wait_for(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]), 120))
