"""A session client written from the book's protocol page (docs/src/reconnection.md) alone, on Python
`websockets`: sends COUNT numbered text messages at a steady pace through URL (a relay the
test cuts or blackholes now and then), expects every "echo:N" once and in order, then
"end:COUNT", as the same peer across the cuts. A link silent for twice the welcome's
keepalive and a second is taken for broken. Usage: session_client.py URL COUNT; prints a
JSON summary and exits 0 on success."""
import asyncio
import json
import struct
import sys
import time

import websockets


class Session:
    def __init__(self, url):
        self.url = url
        self.ws = None
        self.welcome = None
        self.received = 0
        self.acked = 0
        self.log = []  # sent, not acknowledged; the first is message number self.first
        self.first = 1
        self.backs = 0
        self.heard = time.monotonic()

    async def _dial(self, query, hello=None):
        # A connection that brings no welcome within 5 s is given up (and tried again).
        ws = await websockets.connect(f"{self.url}?{query}", max_size=None, open_timeout=5)
        try:
            if hello is not None:
                await ws.send(hello)
            first = await asyncio.wait_for(ws.recv(), 5)
        except BaseException:
            ws.transport.abort()
            raise
        assert isinstance(first, bytes) and first[:2] == b"\x00\x02", first
        return ws, json.loads(first[2:].decode())

    async def open(self):
        self.ws, self.welcome = await self._dial("gws=2")
        assert self.welcome["v"] == 2 and self.welcome["session"], self.welcome
        self.watch = asyncio.create_task(self._watch())

    async def _watch(self):
        """A link silent for twice the welcome's keepalive and a second is dead, though
        its socket is open (a write into it may wait for ever): it is aborted, and the
        next read comes back."""
        while True:
            await asyncio.sleep(0.25)
            keepalive = self.welcome.get("keepalive", 0)
            if self.ws is not None and keepalive and time.monotonic() - self.heard > 2 * keepalive + 1:
                self.ws.transport.abort()

    def _forget_up_to(self, count):
        while self.first <= count and self.log:
            self.log.pop(0)
            self.first += 1

    @staticmethod
    def _escape(msg):
        if isinstance(msg, str):
            return "\x00\x00" + msg if msg.startswith("\x00") else msg
        return b"\x00\x00" + msg if msg[:1] == b"\x00" else msg

    async def send(self, msg):
        self.log.append(msg)
        if self.ws is not None:
            try:
                await self.ws.send(self._escape(msg))
            except websockets.ConnectionClosed:
                self.ws = None

    async def ack(self):
        if self.ws is not None and self.received > self.acked:
            try:
                await self.ws.send(b"\x00\x01" + struct.pack("<Q", self.received))
                self.acked = self.received
            except websockets.ConnectionClosed:
                self.ws = None

    async def recv(self, timeout):
        """The next game message, None on timeout; reconnects when the connection broke."""
        while True:
            if self.ws is None:
                await self.come_back()
            try:
                frame = await asyncio.wait_for(self.ws.recv(), timeout)
            except asyncio.TimeoutError:
                return None
            except websockets.ConnectionClosed as e:
                if e.rcvd is not None and e.rcvd.code not in (1006,):
                    raise RuntimeError(f"closed by the server: {e.rcvd.code}")
                self.ws = None
                continue
            self.heard = time.monotonic()
            if isinstance(frame, bytes) and frame[:1] == b"\x00":
                if frame[1:2] == b"\x01" and len(frame) == 10:
                    self._forget_up_to(struct.unpack("<Q", frame[2:])[0])
                if frame[1:2] != b"\x00":
                    continue
                frame = frame[2:]
            elif isinstance(frame, str) and frame.startswith("\x00"):
                frame = frame[2:]
            self.received += 1
            if self.received - self.acked >= 32:
                await self.ack()
            return frame

    async def come_back(self):
        deadline = time.monotonic() + self.welcome["grace"]
        pause = 0.05
        while True:
            try:
                # The peer's id in the query, the secret in the first frame (the hello).
                query = f"gws=2&gws_return={self.welcome['id']}"
                hello = b"\x00\x03" + bytes.fromhex(self.welcome["session"])
                hello += struct.pack("<Q", self.received)
                self.ws, welcome = await self._dial(query, hello)
                break
            except (OSError, websockets.WebSocketException, asyncio.TimeoutError):
                if time.monotonic() > deadline:
                    raise RuntimeError("could not come back within the grace period")
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)
        assert welcome["resumed"] and welcome["id"] == self.welcome["id"], welcome
        assert welcome["session"] != self.welcome["session"], "a new secret at every return"
        self.welcome = welcome
        self.heard = time.monotonic()
        # The welcome acknowledged at once: the old secret opens nothing after it.
        await self.ws.send(b"\x00\x01" + struct.pack("<Q", self.received))
        self.acked = self.received
        self._forget_up_to(welcome["received"])
        self.backs += 1
        for msg in list(self.log):
            await self.ws.send(self._escape(msg))


async def main(url, count):
    s = Session(url)
    await s.open()
    got = []
    started = time.monotonic()
    sent = 0
    while len(got) < count:
        due = min(count, int((time.monotonic() - started) * 400) + 1)
        while sent < due:
            await s.send(str(sent))
            sent += 1
        msg = await s.recv(0.002 if sent < count else 0.05)
        if msg is not None:
            got.append(msg)
        await s.ack()
    await s.send("end")
    end = None
    while end is None:
        end = await s.recv(0.05)
    assert got == [f"echo:{i}" for i in range(count)], "echoes out of order or missing"
    assert end == f"end:{count}", end
    await s.ws.close()
    print(json.dumps({"id": s.welcome["id"], "backs": s.backs, "count": count}))


asyncio.run(asyncio.wait_for(main(sys.argv[1], int(sys.argv[2])), 120))
