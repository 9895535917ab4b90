"""A player behind a proxy (tests/it/deploy.rs): connects from a source address of its own,
checks that the server sees that address, talks, then closes (from this side, or asks the
server to close). Usage: proxy_client.py URL FROM_IP CA_FILE|- close|kick
Prints one JSON line; exit 0 when every check passed."""
import asyncio
import json
import ssl
import sys

import websockets


async def main(url, from_ip, ca, how):
    context = None
    if url.startswith("wss://"):
        context = ssl.create_default_context(cafile=ca)
    async with websockets.connect(url, ssl=context, local_addr=(from_ip, 0)) as ws:
        local_port = ws.local_address[1]
        welcome = await ws.recv()
        assert welcome.startswith("welcome "), welcome
        _, name, my_id = welcome.split()
        await ws.send("/whoami")
        whoami = await ws.recv()
        assert whoami == f"you are {from_ip}:{local_port} on {name}", (whoami, local_port)
        await ws.send("hello through the proxy")
        echoed = await ws.recv()
        assert echoed == f"lobby {my_id}: hello through the proxy", echoed
        if how == "close":
            await ws.close(1000, "done")
            code, reason = ws.close_code, ws.close_reason
        else:
            await ws.send("/kick")
            try:
                await ws.recv()
            except websockets.ConnectionClosed:
                pass
            code, reason = ws.close_code, ws.close_reason
    print(json.dumps({"id": int(my_id), "name": name, "port": local_port, "code": code, "reason": reason}))


asyncio.run(asyncio.wait_for(main(*sys.argv[1:5]), 30))
