"""A wss client that misbehaves at the TLS layer, with tlslite-ng (a TLS stack of its
own, in Python, that lets a client send what rustls' client never would). It opens a
TLS connection to 127.0.0.1:PORT, upgrades it to a WebSocket, then, never reading:

  keyupdates N      TLS 1.3: N KeyUpdate messages asking for the server's keys too
  renegotiations N  TLS 1.2: N ClientHello messages (renegotiation attempts)
  oversized         TLS 1.3: one application-data record of 2^14 + 1 bytes of plaintext

then reads what comes back. Prints one line of JSON: what was sent before the server
ended the connection, and how it ended ("alert NAME", "closed", or "open" when it
did not end within 10 s).
Usage: tls_misbehave.py PORT MODE [N]"""
import json
import socket
import sys

from tlslite import HandshakeSettings, TLSConnection
from tlslite.constants import AlertDescription, KeyUpdateMessageType
from tlslite.errors import TLSAbruptCloseError, TLSRemoteAlert
from tlslite.messages import ClientHello

UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def connect(port, version):
    sock = socket.create_connection(("127.0.0.1", port))
    conn = TLSConnection(sock)
    settings = HandshakeSettings()
    settings.minVersion = version
    settings.maxVersion = version
    conn.handshakeClientCert(settings=settings)
    conn.sendall(UPGRADE)
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += conn.read(max=1)
    assert answer.startswith(b"HTTP/1.1 101"), answer
    return sock, conn


def ending(sock, conn):
    """How the server ended the connection: read until it does, for 10 s at most."""
    sock.settimeout(10)
    try:
        while True:
            data = conn.read()
            if not data:
                return "closed"
    except TLSRemoteAlert as alert:
        return "alert " + AlertDescription.toStr(alert.description)
    except (TLSAbruptCloseError, ConnectionError):
        return "closed"
    except socket.timeout:
        return "open"


def flood(sock, conn, count, send_one):
    """Sends `count` times, or until the server ends the connection: how many were
    sent, and how it ended if a send found out (tlslite-ng reads the alert then)."""
    sent = 0
    try:
        for _ in range(count):
            send_one()
            sent += 1
    except TLSRemoteAlert as alert:
        return sent, "alert " + AlertDescription.toStr(alert.description)
    except (ConnectionError, TLSAbruptCloseError, OSError):
        return sent, "closed"
    return sent, None


def main(port, mode, count):
    if mode == "keyupdates":
        sock, conn = connect(port, (3, 4))

        def send_one():
            for _ in conn.send_keyupdate_request(KeyUpdateMessageType.update_requested):
                pass

        sent, ended = flood(sock, conn, count, send_one)
    elif mode == "renegotiations":
        sock, conn = connect(port, (3, 3))
        hello = ClientHello().create((3, 3), bytearray(32), bytearray(0), [0x009C])

        def send_one():
            for _ in conn._sendMsg(hello):
                pass

        sent, ended = flood(sock, conn, count, send_one)
    elif mode == "oversized":
        sock, conn = connect(port, (3, 4))
        # tlslite-ng keeps to the limit the server announced; lifted for this record.
        conn._send_record_limit = 2**14 + 1
        conn.recordSize = 2**14 + 1
        conn.sendall(b"\x82" + b"\x7f" + (2**14 - 9).to_bytes(8, "big") + bytes(2**14 - 9))
        sent, ended = 1, None
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps({"sent": sent, "ended": ended or ending(sock, conn)}), flush=True)


main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
