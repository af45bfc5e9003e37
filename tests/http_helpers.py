"""Small HTTP helpers for the tests: raw socket exchanges, and http.client as a client apart
from ours. Responses are read with bench/http1.py (read_response, parse_response, ...)."""

from __future__ import annotations

import http.client
import socket
import time


def exchange(
    port: int, data: bytes | list[bytes], timeout: float = 5.0, pause: float = 0.0
) -> bytes:
    """Send `data` (pieces sent apart by `pause`) to 127.0.0.1:port; read until EOF."""
    pieces = [data] if isinstance(data, bytes) else data
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        for piece in pieces:
            sock.sendall(piece)
            if pause:
                time.sleep(pause)
        return read_to_eof(sock)


def read_to_eof(sock: socket.socket) -> bytes:
    """Every byte until the server closes (the test then parses them with bench.http1)."""
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


class Recording:
    """A socket that keeps what it received: bench.http1.read_response reads a response
    through it, and a test then checks the very bytes, the connection still open."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.received = b""

    def recv(self, size: int) -> bytes:
        data = self.sock.recv(size)
        self.received += data
        return data


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request with http.client (a strict, independent parser of our responses)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()
