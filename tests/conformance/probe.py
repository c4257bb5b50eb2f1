"""Is the server still answering? One WebSocket echo round trip.

Usage: probe.py HOST PORT. Exits 0 if a text message comes back within 5
seconds, 1 otherwise. run.sh calls it after a case timed out, to tell a
case that hung on its own connection from a server that stopped serving.
"""

from __future__ import annotations

import base64
import os
import socket
import sys


def probe(host: str, port: int, timeout: float = 5.0) -> str | None:
    """Returns None on success, else what went wrong."""
    payload = b"conformance probe"
    key = base64.b64encode(os.urandom(16)).decode()
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(
                (
                    f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
            )
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return "connection closed during the handshake"
                data += chunk
            head, data = data.split(b"\r\n\r\n", 1)
            if not head.startswith(b"HTTP/1.1 101"):
                return f"handshake refused: {head.splitlines()[0]!r}"
            mask = os.urandom(4)
            masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
            want = bytes([0x81, len(payload)]) + payload
            while len(data) < len(want):
                chunk = s.recv(4096)
                if not chunk:
                    return "connection closed before the echo"
                data += chunk
            if data[: len(want)] != want:
                return f"unexpected reply {data[:32]!r}"
            close = bytes([0x88, 0x82]) + mask + bytes(
                b ^ mask[i] for i, b in enumerate((1000).to_bytes(2, "big"))
            )
            s.sendall(close)
    except OSError as e:
        return str(e) or type(e).__name__
    return None


def main() -> int:
    host, port = sys.argv[1], int(sys.argv[2])
    why = probe(host, port)
    if why is not None:
        print(f"probe: ws://{host}:{port}/ws does not echo: {why}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
