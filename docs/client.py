#!/usr/bin/env python3
"""A scripted WebSocket client for docs/handshake.md: raw sockets, fixed key
and masks, so that `wshub --explain` prints the same thing every time.

Usage: python3 docs/client.py PORT
"""
import socket
import struct
import sys

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # the key of RFC 6455 section 1.3
MASK = bytes([0x37, 0xFA, 0x21, 0x3D])  # the mask of RFC 6455 section 5.7


def frame(first_byte, payload):
    """A client frame: FIN/opcode byte, MASK bit and length, key, masked payload."""
    n = len(payload)
    if n <= 125:
        head = struct.pack("!BB", first_byte, 0x80 | n)
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", first_byte, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first_byte, 0x80 | 127, n)
    masked = bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))
    return head + MASK + masked


def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError("server closed the connection")
        data += chunk
    return data


def read_frame(s):
    b0, b1 = read_exact(s, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(s, 8))[0]
    return b0, read_exact(s, n)


def main():
    port = int(sys.argv[1])
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(
        (
            "GET /ws HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {KEY}\r\n"
            "Sec-WebSocket-Version: 13\r\n"
            f"Origin: http://127.0.0.1:{port}\r\n"
            "\r\n"
        ).encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += read_exact(s, 1)
    assert head.startswith(b"HTTP/1.1 101"), head

    # Three text messages, one for each length form.
    for size in (5, 300, 70000):
        text = (b"Hello" * (size // 5 + 1))[:size]
        s.sendall(frame(0x81, text))
        assert read_frame(s) == (0x81, text)
    # A message in two fragments: "Hel" (FIN=0, text), "lo" (FIN=1, continuation).
    s.sendall(frame(0x01, b"Hel") + frame(0x80, b"lo"))
    assert read_frame(s) == (0x81, b"Hello")
    # A ping; the server answers with a pong carrying the same bytes.
    s.sendall(frame(0x89, b"Hello"))
    assert read_frame(s) == (0x8A, b"Hello")
    # The closing handshake, started by the client with 1000 (normal closure).
    s.sendall(frame(0x88, struct.pack("!H", 1000) + b"bye"))
    b0, payload = read_frame(s)
    assert b0 == 0x88 and payload[:2] == struct.pack("!H", 1000), payload
    assert s.recv(1) == b"", "the server closes the TCP connection"


if __name__ == "__main__":
    main()
